"""A run's life on a worker: claim it, train it (worker.epochs), record how it ended.

The body of the Celery task, split from the task so it runs in tests without
Celery, and from the epoch loop so the lifecycle reads in one screen. Every status
change here is a shared.lifecycle operation.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from shared import layout, lifecycle
from shared.eventlog import EventWriter
from shared.lifecycle import Status
from shared.retry import TRANSIENT, retry_redis
from shared.run_record import RunRecord
from shared.spec import SpecError, validate_spec
from worker.context import WorkerContext, describe_device, training_path
from worker.epochs import Finished, HandOff, Lost, Outcome, Prepared, prepare, train_run
from worker.forks import fork_of
from worker.spool import Spool

log = logging.getLogger(__name__)

#: How long a finished run waits for the recorder to hold its last event before the
#: worker moves on (its spool keeps the events, and the heartbeat's drainer goes on).
RECORDED_WAIT_SECONDS = 10.0


def claim(ctx: WorkerContext, run_id: str, writer: EventWriter, prepared: Prepared | None) -> RunRecord | None:
    """Take the run (its lease held) if it is still queued or resuming; its ``running``
    event says where it starts (fresh, or from which epoch's checkpoint)."""
    current = ctx.store.get(run_id)
    path = training_path(ctx.device, current["spec"]) if current else None
    resumed = prepared.resumed_from if prepared is not None else None
    fork = fork_of(current) if current else None
    if fork is not None and resumed == fork.epoch:
        message = f"forked from epoch {resumed} of run {fork.parent_run_id} on {ctx.name}"
    elif resumed is not None:
        message = f"resumed from epoch {resumed} checkpoint on {ctx.name}"
    else:
        message = f"started on {ctx.name} ({describe_device(ctx.device)})"
    record = lifecycle.claim(
        ctx.store,
        run_id,
        writer,
        message,
        resumed_from_epoch=resumed,
        worker=ctx.name,
        device=describe_device(ctx.device),
        train_path=path,
    )
    if record is not None and record.get("started_at") is None:
        record = ctx.store.update(run_id, started_at=time.time())
    return record


def execute_run(ctx: WorkerContext, run_id: str) -> str | None:
    """Run ``run_id`` to its next status; returns it, or None if it was not ours to run."""
    if not layout.is_run_id(run_id):
        log.error("refusing task with malformed run id %r", run_id)
        return None
    if not ctx.leases.acquire(run_id):
        log.info("run %s is leased by another worker; skipping duplicate delivery", run_id)
        return None
    current = ctx.store.get(run_id)
    if current is None:
        ctx.leases.release(run_id)
        return None
    writer = open_event_writer(ctx, run_id)
    prepared: Prepared | None = None
    outcome: Outcome | None = None
    try:  # data, model and the stored checkpoint, before the claim says how it starts
        prepared = prepare(ctx, run_id, validate_spec(current["spec"]), fork_of(current))
    except SpecError as exc:
        outcome = Finished(Status.FAILED, str(exc))
    except Exception as exc:  # the run fails, the worker lives on
        log.exception("run %s could not start", run_id)
        outcome = Finished(Status.FAILED, f"{type(exc).__name__}: {exc}")
    record = claim(ctx, run_id, writer, prepared)
    if record is None:  # cancelled or taken meanwhile
        ctx.leases.release(run_id)
        writer.close(timeout=5)
        return None
    if prepared is not None:
        try:
            outcome = train_run(ctx, prepared, record, writer)
        except Exception as exc:  # the run fails, the worker lives on
            log.exception("run %s failed", run_id)
            outcome = Finished(Status.FAILED, f"{type(exc).__name__}: {exc}")
    assert outcome is not None
    if isinstance(outcome, Lost):
        log.warning("run %s: lease lost, another worker owns it now; stopping quietly", run_id)
        writer.close(timeout=5)
        return None
    if isinstance(outcome, HandOff):
        return _hand_off(ctx, run_id, record, writer, outcome.message)
    return _finish(ctx, run_id, writer, outcome)


def _finish(ctx: WorkerContext, run_id: str, writer: EventWriter, outcome: Finished) -> str:
    status = outcome.status
    try:
        retry_redis(
            lambda: lifecycle.finish(ctx.store, run_id, status, writer, outcome.message), f"run {run_id}: recording {status}"
        )
        writer.close(recorded_within=RECORDED_WAIT_SECONDS)
    finally:
        # Even if Redis stayed away too long to record the end: stop renewing the lease,
        # so the reconciler resumes the run from its checkpoint rather than it hanging.
        try:
            ctx.leases.release(run_id)
        except TRANSIENT:
            log.warning("run %s: could not release its lease; it will expire", run_id)
    return status.value


def open_event_writer(ctx: WorkerContext, run_id: str) -> EventWriter:
    """The run's event writer: to Redis, spooled on this box until the recorder has it."""
    return EventWriter.for_run(ctx.r, ctx.settings, run_id, Spool(ctx.settings.results_dir, run_id))


def _hand_off(ctx: WorkerContext, run_id: str, record: Mapping[str, Any], writer: EventWriter, message: str) -> str:
    """This worker is stopping: give the run back to the queue; it resumes from its
    last epoch checkpoint on the next worker (not counted as a restart)."""
    lifecycle.hand_off(ctx.store, run_id, writer, message)
    writer.close(timeout=10)
    ctx.leases.release(run_id)
    if ctx.enqueue is not None:
        ctx.enqueue(run_id, record["spec"], resumed=True)
    log.warning("run %s: %s", run_id, message)
    return Status.RESUMING.value
