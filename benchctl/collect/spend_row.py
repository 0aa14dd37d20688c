"""One LiteLLM spend-log row, reduced to what normalization reads.

The database source selects exactly these columns (``collect.litellm_rows``), extracting the few
metadata fields server-side instead of moving LiteLLM's whole metadata document (several KB a
row); the API source builds the same tuple from ``/spend/logs/v2`` JSON with ``from_api``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple


class SpendRow(NamedTuple):
    request_id: str
    litellm_call_id: str | None
    # LiteLLM's sha256 of the key (never the key).
    api_key: str
    # metadata.user_api_key_alias: LiteLLM copies it from the key's record, not from the caller.
    key_alias: str | None
    call_type: str | None
    model: str | None
    model_group: str | None
    provider: str | None
    started_at: datetime
    first_token_at: datetime | None
    ended_at: datetime | None
    status: str | None
    spend: float | None
    prompt_tokens: int | None
    completion_tokens: int | None
    usage: dict[str, Any] | None
    error: dict[str, Any] | None
    overhead_ms: float | None
    request_tags: list[str] | None
    # LiteLLM's updated_at; the list API does not return it.
    updated_at: datetime | None
    # Present only when LiteLLM stored content and the row's experiment captures it.
    messages: Any
    response: Any


def from_api(row: Mapping[str, Any]) -> SpendRow:
    """A row of ``/spend/logs/v2`` (or ``/spend/logs``): timestamps as ``...Z`` or ``+00:00``."""
    metadata = _object(row.get("metadata"))
    overhead = metadata.get("litellm_overhead_time_ms")
    started = utc(row.get("startTime"))
    if started is None:
        raise ValueError(f"spend-log row {row.get('request_id')!r} has no startTime")
    tags = row.get("request_tags")
    if isinstance(tags, str):
        tags = json.loads(tags)
    return SpendRow(
        request_id=str(row["request_id"]),
        litellm_call_id=row.get("litellm_call_id") or metadata.get("litellm_call_id"),
        api_key=str(row.get("api_key") or ""),
        key_alias=metadata.get("user_api_key_alias"),
        call_type=row.get("call_type"),
        model=row.get("model"),
        model_group=row.get("model_group"),
        provider=row.get("custom_llm_provider"),
        started_at=started,
        first_token_at=utc(row.get("completionStartTime")),
        ended_at=utc(row.get("endTime")),
        status=row.get("status"),
        spend=row.get("spend"),
        prompt_tokens=row.get("prompt_tokens"),
        completion_tokens=row.get("completion_tokens"),
        usage=_object(metadata.get("usage_object")) or None,
        error=_object(metadata.get("error_information")) or None,
        overhead_ms=None if overhead is None else float(overhead),
        request_tags=list(tags) if isinstance(tags, list) else None,
        updated_at=utc(row.get("updated_at")),
        messages=row.get("messages"),
        response=row.get("response"),
    )


def utc(value: object) -> datetime | None:
    """An ISO timestamp as an aware UTC datetime; LiteLLM's naive timestamps are UTC."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and value:
        parsed = datetime.fromisoformat(value)
    else:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _object(value: object) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return dict(value) if isinstance(value, Mapping) else {}
