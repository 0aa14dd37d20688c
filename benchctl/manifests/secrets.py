"""Secret-looking literals in manifests. Manifests name env vars; they never hold keys."""

from __future__ import annotations

import re
from collections.abc import Iterator

from benchctl.manifests.diagnostics import Diagnostic
from benchctl.manifests.yaml_source import YamlDocument

_VALUE_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("an Anthropic/OpenAI-style API key", re.compile(r"\bsk-[A-Za-z0-9_-]{16,}")),
    ("a bearer token", re.compile(r"\bBearer\s+[A-Za-z0-9._~+/-]{16,}=*")),
    ("a GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}")),
    ("an AWS access key id", re.compile(r"\bAKIA[0-9A-Z]{16}\b")),
    ("a Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}")),
    ("a Slack token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}")),
    ("a private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
]
_ANY_VALUE = re.compile("|".join(f"(?:{p.pattern})" for _, p in _VALUE_PATTERNS))
# A key named like a credential holding a literal (not a Jinja2 template, not an env var name).
_SECRET_KEY = re.compile(r"(?i)(^|[_-])(api[_-]?key|secret|password|passwd|auth[_-]?token|token)$")
_KEY_HINT = re.compile(r"(?i)(api[_-]?key|secret|passw|token)[\w-]*\s*:")


def redact(text: str) -> str:
    """Replace every secret-looking run in ``text`` so it can be printed or logged."""
    return _ANY_VALUE.sub(lambda m: m.group(0)[:5] + "…(redacted)", text)


def find_secrets(doc: YamlDocument, text: str) -> Iterator[Diagnostic]:
    # The raw text is searched first (C speed); only a hit pays for walking the values.
    if not _ANY_VALUE.search(text) and not _KEY_HINT.search(text):
        return
    for path, value, parent_key in doc.scalars():
        what = next((name for name, pattern in _VALUE_PATTERNS if pattern.search(value)), None)
        if what is None and parent_key is not None and path and path[-1] == parent_key:
            looks_templated = "{{" in value or "{%" in value
            if _SECRET_KEY.search(parent_key) and value and not looks_templated:
                what = f"a literal credential under `{parent_key}`"
        if what is None:
            continue
        line, col = doc.locate(path)
        dotted = ".".join(str(p) for p in path)
        yield Diagnostic(
            doc.path,
            line,
            col,
            "BC400",
            f"`{dotted}` holds what looks like {what} (value not shown)",
            "remove it from the file (and rotate it if it was ever committed); providers name"
            " the env var holding their key with `api_key_env`, harness profiles use"
            " `{{ session.key }}`",
        )
