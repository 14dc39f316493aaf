"""The reconciler: keeps the invariants of a run's life from the *records*, from any process.

Like rq's janitor or a Kubernetes controller, it does not trust side sets that can
vanish with Redis; every pass compares what the run records say with what must be
true, and acts (docs/architecture.md, "Invariants", lists each rule with its test):

1. **Redis lost its data** (the epoch key is gone): the web side, which holds the
   durable records (``run.json``, ``sweeps/``), rebuilds every index from them
   (``restore``) and sends every waiting run's task message again (they went with the
   data); a worker only notes when the new data began.
2. **Every ``running`` run has a live lease**, or it is handed on (``resuming``, or
   ``failed`` after ``max_restarts``). Read from the running index, which the records
   rebuild — never from a set only leases fill. Right after a data loss, live workers
   need one renewal to take their leases back, so no run is judged before the data is
   ``lease_seconds`` old.
3. **Every waiting run has a task message**: one still waiting beside an idle worker
   that could take it, on two looks ``STRANDED_TASK_SECONDS`` (a setting) apart, is sent again
   (a duplicate is harmless: its delivery finds the run claimed and exits).
4. **Every index agrees with the records**: active status indexes and the waiting index
   hold exactly the runs whose records say so.

Any live process runs :meth:`Reconciler.run_once` every few seconds — the web tier
(so nobody is stuck when no worker is alive) and every worker's heartbeat; a short
Redis lock lets one act at a time. Its suspicion clocks live in Redis, so a pass
taken over by another process goes on where the last one stopped.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import redis

from shared import keys, lifecycle
from shared.connections import Enqueue
from shared.eventlog import EventSpool, EventWriter
from shared.lifecycle import WAITING, Status
from shared.run_record import RunRecord
from shared.runs import RunStore, waiting_score
from shared.settings import Settings
from shared.workers import live_workers

log = logging.getLogger(__name__)

#: Rebuild every index from the durable records; returns (runs, sweeps) restored.
Restore = Callable[[], tuple[int, int]]

#: How long a pass may hold the lock (it is released at the end of the pass).
LOCK_MS = 10_000
#: Statuses whose index the reconciler checks every pass (bounded by active runs).
AUDITED = (Status.RUNNING, Status.QUEUED, Status.RESUMING)
#: How long a place in the waiting index with no record yet is taken for a submission
#: still being written (web.admission reserves the place, then the record is created)
#: before it is released as abandoned (a web process that died in between).
RESERVATION_GRACE_SECONDS = 60.0


@dataclass
class Pass:
    """What one pass did (empty when another process held the lock)."""

    acted: bool = False
    restored: tuple[int, int] = (0, 0)
    handed_on: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    requeued: list[str] = field(default_factory=list)
    reindexed: list[str] = field(default_factory=list)


class Reconciler:
    def __init__(
        self,
        r: redis.Redis,
        settings: Settings,
        enqueue: Enqueue,
        me: str,
        restore: Restore | None = None,
        spool_for: Callable[[str], EventSpool | None] = lambda _run_id: None,
    ):
        self.r, self.settings, self.enqueue, self.me = r, settings, enqueue, me
        self.restore = restore
        #: The events it writes (a lost run's status) go through this box's spool, if any.
        self.spool_for = spool_for
        self.store = RunStore(r, settings.results_dir)
        #: Waiting-index members with no record, and when this process first saw each.
        self._reservations: dict[str, float] = {}

    def run_once(self, now: float | None = None) -> Pass:
        """One pass under the lock; an empty :class:`Pass` when another process holds it."""
        if not self.r.set(keys.RECONCILER_LOCK, self.me, nx=True, px=LOCK_MS):
            return Pass()
        done = Pass(acted=True)
        try:
            now = time.time() if now is None else now
            epoch = self._data_epoch(now, done)
            self._audit_indexes(now, done)
            if now - epoch >= self.settings.lease_seconds:
                self._hand_on_lost(done)
            self._requeue_stranded(now, done)
        finally:
            self.r.eval(_RELEASE, 1, keys.RECONCILER_LOCK, self.me)
        return done

    # -- 1. Redis lost its data ------------------------------------------------
    def _data_epoch(self, now: float, done: Pass) -> float:
        """When the current Redis data began, as first seen; restores the records the
        first time a process that holds them sees the data gone."""
        if self.restore is not None and not self.r.exists(keys.RECORDS_RESTORED):
            started = time.perf_counter()
            done.restored = self.restore()
            self.r.set(keys.RECORDS_RESTORED, self.me)
            if any(done.restored):
                log.warning(
                    "Redis had lost its data: rebuilt the indexes of %d run(s) and %d sweep(s) from the records in %.1f s",
                    *done.restored,
                    time.perf_counter() - started,
                )
                # Their task messages went with the data: send them again now rather than
                # after two looks beside an idle worker (a duplicate is harmless).
                for run_id in self.store.queue_positions():
                    record = self.store.get(run_id)
                    if record is not None and record["status"] in WAITING:
                        self.enqueue(run_id, record["spec"], resumed=record["status"] == Status.RESUMING)
                        done.requeued.append(run_id)
        self.r.set(keys.RECONCILER_EPOCH, repr(now), nx=True)
        raw = self.r.get(keys.RECONCILER_EPOCH)
        return float(cast(bytes, raw)) if raw is not None else now

    # -- 2. running runs without a lease ---------------------------------------
    def _hand_on_lost(self, done: Pass) -> None:
        running = [i.decode() for i in cast(list[bytes], self.r.zrange(keys.runs_with_status(Status.RUNNING), 0, -1))]
        if not running:
            return
        pipe = self.r.pipeline(transaction=False)
        for run_id in running:
            pipe.exists(keys.run_lease(run_id))
        for run_id, leased in zip(running, pipe.execute()):
            if leased:
                continue
            # Take the lease ourselves: a worker renewing at this very moment then finds
            # it held by another and stops writing, so the run never has two writers.
            if not self.r.set(keys.run_lease(run_id), f"reconciler:{self.me}", nx=True, px=LOCK_MS):
                continue
            try:
                record = self.store.get(run_id)
                if record is not None and record["status"] == Status.RUNNING:
                    self._handle_lost(record, done)
            finally:
                self.r.eval(_RELEASE, 1, keys.run_lease(run_id), f"reconciler:{self.me}")

    def _handle_lost(self, record: RunRecord, done: Pass) -> None:
        run_id, restarts = record["id"], record.get("restarts", 0)
        lost_worker = record.get("worker")
        writer = EventWriter.for_run(self.r, self.settings, run_id, self.spool_for(run_id))
        if restarts >= self.settings.max_restarts:
            reason = f"worker {lost_worker} lost; gave up after {restarts} restart(s)"
            if lifecycle.give_up(self.store, run_id, reason, writer):
                done.failed.append(run_id)
                log.error("run %s: %s", run_id, reason)
        else:
            message = f"worker {lost_worker} lost; resuming from last checkpoint (restart {restarts + 1})"
            if lifecycle.lose(self.store, run_id, restarts + 1, writer, message):
                done.handed_on.append(run_id)
                self.enqueue(run_id, record["spec"], resumed=True)
                log.warning("run %s: %s", run_id, message)
        writer.close(timeout=10)

    # -- 3. waiting runs without a message -------------------------------------
    def _requeue_stranded(self, now: float, done: Pass) -> None:
        """Reads only the waiting index and the workers' heartbeats, never Celery's
        message format; the first-seen times live in Redis (RECONCILER_SUSPECTS)."""
        workers = live_workers(self.r)
        waiting = [
            rec for rec in map(self.store.get, self.store.queue_positions()) if rec is not None and rec["status"] in WAITING
        ]
        suspects = {
            k.decode(): float(v) for k, v in cast(dict[bytes, bytes], self.r.hgetall(keys.RECONCILER_SUSPECTS)).items()
        }
        pipe = self.r.pipeline(transaction=False)
        for record in waiting:
            run_id, queue = record["id"], keys.queue_for(record["spec"])
            if not _idle(workers, queue):
                pipe.hdel(keys.RECONCILER_SUSPECTS, run_id)  # every eligible worker is busy: normal
                continue
            first_seen = suspects.get(run_id)
            if first_seen is None:
                pipe.hset(keys.RECONCILER_SUSPECTS, run_id, repr(now))
            elif now - first_seen >= self.settings.stranded_task_seconds:
                log.warning(
                    "run %s is %s beside an idle worker: its task message is gone; sending it again",
                    run_id,
                    record["status"],
                )
                self.enqueue(run_id, record["spec"], resumed=record["status"] == Status.RESUMING)
                pipe.hdel(keys.RECONCILER_SUSPECTS, run_id)
                done.requeued.append(run_id)
        for run_id in set(suspects) - {rec["id"] for rec in waiting}:
            pipe.hdel(keys.RECONCILER_SUSPECTS, run_id)
        pipe.execute()

    # -- 4. indexes agree with the records -------------------------------------
    def _audit_indexes(self, now: float, done: Pass) -> None:
        """Every member of an active status index and of the waiting index has a record
        in that status; a waiting record is in the waiting index. Bounded by the active
        runs, not the history (a full rebuild happens in ``restore``).

        A waiting member with no record and no status is a place admission reserved for
        a submission whose record is being written: removing it then would let a burst
        of submissions past the queue cap, so it is released only once it has stayed
        record-less for RESERVATION_GRACE_SECONDS."""
        members: dict[str, set[str]] = {}
        for status in AUDITED:
            for raw in cast(list[bytes], self.r.zrange(keys.runs_with_status(status), 0, -1)):
                members.setdefault(raw.decode(), set()).add(status.value)
        waiting = {i.decode() for i in cast(list[bytes], self.r.zrange(keys.WAITING_RUNS, 0, -1))}
        ids = sorted(set(members) | waiting)
        raws = cast(list[bytes | None], self.r.mget([keys.run_record(i) for i in ids])) if ids else []
        reserved = {i for i, found in zip(ids, raws) if found is None and i in waiting and i not in members}
        self._reservations = {i: self._reservations.get(i, now) for i in reserved}
        for run_id, found in zip(ids, raws):
            if run_id in reserved and now - self._reservations[run_id] < RESERVATION_GRACE_SECONDS:
                continue
            truth = json.loads(found)["status"] if found is not None else None
            indexed = members.get(run_id, set())
            if found is None or indexed - {truth} or (run_id in waiting) != (truth in WAITING):
                if self._reindex(run_id):
                    done.reindexed.append(run_id)
                    log.warning("run %s: its indexes %s disagreed with its record; fixed", run_id, sorted(indexed))

    def _reindex(self, run_id: str) -> bool:
        """Put ``run_id`` in exactly the indexes its record says (one transaction, watching
        the record so a status change meanwhile wins); True when something changed."""
        self.store.get(run_id)  # the web side restores a record Redis lost
        key = keys.run_record(run_id)
        with self.r.pipeline() as pipe:
            try:
                pipe.watch(key)  # type: ignore[no-untyped-call]
                raw = cast(bytes | None, pipe.get(key))
                record = json.loads(raw) if raw is not None else None
                pipe.multi()
                for status in AUDITED:
                    if record is None or record["status"] != status:
                        pipe.zrem(keys.runs_with_status(status), run_id)
                if record is not None:
                    pipe.zadd(keys.runs_with_status(record["status"]), {run_id: record["created_at"]})
                if record is not None and record["status"] in WAITING:
                    pipe.zadd(keys.WAITING_RUNS, {run_id: waiting_score(record)})
                else:
                    pipe.zrem(keys.WAITING_RUNS, run_id)
                pipe.execute()
                return True
            except redis.WatchError:
                return False  # the record moved meanwhile: its transition set the indexes


def _idle(workers: list[dict[str, Any]], queue: str) -> bool:
    """Is some live worker that consumes ``queue`` idle right now?"""
    return any(
        w.get("current_run") is None and (queue != keys.QUEUE_GPU or str(w.get("device", "")).startswith("cuda"))
        for w in workers
    )


#: Delete a key only while it still holds our value.
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
