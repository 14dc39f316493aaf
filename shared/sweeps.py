"""Sweeps: one submission that expands into many runs (a grid or a random search), or a
search whose runs are proposed as results come back (``method`` + ``space``; see
shared.search_space for its body and shared.search for how trials are chosen).

A sweep body is validated as strictly as a run: its base spec field by field, every
swept value through the spec's own :data:`shared.spec.FIELDS`, and every expanded
run spec through :func:`shared.spec.validate_spec`. A bad sweep raises SpecError
naming each problem and creates nothing; a good one yields the specs of its runs in
a deterministic order (a random search is seeded).

    {"name": "lr x batch", "base": {"epochs": 3},
     "grid": {"lr": [0.001, 0.003, 0.01], "batch_size": [64, 256]}}            → 6 runs
    {"base": {"epochs": 3}, "random": {"lr": {"min": 1e-4, "max": 1e-2, "log": true},
     "optimizer": ["adam", "sgd"]}, "count": 8, "seed": 1}                      → 8 runs
"""

from __future__ import annotations

import itertools
import math
import random
from typing import Any

from shared import search_space
from shared.search_space import SEARCH_BY_NAME, SEARCH_FIELDS
from shared.spec import BY_NAME, NAME_MAX, Field, SpecError, validate_spec

#: Most runs one sweep may create (each also counts against MAX_QUEUED_RUNS).
MAX_SWEEP_RUNS = 200
#: Most values one grid field may list.
MAX_VALUES = 50
#: The sweep's own fields, one value each, declared once: the validator below, the OpenAPI
#: schema, the page's sweep form and the CLI's ``sweep`` flags come from this table.
#: Those that are run-spec fields too (priority, notify_url) pass on to every run; the
#: sweep's name prefixes its runs' names.
SWEEP_FIELDS: tuple[Field, ...] = (
    Field(
        "name",
        "text",
        None,
        f"sweep name, 1-{NAME_MAX} characters (each run's name adds its values)",
        nullable=True,
        placeholder="optional",
    ),
    BY_NAME["priority"],
    BY_NAME["notify_url"],
    Field(
        "early_stop_epoch",
        "int",
        None,
        "stop a run whose test accuracy after this epoch is below the median of the sweep's finished runs",
        1,
        100,
        nullable=True,
        placeholder="off",
        title="Early stop at epoch",
    ),
)
SWEEP_BY_NAME = {f.name: f for f in SWEEP_FIELDS}
#: Sweep fields every run of the sweep gets in its spec.
PASSED_TO_RUNS = tuple(f.name for f in SWEEP_FIELDS if f.name in BY_NAME and f.name != "name")
#: Fields a sweep may vary (not its own fields; not the dataset).
SWEEPABLE = tuple(n for n in BY_NAME if n not in SWEEP_BY_NAME and n != "dataset")
#: Every key a sweep body may have.
TOP_LEVEL = {"base", "grid", "random", "count", "seed", *SWEEP_BY_NAME}
#: Every key a search body may have (early stopping is its ``pruner``).
SEARCH_TOP_LEVEL = {"base", "space", "pruner", *SEARCH_BY_NAME, *SWEEP_BY_NAME} - {"early_stop_epoch"}


def is_search(body: Any) -> bool:
    """A search (proposed as it goes) rather than a grid or random list expanded at once."""
    return isinstance(body, dict) and ("space" in body or "method" in body)


