"""A typed client of the LiteLLM proxy's admin API (virtual keys), as LiteLLM 1.106.2 serves it.

Errors are benchctl's (``benchctl.errors``), never httpx's::

    ProxyError              any other refusal: the status and the proxy's message (keys redacted);
                            an answer that is not LiteLLM's (an HTML page, a long text) is
                            described (status, content type, size), never quoted
    ├── ProxyUnavailable    nothing answers at the URL (refused, unreachable, timed out)
    ├── ProxyAuthError      the master key is missing, wrong, or not an admin key (401/403)
    ├── ProxyModelError     a model alias the proxy's config does not have
    └── ProxyEnterpriseOnly the call needs a LiteLLM Enterprise licence

Behaviours of 1.106.2 this client is built on, checked against the real proxy in
tests/test_litellm_client.py:

- ``/key/generate`` accepts model aliases that are not in the proxy's config; the refusal only
  comes when the key is used (HTTP 400, "Invalid model name passed in model=..."). Hence
  ``require_models`` to check aliases up front, and ``check_response`` for calls.
- A key with an empty ``models`` list may call every model, so this client refuses to create or
  update a key without models.
- ``POST /v2/key/info`` answers for many keys at once but strips each key's hash (``token``);
  ``/key/list`` with ``return_full_object=true`` keeps it.
- ``/key/update`` replaces ``metadata`` wholesale, it does not merge.
- ``/key/delete`` answers 404 "No keys found" when none of the keys exists, and 200 when some do.
- Key aliases are unique: ``/key/generate`` with a taken alias is a 400.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import httpx

from benchctl.errors import (
    ProxyAuthError,
    ProxyEnterpriseOnly,
    ProxyError,
    ProxyModelError,
    ProxyUnavailable,
)
from benchctl.settings import redact_dsn

# /key/list refuses larger pages.
PAGE_SIZE = 100
# /spend/logs/v2 refuses larger pages.
SPEND_LOGS_PAGE_SIZE = 1000
_SPEND_LOGS_DATE = "%Y-%m-%d %H:%M:%S"

# Anything shaped like a LiteLLM key, including the masked `sk-...AbCd` form the proxy echoes.
_KEY_LIKE = re.compile(r"(?<![A-Za-z0-9_])sk-[A-Za-z0-9_.\-]*")
# How LiteLLM phrases a refusal for want of a licence (CommonProxyErrors.not_premium_user and the
# endpoint-specific sentences around it).
_ENTERPRISE = re.compile(
    r"LiteLLM Enterprise|Enterprise feature|enterprise license|premium users?\b|LITELLM_LICENSE"
    r"|litellm-enterprise",
    re.IGNORECASE,
)
_INVALID_MODEL = re.compile(r"Invalid model name passed in model=(\S+?)\.?(?:\s|$)")
_RENDER_HINT = "render the proxy config with `benchctl render litellm-config` and restart the proxy"
# Longest text of an answer quoted in a message; longer ones, and markup, are described instead.
_LONGEST_QUOTE = 200
_NOT_LITELLM_HINT = (
    "check that BENCHCTL_PROXY_URL is the LiteLLM proxy's address (not a web server, a login"
    " page or a gateway in front of it)"
)


def hash_key(raw_key: str) -> str:
    """LiteLLM's stored form of a virtual key (its ``token``, the ``api_key`` of spend logs)."""
    return hashlib.sha256(raw_key.encode()).hexdigest()


