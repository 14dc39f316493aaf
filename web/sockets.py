"""Socket.IO handlers: connect (as closed as REST), subscribe to a run's events
(history, then live) within the per-client bounds of web.subscriptions, unsubscribe."""

from __future__ import annotations

import logging
import socket
from typing import Any

import redis
from flask import request
from flask_socketio import SocketIO, disconnect, emit, join_room, leave_room

from shared import layout
from web.auth import token_ok
from web.relay import Relay, room_of
from web.services import services
from web.subscriptions import Refused, Subscriptions

#: Longest auth token considered (a real one is 32 characters); longer is refused unread.
MAX_TOKEN_CHARS = 1024

log = logging.getLogger(__name__)


def _bad(message: str) -> dict[str, Any]:
    emit("error", {"error": message})
    return {"ok": False, "error": message}


def _run_id_from(data: Any) -> str | None:
    if not isinstance(data, dict):
        return None
    run_id = data.get("run_id")
    return run_id if layout.is_run_id(run_id) else None


def authorized(auth: Any) -> bool:
    """Whether a connect's auth payload carries the token (always, with none in force).
    Never raises: any type, any unicode (lone surrogates), any size is just refused."""
    try:
        token = auth.get("token") if isinstance(auth, dict) else None
        if isinstance(token, str) and len(token) > MAX_TOKEN_CHARS:
            return False
        return bool(token_ok(token))
    except Exception:  # noqa: BLE001 — refusing is the answer to anything unexpected
        return False


def register(socketio: SocketIO, relay: Relay) -> None:
    """Every Socket.IO handler: connecting (the token), following runs, failures."""
    subscriptions = Subscriptions(relay.settings.max_subscriptions)
    _register_connection(socketio, subscriptions)
    _register_following(socketio, relay, subscriptions)


def _register_connection(socketio: SocketIO, subscriptions: Subscriptions) -> None:
    @socketio.on("connect")
    def on_connect(auth: Any = None) -> bool:
        """Refuse the connection (``connect_error``) unless auth.token matches API_TOKEN."""
        if not authorized(auth):
            raise ConnectionRefusedError("unauthorized: connect with auth {token: <API token>}")
        return True

    @socketio.on("disconnect")
    def on_disconnect(*_args: Any) -> None:
        """Stop the client's replays; forget its subscriptions."""
        subscriptions.forget(request.sid)  # type: ignore[attr-defined]

    @socketio.on_error_default
    def on_error(exc: Exception) -> Any:
        """Any unexpected failure in a handler: log it, tell the client, keep serving —
        except in ``connect``, where any failure refuses the connection."""
        if isinstance(exc, ConnectionRefusedError):
            raise exc  # a refused connect must reach Socket.IO, not be answered
        event = getattr(request, "event", None) or {}
        if event.get("message") == "connect":
            log.warning("Socket.IO connect failed (%s); refused", type(exc).__name__)
            return False
        log.exception("Socket.IO handler failed: %s", exc)
        return _bad("the server could not handle that message")


def _register_following(socketio: SocketIO, relay: Relay, subscriptions: Subscriptions) -> None:
    @socketio.on("subscribe")
    def on_subscribe(data: Any = None, *_extra: Any) -> dict[str, Any]:
        """Send the run's events after ``after`` (at most REPLAY_LIMIT, the newest), then
        its live events; the ack says which: ``{ok, replayed, first_seq, last_seq}``."""
        run_id = _run_id_from(data)
        if run_id is None:
            return _bad("subscribe needs {run_id: <32 hex chars>, after: <seq>}")
        after = data.get("after", 0)
        if after is None:
            after = 0
        if not isinstance(after, int) or isinstance(after, bool) or not 0 <= after < 2**53:
            return _bad("after must be a non-negative integer (the last seq you have)")
        sid = request.sid  # type: ignore[attr-defined]  # set by Flask-SocketIO
        try:
            # The bounds first: a refused subscribe costs no Redis round trip.
            with subscriptions.subscribe(sid, run_id) as ticket, subscriptions.replay_turn(ticket) as go:
                if not go:
                    return {"ok": False, "error": "superseded by a newer subscribe for this run"}
                if services().runs.get(run_id) is None:
                    subscriptions.unsubscribe(sid, run_id)
                    return _bad(f"no run with id {run_id!r}")
                replay = relay.replay(run_id, after, sid, lambda: join_room(room_of(run_id)), ticket.current)
        except Refused as exc:
            if subscriptions.flooding(sid):
                log.warning("Socket.IO client %s keeps subscribing past its bounds; disconnecting it", sid)
                subscriptions.forget(sid)
                disconnect()
            return {"ok": False, "error": str(exc)}  # the ack says it; no extra "error" packet
        except redis.RedisError as exc:
            log.warning("subscribe %s: Redis unavailable: %s", run_id, exc)
            return _bad("the event store is unavailable; subscribe again shortly")
        # first_seq > after + 1: the client was too far behind for a replay; it fills
        # seqs after..first_seq-1 from the series or event pages if it wants them.
        return {"ok": True, "run_id": run_id, **replay}

    @socketio.on("unsubscribe")
    def on_unsubscribe(data: Any = None, *_extra: Any) -> dict[str, Any]:
        """Stop receiving a run's events."""
        run_id = _run_id_from(data)
        if run_id is None:
            return _bad("unsubscribe needs {run_id}")
        subscriptions.unsubscribe(request.sid, run_id)  # type: ignore[attr-defined]
        leave_room(room_of(run_id))
        return {"ok": True, "run_id": run_id}


def drop_malformed(socketio: SocketIO) -> None:
    """A client whose packet is not Socket.IO (``4X``, a stray binary frame, a binary
    event without its attachments) is disconnected, with one warning.

    python-socketio raises on such a packet and Engine.IO logs the traceback and reads
    the next one: a script sending 70,000 of them a second filled the log (170 MB in
    10 s) and held /healthz for 30 s, anonymously (before any connect). So packets are
    decoded as they are read (Engine.IO's ``async_handlers`` off: python-socketio still
    runs every *event* handler in its own task), the first bad one ends the session, and
    the connection itself is shut so its reader stops at once. Called once the server
    exists (create_app, after ``init_app``)."""
    server = socketio.server
    server.eio.async_handlers = False
    handle = server.eio.handlers["message"]

    def guarded(eio_sid: str, data: Any) -> Any:
        try:
            return handle(eio_sid, data)
        except Exception as exc:  # noqa: BLE001 — a protocol error ends the client, not the server
            if eio_sid in server.eio.sockets:
                log.warning(
                    "Socket.IO client %s sent a packet that is not Socket.IO (%s: %.100s); disconnecting it",
                    eio_sid,
                    type(exc).__name__,
                    exc,
                )
                shut(server.environ.get(eio_sid))
                server.eio.disconnect(eio_sid)
            return None

    server.eio.on("message", guarded)


def shut(environ: dict[str, Any] | None) -> None:
    """Shut a client's connection under the server's feet: its reader's next read fails
    instead of going on through what the client keeps sending. The servers hand the
    socket over under their own keys (eventlet, gunicorn, Werkzeug); none found, the
    session's close stops it a little later."""
    if not environ:
        return
    raw = environ.get("gunicorn.socket") or environ.get("werkzeug.socket")
    wsgi_input = environ.get("eventlet.input")
    if raw is None and wsgi_input is not None and hasattr(wsgi_input, "get_socket"):
        raw = wsgi_input.get_socket()
    if raw is not None:
        try:
            raw.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
