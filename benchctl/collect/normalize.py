"""Pure normalization: one LiteLLM spend-log row becomes one ``requests`` row (plus its content,
when its experiment captures content), an ``unattributed_requests`` row, or a reason to skip it.

Attribution (invariant 1): the key hash LiteLLM logs joins the row to the session holding that
key. When a session's key was replaced (drift repair, rotation), its old hash is gone from
``sessions.key_hash``; the row then joins through ``metadata.user_api_key_alias``, which LiteLLM
copies from the key's own record (the caller cannot set it), and only when that alias is exactly
a session's deterministic alias. Request tags (the key's ``metadata.tags``) are a cross-check
only: a disagreement sets ``tag_mismatch``, never moves the row.

Every output is a function of the row and the manifests, never of the clock, so normalizing the
same row twice gives the same tuple.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from benchctl.collect.context import CapturePolicy, Context, SessionRef
from benchctl.collect.spend_row import SpendRow
from benchctl.manifests.models.provider import Prices, cost
from benchctl.reconcile.desired import KEY_ALIAS_PREFIX, digest

NOT_BENCHCTL = "not a benchctl key"
OTHER_DATABASE = "another benchctl database's key"
NOT_SELECTED = "session not selected"
AFTER_END = "made after its session ended"
ABANDONED = "made by an abandoned attempt"
# The proxy's clock (a call's start) against the database's (a session's end): hosts differ by
# this much at most, and a call begun in it is still the session's.
END_GRACE = timedelta(seconds=10)
# Skips recorded in skipped_requests (they can never become ours); NOT_SELECTED rows are ours and
# a later collect that selects their session must still load them.
DURABLE_SKIPS = frozenset({NOT_BENCHCTL, OTHER_DATABASE})

REDACTED = "[redacted]"
_MS = timedelta(milliseconds=1)
# Tags that session keys carry (reconcile/keys.py), by the session field each must agree with.
_TAG_FIELDS = ("session", "experiment", "variant", "task_card")


class Request(NamedTuple):
    """A ``requests`` row; the field order is the table's COPY column order."""

    request_id: str
    litellm_call_id: str | None
    provider_request_id: str | None
    session_id: uuid.UUID
    experiment: str
    variant: str
    variant_version: int
    task_card: str
    task_card_version: int
    key_hash: str
    key_alias: str | None
    requested_model: str | None
    routed_model: str | None
    provider: str | None
    call_type: str | None
    started_at: datetime
    first_token_at: datetime | None
    ended_at: datetime | None
    latency_ms: float | None
    ttft_ms: float | None
    ttft_quality: str
    output_tokens_per_s: float | None
    prompt_tokens: int
    completion_tokens: int
    cached_read_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    cost_usd: float | None
    litellm_spend_usd: float | None
    status: str
    error_class: str | None
    error_code: str | None
    streamed: bool | None
    proxy_overhead_ms: float | None
    tag_mismatch: bool
    joined_by: str
    source_updated_at: datetime | None
    cache_write_1h_tokens: int
    # Which prices costed the row (a digest of the provider's entry): a later collect never
    # re-costs it with other prices unless asked to (`collect --recost`).
    price_version: str | None


class Content(NamedTuple):
    """A ``request_content`` row: redacted messages and response."""

    request_id: str
    session_id: uuid.UUID
    experiment: str
    messages: Any
    response: Any
    captured_at: datetime
    expires_at: datetime


class Unattributed(NamedTuple):
    """A row of one of this database's keys that joins to no session: kept, with why."""

    request_id: str
    key_hash: str | None
    key_alias: str | None
    requested_model: str | None
    started_at: datetime
    reason: str
    source_updated_at: datetime | None


class Skipped(NamedTuple):
    request_id: str
    reason: str
    source_updated_at: datetime | None


class Normalized(NamedTuple):
    request: Request
    content: Content | None


