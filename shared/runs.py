"""Run records: stored in Redis, mirrored to ``run.json``, indexed for the run list.

A record is a JSON object in Redis, mirrored to ``run.json`` on the results volume
so that run history survives a Redis flush (every change but one to ephemeral fields
alone, such as a worker's once-a-second ``progress``: shared.run_record says which). Status changes are the lifecycle's
(:mod:`shared.lifecycle`), applied here by :meth:`RunStore._transition`, an
optimistic transaction that also keeps the indexes in step: every run by creation
time, the runs of each status, and the waiting runs in queue order.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, cast

import redis

from shared import eventfile, keys, layout
from shared.events import finite
from shared.lifecycle import TERMINAL, WAITING, Status
from shared.redaction import public_run
from shared.run_record import RunRecord, check_changes, is_durable
from shared.spec import PRIORITY_ORDER

#: Score distance between priorities in the waiting index (more than any epoch time).
PRIORITY_SPAN = 1e10
#: Pending run-end notices kept at most (the oldest go first if no worker sends them).
NOTIFICATIONS_KEPT = 10_000
#: Runs fetched per Redis round trip while paging.
PAGE_CHUNK = 200
#: Most records one page of a name search reads before it returns what it found.
SEARCH_BUDGET = 5000


#: ``<created_at>~<run id>`` of the last run of a page (created_at exactly as stored).
CURSOR_PATTERN = r"^[0-9]{1,16}\.[0-9]{1,17}~[0-9a-f]{32}$"


def encode_cursor(position: tuple[float, str]) -> str:
    return f"{float(position[0])!r}~{position[1]}"


def decode_cursor(cursor: str | None) -> tuple[float, str] | None:
    """The position a cursor names; ValueError if it is not one ``page`` made."""
    if not cursor:
        return None
    if not re.fullmatch(CURSOR_PATTERN, cursor):
        raise ValueError("not a run-list cursor")
    score, _, run_id = cursor.partition("~")
    return float(score), run_id


class RunStore:
    def __init__(self, r: redis.Redis, results_dir: str):
        self.r = r
        self.results_dir = results_dir

    # -- reading -------------------------------------------------------------
    def get(self, run_id: str) -> RunRecord | None:
        if not layout.is_run_id(run_id):
            return None
        raw = cast(bytes | None, self.r.get(keys.run_record(run_id)))
        if raw is not None:
            return cast(RunRecord, json.loads(raw))
        return self._restore(run_id)

    def page(
        self, limit: int = 100, cursor: str | None = None, status: str | None = None, name_contains: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Runs newest first, ``limit`` at most, after ``cursor``; and the cursor of the
        next page (None when there is none).

        A page walks the creation-time index (or one status' index) from the cursor, so
        its cost does not grow with history. A name search reads at most
        ``SEARCH_BUDGET`` records per page and may return fewer than ``limit`` runs with
        a cursor to go on from: every run stays reachable by paging.
        """
        index = keys.runs_with_status(status) if status else keys.RUNS_INDEX
        position = decode_cursor(cursor)
        needle = name_contains.casefold() if name_contains else None
        runs: list[dict[str, Any]] = []
        examined = 0
        while len(runs) < limit and examined < SEARCH_BUDGET:
            want = min(PAGE_CHUNK, limit - len(runs)) if needle is None else PAGE_CHUNK
            batch = self._after(index, position, want)
            if not batch:
                return runs, None
            raws = cast(list[bytes | None], self.r.mget([keys.run_record(run_id) for run_id, _ in batch]))
            for (run_id, score), raw in zip(batch, raws):
                position = (score, run_id)
                examined += 1
                record = json.loads(raw) if raw is not None else None
                if record is None or (needle is not None and needle not in record["name"].casefold()):
                    continue
                runs.append(record)
                if len(runs) == limit:
                    break
        return runs, encode_cursor(position) if position else None

    def _after(self, index: str, position: tuple[float, str] | None, count: int) -> list[tuple[str, float]]:
        """The next ``count`` (id, created_at) of ``index`` after ``position``, newest first.

        Entries with the same score come in descending id order, so those at the
        cursor's score with an id at or above the cursor's were already returned."""
        top = "+inf" if position is None else repr(position[0])
        extra = 0
        while True:
            rows = self.r.zrevrangebyscore(index, top, "-inf", start=0, num=count + extra, withscores=True)
            fresh = [(m.decode(), sc) for m, sc in rows if position is None or sc < position[0] or m.decode() < position[1]]
            if fresh or len(rows) < count + extra:
                return fresh[:count]
            extra += count  # a run of equal timestamps longer than the batch

    def queue_positions(self) -> dict[str, int]:
        """1-based position of every waiting run in FIFO order (Celery's order): the
        waiting index, whose size the queue cap bounds, not the run history."""
        ids = cast(list[bytes], self.r.zrange(keys.WAITING_RUNS, 0, -1))
        return {run_id.decode(): i + 1 for i, run_id in enumerate(ids)}

    def queue_position(self, run_id: str) -> int | None:
        rank = cast(int | None, self.r.zrank(keys.WAITING_RUNS, run_id))
        return None if rank is None else rank + 1

    def waiting_count(self) -> int:
        return int(cast(int, self.r.zcard(keys.WAITING_RUNS)))

    # -- writing -------------------------------------------------------------
    def create(self, record: RunRecord) -> None:
        check_changes(record)
        record.setdefault("queued_at", record["created_at"])
        pipe = self.r.pipeline()
        pipe.set(keys.run_record(record["id"]), json.dumps(record))
        pipe.zadd(keys.RUNS_INDEX, {record["id"]: record["created_at"]})
        pipe.zadd(keys.WAITING_RUNS, {record["id"]: waiting_score(record)})
        pipe.zadd(keys.runs_with_status(record["status"]), {record["id"]: record["created_at"]})
        pipe.publish(keys.RUN_UPDATES_CHANNEL, json.dumps(public_run(record)))
        pipe.execute()
        self._mirror(record)

    def update(self, run_id: str, **changes: Any) -> RunRecord | None:
        """Change fields other than status (epoch, metrics, ...) of an existing run; every
        page hears of it (``run_update``) in the same step."""
        if "status" in changes:
            raise ValueError("status changes are shared.lifecycle operations")
        return self._transition(run_id, None, **changes)

    def add_child(self, run_id: str, child_id: str) -> RunRecord | None:
        """Append a fork's id to the run's ``children`` (atomic: concurrent forks all land)."""
        return self._transition(run_id, None, compute=lambda record: {"children": [*record.get("children", []), child_id]})

    def _transition(
        self,
        run_id: str,
        allowed_from: tuple[str, ...] | None,
        compute: Callable[[RunRecord], dict[str, Any]] | None = None,
        **changes: Any,
    ) -> RunRecord | None:
        """Apply ``changes`` if the run's status is in ``allowed_from`` (None = any).

        Returns the new record, or None when the run is missing or in another state.
        Only shared.lifecycle passes a ``status``.
        """
        key = keys.run_record(run_id)
        with self.r.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)  # type: ignore[no-untyped-call]
                    raw = cast(bytes | None, pipe.get(key))
                    if raw is None:
                        pipe.unwatch()
                        if self._restore(run_id) is None:
                            return None
                        continue
                    record = cast(RunRecord, json.loads(raw))
                    if allowed_from is not None and record["status"] not in allowed_from:
                        pipe.unwatch()
                        return None
                    before = record["status"]
                    change = {**changes, **(compute(record) if compute else {})}
                    check_changes(change)
                    record = cast(RunRecord, {**record, **finite(change)})  # a diverged run's NaN metrics become null
                    pipe.multi()
                    pipe.set(key, json.dumps(record))
                    if "status" in changes:
                        _index_status(pipe, record, before)
                    # A change and its announcement are one step: every page hears of it.
                    pipe.publish(keys.RUN_UPDATES_CHANNEL, json.dumps(public_run(record)))
                    pipe.execute()
                    break
                except redis.WatchError:
                    continue
        if is_durable(change):  # a worker's once-a-second progress alone is not written to disk
            self._mirror(record)
        return record

    # -- the volume mirror ---------------------------------------------------
    def _mirror(self, record: Mapping[str, Any]) -> None:
        layout.write_json(layout.run_dir(self.results_dir, record["id"]) / layout.RUN_JSON, record)

    def _restore(self, run_id: str) -> RunRecord | None:
        """Bring a run back from ``run.json`` after Redis lost it."""
        record = layout.read_json(layout.run_dir(self.results_dir, run_id) / layout.RUN_JSON)
        if not isinstance(record, dict) or record.get("id") != run_id:
            return None
        pipe = self.r.pipeline()
        pipe.set(keys.run_record(run_id), json.dumps(record), nx=True)
        pipe.zadd(keys.RUNS_INDEX, {run_id: record["created_at"]})
        pipe.zadd(keys.runs_with_status(record["status"]), {run_id: record["created_at"]})
        if record["status"] in WAITING:
            pipe.zadd(keys.WAITING_RUNS, {run_id: waiting_score(record)}, nx=True)
        log_path, _ = eventfile.paths(self.results_dir, run_id)
        if log_path.exists():  # the web side: its history says which seq comes next
            pipe.set(keys.run_recorded(run_id), eventfile.last_line_seq(log_path), nx=True)
            if record["status"] in TERMINAL:
                pipe.expire(keys.run_recorded(run_id), keys.RECORDED_TTL_SECONDS)
        pipe.execute()
        return cast(RunRecord, record)

    def restore_all(self) -> int:
        """Re-index every run folder on the volume that Redis does not know (web start-up)."""
        root = Path(self.results_dir)
        if not root.is_dir():
            return 0
        known = {i.decode() for i in cast(list[bytes], self.r.zrange(keys.RUNS_INDEX, 0, -1))}
        restored = 0
        for folder in root.iterdir():
            if layout.is_run_id(folder.name) and folder.name not in known:
                restored += self._restore(folder.name) is not None
        self._index_statuses(sorted(known))
        return restored

    def _index_statuses(self, run_ids: list[str]) -> None:
        """Put runs recorded before per-status indexes existed into theirs (idempotent)."""
        for start in range(0, len(run_ids), PAGE_CHUNK):
            chunk = run_ids[start : start + PAGE_CHUNK]
            pipe = self.r.pipeline(transaction=False)
            raws = cast(list[bytes | None], self.r.mget([keys.run_record(i) for i in chunk]))
            for run_id, raw in zip(chunk, raws):
                if raw is not None:
                    record = json.loads(raw)
                    pipe.zadd(keys.runs_with_status(record["status"]), {run_id: record["created_at"]}, nx=True)
            pipe.execute()


