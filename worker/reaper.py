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
from collections.abc import Callable
from typing import cast

import redis

from shared import keys, lifecycle
from shared.eventlog import EventWriter
from shared.lifecycle import Status
from shared.runs import RunStore
from shared.settings import Settings
from shared.workers import live_workers

log = logging.getLogger(__name__)

Enqueue = Callable[[str, dict], None]  # (run id, spec): shared.connections.send_run


def reap_lost_runs(r: redis.Redis, settings: Settings, enqueue: Enqueue, me: str) -> list[str]:
    """Resume or fail every lost run; returns the ids acted on."""
    if not r.set(keys.REAPER_LOCK, me, nx=True, px=5000):
        return []
    store = RunStore(r, settings.results_dir)
    acted = []
    try:
        for raw_id in cast(set[bytes], r.smembers(keys.ACTIVE_RUNS)):
            run_id = raw_id.decode()
            if r.exists(keys.run_lease(run_id)):
                continue
            record = store.get(run_id)
            if record is None or record["status"] != Status.RUNNING:
                r.srem(keys.ACTIVE_RUNS, run_id)
                continue
            acted.append(run_id)
            _handle_lost(r, store, settings, enqueue, record)
            r.srem(keys.ACTIVE_RUNS, run_id)
    finally:
        r.delete(keys.REAPER_LOCK)
    return acted


def _handle_lost(r: redis.Redis, store: RunStore, settings: Settings, enqueue: Enqueue, record: dict) -> None:
    run_id, restarts = record["id"], record.get("restarts", 0)
    lost_worker = record.get("worker")
    writer = EventWriter.for_run(r, settings, run_id)
    if restarts >= settings.max_restarts:
        reason = f"worker {lost_worker} lost; gave up after {restarts} restart(s)"
        lifecycle.give_up(store, run_id, reason, writer)
        writer.close(timeout=10)
        log.error("run %s: %s", run_id, reason)
        return
    message = f"worker {lost_worker} lost; resuming from last checkpoint (restart {restarts + 1})"
    if lifecycle.lose(store, run_id, restarts + 1, writer, message):
        writer.close(timeout=10)
        enqueue(run_id, record["spec"])
        log.warning("run %s: %s", run_id, message)


#: A waiting run still waiting this long beside an idle worker that could take it is sent again.
MISSING_MESSAGE_SECONDS = 30.0


def _idle(workers: list[dict], queue: str) -> bool:
    """Is some live worker that consumes ``queue`` idle right now?"""
    return any(
        w.get("current_run") is None and (queue != keys.QUEUE_GPU or str(w.get("device", "")).startswith("cuda"))
        for w in workers
    )


def requeue_stranded(
    r: redis.Redis, settings: Settings, enqueue: Enqueue, suspects: dict[str, float], now: float | None = None
) -> list[str]:
    """Send the task of waiting runs whose message was lost (e.g. Redis lost its data
    while the run records came back from ``run.json``) again.

    An idle worker takes the next message of its queue at once, so a run still waiting
    while a worker that could take it sits idle — on two looks
    ``MISSING_MESSAGE_SECONDS`` apart, so a message merely in flight is never mistaken
    for a lost one — has no message. This needs only the waiting-runs index and the
    workers' heartbeats, never Celery's message format. A duplicate message is
    harmless: its delivery finds the run claimed and exits.
    """
    now = time.time() if now is None else now
    store = RunStore(r, settings.results_dir)
    workers = live_workers(r)
    waiting = [
        rec for rec in map(store.get, store.queue_positions()) if rec is not None and rec["status"] in lifecycle.WAITING
    ]
    requeued = []
    for record in waiting:
        run_id, queue = record["id"], keys.queue_for(record["spec"])
        if not _idle(workers, queue):
            suspects.pop(run_id, None)  # every eligible worker is busy: waiting is normal
            continue
        first_seen = suspects.setdefault(run_id, now)
        if now - first_seen >= MISSING_MESSAGE_SECONDS:
            log.warning(
                "run %s is %s beside an idle worker: its task message is gone; sending it again", run_id, record["status"]
            )
            enqueue(run_id, record["spec"])
            suspects.pop(run_id, None)
            requeued.append(run_id)
    for run_id in set(suspects) - {rec["id"] for rec in waiting}:
        suspects.pop(run_id, None)
    return requeued
