"""Bounded per-client buffers: a Socket.IO client that stops reading is dropped.

Socket.IO keeps no bound of its own: every packet for a client waits in that
client's Engine.IO queue until its transport takes it. A browser tab that froze,
or a script that connected and never reads, would make the web process grow
with every event of the runs it follows. Like Redis' ``client-output-buffer-limit``,
a client whose queue passes ``limit`` packets is disconnected and its queue
emptied; a live client reconnects, subscribes again with its last seq, and is
caught up from the log (bounded replay) and the series.
"""

from __future__ import annotations

import logging
from typing import Any

from flask_socketio import SocketIO

log = logging.getLogger(__name__)

#: Seconds between two looks at every client's queue.
CHECK_INTERVAL = 0.5


def queued_packets(eio_socket: Any) -> int:
    return eio_socket.queue.qsize()


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


def over_limit(socketio: SocketIO, sid: str, limit: int) -> bool:
    """True when Socket.IO client ``sid`` already has ``limit`` packets waiting."""
    server = socketio.server
    eio_sid = server.manager.eio_sid_from_sid(sid, "/")
    eio_socket = server.eio.sockets.get(eio_sid) if eio_sid else None
    return eio_socket is not None and queued_packets(eio_socket) >= limit


class BufferGuard:
    def __init__(self, socketio: SocketIO, limit: int):
        self.socketio = socketio
        self.limit = limit
        self.dropped = 0
        self.running = True

    def start(self) -> None:
        self.socketio.start_background_task(self._loop)

    def check(self) -> int:
        """Drop every client over the limit; returns how many were dropped."""
        sockets = list(self.socketio.server.eio.sockets.items())
        dropped = 0
        for eio_sid, eio_socket in sockets:
            waiting = queued_packets(eio_socket)
            if waiting >= self.limit and not eio_socket.closed:
                log.warning(
                    "dropping Socket.IO client %s: %d packets waiting (limit %d); it is not reading",
                    eio_sid,
                    waiting,
                    self.limit,
                )
                drop(eio_socket)
                dropped += 1
        self.dropped += dropped
        return dropped

    def _loop(self) -> None:
        while self.running:
            try:
                self.check()
            except Exception:
                log.exception("checking client buffers failed")
            self.socketio.sleep(CHECK_INTERVAL)
