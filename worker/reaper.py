"""Finds runs whose worker died and hands them to another worker.

Every worker runs this from its heartbeat thread; a short Redis lock makes one
of them act at a time. A run counts as lost when it is ``running`` but its lease
key has expired. It is moved to ``resuming`` (the transaction makes the reaper
its only writer for that moment), announced, and re-enqueued; the next worker to
claim it continues from the last checkpoint. After ``max_restarts`` it fails.
"""
from __future__ import annotations

import logging
import time
from typing import Callable

import redis

from shared import keys
from shared.eventlog import EventWriter
from shared.runs import WAITING_STATUSES, RunStore
from shared.settings import Settings

log = logging.getLogger(__name__)

Enqueue = Callable[[str, str], None]  # (run id, queue)


def reap_lost_runs(r: redis.Redis, settings: Settings, enqueue: Enqueue, me: str) -> list[str]:
    """Resume or fail every lost run; returns the ids acted on."""
    if not r.set(keys.REAPER_LOCK, me, nx=True, px=5000):
        return []
    store = RunStore(r, settings.results_dir)
    acted = []
    try:
        for raw_id in r.smembers(keys.ACTIVE_RUNS):
            run_id = raw_id.decode()
            if r.exists(keys.run_lease(run_id)):
                continue
            record = store.get(run_id)
            if record is None or record["status"] != "running":
                r.srem(keys.ACTIVE_RUNS, run_id)
                continue
            acted.append(run_id)
            _handle_lost(r, store, settings, enqueue, record)
            r.srem(keys.ACTIVE_RUNS, run_id)
    finally:
        r.delete(keys.REAPER_LOCK)
    return acted


def _handle_lost(r: redis.Redis, store: RunStore, settings: Settings, enqueue: Enqueue,
                 record: dict) -> None:
    run_id, restarts = record["id"], record.get("restarts", 0)
    lost_worker = record.get("worker")
    if restarts >= settings.max_restarts:
        reason = f"worker {lost_worker} lost; gave up after {restarts} restart(s)"
        if store.transition(run_id, ("running",), status="failed", error=reason,
                            finished_at=time.time()):
            writer = EventWriter.for_run(r, settings, run_id)
            writer.append("status", status="failed", message=reason)
            writer.close(timeout=10)
        log.error("run %s: %s", run_id, reason)
        return
    message = f"worker {lost_worker} lost; resuming from last checkpoint (restart {restarts + 1})"
    if store.transition(run_id, ("running",), status="resuming", restarts=restarts + 1,
                        worker=None, queued_at=time.time()):
        writer = EventWriter.for_run(r, settings, run_id)
        writer.append("status", status="resuming", message=message)
        writer.close(timeout=10)
        enqueue(run_id, keys.queue_for(record["spec"]))
        log.warning("run %s: %s", run_id, message)


#: A waiting run whose task message has been missing from its queue this long is re-enqueued.
MISSING_MESSAGE_SECONDS = 30.0


def requeue_orphans(r: redis.Redis, settings: Settings, enqueue: Enqueue,
                    missing_since: dict[str, float], now: float | None = None) -> list[str]:
    """Re-enqueue waiting runs whose Celery message is gone (e.g. Redis lost its data).

    A run counts as orphaned when it is queued or resuming and no message in its queue
    names it on two looks ``MISSING_MESSAGE_SECONDS`` apart, so a message that is only
    in flight between the queue and a worker is never mistaken for a lost one. A
    duplicate message would be harmless anyway: the second delivery finds the run
    claimed and exits.
    """
    now = time.time() if now is None else now
    store = RunStore(r, settings.results_dir)
    waiting = [rec for rec in map(store.get, store.queue_positions())
               if rec is not None and rec["status"] in WAITING_STATUSES]
    queued_text = {q: b"".join(r.lrange(q, 0, -1)) for q in (keys.QUEUE_ANY, keys.QUEUE_GPU)}
    requeued = []
    for record in waiting:
        run_id = record["id"]
        queue = keys.queue_for(record["spec"])
        if run_id.encode() in queued_text[queue]:
            missing_since.pop(run_id, None)
            continue
        first_seen = missing_since.setdefault(run_id, now)
        if now - first_seen >= MISSING_MESSAGE_SECONDS:
            log.warning("run %s is %s but its task message is gone; enqueuing it again",
                        run_id, record["status"])
            enqueue(run_id, queue)
            missing_since.pop(run_id, None)
            requeued.append(run_id)
    for run_id in set(missing_since) - {rec["id"] for rec in waiting}:
        missing_since.pop(run_id, None)
    return requeued