def normalize(row: SpendRow, ctx: Context) -> Normalized | Unattributed | Skipped:
    if (abandoned := ctx.abandoned.get(row.api_key)) is not None:
        # Only the attempt that ends a headless session is scored; the alias would join it.
        return _unattributed(row, f"{ABANDONED} (session {abandoned[0]}, attempt {abandoned[1]})")
    session, joined_by = ctx.by_hash.get(row.api_key), "key_hash"
    if session is None and row.key_alias:
        session, joined_by = ctx.by_alias.get(row.key_alias), "key_alias"
    if session is None:
        return _unmatched(row, ctx)
    if ctx.selected is not None and session.id not in ctx.selected:
        return Skipped(row.request_id, NOT_SELECTED, row.updated_at)
    ended = session.ended_at
    revoked = _error_code(row.error or {}) == "401"  # the proxy no longer knows the key
    if ended is not None and (row.started_at > ended + END_GRACE or revoked):
        # A harness still calling with a revoked key: kept and counted, but never part of the
        # session's figures (its 401s are not the session's errors). A 401 of an ended session
        # is one whatever the clocks say; other calls get END_GRACE for clock skew.
        return _unattributed(row, f"{AFTER_END} (session {session.id} is {session.status})")

    usage = row.usage or {}
    error = row.error or {}
    failed = row.status == "failure" or bool(error)
    prompt = _int(usage.get("prompt_tokens"), row.prompt_tokens)
    completion = _int(usage.get("completion_tokens"), row.completion_tokens)
    prompt_details = _mapping(usage.get("prompt_tokens_details"))
    completion_details = _mapping(usage.get("completion_tokens_details"))
    cached_read = _int(prompt_details.get("cached_tokens"), usage.get("cache_read_input_tokens"))
    cache_write = _int(
        usage.get("cache_creation_input_tokens"), prompt_details.get("cache_creation_tokens")
    )
    reasoning = _int(completion_details.get("reasoning_tokens"))
    # Anthropic splits cache writes by TTL (Claude Code writes the 1-hour cache).
    cache_write_1h = _int(_mapping(usage.get("cache_creation")).get("ephemeral_1h_input_tokens"))

    latency = None if row.ended_at is None else (row.ended_at - row.started_at) / _MS
    streamed = None if failed else _streamed(usage)
    ttft, quality = _ttft(row, streamed)
    if quality == "measured":
        assert row.ended_at is not None and row.first_token_at is not None
        generation_s = (row.ended_at - row.first_token_at).total_seconds()
        tokens_per_s = completion / generation_s if generation_s > 0 else None
    elif streamed is False and latency:
        # Non-streamed: the whole answer arrives at once; throughput over the whole call.
        tokens_per_s = completion / (latency / 1000)
    else:
        tokens_per_s = None

    prices = ctx.price_of(row.model_group, session)
    request = Request(
        request_id=row.request_id,
        litellm_call_id=row.litellm_call_id,
        provider_request_id=_provider_request_id(row, error),
        session_id=session.id,
        experiment=session.experiment,
        variant=session.variant,
        variant_version=session.variant_version,
        task_card=session.task_card,
        task_card_version=session.task_card_version,
        key_hash=row.api_key,
        key_alias=row.key_alias,
        requested_model=row.model_group,
        routed_model=row.model,
        provider=row.provider or None,
        call_type=row.call_type,
        started_at=row.started_at,
        first_token_at=row.first_token_at,
        ended_at=row.ended_at,
        latency_ms=latency,
        ttft_ms=ttft,
        ttft_quality=quality,
        output_tokens_per_s=tokens_per_s,
        prompt_tokens=prompt,
        completion_tokens=completion,
        cached_read_tokens=cached_read,
        cache_write_tokens=cache_write,
        reasoning_tokens=reasoning,
        # A failed call costs what the provider bills: nothing, unless it reported usage
        # (token counts LiteLLM fills in without a usage object are its own estimate).
        cost_usd=None
        if prices is None
        else 0.0
        if failed and not usage
        else cost(prices, prompt, completion, cached_read, cache_write, cache_write_1h),
        litellm_spend_usd=row.spend,
        status="failure" if failed else "success",
        error_class=_text(error.get("error_class")),
        error_code=_error_code(error),
        streamed=streamed,
        proxy_overhead_ms=row.overhead_ms,
        tag_mismatch=tag_mismatch(row.request_tags, session),
        joined_by=joined_by,
        source_updated_at=row.updated_at,
        cache_write_1h_tokens=cache_write_1h,
        price_version=None if prices is None else price_version(prices),
    )
    policy = ctx.capture.get(session.experiment)
    return Normalized(request, None if policy is None else content(row, session, policy))


def price_version(prices: Prices) -> str:
    """A digest of the prices as billed: the order tiers are written in does not change it."""
    document = prices.model_dump(mode="json")
    document["tiers"] = sorted(document["tiers"], key=lambda t: t["above_input_tokens"])
    return digest(document)[:16]


