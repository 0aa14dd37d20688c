"""What every request and response goes through: the token, the Host header, the headers.

Off loopback a token (``BENCHCTL_SERVE_TOKEN``) is required, and checked on every request: as
``Authorization: Bearer <token>`` from tools, or as a cookie the login form sets for browsers.
The cookie holds an HMAC of the token, never the token. On loopback without a token, the Host
header must name loopback too, so that a web page elsewhere cannot reach the viewer through DNS
rebinding. Every response forbids framing, sniffing, referrers and anything not served here.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from benchctl.serve.config import ServeConfig, is_loopback

COOKIE = "benchctl_viewer"
# Paths anyone may fetch: the login form and the stylesheet it uses, and a liveness probe.
OPEN_PATHS = ("/login", "/static/", "/healthz")
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}

Next = Callable[[Request], Awaitable[Response]]
Refuse = Callable[[Request, int, str], Response]


def cookie_value(token: str) -> str:
    return hmac.new(token.encode(), b"benchctl serve viewer", hashlib.sha256).hexdigest()


def token_matches(token: str, offered: str) -> bool:
    return hmac.compare_digest(token.encode(), offered.encode())


def authorized(request: Request, token: str) -> bool:
    scheme, _, offered = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token_matches(token, offered.strip()):
        return True
    cookie = request.cookies.get(COOKIE, "")
    return bool(cookie) and hmac.compare_digest(cookie, cookie_value(token))


def _host(request: Request) -> str:
    host = request.headers.get("host", "")
    if host.startswith("["):  # [::1]:8080
        return host[1 : host.find("]")]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def guard(config: ServeConfig, refuse: Refuse) -> Callable[[Request, Next], Awaitable[Response]]:
    """The middleware: ``refuse(request, status, message)`` answers a refused request in the
    form its path expects (JSON for the API, a page for the viewer)."""

    async def middleware(request: Request, call_next: Next) -> Response:
        if config.token is None and not is_loopback(_host(request)):
            response = refuse(
                request,
                400,
                f"this viewer answers on loopback only; open it as http://127.0.0.1:{config.port}/",
            )
        elif (
            config.token is not None
            and not request.url.path.startswith(OPEN_PATHS)
            and not authorized(request, config.token)
        ):
            response = refuse(request, 401, "this server needs its token (BENCHCTL_SERVE_TOKEN)")
        else:
            response = await call_next(request)
        response.headers.update(HEADERS)
        if not request.url.path.startswith("/static/"):
            response.headers["Cache-Control"] = "no-store"
        return response

    return middleware
