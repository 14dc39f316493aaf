"""Sweep records: a sweep's description and its runs' ids, in Redis and on the volume.

A sweep has no status of its own to keep in step: its state is read from its runs
(counts by status, the best run so far), so it can never disagree with them.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any, cast

import redis

from shared import keys, layout
from shared.lifecycle import ACTIVE, TERMINAL
from shared.metrics import BEST_ACCURACY, best_accuracy
from shared.runs import RunStore


def new_sweep(description: dict[str, Any], run_ids: list[str]) -> dict[str, Any]:
    return {"id": uuid.uuid4().hex, **description, "run_ids": run_ids, "created_at": time.time()}


class SweepStore:
    def __init__(self, r: redis.Redis, results_dir: str):
        self.r, self.results_dir = r, results_dir
        self.runs = RunStore(r, results_dir)

    def create(self, sweep: dict[str, Any]) -> None:
        layout.write_json(layout.sweep_file(self.results_dir, sweep["id"]), sweep)
        pipe = self.r.pipeline()
        pipe.set(keys.sweep_record(sweep["id"]), json.dumps(sweep))
        pipe.zadd(keys.SWEEPS_INDEX, {sweep["id"]: sweep["created_at"]})
        pipe.execute()

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

    def run_records(self, sweep: dict[str, Any]) -> list[dict[str, Any]]:
        ids = sweep["run_ids"]
        raws = cast(list[bytes | None], self.r.mget([keys.run_record(i) for i in ids])) if ids else []
        records = []
        for run_id, raw in zip(ids, raws):
            record = json.loads(raw) if raw is not None else self.runs.get(run_id)
            if record is not None:
                records.append(record)
        return records


def summarize(sweep: dict[str, Any], runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The sweep with its state read from its runs: counts by status, the best run so far
    (highest best test accuracy), and whether every run has ended."""
    counts: dict[str, int] = {}
    for run in runs:
        counts[run["status"]] = counts.get(run["status"], 0) + 1
    scored = [r for r in runs if best_accuracy(r) is not None]
    best = max(scored, key=lambda r: cast(float, best_accuracy(r)), default=None)
    finished = bool(runs) and all(r["status"] in TERMINAL for r in runs)
    return {
        **sweep,
        "counts": counts,
        "finished": finished,
        "active": sum(1 for r in runs if r["status"] in ACTIVE),
        "best_run_id": best["id"] if best else None,
        BEST_ACCURACY: best_accuracy(best) if best else None,
    }
