"""Optional bearer-token auth: off unless API_TOKEN is set.

REST callers send ``Authorization: Bearer <token>``; Socket.IO clients send
``{"token": "<token>"}`` as the connection's auth payload. Reading the run list
and a run's record stays open so a dashboard on a wall needs no secret; anything
that starts, stops, downloads or streams needs the token.
"""
from __future__ import annotations

import functools
import hmac
from collections.abc import Callable
from typing import Any

from flask import current_app, request

from web.errors import ApiError


def token_ok(given: Any) -> bool:
    expected = current_app.extensions["trainboard.settings"].api_token
    if not expected:
        return True
    return isinstance(given, str) and hmac.compare_digest(given.encode(), expected.encode())


def bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    return header[7:] if header.startswith("Bearer ") else None


def require_token(view: Callable) -> Callable:
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if not token_ok(bearer()):
            raise ApiError(401, "this Trainboard needs an API token: "
                                "send 'Authorization: Bearer <token>'")
        return view(*args, **kwargs)
    return wrapper
