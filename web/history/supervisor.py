"""The web tier keeps its recorder alive: a child process, restarted with capped backoff.

``python -m web`` runs the recorder (web.history.recorder) as a child so that writing history
never competes with the Socket.IO relay for the server's event loop. A child can die
(OOM killer, ``kill -9``, a bug): history would silently stop. So the server supervises
it, as the worker supervises its trainers:

* it looks every ``POLL_SECONDS``; a dead child is logged with its exit status and
  started again after a backoff (0.5 s, 1 s, … 10 s; reset once a child lived a minute);
* the dead child's recorder lease is released at once (it is named by the owner id we
  gave it), so the next recorder — ours or another web process's — takes over now, not
  after the lease runs out;
* ``alive`` and ``restarts`` feed ``/healthz`` (web.health).

Async-mode agnostic: only Flask-SocketIO's ``start_background_task`` and ``sleep``.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
import uuid

import redis
from flask_socketio import SocketIO

from shared import keys
from shared.retry import Backoff

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
#: A child that lived this long counts as healthy: the next restart waits the least again.
STABLE_SECONDS = 60.0
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


class RecorderSupervisor:
    def __init__(self, socketio: SocketIO, r: redis.Redis):
        self.socketio, self.r = socketio, r
        self.proc: subprocess.Popen[bytes] | None = None
        self.owner = ""
        self.started_at = 0.0
        self.restarts = 0
        self.last_exit: int | None = None
        self.running = True

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def spawn(self) -> None:
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        env = {
            **os.environ,
            "TRAINBOARD_RECORDER_PARENT": str(os.getpid()),
            "TRAINBOARD_RECORDER_OWNER": self.owner,
        }
        self.proc = subprocess.Popen([sys.executable, "-m", "web.history.recorder"], env=env)
        self.started_at = time.monotonic()

    def start(self) -> None:
        self.spawn()
        self.socketio.start_background_task(self._loop)

    def _loop(self) -> None:
        backoff = Backoff()
        while self.running:
            self.socketio.sleep(POLL_SECONDS)
            if self.proc is None or self.proc.poll() is None or not self.running:
                continue
            self.last_exit = self.proc.returncode
            lived = time.monotonic() - self.started_at
            if lived >= STABLE_SECONDS:
                backoff.reset()
            self._release_lease()
            delay = backoff.next()
            log.error(
                "the recorder (pid %d) exited with status %s after %.0f s; history is not being "
                "written: starting it again in %.1f s",
                self.proc.pid,
                self.last_exit,
                lived,
                delay,
            )
            self.socketio.sleep(delay)
            if self.running:
                self.restarts += 1
                self.spawn()
                log.info("recorder restarted (pid %d, restart %d)", self.proc.pid, self.restarts)

    def _release_lease(self) -> None:
        try:
            self.r.eval(_RELEASE, 1, keys.RECORDER_LEASE, self.owner)
        except redis.RedisError as exc:
            log.warning("could not release the dead recorder's lease: %s", exc)

    def stop(self) -> None:
        self.running = False
        if self.alive and self.proc is not None:
            self.proc.terminate()
