"""Sweeps that learn: the body of a search (``method`` + ``space``), declared once.

A search names a ``method`` and a ``space`` instead of a ``grid`` or a ``random`` list:

    {"name": "lr search", "method": "tpe", "base": {"epochs": 4, "train_samples": 10000},
     "space": {"lr": {"min": 1e-4, "max": 3e-2, "log": true},
               "batch_size": {"min": 32, "max": 256, "step": 32},
               "optimizer": ["adam", "adamw", "sgd"]},
     "trials": 16, "parallelism": 2, "seed": 1, "objective": "test_accuracy",
     "pruner": {"type": "asha", "eta": 3, "min_epochs": 1}}

Unlike a grid or random sweep it is not expanded at submission: its runs are proposed a
few at a time, as results come back, by the web tier's conductor (web.conductor, with
Optuna behind shared.search). This module only says what a valid body is: the fields
below are the one declaration the validator, the OpenAPI document, the page's sweep
form and ``trainboard sweep`` read. Nothing here imports Optuna.
"""

from __future__ import annotations

import math
from typing import Any

from shared.spec import BY_NAME, Field

#: How trials are chosen. grid and random as before (over ranges too); tpe is Optuna's
#: Bayesian TPE sampler; pbt is population-based training (shared.pbt).
METHODS = ("grid", "random", "tpe", "pbt")
#: What a search optimises, and which way.
OBJECTIVES = {"test_accuracy": "maximize", "test_loss": "minimize"}
#: Early stopping inside a search: ASHA (asynchronous successive halving), Hyperband
#: (several ASHA brackets), Optuna's median rule, or none.
PRUNERS = ("none", "asha", "hyperband", "median")
#: Trials a budget may name (each trial is one run; each counts against MAX_QUEUED_RUNS).
MAX_TRIALS = 200
#: Most runs one sweep may have in flight at once.
MAX_PARALLELISM = 64
#: Trials a search runs when its body names no budget (a grid: all of its points).
DEFAULT_TRIALS = 16
#: Most choices one field may list.
MAX_CHOICES = 50
#: Fields a population-based search may not vary: a fork keeps its parent's data and length.
PBT_FIXED = ("epochs", "train_samples", "seed", "accelerator", "target_accuracy")

SEARCH_FIELDS: tuple[Field, ...] = (
    Field(
        "method",
        "choice",
        "tpe",
        "how trials are chosen: grid, random, tpe (Bayesian: Optuna's TPE), pbt (population-based training)",
        choices=METHODS,
        title="Search method",
    ),
    Field(
        "trials",
        "int",
        None,
        "trial budget: runs the search may start (default 16; a grid: every point)",
        1,
        MAX_TRIALS,
        nullable=True,
        placeholder="16",
    ),
    Field(
        "parallelism",
        "int",
        None,
        "most runs of the sweep in flight at once (default: the live workers' trainers)",
        1,
        MAX_PARALLELISM,
        nullable=True,
        placeholder="live workers",
    ),
    Field("seed", "int", 0, "seeds the search's proposals (the same seed proposes the same trials)", 0, 2**31 - 1),
    Field(
        "objective",
        "choice",
        "test_accuracy",
        "what the search optimises: test_accuracy (maximised) or test_loss (minimised)",
        choices=tuple(OBJECTIVES),
    ),
    Field("population", "int", 4, "pbt: members trained side by side", 2, 32),
    Field("interval", "int", 1, "pbt: epochs per generation; after each, the bottom quarter forks from the top", 1, 50),
)
SEARCH_BY_NAME = {f.name: f for f in SEARCH_FIELDS}

#: The ``pruner`` object's fields.
PRUNER_FIELDS: tuple[Field, ...] = (
    Field(
        "type", "choice", "none", "early stopping: none, asha, hyperband or median", choices=PRUNERS, title="Early stopping"
    ),
    Field("eta", "int", 3, "asha/hyperband: a rung promotes its top 1/eta", 2, 8, title="Eta"),
    Field(
        "min_epochs",
        "int",
        1,
        "asha/hyperband: epochs before the first rung; median: before any stop",
        1,
        100,
        title="First rung epoch",
    ),
)
PRUNER_BY_NAME = {f.name: f for f in PRUNER_FIELDS}


def parse_pruner(value: Any, errors: dict[str, str]) -> dict[str, Any]:
    """``{"type", "eta", "min_epochs"}`` from an object, a bare type name or nothing."""
    if value is None:
        value = {}
    elif isinstance(value, str):
        value = {"type": value}
    if not isinstance(value, dict):
        errors["pruner"] = "must be an object {type, eta, min_epochs} or one of " + ", ".join(PRUNERS)
        return {f.name: f.default for f in PRUNER_FIELDS}
    out = {}
    for key in value:
        if key not in PRUNER_BY_NAME:
            errors[f"pruner.{str(key)[:100]}"] = "unknown field"
    for field in PRUNER_FIELDS:
        given = value.get(field.name, field.default)
        if (problem := field.check(given)) is not None:
            errors[f"pruner.{field.name}"] = problem
        out[field.name] = given
    return out