def expand(body: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(sweep description, run specs) for a sweep body, or SpecError naming every bad field.
    A search yields no specs: its conductor proposes them (web.conductor)."""
    if not isinstance(body, dict):
        raise SpecError({"_": "the sweep must be a JSON object"})
    if is_search(body):
        return describe_search(body), []
    errors: dict[str, str] = {str(k)[:100]: "unknown field" for k in body if k not in TOP_LEVEL}
    base = _checked_base(body.get("base", {}), errors)
    for field in SWEEP_FIELDS:
        if field.name in body and (problem := field.check(body[field.name])) is not None:
            errors[field.name] = problem
    combos = _combinations(body, errors)
    if errors:
        raise SpecError(errors)
    sweep_name = (body.get("name") or "").strip() or "sweep"
    specs = _run_specs(body, base, combos, sweep_name)
    own = {f.name: _value(f, body.get(f.name)) for f in SWEEP_FIELDS}
    description = {
        **own,
        "name": sweep_name,
        "base": base,
        "swept": sorted({k for combo in combos for k in combo}),
        "mode": "grid" if "grid" in body else "random",
        "grid": body.get("grid"),
        "random": body.get("random"),
        "count": len(specs),
        "seed": body.get("seed", 0) if "random" in body else None,
    }
    return description, specs


def _checked_base(base: Any, errors: dict[str, str]) -> dict[str, Any]:
    """The spec every run starts from (no name, no sweep fields), its problems noted."""
    if not isinstance(base, dict):
        errors["base"] = "must be an object (a run spec without name)"
        return {}
    for key in base:
        if key in SWEEP_BY_NAME:
            errors[f"base.{key}"] = "set it on the sweep, not in base"
        elif key not in BY_NAME:
            errors[f"base.{str(key)[:100]}"] = "unknown field"
        elif (problem := BY_NAME[key].check(base[key])) is not None:
            errors[f"base.{key}"] = problem
    return base


def _combinations(body: dict[str, Any], errors: dict[str, str]) -> list[dict[str, Any]]:
    """The swept values of each run: a grid's product or a random sample (exactly one)."""
    if ("grid" in body) == ("random" in body):
        errors["grid"] = "give either grid (values per field) or random (ranges per field)"
        return []
    if "grid" in body:
        return _grid(body["grid"], errors)
    return _random(body["random"], body.get("count"), body.get("seed", 0), errors)


def _run_specs(
    body: dict[str, Any], base: dict[str, Any], combos: list[dict[str, Any]], sweep_name: str
) -> list[dict[str, Any]]:
    """Each run's validated spec: the base, its combination, the fields passed to runs."""
    specs, errors = [], {}
    for i, combo in enumerate(combos):
        try:
            specs.append(run_spec(body, base, combo, sweep_name))
        except SpecError as exc:
            errors.update({f"runs[{i}].{k}": v for k, v in exc.fields.items()})
    if errors:
        raise SpecError(errors)
    return specs


def run_spec(sweep: dict[str, Any], base: dict[str, Any], combo: dict[str, Any], label_prefix: str) -> dict[str, Any]:
    """One run's validated spec: the base, its values, the sweep fields passed to runs;
    named after the sweep and its values."""
    label = " ".join(f"{k}={_show(v)}" for k, v in combo.items())
    raw = {**base, **combo, "name": f"{label_prefix} · {label}"[:NAME_MAX]}
    raw.update({passed: sweep[passed] for passed in PASSED_TO_RUNS if sweep.get(passed) is not None})
    return validate_spec(raw)


def describe_search(body: dict[str, Any]) -> dict[str, Any]:
    """A search's stored description (no runs yet), or SpecError naming every bad field."""
    errors: dict[str, str] = {str(k)[:100]: "unknown field" for k in body if k not in SEARCH_TOP_LEVEL}
    base = _checked_base(body.get("base", {}), errors)
    for field in (*SWEEP_FIELDS, *SEARCH_FIELDS):
        if field.name in body and (problem := field.check(body[field.name])) is not None:
            errors[field.name] = problem
    own = {  # a field with a problem counts as its default until the errors are raised
        f.name: f.default if f.name in errors else _value(f, body.get(f.name))
        for f in (*SWEEP_FIELDS, *SEARCH_FIELDS)
        if f.name != "early_stop_epoch"
    }
    method = own["method"] if own["method"] in search_space.METHODS else "tpe"
    space = search_space.parse_space(body.get("space"), SWEEPABLE, method, errors)
    pruner = search_space.parse_pruner(body.get("pruner"), errors)
    _check_budget(body, own, method, space, base, pruner, errors)
    if not errors:  # the space's corners make valid runs (e.g. no train_samples below 100)
        corner = {k: (how[0] if isinstance(how, list) else how["min"]) for k, how in space.items()}
        try:
            run_spec(own, base, corner, "check")
        except SpecError as exc:
            errors.update({f"space.{k}" if k in space else f"base.{k}": v for k, v in exc.fields.items()})
    if errors:
        raise SpecError(errors)
    if method == "grid" and own["trials"] is None:
        own["trials"] = search_space.grid_size(space)
    elif method == "pbt":
        own["trials"] = None
    elif own["trials"] is None:
        own["trials"] = search_space.DEFAULT_TRIALS
    name = (body.get("name") or "").strip() or f"{method} search"
    return {
        **own,
        "name": name,
        "early_stop_epoch": None,
        "base": base,
        "space": space,
        "pruner": pruner,
        "swept": sorted(space),
        "mode": method,
        "count": own["trials"] if method != "pbt" else own["population"],
        "proposals": [],
    }


def _check_budget(
    body: dict[str, Any],
    own: dict[str, Any],
    method: str,
    space: dict[str, Any],
    base: dict[str, Any],
    pruner: dict[str, Any],
    errors: dict[str, str],
) -> None:
    """What each method needs of the budget, the pruner and the runs' length."""
    epochs = base.get("epochs", BY_NAME["epochs"].default)
    if method == "grid" and space and not any(k.startswith("space") for k in errors):
        size = search_space.grid_size(space)
        if size > search_space.MAX_TRIALS:
            errors["space"] = f"the grid has {size} points; a search may run at most {search_space.MAX_TRIALS}"
        elif isinstance(own["trials"], int) and own["trials"] > size:
            errors["trials"] = f"the grid has only {size} points"
    if method == "pbt":
        _check_pbt(body, own, pruner, epochs, errors)
    elif "epochs" not in space and pruner["type"] in ("asha", "hyperband") and isinstance(pruner["min_epochs"], int):
        if isinstance(epochs, int) and pruner["min_epochs"] >= epochs:
            errors["pruner.min_epochs"] = f"must be less than the runs' epochs ({epochs}) for any rung to stop a run"


def _value(field: Field, value: Any) -> Any:
    """A validated sweep field's value as stored (its default when absent)."""
    if value is None:
        return field.default
    return int(value) if field.kind == "int" else value


def _show(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _grid(grid: Any, errors: dict[str, str]) -> list[dict[str, Any]]:
    if not isinstance(grid, dict) or not grid:
        errors["grid"] = "must be an object of field: [values]"
        return []
    axes: list[tuple[str, list[Any]]] = []
    for key, values in grid.items():
        where = f"grid.{str(key)[:100]}"
        if key not in SWEEPABLE:
            errors[where] = f"cannot be swept; sweepable: {', '.join(SWEEPABLE)}"
        elif not isinstance(values, list) or not 1 <= len(values) <= MAX_VALUES:
            errors[where] = f"must be a list of 1 to {MAX_VALUES} values"
        else:
            for j, value in enumerate(values):
                if (problem := BY_NAME[key].check(value)) is not None:
                    errors[f"{where}[{j}]"] = problem
            axes.append((key, values))
    total = math.prod(len(v) for _, v in axes) if axes else 0
    if total > MAX_SWEEP_RUNS:
        errors["grid"] = f"makes {total} runs; a sweep may make at most {MAX_SWEEP_RUNS}"
        return []
    return [dict(zip([k for k, _ in axes], combo)) for combo in itertools.product(*[v for _, v in axes])]


def _random(ranges: Any, count: Any, seed: Any, errors: dict[str, str]) -> list[dict[str, Any]]:
    if not isinstance(ranges, dict) or not ranges:
        errors["random"] = "must be an object of field: {min, max[, log]} or [choices]"
        return []
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_SWEEP_RUNS:
        errors["count"] = f"must be an integer between 1 and {MAX_SWEEP_RUNS}"
    if not isinstance(seed, int) or isinstance(seed, bool):
        errors["seed"] = "must be an integer"
    samplers = {key: _sampler(key, how, errors) for key, how in ranges.items()}
    if any(k.startswith(("random", "count", "seed")) for k in errors):
        return []
    rng = random.Random(seed)
    return [{key: _draw(rng, how) for key, how in samplers.items()} for _ in range(count)]


def _sampler(key: Any, how: Any, errors: dict[str, str]) -> Any:
    """What to draw ``key`` from: a list of choices, or (low, high, log, kind); None
    (and the problem noted) when ``how`` is not a valid range for it."""
    where = f"random.{str(key)[:100]}"
    field = BY_NAME.get(key)
    if field is None or key not in SWEEPABLE:
        errors[where] = f"cannot be swept; sweepable: {', '.join(SWEEPABLE)}"
    elif isinstance(how, list):
        if how and not any(field.check(v) for v in how):
            return how
        errors[where] = "choices must be a non-empty list of valid values"
    elif isinstance(how, dict) and field.kind in ("int", "number") and set(how) <= {"min", "max", "log"}:
        lo, hi, log = how.get("min"), how.get("max"), how.get("log", False)
        if field.check(lo) or field.check(hi) or lo is None or hi is None or lo > hi:
            errors[where] = f"min and max must be valid {key} values with min <= max"
        elif not isinstance(log, bool) or (log and lo <= 0):
            errors[where] = "log must be true or false (and needs min > 0)"
        else:
            return (lo, hi, log, field.kind)
    else:
        errors[where] = "must be {min, max[, log]} (numbers) or a list of choices"
    return None


def _draw(rng: random.Random, how: Any) -> Any:
    if isinstance(how, list):
        return rng.choice(how)
    lo, hi, log, kind = how
    if kind == "int":
        return rng.randint(int(lo), int(hi))
    x = math.exp(rng.uniform(math.log(lo), math.log(hi))) if log else rng.uniform(lo, hi)
    return float(f"{x:.4g}")


def _check_pbt(
    body: dict[str, Any], own: dict[str, Any], pruner: dict[str, Any], epochs: Any, errors: dict[str, str]
) -> None:
    """PBT's budget is its population over its generations; it needs no pruner nor parallelism."""
    if body.get("trials") is not None:
        errors["trials"] = "pbt's budget is its population: leave trials out"
    if pruner["type"] != "none":
        errors["pruner"] = "pbt stops its bottom members itself: leave the pruner out"
    if body.get("parallelism") is not None:
        errors["parallelism"] = "pbt queues each generation's members together: leave parallelism out"
    if isinstance(own["interval"], int) and isinstance(epochs, int) and own["interval"] >= epochs:
        errors["interval"] = f"must be less than the runs' epochs ({epochs}) for any exploit step to happen"
    elif isinstance(own["interval"], int) and isinstance(epochs, int) and isinstance(own["population"], int):
        runs = own["population"] * -(-epochs // own["interval"])
        if runs > search_space.MAX_TRIALS:
            errors["population"] = (
                f"population x generations makes {runs} runs; a search may make at most {search_space.MAX_TRIALS}"
            )
