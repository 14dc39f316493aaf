"""Population-based training over the queue (``"method": "pbt"``).

A population of ``population`` members trains side by side, each member one run at a
time. Every ``interval`` epochs a member compares its objective with the other members'
at that same epoch (as many as have reached it: asynchronous, nobody waits): in the
bottom quarter, it stops there (``stopped_early``, its record naming the run it yields
to) and the conductor starts its next run as a fork of a top-quarter member's state at
that epoch (exploit) with that member's settings perturbed (explore): numbers × 0.8 or
× 1.2 within the space's range, a choice re-drawn with probability 1/4. The fork
machinery (worker.forks) carries weights, optimizer moments and RNG across.

The decision is the worker's (after the epoch, like a pruner's); the new run is the
conductor's (web.conductor), so runs are created in one place. Both are pure functions
of the sweep and its runs' records, seeded by the sweep's seed.
"""

from __future__ import annotations

import math
import random
from typing import Any

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


def exploit(sweep: dict[str, Any], records: dict[str, dict[str, Any]], run_id: str, epoch: int) -> str | None:
    """The member to fork from when ``run_id`` is in the bottom quarter at ``epoch`` (an
    exploit step), or None to go on. At least half the population must have reported."""
    interval, epochs = sweep["interval"], int(sweep["base"].get("epochs", 10))
    if sweep.get("method") != "pbt" or epoch % interval or epoch >= epochs:
        return None
    scores: dict[str, float] = {}
    for proposal in sweep["proposals"]:
        value = objective_by_epoch(records.get(proposal["run_id"]), sweep["objective"]).get(epoch)
        if value is not None:
            scores[proposal["run_id"]] = value
    if run_id not in scores or len(scores) < max(2, math.ceil(sweep["population"] / 2)):
        return None
    best_first = OBJECTIVES[sweep["objective"]] == "maximize"
    ranked = sorted(scores, key=lambda rid: (scores[rid], rid), reverse=best_first)
    cut = max(1, int(len(ranked) * QUANTILE))
    bottom, top = ranked[-cut:], ranked[:cut]
    if run_id not in bottom or scores[run_id] == scores[top[0]]:
        return None
    return random.Random(f"{sweep.get('seed') or 0}:{run_id}:{epoch}").choice(top)


def explore(sweep: dict[str, Any], parent_params: dict[str, Any], replaced_run_id: str, epoch: int) -> dict[str, Any]:
    """The next member's settings: its parent's, perturbed; seeded by what it replaces."""
    return perturb(parent_params, sweep["space"], random.Random(f"{sweep.get('seed') or 0}:{replaced_run_id}:{epoch}:x"))


def reason(parent_name: str, epoch: int) -> str:
    return f"pbt: in the bottom quarter at epoch {epoch}; the member goes on as a fork of {parent_name}"