def parse_space(space: Any, sweepable: tuple[str, ...], method: str, errors: dict[str, str]) -> dict[str, Any]:
    """The validated space: per field a list of choices or ``{min, max, log, step}``.

    Problems are noted in ``errors`` as ``space.<field>``: an unknown or unsweepable field,
    an empty range (min >= max), a log range through 0, a step that does not fit, a value
    the field itself refuses; a grid needs values (a list, or an int range with a step)."""
    if not isinstance(space, dict) or not space:
        errors["space"] = "must be an object naming at least one field: {min, max[, log | step]} or [choices]"
        return {}
    out: dict[str, Any] = {}
    for key, how in space.items():
        where = f"space.{str(key)[:100]}"
        allowed = sweepable if method != "pbt" else tuple(n for n in sweepable if n not in PBT_FIXED)
        if key not in allowed:
            errors[where] = f"cannot be searched{' by pbt' if method == 'pbt' else ''}; searchable: {', '.join(allowed)}"
            continue
        field = BY_NAME[key]
        parsed = _choices(field, how) if isinstance(how, list) else _range(field, how)
        if isinstance(parsed, str):
            errors[where] = parsed
        elif method == "grid" and isinstance(parsed, dict) and grid_values(parsed) is None:
            errors[where] = "a grid needs values: a list, or a range with a step"
        else:
            out[key] = parsed
    return out


def _choices(field: Field, values: list[Any]) -> list[Any] | str:
    if not 1 <= len(values) <= MAX_CHOICES:
        return f"choices must list 1 to {MAX_CHOICES} values"
    for value in values:
        if value is None:
            return "a choice must not be null"
        if (problem := field.check(value)) is not None:
            return f"choice {str(value)[:40]!r}: {problem}"
    values = [_typed(field, v) for v in values]
    if len(set(values)) != len(values):  # 50 and 50.0 are one value
        return "choices must not repeat"
    return values


def _typed(field: Field, value: Any) -> Any:
    """A checked value as the spec stores it: an int field's 3.0 is 3, a number field's 3 is 3.0."""
    if field.kind == "int":
        return int(value)
    return float(value) if field.kind == "number" else value


def _range(field: Field, how: Any) -> dict[str, Any] | str:
    if field.kind not in ("int", "number"):
        return f"must be a list of choices ({field.name} is not a number)"
    if not isinstance(how, dict) or not {"min", "max"} <= set(how) or not set(how) <= {"min", "max", "log", "step"}:
        return "must be {min, max} with optional log or step, or a list of choices"
    lo, hi, log, step = how["min"], how["max"], how.get("log", False), how.get("step")
    for end, value in (("min", lo), ("max", hi)):
        if value is None:
            return f"{end} must not be null"
        if (problem := field.check(value)) is not None:
            return f"{end}: {problem}"
    lo, hi = _typed(field, lo), _typed(field, hi)
    if lo >= hi:
        return f"empty range: min ({lo}) must be less than max ({hi})"
    if not isinstance(log, bool):
        return "log must be true or false"
    if log and lo <= 0:
        return "a log range cannot reach 0 or below: min must be more than 0"
    if step is not None and (problem := _step_problem(field, lo, hi, step, log)):
        return problem
    return {"min": lo, "max": hi, "log": log, "step": None if step is None else _typed(field, step)}


def _step_problem(field: Field, lo: float, hi: float, step: Any, log: bool) -> str | None:
    if log:
        return "give log or step, not both"
    integral = field.kind == "int"
    if isinstance(step, bool) or not isinstance(step, int if integral else (int, float)) or not step > 0:
        return f"step must be a positive {'integer' if integral else 'number'}"
    if not math.isfinite(step) or step > hi - lo:
        return f"step must be at most max - min ({hi - lo:g})"
    steps = (hi - lo) / step
    if not math.isfinite(steps) or steps > 1e6:
        return f"step must be at least a millionth of max - min ({hi - lo:g})"
    if not math.isclose(steps, round(steps), abs_tol=1e-9):
        return f"from {lo:g} in steps of {step:g} does not land on {hi:g} (e.g. max {lo + math.floor(steps) * step:g})"
    return None


def grid_values(how: list[Any] | dict[str, Any]) -> list[Any] | None:
    """A grid axis: the choices, or a range's steps (None for a range without a step)."""
    if isinstance(how, list):
        return how
    lo, step = how["min"], how["step"]
    if step is None:
        return None
    count = round((how["max"] - lo) / step) + 1
    if isinstance(lo, int):
        return [lo + k * step for k in range(count)]
    return [float(f"{lo + k * step:.12g}") for k in range(count)]


def grid_size(space: dict[str, Any]) -> int:
    return math.prod(len(grid_values(how) or ()) for how in space.values())


def parse_text(kind: str, text: str) -> list[Any] | dict[str, Any]:
    """A space entry from the text the page's form and ``trainboard sweep`` take (the page
    has the same grammar in forms.js): ``a,b,c`` choices; ``LO..HI`` a range, optionally
    followed by ``log`` or ``step S``. ValueError says what is wrong."""
    text = text.strip()
    number = int if kind == "int" else float if kind == "number" else str
    if ".." not in text or number is str:
        return [number(part.strip()) for part in text.split(",") if part.strip()]
    ends, _, rest = text.partition(" ")
    lo, _, hi = ends.partition("..")
    out: dict[str, Any] = {"min": number(lo), "max": number(hi)}
    words = rest.split()
    if words == ["log"]:
        out["log"] = True
    elif len(words) == 2 and words[0] == "step":
        out["step"] = number(words[1])
    elif words:
        raise ValueError(f"{text!r}: after LO..HI only 'log' or 'step S' may follow")
    return out
