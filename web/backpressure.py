"""Bounded per-client buffers: a Socket.IO client that stops reading is dropped.

Socket.IO keeps no bound of its own: every packet for a client waits in that
client's Engine.IO queue until its transport takes it. A browser tab that froze,
or a script that connected and never reads, would make the web process grow
with every event of the runs it follows. Like Redis' ``client-output-buffer-limit``,
a client whose queue passes ``CLIENT_QUEUE_LIMIT`` packets or ``CLIENT_QUEUE_BYTES``
bytes is disconnected, its queue emptied and its replays stopped; a live client
reconnects, subscribes again with its last seq, and is caught up from the log
(bounded replay) and the series. Replays check the same bound every chunk, so a
client that asks for more than it reads is cut off at the bound, not at the next
look of the guard.

The same look closes Engine.IO sessions that never made (or were refused) a Socket.IO
connection within ``CONNECT_GRACE_SECONDS``: only connected clients hold a slot.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from flask_socketio import SocketIO

from shared.settings import Settings

log = logging.getLogger(__name__)

#: Seconds between two looks at every client's queue.
CHECK_INTERVAL = 0.5


#: Below this many packets waiting, the bytes are not counted (a reading client).
BYTES_FROM_PACKETS = 64

#: Seconds an Engine.IO session may live without a Socket.IO connection: a page connects
#: at once; a refused client (wrong token) that keeps answering pings, or a script that
#: only opens handshakes, would otherwise hold a connection slot forever.
CONNECT_GRACE_SECONDS = 10.0


def queued_packets(eio_socket: Any) -> int:
    return int(eio_socket.queue.qsize())


def queued_bytes(eio_socket: Any) -> int:
    """Bytes of the packets waiting (their encoded text: one emit to a room shares one)."""
    waiting = list(getattr(eio_socket.queue, "queue", ()))
    return sum(len(p.data) if isinstance(p.data, str | bytes) else 0 for p in waiting if p is not None)


def over(eio_socket: Any, settings: Settings) -> bool:
    """Is this Engine.IO socket past either bound?"""
    packets = queued_packets(eio_socket)
    if packets >= settings.client_queue_limit:
        return True
    return packets >= BYTES_FROM_PACKETS and queued_bytes(eio_socket) >= settings.client_queue_bytes


def drop(eio_socket: Any) -> None:
    """Disconnect the client now and free what was waiting for it."""
    eio_socket.close(wait=False, abort=True)
    empty = eio_socket.server.get_queue_empty_exception()
    while True:
        try:
            eio_socket.queue.get(block=False)
            eio_socket.queue.task_done()
        except empty:
            break
    eio_socket.queue.put(None)  # let the writer task end once its transport lets it


def over_limit(socketio: SocketIO, sid: str, settings: Settings) -> bool:
    """True when Socket.IO client ``sid`` is gone, closed, or past a bound."""
    server = socketio.server
    eio_sid = server.manager.eio_sid_from_sid(sid, "/")
    eio_socket = server.eio.sockets.get(eio_sid) if eio_sid else None
    return eio_socket is None or eio_socket.closed or over(eio_socket, settings)


class BufferGuard:
    def __init__(self, socketio: SocketIO, settings: Settings):
        self.socketio = socketio
        self.settings = settings
        self.dropped = 0
        self.running = True
        #: When each Engine.IO session was first seen without a Socket.IO connection.
        self.unconnected: dict[str, float] = {}

    def start(self) -> None:
        self.socketio.start_background_task(self._loop)

    def check(self) -> int:
        """Drop every client over a bound, then the ones with the most waiting while all
        clients together hold more than CLIENTS_QUEUE_BYTES; returns how many."""
        sockets = list(self.socketio.server.eio.sockets.items())
        dropped = 0
        backlog: list[tuple[int, str, Any]] = []
        for eio_sid, eio_socket in sockets:
            if eio_socket.closed:
                continue
            if over(eio_socket, self.settings):
                log.warning(
                    "dropping Socket.IO client %s: %d packets waiting (limits %d packets, %d bytes); it is not reading",
                    eio_sid,
                    queued_packets(eio_socket),
                    self.settings.client_queue_limit,
                    self.settings.client_queue_bytes,
                )
                drop(eio_socket)
                dropped += 1
            elif queued_packets(eio_socket) >= BYTES_FROM_PACKETS:
                backlog.append((queued_bytes(eio_socket), eio_sid, eio_socket))
        total = sum(size for size, _, _ in backlog)
        for size, eio_sid, eio_socket in sorted(backlog, key=lambda b: b[0], reverse=True):
            if total <= self.settings.clients_queue_bytes:
                break
            log.warning(
                "dropping Socket.IO client %s: %d bytes waiting, the most of any while all clients hold %d (limit %d)",
                eio_sid,
                size,
                total,
                self.settings.clients_queue_bytes,
            )
            drop(eio_socket)
            total -= size
            dropped += 1
        self.dropped += dropped
        return dropped

    def close_unconnected(self, now: float) -> int:
        """Close Engine.IO sessions that have had no Socket.IO connection for
        CONNECT_GRACE_SECONDS (never connected, or refused); returns how many."""
        server = self.socketio.server
        seen, closed = {}, 0
        for eio_sid in list(server.eio.sockets):
            if server.manager.sid_from_eio_sid(eio_sid, "/") is not None:
                continue
            since = seen[eio_sid] = self.unconnected.get(eio_sid, now)
            if now - since >= CONNECT_GRACE_SECONDS:
                log.info("closing Engine.IO session %s: no Socket.IO connection after %.0f s", eio_sid, now - since)
                server.eio.disconnect(eio_sid)
                del seen[eio_sid]
                closed += 1
        self.unconnected = seen
        return closed

    def _loop(self) -> None:
        while self.running:
            try:
                self.check()
                self.close_unconnected(time.monotonic())
            except Exception:
                log.exception("checking client buffers failed")
            self.socketio.sleep(CHECK_INTERVAL)
