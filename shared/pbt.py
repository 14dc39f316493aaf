"""Population-based training over the queue (``"method": "pbt"``).

A population of ``population`` members trains in generations of ``interval`` epochs. Each
member's run stops at the end of its generation (its worker stops it, like a pruner
would, keeping the epoch's state). When every member of a generation has ended, the
members are ranked by their objective at that epoch: the bottom quarter goes on as a
fork of a top-quarter member's state (exploit) with that member's settings perturbed
(explore: numbers × 0.8 or × 1.2 within the space's range, a choice re-drawn with
probability 1/4); everyone else goes on as a fork of its own state, settings unchanged,
which the fork machinery (worker.forks) continues bit for bit. So each member is a chain
of runs, and an exploit is a branch from another chain: the lineage tree the page draws.

Synchronous generations fit a queue with fewer workers than members: nobody is judged
against a population that has not got there yet. Runs keep the sweep's full ``epochs`` in
their spec, so a schedule (onecycle) is the one a single run would follow.

The stop is the worker's (worker.early_stop), the next generation the conductor's
(web.conductor), so runs are created in one place; both are pure functions of the sweep
and its runs' records, seeded by the sweep's seed.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from typing import Any

from shared.lifecycle import TERMINAL
from shared.search import objective_by_epoch
from shared.search_space import OBJECTIVES

#: The share of reporting members that counts as bottom (and as top).
QUANTILE = 0.25
#: Perturbation factors for numbers; probability to re-draw a choice.
FACTORS = (0.8, 1.2)
RESAMPLE = 0.25


def draw(space: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """A random point of ``space`` (a first-generation member's settings)."""
    point = {}
    for name, how in space.items():
        if isinstance(how, list):
            point[name] = rng.choice(how)
            continue
        lo, hi, step = how["min"], how["max"], how["step"]
        if how["log"]:
            x = math.exp(rng.uniform(math.log(lo), math.log(hi)))
        else:
            x = rng.uniform(lo, hi)
        point[name] = _fit(x, how)
        if step is None and isinstance(lo, int) and isinstance(hi, int):
            point[name] = int(round(x))
    return point


def _fit(x: float, how: dict[str, Any]) -> Any:
    """``x`` clamped into the range, on its step, an int for an int range."""
    lo, hi, step = how["min"], how["max"], how["step"]
    x = min(max(x, lo), hi)
    if step is not None:
        x = lo + round((x - lo) / step) * step
    if isinstance(lo, int) and isinstance(hi, int) and not isinstance(step, float):
        return int(round(x))
    return float(f"{x:.6g}")


def perturb(params: dict[str, Any], space: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """The explore step: each searched value nudged (numbers) or maybe re-drawn (choices)."""
    out = dict(params)
    for name, how in space.items():
        if isinstance(how, list):
            if rng.random() < RESAMPLE:
                out[name] = rng.choice(how)
        elif name in out:
            out[name] = _fit(out[name] * rng.choice(FACTORS), how)
    return out


def initial_population(sweep: dict[str, Any]) -> list[dict[str, Any]]:
    """The first generation's settings, one per member."""
    rng = random.Random(f"{sweep.get('seed') or 0}:pbt")
    return [draw(sweep["space"], rng) for _ in range(sweep["population"])]


def generation_ends(sweep: dict[str, Any], epoch: int) -> bool:
    """Whether a member's run stops after ``epoch``: a generation's end, not the last."""
    epochs = int(sweep["base"].get("epochs", 10))
    return sweep.get("method") == "pbt" and epoch % sweep["interval"] == 0 and epoch < epochs


def next_generation(sweep: dict[str, Any], records: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The next generation's proposals (member, parent run, epoch, settings, exploit?)
    once every member of the current one has ended at its generation's end; else []."""
    latest: dict[int, dict[str, Any]] = {}
    for proposal in sweep["proposals"]:
        if proposal["generation"] >= latest.get(proposal["member"], {"generation": -1})["generation"]:
            latest[proposal["member"]] = proposal
    generation = max(p["generation"] for p in latest.values())
    epoch = (generation + 1) * sweep["interval"]
    members = [latest[m] for m in sorted(latest)]
    if any(p["generation"] != generation for p in members) or not generation_ends(sweep, epoch):
        return []
    if any((records.get(p["run_id"]) or {}).get("status") not in TERMINAL for p in members):
        return []
    scores = {p["run_id"]: objective_by_epoch(records.get(p["run_id"]), sweep["objective"]).get(epoch) for p in members}
    sign = 1 if OBJECTIVES[sweep["objective"]] == "maximize" else -1

    def worst_first(p: dict[str, Any]) -> tuple[float, int]:
        score = scores[p["run_id"]]
        return (-math.inf if score is None else sign * score, p["member"])  # no score: failed, the worst

    ranked = sorted(members, key=worst_first)
    cut = max(1, int(len(ranked) * QUANTILE))
    bottom, top = ranked[:cut], [p for p in ranked[-cut:] if scores[p["run_id"]] is not None]
    if not top:
        return []  # no member reached the epoch (all failed or were cancelled): the search ends
    out = []
    for member in members:
        # The bottom quarter, and any member with no state at this epoch (its run failed or
        # was cancelled), take a top member's state: every member goes on.
        exploit = (member in bottom or scores[member["run_id"]] is None) and member not in top
        if exploit:
            rng = random.Random(f"{sweep.get('seed') or 0}:{member['run_id']}:{epoch}")
            parent = rng.choice(top)
            params = perturb(parent["params"], sweep["space"], rng)
        else:
            parent, params = member, member["params"]
        out.append(
            {
                "member": member["member"],
                "generation": generation + 1,
                "parent_run_id": parent["run_id"],
                "from_epoch": epoch,
                "params": params,
                "exploit": exploit,
                "replaces": member["run_id"],
            }
        )
    return out


def reason(epoch: int) -> str:
    return f"pbt: the generation ends at epoch {epoch}; the population is ranked there and goes on from its top"
