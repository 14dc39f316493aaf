"""The worker's heartbeat thread: presence for /api/workers, lease renewal, the
reconciler's pass (shared.reconciler), and resending what the recorder lacks.

It runs beside the Celery pool so that a worker stays visible and keeps its
leases while a long epoch runs. Redis outages are logged and retried with capped
exponential backoff.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time

import redis

from shared import keys
from shared.connections import Enqueue
from shared.reconciler import Reconciler
from shared.retry import run_every
from worker.context import WorkerContext, describe_device
from worker.load import LoadSampler
from worker.spool import Drainer, Spool

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 2.0


class Presence(threading.Thread):
    def __init__(self, ctx: WorkerContext, enqueue: Enqueue):
        super().__init__(name="trainboard-presence", daemon=True)
        self.ctx = ctx
        self.enqueue = enqueue
        self.current_run: str | None = None
        self.started_at = time.time()
        self._stop_event = threading.Event()
        # A worker's scratch holds no records: it reconciles what Redis has, and the
        # web side rebuilds the indexes after a data loss.
        self.reconciler = Reconciler(
            ctx.r, ctx.settings, enqueue, ctx.name, spool_for=lambda run_id: Spool(ctx.settings.results_dir, run_id)
        )
        self.load = LoadSampler(ctx.device)
        self.spools = Drainer(ctx.r, ctx.settings.results_dir)

    def beat(self) -> None:
        """One heartbeat: keep the leases, say we are alive, then the shared chores."""
        self.ctx.leases.renew()
        self.announce()
        self.reconciler.run_once()
        # Events the recorder lacks go again from this box's spool; caught-up spools go.
        self.spools.drain({self.current_run} if self.current_run else set())

    def announce(self) -> None:
        """Presence for /api/workers (expires after three missed beats)."""
        ctx = self.ctx
        info = {
            "name": ctx.name,
            "device": describe_device(ctx.device),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "current_run": self.current_run,
            "started_at": self.started_at,
            "last_seen": time.time(),
            "load": self.load.sample(),
            # The box's GPU index this trainer is pinned to (worker.supervisor), if any.
            "gpu_index": ctx.settings.gpu_index,
        }
        pipe = ctx.r.pipeline()
        pipe.set(keys.worker_heartbeat(ctx.name), json.dumps(info), px=int(HEARTBEAT_SECONDS * 3 * 1000))
        pipe.sadd(keys.WORKERS, ctx.name)
        pipe.execute()

    def run(self) -> None:
        run_every(self.beat, HEARTBEAT_SECONDS, self._stop_event.wait, lambda: not self._stop_event.is_set(), "heartbeat")

    def stop(self) -> None:
        self._stop_event.set()
        try:
            self.ctx.r.delete(keys.worker_heartbeat(self.ctx.name))
            self.ctx.r.srem(keys.WORKERS, self.ctx.name)
        except redis.RedisError:
            pass