@dataclass(frozen=True)
class KeyInfo:
    """A virtual key as the proxy stores it, without the key itself."""

    # None only from keys_info(): /v2/key/info does not return the hash.
    token: str | None
    key_alias: str | None
    models: tuple[str, ...]
    metadata: dict[str, Any]
    expires: datetime | None
    blocked: bool
    max_budget: float | None
    spend: float

    @property
    def expired(self) -> bool:
        return self.expires is not None and self.expires <= datetime.now(UTC)

    @classmethod
    def from_api(cls, row: Mapping[str, Any]) -> KeyInfo:
        """Read a key row of /key/list, /v2/key/info, /key/update, /key/block or /key/unblock."""
        max_budget = row.get("max_budget")
        return cls(
            token=row.get("token"),
            key_alias=row.get("key_alias"),
            models=tuple(row.get("models") or ()),
            metadata=dict(row.get("metadata") or {}),
            expires=_utc(row.get("expires")),
            blocked=bool(row.get("blocked")),
            max_budget=None if max_budget is None else float(max_budget),
            spend=float(row.get("spend") or 0.0),
        )


@dataclass(frozen=True)
class GeneratedKey:
    """A key just created: the only time the proxy hands out the raw key."""

    key: str = field(repr=False)
    token: str
    key_alias: str
    expires: datetime | None


