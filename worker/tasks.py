"""Thin Celery tasks: unpack the message, call plain functions."""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery.signals import worker_ready, worker_shutdown, worker_shutting_down

from shared import keys
from shared.connections import redis_client, send_run
from worker.celery_app import app, settings
from worker.context import WorkerContext, pick_device
from worker.leases import LeaseKeeper
from worker.notifier import Notifier
from worker.presence import Presence
from worker.runner import execute_run

log = logging.getLogger(__name__)

_ctx: WorkerContext | None = None
_presence: Presence | None = None
_notifier: Notifier | None = None
_lock = threading.Lock()


def enqueue_run(run_id: str, spec: dict[str, Any], resumed: bool = False) -> None:
    send_run(app, run_id, spec, resumed)


def start_worker(name: str) -> WorkerContext:
    """Build the process-wide context and start the heartbeat (once)."""
    global _ctx, _presence, _notifier
    with _lock:
        if _ctx is None:
            r = redis_client(settings.redis_url)
            _ctx = WorkerContext(
                settings=settings,
                r=r,
                name=name,
                device=pick_device(settings.device),
                leases=LeaseKeeper(r, name, settings.lease_seconds),
                enqueue=enqueue_run,
            )
            _presence = Presence(_ctx, enqueue_run)
            _presence.start()
            # Its own client: a blocking pop must not hold the connection training uses.
            _notifier = Notifier(redis_client(settings.redis_url), settings, name)
            _notifier.start()
            log.info("worker %s ready on %s", name, _ctx.device)
        return _ctx


def request_handoff() -> None:
    """Warm shutdown began: the running run (if any) hands itself on at its next progress point."""
    if _ctx is not None:
        _ctx.shutting_down.set()


def stop_worker() -> None:
    if _presence is not None:
        _presence.stop()
    if _notifier is not None:
        _notifier.stop()


@app.task(name=keys.TRAIN_TASK, bind=True)
def train_run(self: Any, run_id: str) -> str | None:
    """Train one run (the spec is in its run record)."""
    ctx = start_worker(self.request.hostname)
    presence = _presence
    assert presence is not None, "start_worker starts the heartbeat"
    presence.current_run = run_id
    try:
        return execute_run(ctx, run_id)
    finally:
        presence.current_run = None


# -- the worker process' life: Celery signals ------------------------------------
@worker_ready.connect
def _start_presence(sender: Any, **_kwargs: Any) -> None:
    start_worker(sender.hostname)


@worker_shutting_down.connect
def _hand_runs_on(**_kwargs: Any) -> None:
    request_handoff()


@worker_shutdown.connect
def _stop_presence(**_kwargs: Any) -> None:
    stop_worker()
