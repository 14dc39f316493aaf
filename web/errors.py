"""The web tier's one error path: every API failure is an :class:`ApiError`, answered
as ``{"error", "fields"}`` with its status (and headers, e.g. ``Retry-After``).

Redis being away becomes a 503 and Werkzeug's HTTP errors (404, 405, 413, ...)
become the same JSON shape under /api/; the page's own routes keep Flask's HTML.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import redis
from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(
        self, status: int, message: str, fields: dict[str, str] | None = None, headers: dict[str, str] | None = None
    ):
        super().__init__(message)
        self.status, self.message = status, message
        self.fields, self.headers = fields or {}, headers or {}

    def response(self) -> Response:
        response = jsonify({"error": self.message, "fields": self.fields})
        response.status_code = self.status
        response.headers.update(self.headers)
        return response


def register(app: Flask) -> None:
    """Answer every API failure app-wide as JSON (create_app calls this once)."""

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        return exc.response()

    @app.errorhandler(redis.RedisError)
    def _redis_error(exc: redis.RedisError) -> Response:
        log.warning("Redis error in %s %s: %s", request.method, request.path, exc)
        return ApiError(503, "the run store (Redis) is unavailable; try again shortly").response()

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response | HTTPException:
        if request.path.startswith("/api/") or request.path == "/healthz":
            return ApiError(exc.code or 500, exc.description or exc.name).response()
        return exc


#: Deepest nesting of arrays and objects a body may have (a run spec is two deep).
MAX_JSON_DEPTH = 32


def json_body() -> Any:
    """The request's JSON body; a 400 for an empty body, invalid JSON, NaN/Infinity or
    nesting deeper than ``MAX_JSON_DEPTH`` (so no handler below ever recurses deeply)."""
    if not request.data:
        raise ApiError(400, "the request body must be a JSON object")
    try:
        body = json.loads(request.data, parse_constant=_reject_constant)
    except RecursionError:
        raise ApiError(400, f"the request body is nested deeper than {MAX_JSON_DEPTH} levels") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"the request body is not valid JSON: {exc}") from None
    if depth(body) > MAX_JSON_DEPTH:
        raise ApiError(400, f"the request body is nested deeper than {MAX_JSON_DEPTH} levels")
    return body


def depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value, without recursion (a scalar is 0)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            deepest = max(deepest, level)
            continue
        deepest = max(deepest, level + 1)
        if level + 1 <= MAX_JSON_DEPTH:
            stack.extend((child, level + 1) for child in children)
    return deepest


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON")
