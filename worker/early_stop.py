"""Early stopping across a sweep: the median rule, a search's pruner, PBT's exploit step.

All three are asked after each epoch by the run's worker (worker.epochs), from the
sweep's and its runs' records in Redis, so any box can decide. A run they stop keeps
its checkpoint and final weights and ends ``succeeded`` with ``stopped_at_epoch`` in
its record and a message saying why, and ``stopped_early`` unless it is a PBT member at
the end of its generation (the conductor then forks the next one, shared.pbt).

The classic median rule (grid and random sweeps, ``early_stop_epoch``):

A sweep may set ``early_stop_epoch`` k. When one of its runs finishes epoch k, its
test accuracy is compared with the accuracy at epoch k of the sweep's runs that have
already succeeded (kept in their records, so any box can decide); below their median, the run
stops there — it keeps its checkpoint and final weights and ends ``succeeded`` with a
message saying why, and ``stopped_early`` in its record. At least MIN_PEERS finished
runs are needed before anything is stopped, so the first runs of a sweep always finish.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import redis

from shared import pbt, search
from shared.lifecycle import Status
from shared.sweep_store import SweepStore

MIN_PEERS = 2


def accuracy_at(record: Mapping[str, Any], epoch: int) -> float | None:
    """A run's test accuracy after ``epoch``, from its record (worker.epochs keeps it)."""
    value = record.get("accuracy_by_epoch", {}).get(str(epoch))
    return float(value) if value is not None else None


def median_rule(r: redis.Redis, results_dir: str, record: Mapping[str, Any], epoch: int, accuracy: float) -> str | None:
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


@dataclass(frozen=True)
class Verdict:
    """Stop this run after its epoch: why, and what else its record should say."""

    message: str
    changes: dict[str, Any] = field(default_factory=dict)
    #: Cut short by a rule (a pruner, the median rule); False for a PBT generation's end.
    early: bool = True


def sweep_verdict(
    r: redis.Redis, results_dir: str, record: Mapping[str, Any], epoch: int, accuracy: float
) -> Verdict | None:
    """Whether the run's sweep stops it after ``epoch`` (median rule, pruner or PBT)."""
    if not record.get("sweep_id"):
        return None
    sweeps = SweepStore(r, results_dir)
    sweep = sweeps.get(record["sweep_id"])
    if sweep is None:
        return None
    if "proposals" not in sweep:  # a grid or random sweep: the classic rule
        message = median_rule(r, results_dir, record, epoch, accuracy)
        return Verdict(message, {"stopped_at_epoch": epoch}) if message else None
    if sweep["method"] == "pbt":
        if not pbt.generation_ends(sweep, epoch):
            return None
        return Verdict(pbt.reason(epoch), {"stopped_at_epoch": epoch}, early=False)
    if epoch >= int(record["spec"]["epochs"]):
        return None  # trained to the end: a result to tell, not a run to stop
    records = {rec["id"]: rec for rec in sweeps.run_records(sweep)}
    why = search.prune_reason(sweep, records, record["id"], epoch)
    return Verdict(why, {"stopped_at_epoch": epoch}) if why else None
