"""Early stopping across a sweep: the median rule.

A sweep may set ``early_stop_epoch`` k. When one of its runs finishes epoch k, its
test accuracy is compared with the accuracy at epoch k of the sweep's runs that have
already succeeded (kept in their records, so any box can decide); below their median, the run
stops there — it keeps its checkpoint and final weights and ends ``succeeded`` with a
message saying why, and ``stopped_early`` in its record. At least MIN_PEERS finished
runs are needed before anything is stopped, so the first runs of a sweep always finish.
"""

from __future__ import annotations

import statistics
from typing import Any

import redis

from shared.lifecycle import Status
from shared.sweep_store import SweepStore

MIN_PEERS = 2


def accuracy_at(record: dict[str, Any], epoch: int) -> float | None:
    """A run's test accuracy after ``epoch``, from its record (worker.epochs keeps it)."""
    value = record.get("accuracy_by_epoch", {}).get(str(epoch))
    return float(value) if value is not None else None


def median_rule(r: redis.Redis, results_dir: str, record: dict[str, Any], epoch: int, accuracy: float) -> str | None:
    """Why this run should stop now, or None to go on."""
    if not record.get("sweep_id"):
        return None
    sweeps = SweepStore(r, results_dir)
    sweep = sweeps.get(record["sweep_id"])
    if sweep is None or sweep.get("early_stop_epoch") != epoch:
        return None
    peers = [p for p in sweeps.run_records(sweep) if p["id"] != record["id"] and p["status"] == Status.SUCCEEDED.value]
    values = [v for p in peers if (v := accuracy_at(p, epoch)) is not None]
    if len(values) < MIN_PEERS:
        return None
    median = statistics.median(values)
    if accuracy >= median:
        return None
    return (
        f"stopped early by the sweep: test accuracy {accuracy:.2%} after epoch {epoch} is below "
        f"the median {median:.2%} of {len(values)} finished runs"
    )
