"""Who may change things: same-site JSON requests, and a token whenever we are reachable.

Two threats, two rules (docs/security.md, "Safe by default"):

* Any web page the user visits can make their browser POST to a Trainboard on
  localhost. A cross-site ``fetch`` can only send JSON after a CORS preflight we
  never grant, so state-changing requests must be ``application/json`` (415
  otherwise: a ``text/plain`` "simple" request cannot sneak a spec in), and a
  request whose ``Origin`` or ``Sec-Fetch-Site`` names another site is refused.
* A web tier listening beyond loopback with no ``API_TOKEN`` would let anyone on
  the network start, cancel and download runs. Like notebook servers it then makes
  a token, keeps it on the results volume (so replicas and restarts share it) and
  logs the page URL with it. ``ALLOW_OPEN_ACCESS=true`` opts out on trusted networks.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from flask import Request, Response, request

from shared.settings import Settings
from web.errors import ApiError
from web.services import services

log = logging.getLogger(__name__)

#: Where the generated token is kept, relative to RESULTS_DIR (a dot file: never an artifact).
TOKEN_FILE = ".trainboard-token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def shared_token(results_dir: str) -> str:
    """The token on the results volume, made once (O_EXCL: two replicas starting
    together agree on one token)."""
    path = Path(results_dir) / TOKEN_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        token = path.read_text().strip()
        if token:
            return token
        raise SystemExit(f"{path} is empty: delete it and start again, or set API_TOKEN") from None
    token = secrets.token_urlsafe(24)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token


def with_token(settings: Settings) -> Settings:
    """Settings whose ``api_token`` is set whenever the web tier is reachable from other
    machines, unless the operator opted out; logs where to open the page."""
    if settings.api_token or is_loopback(settings.web_host):
        return settings
    if settings.allow_open_access:
        log.warning(
            "listening on %s with no API token (ALLOW_OPEN_ACCESS): anyone who can "
            "reach this port can start, cancel and download runs",
            settings.web_host,
        )
        return settings
    token = shared_token(settings.results_dir)
    host = "localhost" if settings.web_host in ("0.0.0.0", "::") else settings.web_host
    log.warning(
        "no API_TOKEN set and listening on %s: using the token kept in %s. Open "
        "http://%s:%d/?token=%s (the page remembers it), or send "
        "'Authorization: Bearer <token>'",
        settings.web_host,
        Path(settings.results_dir) / TOKEN_FILE,
        host,
        settings.web_port,
        token,
    )
    return dataclasses.replace(settings, api_token=token)


def _origin(url: str) -> tuple[str, str] | None:
    """Scheme and host of an origin, or None for one no browser sends (``http://[::1``)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return parts.scheme, parts.netloc.lower()


def refusal(request: Request, allowed_origins: tuple[str, ...]) -> tuple[int, str] | None:
    """Why a state-changing request must be refused (status, message), or None."""
    if request.method not in UNSAFE_METHODS:
        return None
    bodyless = not request.content_length and not request.data
    if request.mimetype != "application/json" and not bodyless:
        # No body (curl -X POST; eventlet then reports the type as text/plain): no spec
        # can ride in; the origin checks below still refuse it from another site.
        return 415, "send the body as JSON with 'Content-Type: application/json'"
    origin = request.headers.get("Origin")
    if origin is not None and origin != "null":
        mine = _origin(origin)
        if mine is None:
            return 403, "the Origin header is not a valid origin"
        if mine != _origin(request.host_url) and origin not in allowed_origins:
            return 403, f"cross-site request from {origin} refused"
    elif origin == "null":
        return 403, "requests from an opaque origin are refused"
    site = request.headers.get("Sec-Fetch-Site")
    if site == "cross-site" and origin not in allowed_origins:
        return 403, "cross-site request refused"
    return None


def refuse_unsafe() -> Response | None:
    """``before_request`` for the whole app (create_app registers it): state-changing
    requests are JSON only and never from another site. A request no route takes
    (404, 405) gets that answer instead."""
    if request.routing_exception is not None:
        return None
    refused = refusal(request, services().settings.cors_origins)
    return ApiError(*refused).response() if refused else None