def waiting_score(record: Mapping[str, Any]) -> float:
    """Order in the waiting index: by priority; within a priority, runs being resumed
    (they were running: their message goes one broker step ahead, shared.connections)
    before runs that never started; then FIFO (queued_at)."""
    priority = PRIORITY_ORDER.get(record["spec"].get("priority") or "normal", 1)
    ahead = PRIORITY_SPAN / 2 if record.get("status") == Status.RESUMING else 0.0
    return priority * PRIORITY_SPAN - ahead + float(record.get("queued_at") or record["created_at"])


def _index_status(pipe: redis.client.Pipeline, record: RunRecord, before: str) -> None:
    """Keep the status and waiting indexes in step with a status change (inside its
    transaction)."""
    run_id = record["id"]
    pipe.zrem(keys.runs_with_status(before), run_id)
    pipe.zadd(keys.runs_with_status(record["status"]), {run_id: record["created_at"]})
    if record["status"] in WAITING:
        pipe.zadd(keys.WAITING_RUNS, {run_id: waiting_score(record)})
    else:
        pipe.zrem(keys.WAITING_RUNS, run_id)
    if record["status"] in TERMINAL:  # workers send the notice (worker.notifier)
        pipe.rpush(keys.NOTIFICATIONS, json.dumps({"run_id": run_id}))
        pipe.ltrim(keys.NOTIFICATIONS, -NOTIFICATIONS_KEPT, -1)
