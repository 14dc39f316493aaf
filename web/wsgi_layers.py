"""WSGI layers around the whole app, Socket.IO included: what the real servers hand
the app differs between eventlet, gevent and Werkzeug, and these make it the same.

Plain WSGI, so the web tier stays async-mode agnostic.
"""

from __future__ import annotations

from typing import Any


class ChunkedBodies:
    """A ``Transfer-Encoding: chunked`` body is read to its end.

    Werkzeug reads a body without ``Content-Length`` only when the server says the input
    ends by itself (``wsgi.input_terminated``, PEP 3333's extension); gevent's server sets
    it, eventlet's decodes chunks but does not say so, and the body would read as empty.
    ``MAX_CONTENT_LENGTH`` still bounds what is read (413)."""

    def __init__(self, app: Any):
        self.app = app

    def __call__(self, wsgi_env: dict[str, Any], start_response: Any) -> Any:
        if "chunked" in wsgi_env.get("HTTP_TRANSFER_ENCODING", "").lower():
            wsgi_env["wsgi.input_terminated"] = True
        return self.app(wsgi_env, start_response)


class NoWebSocketCompression:
    """WebSocket upgrades are answered without ``permessage-deflate`` (WS_COMPRESSION=off).

    Browsers and socket.io-client offer the extension on every upgrade, and eventlet (like
    gevent's wsproto) accepts it: each client then has its own deflate context, so one
    event to a room of 400 is compressed 400 times. Profiled on the fan-out benchmark
    (8 runs × 50 clients), that was 60 % of the web process's CPU. Socket.IO's own server
    and ``ws`` ship with the extension off for this reason; events are a few KB at most.
    Taking the offer out of the request leaves the handshake standard: the server simply
    does not accept an extension nobody offered."""

    def __init__(self, app: Any):
        self.app = app

    def __call__(self, wsgi_env: dict[str, Any], start_response: Any) -> Any:
        wsgi_env.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)
        return self.app(wsgi_env, start_response)
