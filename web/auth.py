"""The API token: one guard for the whole app, off unless a token is in force.

With ``API_TOKEN`` set (or the token web.access generates off loopback), every
``/api/*`` route needs it — reads as well as writes, as Jupyter's token guards every
route but its login page and Flower's API answers 401 without auth — except:

* ``/healthz``: load balancers and compose health checks probe it with no secret,
  and it says only whether Redis answers;
* ``/api/openapi.json`` and ``/api/docs``: the API's shape, the same for every
  installation and nothing about its runs; a user who has no token yet reads there
  how to send one (what a login page would say).

The page itself (``/``, its scripts and styles) is public for the same reason: it
holds no data and asks for the token on the first 401 (or takes it once from
``?token=``). REST callers send ``Authorization: Bearer <token>``; Socket.IO clients
send ``{"token": "<token>"}`` as the connection's auth payload (web.sockets).
"""

from __future__ import annotations

import hmac
from typing import Any

from flask import request

from web.errors import ApiError
from web.services import services

#: Paths under /api/ (and the health probe) that stay open with a token in force.
PUBLIC_PATHS = frozenset({"/healthz", "/api/openapi.json", "/api/docs"})


def is_guarded(path: str) -> bool:
    """Whether ``path`` needs the token when one is in force."""
    return path.startswith("/api/") and path not in PUBLIC_PATHS


def token_ok(given: Any) -> bool:
    expected = services().settings.api_token
    if not expected:
        return True
    return isinstance(given, str) and hmac.compare_digest(given.encode(), expected.encode())


def bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    return header[7:] if header.startswith("Bearer ") else None


def guard() -> None:
    """``before_request`` for the whole app (registered by create_app): a 401 for a
    guarded path without the token, whatever the route (an unknown /api/ path too,
    so the answer does not tell which routes exist)."""
    if is_guarded(request.path) and not token_ok(bearer()):
        raise ApiError(
            401,
            "this Trainboard needs an API token: send 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": 'Bearer realm="trainboard"'},
        )
