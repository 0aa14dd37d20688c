"""Where benchctl finds its database, its proxy and its local state: environment first.

Nothing here comes from manifests: manifests are reviewed in pull requests and must not be able
to point benchctl at another database or proxy, nor carry the proxy's master key. What the
environment leaves unset comes from the local stack `benchctl up` started, if any, so that
commands work after `up` with no exports.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from benchctl.errors import UsageError

STATE_DIR = ".benchctl"

# -- masking connection strings ----------------------------------------------------------------

# The password of a URL's user info: scheme://user:PASSWORD@host. Greedy up to the last `@` of
# the word, so a password holding an unencoded `@` is hidden whole.
_URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@?#]*:)\S*@")
# A URL query parameter: ?password=..., &sslpassword=...
_QUERY_PASSWORD = re.compile(r"(?P<head>[?&][A-Za-z_]*password=)[^&#\s]*", re.IGNORECASE)
# A libpq keyword: password=VALUE, password = 'a b', with libpq's backslash escapes; an
# unterminated quote hides the rest of the text. Not after ?/& (query parameters, above).
_KEYWORD_PASSWORD = re.compile(
    r"(?P<head>(?<![\w?&])[A-Za-z_]*password\s*=\s*)"
    r"(?:'(?:\\.|[^'\\])*'?|(?:\\.|[^\s\\])*\\?)",
    re.IGNORECASE,
)
_QUOTED = re.compile(r'"[^"]*"')
_LONGEST_PROBLEM = 300


def redact_dsn(text: str) -> str:
    """``text`` with every password of a connection string in it replaced by ``***``.

    The one masking function for database URLs and DSNs in messages: URL forms
    (``postgresql://user:pw@host/db``, ``?password=`` parameters) and libpq's keyword form
    (``password=pw``, ``password='a b'``), anywhere in the text, so a whole error message can
    go through it too. It works on the text alone: a string libpq cannot parse is masked as
    well as one it can.
    """
    text = _URL_PASSWORD.sub(r"\g<head>***@", text)
    text = _QUERY_PASSWORD.sub(r"\g<head>***", text)
    return _KEYWORD_PASSWORD.sub(r"\g<head>***", text)


def database_problem(exc: BaseException) -> str:
    """What the database driver says went wrong, as one line with no password in it.

    libpq's messages run over several lines (a hint on the second), and those about a string it
    cannot parse quote the part it stumbled on, which may be the password: quoted parts of
    those are left out (``missing "=" after "..." in connection info string``).
    """
    import psycopg

    text = str(exc)
    if isinstance(exc, psycopg.ProgrammingError):
        text = _QUOTED.sub(lambda m: m[0] if m[0] == '"="' else '"..."', text)
    line = " ".join(redact_dsn(text).split()).rstrip(".") or type(exc).__name__
    if len(line) > _LONGEST_PROBLEM:
        line = line[: _LONGEST_PROBLEM - 3].rstrip() + "..."
    return line


# -- checking what the environment says --------------------------------------------------------


def _database_url(name: str, *, prisma: bool = False) -> str | None:
    """The connection string in ``name``, once it can be read (else a UsageError that does not
    repeat it: a string that cannot be read cannot be masked reliably either).

    ``prisma``: LiteLLM's own URL, whose Prisma-only parameters (``?schema=``) libpq refuses;
    as a URL it is checked as a URL only (the collector translates it for libpq).
    """
    value = os.environ.get(name) or None
    if value is None:
        return None
    if prisma and "://" in value:
        reason = _url_problem(value, ("postgresql", "postgres"))
    else:
        reason = _conninfo_problem(value)
    if reason is not None:
        raise UsageError(
            f"{name} is not a postgresql:// URL or a libpq key=value string ({reason}): set it"
            " to e.g. postgresql://USER:PASSWORD@HOST:5432/DBNAME (special characters"
            " percent-encoded), or unset it."
        )
    return value


def _conninfo_problem(value: str) -> str | None:
    """Why libpq cannot read ``value`` (without repeating it), else None."""
    # Imported here: settings are read by every command, the driver only by those that use it.
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    try:
        conninfo_to_dict(value)
    except psycopg.Error as exc:
        return database_problem(exc)
    return None


def _url_problem(value: str, schemes: tuple[str, ...]) -> str | None:
    """Why ``value`` is not a URL of one of ``schemes`` (with a host, for http), else None.

    The reasons never quote the value: it may hold a password.
    """
    if any(ch.isspace() or not ch.isprintable() for ch in value):
        return "it holds spaces or control characters"
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError:
        return "its host or port cannot be read"
    if not parts.scheme:
        return "it has no scheme"
    if parts.scheme.lower() not in schemes:
        return f"its scheme is {parts.scheme!r}, not {' or '.join(schemes)}"
    if "http" in schemes and not parts.hostname:
        return "it has no host"
    return None


def _http_url(name: str, server: str, example: str) -> str | None:
    """The http(s) URL in ``name`` without its trailing slash, once httpx can use it."""
    value = (os.environ.get(name) or "").rstrip("/") or None
    if value is None:
        return None
    reason = _url_problem(value, ("http", "https"))
    if reason is not None:
        raise UsageError(
            f"{name}={redact_dsn(value)!r} is not an http(s) URL ({reason}): set it to"
            f" {server}'s address, e.g. {example}, or unset it."
        )
    return value


def _http_urls(name: str, server: str, example: str) -> tuple[str, ...]:
    """Comma-separated http(s) URLs in ``name``, each checked as ``_http_url`` checks one."""
    found = []
    for item in (os.environ.get(name) or "").split(","):
        value = item.strip().rstrip("/")
        if not value:
            continue
        reason = _url_problem(value, ("http", "https"))
        if reason is not None:
            raise UsageError(
                f"{name} holds {redact_dsn(value)!r}, which is not an http(s) URL ({reason}):"
                f" list {server}' addresses separated by commas, e.g. {example}, or unset it."
            )
        found.append(value)
    return tuple(found)


@dataclass(frozen=True)
class Settings:
    root: Path
    database_url: str | None
    proxy_url: str | None
    proxy_master_key: str | None = None
    # LiteLLM's own database: the collector's fast path around the spend-logs API's limits.
    litellm_database_url: str | None = None
    prometheus_url: str | None = None
    # Proxy instances that sessions' env files point at (several, sharing one LiteLLM
    # database); empty: all sessions use proxy_url. Admin calls always go to proxy_url.
    session_proxy_urls: tuple[str, ...] = ()

    def session_proxy_url(self, session_id: str) -> str:
        """The proxy instance a session's harness talks to: one per session, chosen by a hash
        of its id, so that its requests stay on one instance and sessions spread evenly
        (a load balancer in front of the instances works as well: give only its URL)."""
        assert self.proxy_url is not None
        urls = self.session_proxy_urls or (self.proxy_url,)
        digest = hashlib.sha256(session_id.encode()).digest()
        return urls[int.from_bytes(digest[:8], "big") % len(urls)]

    @property
    def state_dir(self) -> Path:
        """Git-ignored folder for the embedded database, logs, PIDs and session env files."""
        return self.root / STATE_DIR

    @property
    def sessions_dir(self) -> Path:
        return self.state_dir / "sessions"

    @classmethod
    def local(cls, root: Path) -> Settings:
        """Only what the local stack under ``root`` provides (`benchctl up`), whatever the
        environment says; its embedded database is the default, so it needs no URL."""
        # Imported here: the stack package builds on Settings.
        from benchctl.stack.state import load_state, master_key

        state = load_state(root / STATE_DIR)
        parts = state.parts
        proxy, prometheus = parts.get("proxy"), parts.get("prometheus")
        instances = state.proxies()
        return cls(
            root=root,
            database_url=None,
            proxy_url=proxy.url if proxy else None,
            proxy_master_key=master_key(root / STATE_DIR, create=False) if proxy else None,
            litellm_database_url=proxy.database_url if proxy else None,
            prometheus_url=prometheus.url if prometheus else None,
            session_proxy_urls=tuple(p.url for p in instances) if len(instances) > 1 else (),
        )

    @classmethod
    def from_env(cls, root: Path) -> Settings:
        """The environment first, then the local stack; a malformed URL is a UsageError."""
        proxy_url = _http_url("BENCHCTL_PROXY_URL", "the LiteLLM proxy", "http://127.0.0.1:4000")
        database_url = _database_url("BENCHCTL_DATABASE_URL")
        litellm_database_url = _database_url("BENCHCTL_LITELLM_DATABASE_URL", prisma=True)
        prometheus_url = _http_url("BENCHCTL_PROMETHEUS_URL", "Prometheus", "http://127.0.0.1:9090")
        session_proxy_urls = _http_urls(
            "BENCHCTL_SESSION_PROXY_URLS", "the proxy instances", "http://10.0.0.5:4000"
        )
        local = cls.local(root)
        master = os.environ.get("BENCHCTL_PROXY_MASTER_KEY") or os.environ.get("LITELLM_MASTER_KEY")
        if proxy_url is None:
            proxy_url = local.proxy_url
            # The stack's key goes only with the stack's proxy, never to a proxy named by env.
            master = master or local.proxy_master_key
            session_proxy_urls = session_proxy_urls or local.session_proxy_urls
        return cls(
            root=root,
            database_url=database_url,
            proxy_url=proxy_url,
            proxy_master_key=master or None,
            litellm_database_url=litellm_database_url or local.litellm_database_url,
            prometheus_url=prometheus_url or local.prometheus_url,
            session_proxy_urls=session_proxy_urls,
        )
