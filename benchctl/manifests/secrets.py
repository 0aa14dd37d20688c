"""Secret-looking literals in manifests. Manifests name env vars; they never hold keys."""

from __future__ import annotations

import re
from collections.abc import Iterator

from benchctl.manifests.diagnostics import Diagnostic
from benchctl.manifests.yaml_source import PathSegment, YamlDocument

_VALUE_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("an Anthropic/OpenAI-style API key", re.compile(r"\bsk-[A-Za-z0-9_-]{16,}")),
    ("a bearer token", re.compile(r"\bBearer\s+[A-Za-z0-9._~+/-]{16,}=*")),
    ("a GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}")),
    ("an AWS access key id", re.compile(r"\bAKIA[0-9A-Z]{16}\b")),
    ("a Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}")),
    ("a Slack token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}")),
    ("a private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
]


def _literal_first(pattern: str) -> str:
    r"""``\bX…`` as ``X(?<=\bX)…``: the same matches, but a pattern that starts with a literal
    lets ``re`` jump between candidate characters instead of trying every branch everywhere."""
    if not pattern.startswith("\\b"):
        return pattern
    first, rest = pattern[2], pattern[3:]
    return f"{first}(?<=\\b{first}){rest}"


_ANY_VALUE = re.compile("|".join(f"(?:{_literal_first(p.pattern)})" for _, p in _VALUE_PATTERNS))
# A key named like a credential holding a literal: not a Jinja2 template, not the name of an env
# var (`OPENAI_API_KEY`), not LiteLLM's `os.environ/NAME` reference.
_SECRET_KEY = re.compile(r"(?i)(^|[_-])(api[_-]?key|secret|password|passwd|auth[_-]?token|token)$")
# Prefilter for _SECRET_KEY: a key *ending* in a credential word, then (a quote and) the colon.
# Searched in lowercased ASCII text (case-insensitive regexes cannot skip ahead in `re`).
_KEY_HINT = re.compile(r"(?:api[_-]?key|secret|passw(?:or)?d|token)['\"]?\s*:")
_KEY_HINT_ANY_CASE = re.compile(_KEY_HINT.pattern, re.IGNORECASE)
_NOT_A_LITERAL = re.compile(r"^(os\.environ/)?[A-Z_][A-Z0-9_]*$|\{\{|\{%")
_HINT = (
    "remove it from the file (and rotate it if it was ever committed); providers name the env"
    " var holding their key with `api_key_env`, harness profiles use `{{ session.key }}`"
)


def _may_hold_secret_key(text: str) -> bool:
    if text.isascii():
        return _KEY_HINT.search(text.lower()) is not None
    return _KEY_HINT_ANY_CASE.search(text) is not None


def redact(text: str) -> str:
    """Replace every secret-looking run in ``text`` so it can be printed or logged."""
    return _ANY_VALUE.sub(lambda m: m.group(0)[:5] + "…(redacted)", text)


def _kind_of(secret: str) -> str:
    return next(name for name, pattern in _VALUE_PATTERNS if pattern.match(secret))


def find_secrets(doc: YamlDocument, text: str) -> Iterator[Diagnostic]:
    """Secret-looking runs anywhere in the file (values, keys, comments), then literal values
    under credential-like keys. Messages never repeat the value."""
    # The raw text is searched first (C speed); only a hit pays for walking the values.
    if not _ANY_VALUE.search(text) and not _may_hold_secret_key(text):
        return
    values = list(doc.scalars())
    flagged_lines: set[int] = set()
    for match in _ANY_VALUE.finditer(text):
        secret = match.group(0)
        line = text.count("\n", 0, match.start()) + 1
        col = match.start() - (text.rfind("\n", 0, match.start()) + 1) + 1
        where = next((_dotted(path) for path, value, _ in values if secret in value), None)
        holder = f"`{where}`" if where else "a key or comment"
        flagged_lines.add(line)
        yield Diagnostic(
            doc.path,
            line,
            col,
            "BC400",
            f"{holder} holds what looks like {_kind_of(secret)} (value not shown)",
            _HINT,
        )
    for path, value, parent_key in values:
        if (
            parent_key is None
            or not path
            or path[-1] != parent_key
            or not _SECRET_KEY.search(parent_key)
            or not value
            or _NOT_A_LITERAL.search(value)
        ):
            continue
        found = doc.diagnostic(
            path, "BC400", f"`{_dotted(path)}` holds a literal credential (value not shown)", _HINT
        )
        if found.line not in flagged_lines:
            yield found


def _dotted(path: tuple[PathSegment, ...]) -> str:
    return ".".join(str(p) for p in path)
