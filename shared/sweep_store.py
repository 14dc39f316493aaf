"""Sweep records: a sweep's description and its runs' ids, in Redis and on the volume.

A sweep has no status of its own to keep in step: its state is read from its runs
(counts by status, the best run so far), so it can never disagree with them.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import redis

from shared import keys, layout
from shared.lifecycle import ACTIVE, TERMINAL
from shared.metrics import BEST_ACCURACY, best_accuracy
from shared.run_record import RunRecord
from shared.runs import RunStore


def is_search(sweep: dict[str, Any]) -> bool:
    """A search proposes its runs as it goes (shared.search); a grid or random sweep has
    all of them from the start."""
    return "proposals" in sweep


def new_sweep(description: dict[str, Any], run_ids: list[str]) -> dict[str, Any]:
    return {"id": uuid.uuid4().hex, **description, "run_ids": run_ids, "created_at": time.time()}


class SweepStore:
    def __init__(self, r: redis.Redis, results_dir: str):
        self.r, self.results_dir = r, results_dir
        self.runs = RunStore(r, results_dir)

    def create(self, sweep: dict[str, Any]) -> None:
        self.save(sweep)

    def save(self, sweep: dict[str, Any]) -> None:
        """Write the sweep: to the volume first (it outlives Redis), then to Redis; a
        search still proposing runs stays on the conductor's list."""
        layout.write_json(layout.sweep_file(self.results_dir, sweep["id"]), sweep)
        pipe = self.r.pipeline()
        pipe.set(keys.sweep_record(sweep["id"]), json.dumps(sweep))
        pipe.zadd(keys.SWEEPS_INDEX, {sweep["id"]: sweep["created_at"]})
        if is_search(sweep) and not sweep.get("done"):
            pipe.sadd(keys.ACTIVE_SEARCHES, sweep["id"])
        else:
            pipe.srem(keys.ACTIVE_SEARCHES, sweep["id"])
            if is_search(sweep):  # done: workers send its notice once (worker.notifier)
                pipe.rpush(keys.NOTIFICATIONS, json.dumps({"sweep_id": sweep["id"]}))
        pipe.execute()

    def active_searches(self) -> list[str]:
        return sorted(i.decode() for i in cast(set[bytes], self.r.smembers(keys.ACTIVE_SEARCHES)))

    def get(self, sweep_id: str) -> dict[str, Any] | None:
        if not layout.is_run_id(sweep_id):
            return None
        raw = cast(bytes | None, self.r.get(keys.sweep_record(sweep_id)))
        if raw is not None:
            return cast(dict[str, Any], json.loads(raw))
        sweep = layout.read_json(layout.sweep_file(self.results_dir, sweep_id))  # after a flush
        if not isinstance(sweep, dict) or sweep.get("id") != sweep_id:
            return None
        self.r.set(keys.sweep_record(sweep_id), json.dumps(sweep), nx=True)
        self.r.zadd(keys.SWEEPS_INDEX, {sweep_id: sweep["created_at"]})
        if is_search(sweep) and not sweep.get("done"):
            self.r.sadd(keys.ACTIVE_SEARCHES, sweep_id)
        return cast(dict[str, Any], sweep)

    def restore_all(self) -> int:
        """Re-index every sweep on the volume that Redis does not know (after a flush)."""
        folder = Path(self.results_dir) / layout.SWEEPS_DIR
        if not folder.is_dir():
            return 0
        known = {i.decode() for i in cast(list[bytes], self.r.zrange(keys.SWEEPS_INDEX, 0, -1))}
        restored = 0
        for path in folder.glob("*.json"):
            if path.stem not in known and self.get(path.stem) is not None:
                restored += 1
        return restored

    def recent(self, limit: int = 100) -> list[dict[str, Any]]:
        ids = [i.decode() for i in cast(list[bytes], self.r.zrevrange(keys.SWEEPS_INDEX, 0, limit - 1))]
        return [s for s in map(self.get, ids) if s is not None]

    def run_records(self, sweep: dict[str, Any]) -> list[RunRecord]:
        ids = sweep["run_ids"]
        raws = cast(list[bytes | None], self.r.mget([keys.run_record(i) for i in ids])) if ids else []
        records = []
        for run_id, raw in zip(ids, raws):
            record = cast(RunRecord, json.loads(raw)) if raw is not None else self.runs.get(run_id)
            if record is not None:
                records.append(record)
        return records


def summarize(sweep: dict[str, Any], runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The sweep with its state read from its runs: counts by status, the best run so far
    (highest best test accuracy), and whether every run has ended."""
    counts: dict[str, int] = {}
    for run in runs:
        counts[run["status"]] = counts.get(run["status"], 0) + 1
    scored = [r for r in runs if best_accuracy(r) is not None]
    best = max(scored, key=lambda r: cast(float, best_accuracy(r)), default=None)
    finished = bool(runs) and all(r["status"] in TERMINAL for r in runs)
    if is_search(sweep):  # proposes runs as it goes: finished when its conductor says so
        finished = bool(sweep.get("done"))
        if sweep["objective"] != "test_accuracy" and runs:
            best = _best_by_objective(sweep, runs) or best
    return {
        **sweep,
        "counts": counts,
        "finished": finished,
        "active": sum(1 for r in runs if r["status"] in ACTIVE),
        "best_run_id": best["id"] if best else None,
        BEST_ACCURACY: best_accuracy(best) if best else None,
    }


def _best_by_objective(sweep: dict[str, Any], runs: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The best run by the search's own objective (a loss: the lowest)."""
    from shared.search import trial_value
    from shared.search_space import OBJECTIVES

    sign = 1 if OBJECTIVES[sweep["objective"]] == "maximize" else -1
    scored = [(sign * v, r["id"], r) for r in runs if (v := trial_value(r, sweep["objective"])) is not None]
    return max(scored, key=lambda t: (t[0], t[1]))[2] if scored else None