class LiteLLMClient:
    """The proxy's admin API, authenticated with its master key.

    ``requests_made`` counts HTTP requests sent, so callers can hold themselves to a constant
    number of round trips. ``transport`` is for tests (``httpx.MockTransport``).
    """

    def __init__(
        self,
        base_url: str,
        master_key: str,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.requests_made = 0
        self._master_key = master_key
        self._timeout = timeout
        # For messages: a URL may carry a password in its user info.
        self._shown_url = redact_dsn(self.base_url)
        try:
            self._http = httpx.Client(
                base_url=self.base_url,
                headers={"Authorization": f"Bearer {master_key}"},
                timeout=timeout,
                transport=transport,
            )
        except httpx.InvalidURL:
            raise ProxyError(
                f"the LiteLLM proxy URL {self._shown_url!r} is not a usable http(s) URL: set"
                " BENCHCTL_PROXY_URL to the proxy's address, e.g. http://127.0.0.1:4000"
            ) from None

    def __repr__(self) -> str:
        return f"LiteLLMClient({self._shown_url!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> LiteLLMClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- health and models --------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """``/health/readiness``: ``{"status": ..., "db": "connected" | ...}``.

        A proxy whose database is down answers 503 with the same body; that is returned, not
        raised, since it is the answer to the question asked.
        """
        response = self._send("GET", "/health/readiness")
        if response.status_code != 503:
            check_response(response, admin=True, secrets=(self._master_key,))
        body = _json(response)
        if not isinstance(body, dict):
            raise ProxyError(
                f"{self._shown_url}/health/readiness did not answer with a JSON object;"
                " is BENCHCTL_PROXY_URL the LiteLLM proxy?"
            )
        return body

    def model_aliases(self) -> frozenset[str]:
        """The model names (aliases) in the running proxy's config."""
        body = self._call("GET", "/v1/models")
        return frozenset(str(entry["id"]) for entry in body.get("data", []))

    def require_models(self, aliases: Iterable[str]) -> None:
        """Raise ProxyModelError unless the running proxy serves every alias (one request)."""
        wanted = set(aliases)
        missing = sorted(wanted - self.model_aliases()) if wanted else []
        if missing:
            raise ProxyModelError(
                f"the LiteLLM proxy at {self._shown_url} has no model {', '.join(missing)}:"
                f" {_RENDER_HINT}."
            )

    def model_info(self) -> list[dict[str, Any]]:
        """``/model/info``: every model alias of the running config with its ``litellm_params``
        (the proxy leaves credentials out and masks values under key-like names)."""
        body = self._call("GET", "/model/info")
        return [dict(entry) for entry in body.get("data") or [] if isinstance(entry, dict)]

    # -- keys ---------------------------------------------------------------------------------

    def generate_key(
        self,
        *,
        alias: str,
        models: Sequence[str],
        duration_seconds: int | None,
        max_budget: float | None,
        metadata: Mapping[str, Any],
    ) -> GeneratedKey:
        """Create a key limited to ``models``; its tags belong in ``metadata["tags"]`` (the
        top-level ``tags`` field of LiteLLM is an Enterprise feature)."""
        body: dict[str, Any] = {
            "key_alias": alias,
            "models": _scoped(models),
            "metadata": dict(metadata),
        }
        if duration_seconds is not None:
            body["duration"] = _duration(duration_seconds)
        if max_budget is not None:
            body["max_budget"] = max_budget
        row = self._call("POST", "/key/generate", json=body)
        return GeneratedKey(
            key=row["key"],
            token=row["token"],
            key_alias=row["key_alias"],
            expires=_utc(row.get("expires")),
        )

    def keys_info(
        self, *, aliases: Sequence[str] = (), tokens: Sequence[str] = ()
    ) -> list[KeyInfo]:
        """Keys with these aliases or hashes, in one request; absent ones are left out.

        The proxy does not return hashes here (``token`` is None): match results by alias, or
        use ``list_keys`` when the hash matters.
        """
        if not aliases and not tokens:
            return []
        body = self._call(
            "POST", "/v2/key/info", json={"keys": list(tokens), "key_aliases": list(aliases)}
        )
        return [KeyInfo.from_api(row) for row in body.get("info") or []]

    def list_keys(self, *, alias_prefix: str) -> list[KeyInfo]:
        """Every key whose alias starts with ``alias_prefix``, by alias; one request per 100."""
        found: dict[str, KeyInfo] = {}
        page, pages = 1, 1
        while page <= pages:
            body = self._call(
                "GET",
                "/key/list",
                params=_list_params(alias_prefix, page=page, size=PAGE_SIZE, full=True),
            )
            for row in body.get("keys") or []:
                info = KeyInfo.from_api(row)
                # The proxy matches a case-insensitive substring; the prefix is ours to apply.
                if info.token and (info.key_alias or "").startswith(alias_prefix):
                    found[info.token] = info
            pages = int(body.get("total_pages") or 0)
            page += 1
        return sorted(found.values(), key=lambda info: (info.key_alias or "", info.token or ""))

    def count_keys(self, *, alias_prefix: str) -> int:
        """How many keys have an alias containing ``alias_prefix`` (case-insensitively), in one
        request. The proxy cannot count by prefix; for a prefix only benchctl's aliases carry,
        this is the number of keys ``list_keys`` returns."""
        body = self._call(
            "GET", "/key/list", params=_list_params(alias_prefix, page=1, size=1, full=False)
        )
        return int(body.get("total_count") or 0)

    def update_key(
        self,
        token: str,
        *,
        metadata: Mapping[str, Any] | None = None,
        models: Sequence[str] | None = None,
        max_budget: float | None = None,
        duration_seconds: int | None = None,
    ) -> KeyInfo:
        """Change the given fields of a key; ``metadata`` replaces the stored metadata whole,
        ``duration_seconds`` sets the expiry to that long from now."""
        body: dict[str, Any] = {"key": token}
        if metadata is not None:
            body["metadata"] = dict(metadata)
        if models is not None:
            body["models"] = _scoped(models)
        if max_budget is not None:
            body["max_budget"] = max_budget
        if duration_seconds is not None:
            body["duration"] = _duration(duration_seconds)
        if len(body) == 1:
            raise ValueError("update_key needs at least one field to change")
        return KeyInfo.from_api(self._call("POST", "/key/update", json=body))

    def block_key(self, token: str) -> None:
        """Refuse every call with the key (HTTP 401) until it is unblocked."""
        self._call("POST", "/key/block", json={"key": token})

    def unblock_key(self, token: str) -> None:
        self._call("POST", "/key/unblock", json={"key": token})

    def delete_keys(self, *, tokens: Sequence[str] = (), aliases: Sequence[str] = ()) -> None:
        """Delete keys by hash and by alias; keys already gone are not an error.

        One request per kind given: the proxy reads ``keys`` or ``key_aliases``, not both.
        """
        for field_name, values in (("keys", tokens), ("key_aliases", aliases)):
            if not values:
                continue
            response = self._send("POST", "/key/delete", json={field_name: list(values)})
            # 404 "No keys found": none of them exists any more, which is what was asked for.
            if response.status_code != 404:
                check_response(response, admin=True, secrets=(self._master_key,))

    # -- spend logs ---------------------------------------------------------------------------

    def spend_logs_v2(
        self, *, start: datetime, end: datetime, page_size: int = SPEND_LOGS_PAGE_SIZE
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages of ``/spend/logs/v2`` rows whose ``startTime`` is in [start, end] (whole
        seconds: the endpoint reads no fractions), oldest first; one request per page.

        The endpoint filters on ``startTime`` only and caps its ``total`` (``total_is_capped``),
        so pages are read until a short one, never counted from ``total``. It pages by offset
        over ``startTime`` alone: rows written meanwhile, or sharing a start time across a page
        boundary, can come twice; callers deduplicate by ``request_id``.
        """
        page = 1
        while True:
            body = self._call(
                "GET",
                "/spend/logs/v2",
                params={
                    "start_date": start.astimezone(UTC).strftime(_SPEND_LOGS_DATE),
                    "end_date": end.astimezone(UTC).strftime(_SPEND_LOGS_DATE),
                    "page": page,
                    "page_size": page_size,
                    "sort_by": "startTime",
                    "sort_order": "asc",
                },
            )
            rows = list(body.get("data") or [])
            yield rows
            if len(rows) < page_size:
                return
            page += 1

    # -- plumbing -----------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str | int] | None = None,
    ) -> Any:
        response = self._send(method, path, json=json, params=params)
        check_response(response, admin=True, secrets=(self._master_key,))
        return _json(response)

    def _send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str | int] | None = None,
    ) -> httpx.Response:
        self.requests_made += 1
        try:
            return self._http.request(method, path, json=json, params=params)
        except httpx.TimeoutException:
            raise ProxyUnavailable(
                f"the LiteLLM proxy at {self._shown_url} did not answer {method} {path} within"
                f" {self._timeout:g}s: check that it is up and not overloaded,"
                " or set BENCHCTL_PROXY_URL to the right proxy"
            ) from None
        except (httpx.UnsupportedProtocol, httpx.InvalidURL):
            raise ProxyError(
                f"the LiteLLM proxy URL {self._shown_url!r} is not a usable http(s) URL: set"
                " BENCHCTL_PROXY_URL to the proxy's address, e.g. http://127.0.0.1:4000"
            ) from None
        except httpx.TransportError as exc:
            raise ProxyUnavailable(
                f"no LiteLLM proxy answers at {self._shown_url} ({type(exc).__name__}):"
                " start it, or set BENCHCTL_PROXY_URL"
            ) from None


def check_response(response: httpx.Response, *, admin: bool, secrets: Sequence[str] = ()) -> None:
    """Raise the benchctl error for a refusal by the proxy; return on success.

    ``admin`` says the request carried the master key (a 401/403 then means that key is wrong);
    otherwise it carried a virtual key, e.g. a session's. ``secrets`` are removed from any
    message in addition to everything shaped like an ``sk-`` key.
    """
    if response.is_success:
        return
    status = response.status_code
    request = response.request
    where = f"{request.method} {request.url.path}"
    if not _quotable(response):
        raise ProxyError(
            f"{_origin(response)} answered {where} with {_answer(response)}, not the LiteLLM"
            f" proxy's JSON: {_NOT_LITELLM_HINT}"
        )
    message, kind = _proxy_message(response)
    for secret in secrets:
        if secret:
            message = message.replace(secret, "[redacted]")
    message = _KEY_LIKE.sub("sk-[redacted]", message)
    if _ENTERPRISE.search(message):
        raise ProxyEnterpriseOnly(
            f"{where} needs a LiteLLM Enterprise licence (HTTP {status}); benchctl never"
            " requires one, so this is a benchctl bug: please report it"
        )
    if admin and status in (401, 403):
        raise ProxyAuthError(
            f"the LiteLLM proxy refused the master key for {where} (HTTP {status}): set"
            " BENCHCTL_PROXY_MASTER_KEY to the proxy's master key (its LITELLM_MASTER_KEY)"
        )
    invalid_model = _INVALID_MODEL.search(message)
    if status == 400 and invalid_model:
        raise ProxyModelError(
            f"the LiteLLM proxy has no model {invalid_model.group(1)}: {_RENDER_HINT}"
        )
    detail = f" [{kind}]" if kind else ""
    raise ProxyError(
        f"the LiteLLM proxy refused {where} with HTTP {status}{detail}: {_one_line(message)}"
    )


def _proxy_message(response: httpx.Response) -> tuple[str, str | None]:
    """The proxy's own words and error type, from whichever error shape it used."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip() or response.reason_phrase, None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            kind = error.get("type")
            return str(error.get("message")), str(kind) if kind else None
        if isinstance(error, str):
            return error, None
        # FastAPI's own refusals (422 validation, HTTPException) say `detail`.
        detail = body.get("detail")
        if detail is not None:
            return detail if isinstance(detail, str) else json.dumps(detail), None
    return json.dumps(body), None


def _quotable(response: httpx.Response) -> bool:
    """Whether the answer is JSON, or a short plain text worth quoting; not a web page."""
    try:
        response.json()
    except ValueError:
        pass
    else:
        return True
    content_type = response.headers.get("content-type", "").lower()
    text = response.text.strip()
    if "html" in content_type or "xml" in content_type or text.startswith("<"):
        return False
    return len(text) <= _LONGEST_QUOTE


def _one_line(message: str) -> str:
    """The proxy's message on one line and at most a few lines' worth of characters."""
    line = " ".join(message.split())
    return line if len(line) <= _LONGEST_QUOTE else line[: _LONGEST_QUOTE - 3].rstrip() + "..."


def _answer(response: httpx.Response) -> str:
    """What came back, without quoting it: ``HTTP 404 (text/html, 5,120 bytes)``."""
    content_type = response.headers.get("content-type", "").split(";")[0].strip()
    return (
        f"HTTP {response.status_code} ({content_type or 'no content type'},"
        f" {len(response.content):,} bytes)"
    )


def _origin(response: httpx.Response) -> str:
    """Who answered: scheme, host and port of the request, never its user info."""
    url = response.request.url
    port = f":{url.port}" if url.port is not None else ""
    return f"{url.scheme}://{url.host}{port}"


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        request = response.request
        raise ProxyError(
            f"{_origin(response)} answered {request.method} {request.url.path} with"
            f" {_answer(response)} without JSON: {_NOT_LITELLM_HINT}"
        ) from None


def _scoped(models: Sequence[str]) -> list[str]:
    if isinstance(models, str) or not models:
        raise ValueError(
            "a key needs a list of model aliases: LiteLLM lets a key without models call every"
            " model of the proxy"
        )
    return list(models)


def _duration(seconds: int) -> str:
    if seconds <= 0:
        raise ValueError(f"a key's duration must be positive, not {seconds}s")
    return f"{seconds}s"


def _list_params(alias_prefix: str, *, page: int, size: int, full: bool) -> dict[str, str | int]:
    if not alias_prefix:
        raise ValueError("an alias prefix is required: benchctl does not list other keys")
    params: dict[str, str | int] = {
        "key_alias": alias_prefix,
        "substring_matching": "true",
        "page": page,
        "size": size,
        # Pages by alias, so keys created meanwhile shift pages less than the default (newest
        # first) would.
        "sort_by": "key_alias",
        "sort_order": "asc",
    }
    if full:
        params["return_full_object"] = "true"
    return params


def _utc(value: object) -> datetime | None:
    """LiteLLM writes `...Z` in some answers and `...+00:00` in others; naive means UTC."""
    if not isinstance(value, str) or not value:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
