"""A step run every few seconds beside a web process's requests (the reconciler, the
searches' conductor). Async-mode agnostic: Flask-SocketIO's ``start_background_task`` and
``sleep`` only; a Redis outage backs off with a cap (shared.retry.run_every)."""

from __future__ import annotations

from collections.abc import Callable

from flask_socketio import SocketIO

from shared.retry import run_every


class BackgroundLoop:
    def __init__(self, socketio: SocketIO, step: Callable[[], object], interval: float, what: str):
        self.socketio, self.step, self.interval, self.what = socketio, step, interval, what
        self.running = True

    def start(self) -> None:
        self.socketio.start_background_task(self._loop)

    def _loop(self) -> None:
        run_every(self.step, self.interval, self.socketio.sleep, lambda: self.running, self.what)
