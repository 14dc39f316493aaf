"""Putting runs on the queue and taking them off: shared by /api/runs and /api/sweeps.

A submission (one run, or every run of a sweep) is admitted in one atomic step (queue
cap and rate limit, web.admission), then each run is recorded, logged as queued and
sent to Celery. A run that cannot be sent is recorded as failed — never left queued
with no task — and the caller gets a 503.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import redis
from flask import request

from shared import keys, lifecycle
from shared.connections import send_run
from shared.eventlog import EventWriter
from shared.notify_targets import check_target
from shared.redaction import SECRET_FIELDS
from shared.run_record import RunRecord
from shared.runs import RunStore
from shared.settings import Settings
from web.admission import admit
from web.errors import ApiError
from web.services import services

log = logging.getLogger(__name__)


def _context() -> tuple[redis.Redis, RunStore, Settings]:
    wired = services()
    return wired.redis, wired.runs, wired.settings


def check_notice_targets(records: Sequence[Mapping[str, Any]], settings: Settings) -> None:
    """A 400 naming the field when a run would notify an address the server must not
    call (loopback, private, link-local, ...; see shared.notify_targets)."""
    policy = settings.notify_policy()
    for field in SECRET_FIELDS:
        for url in dict.fromkeys(r["spec"].get(field) for r in records):
            if url and (problem := check_target(url, policy)):
                raise ApiError(400, f"{field} is not allowed: {problem}", {field: problem})


def submit(records: list[RunRecord], client: str | None = None) -> None:
    """Admit, record and enqueue ``records`` (new run records, status queued), or raise.
    ``client`` is who the rate limit counts: the request's address, or a search's
    conductor (web.conductor) proposing runs outside any request."""
    r, store, settings = _context()
    check_notice_targets(records, settings)
    for record in records:
        record["queued_at"] = record["created_at"]
    who = client or request.remote_addr or "unknown"
    admission = admit(r, who, records, time.time(), settings.max_queued_runs, settings.submit_rate_per_minute)
    if not admission.admitted and admission.retry_after:
        raise ApiError(
            429,
            f"too many submissions: at most {settings.submit_rate_per_minute} per "
            f"minute; try again in {admission.retry_after} s",
            headers={"Retry-After": str(admission.retry_after)},
        )
    if not admission.admitted:
        raise ApiError(
            429,
            f"the queue is full ({admission.waiting} runs waiting, at most "
            f"{settings.max_queued_runs}); {len(records)} more do not fit; "
            f"try again when some have started",
        )
    failed: Exception | None = None
    for record in records:
        writer = EventWriter.for_run(r, settings, record["id"])
        lifecycle.submit(store, record, writer)
        try:
            if not writer.close(timeout=5):
                raise redis.ConnectionError("the queued event could not be stored")
            send_run(services().celery, record["id"], record["spec"])
        except Exception as exc:  # recorded as failed, never left queued with no task
            log.exception("enqueue of run %s failed", record["id"])
            failed = exc
            try:
                lifecycle.reject(store, record["id"], f"could not enqueue: {exc}", writer)
                writer.close(timeout=5)
            except redis.RedisError:
                pass  # run.json keeps "queued"; nothing will run it, and the 503 says so
            continue
    if failed is not None:
        raise ApiError(
            503, "the queue (Redis) is unavailable; runs that could not be enqueued were recorded as failed"
        ) from failed


def cancel(record: RunRecord) -> RunRecord:
    """Ask a run to stop; a waiting run ends at once. Returns the record as it now is."""
    r, store, settings = _context()
    run_id = record["id"]
    r.set(keys.run_cancel(run_id), "1", ex=7 * 24 * 3600)
    # Nobody is training a queued or resuming run: we may end it ourselves. If a
    # worker claims it first the transition fails and that worker sees the flag.
    writer = EventWriter.for_run(r, settings, run_id)
    ended = lifecycle.cancel_waiting(store, run_id, writer)
    if ended is None:
        return record
    writer.close(timeout=5)
    return ended