def tag_mismatch(tags: list[str] | None, session: SessionRef) -> bool:
    """True when a ``session:``/``experiment:``/``variant:``/``task_card:`` tag names another."""
    expected = {
        "session": str(session.id),
        "experiment": session.experiment,
        "variant": session.variant,
        "task_card": session.task_card,
    }
    for tag in tags or ():
        name, sep, value = tag.partition(":")
        if sep and name in _TAG_FIELDS and value != expected[name]:
            return True
    return False


def content(row: SpendRow, session: SessionRef, policy: CapturePolicy) -> Content | None:
    """Redacted content, when LiteLLM stored any (it stores ``{}`` otherwise)."""
    if not row.messages and not row.response:
        return None
    captured = row.ended_at or row.started_at
    return Content(
        request_id=row.request_id,
        session_id=session.id,
        experiment=session.experiment,
        messages=redact(row.messages, policy) if row.messages else None,
        response=redact(row.response, policy) if row.response else None,
        captured_at=captured,
        expires_at=captured + policy.retention,
    )


def redact(value: Any, policy: CapturePolicy) -> Any:
    """Every string in ``value`` with each pattern's matches replaced; keys too, since a
    structure's keys can carry data (e.g. tool arguments)."""
    if isinstance(value, str):
        for pattern in policy.redact:
            value = pattern.sub(REDACTED, value)
        return value
    if isinstance(value, Mapping):
        return {redact(str(k), policy): redact(v, policy) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(item, policy) for item in value]
    return value


def _unattributed(row: SpendRow, reason: str) -> Unattributed:
    return Unattributed(
        row.request_id,
        row.api_key or None,
        row.key_alias,
        row.model_group,
        row.started_at,
        reason,
        row.updated_at,
    )


def _unmatched(row: SpendRow, ctx: Context) -> Unattributed | Skipped:
    alias = row.key_alias or ""
    if alias.startswith(ctx.alias_prefix):
        named = alias.removeprefix(ctx.alias_prefix)
        reason = (
            f"its key alias names session {named}, which this database does not have"
            if _is_uuid(named)
            else "its key alias has this database's prefix but names no session"
        )
        return _unattributed(row, reason)
    reason = OTHER_DATABASE if alias.startswith(KEY_ALIAS_PREFIX) else NOT_BENCHCTL
    return Skipped(row.request_id, reason, row.updated_at)


def _streamed(usage: Mapping[str, Any]) -> bool | None:
    """LiteLLM 1.106.2 marks nothing as streamed; the usage object of a streamed call is the
    stream chunk builder's, which carries ``cost`` (captured-api/README, and checked against the
    real proxy in tests/test_collect_proxy.py)."""
    if not usage:
        return None
    return "cost" in usage


def _ttft(row: SpendRow, streamed: bool | None) -> tuple[float | None, str]:
    if row.first_token_at is None or row.ended_at is None:
        return None, "missing"
    ttft = (row.first_token_at - row.started_at) / _MS
    # A non-streamed answer's "first token" is the whole answer: LiteLLM sets
    # completionStartTime at (or a millisecond before) endTime.
    if row.first_token_at >= row.ended_at or streamed is not True:
        return ttft, "equal_to_total"
    return ttft, "measured"


def _error_code(error: Mapping[str, Any]) -> str | None:
    """The HTTP status of a failure. LiteLLM's ``error_code`` is the status for refusals by the
    proxy and rate limits, but the upstream's own code for other upstream errors (``server_error``
    for a 500); its ``normalized_error`` (``500_PROVIDER_INTERNAL_ERROR``) then has the status."""
    code = _text(error.get("error_code"))
    if code is None or code.isdigit():
        return code
    status = str(error.get("normalized_error") or "").partition("_")[0]
    return status if status.isdigit() else code


def _provider_request_id(row: SpendRow, error: Mapping[str, Any]) -> str | None:
    failed_id = _text(error.get("error_provider_request_id"))
    if failed_id:
        return failed_id
    # A successful call's request_id is the upstream response's id; a refused call has only
    # LiteLLM's call id there.
    if row.status != "failure" and row.request_id != row.litellm_call_id:
        return row.request_id
    return None


def _int(*values: object) -> int:
    for value in values:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return int(value)
    return 0


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: object) -> str | None:
    return None if value is None or value == "" else str(value)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
