"""The run spec: what a user may ask of a training run, validated and bounded.

The web tier validates before anything is stored or enqueued; the worker
validates again, because a task message is input too.
"""
from __future__ import annotations

import math
from typing import Any

MNIST_TRAIN_SIZE = 60_000
NAME_MAX = 100
OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("none", "onecycle")
DATASETS = ("mnist",)
ACCELERATORS = ("any", "gpu")

#: Every field with its default; a spec is exactly these keys once validated.
DEFAULTS: dict[str, Any] = {
    "name": None,  # filled with a readable default from the other fields
    "epochs": 10,
    "batch_size": 64,
    "lr": 0.001,
    "optimizer": "adam",
    "schedule": "none",
    "seed": 0,
    "train_samples": None,  # None = all 60,000
    "target_accuracy": None,  # stop early once test accuracy reaches this (0-1)
    "dataset": "mnist",
    "accelerator": "any",  # "gpu": only workers with a GPU may take the run
}


class SpecError(ValueError):
    """The spec is invalid; ``fields`` maps each bad field to what is wrong."""

    def __init__(self, fields: dict[str, str]):
        super().__init__("invalid run spec: " + "; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields


def _is_int(v: Any) -> bool:
    """An integer as JSON Schema means it: 3 and 3.0 are, True and 3.5 are not."""
    if isinstance(v, float):
        return math.isfinite(v) and v.is_integer()
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return (_is_int(v) or isinstance(v, float)) and math.isfinite(v)


def _check_int(v: Any, low: int, high: int) -> str | None:
    if not _is_int(v):
        return f"must be an integer between {low} and {high}"
    if not low <= v <= high:
        return f"must be between {low} and {high}"
    return None


def _check_choice(v: Any, choices: tuple[str, ...]) -> str | None:
    if not isinstance(v, str) or v not in choices:
        return "must be one of " + ", ".join(choices)
    return None


def _check_name(v: Any) -> str | None:
    """1–100 characters, no control characters (a blank name gets the default name)."""
    if not isinstance(v, str):
        return "must be a string"
    if not 1 <= len(v) <= NAME_MAX:
        return f"must be 1 to {NAME_MAX} characters"
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in v):
        return "must not contain control characters"
    return None


def _check_lr(v: Any) -> str | None:
    if not _is_number(v) or not 0 < v <= 10:
        return "must be a number greater than 0 and at most 10"
    return None


def _check_train_samples(v: Any) -> str | None:
    if v is None:
        return None
    return _check_int(v, 100, MNIST_TRAIN_SIZE)


def _check_target(v: Any) -> str | None:
    if v is None:
        return None
    if not _is_number(v) or not 0 < v <= 1:
        return "must be null or a fraction greater than 0 and at most 1 (e.g. 0.99)"
    return None


_CHECKS = {
    "name": _check_name,
    "epochs": lambda v: _check_int(v, 1, 100),
    "batch_size": lambda v: _check_int(v, 1, 4096),
    "lr": _check_lr,
    "optimizer": lambda v: _check_choice(v, OPTIMIZERS),
    "schedule": lambda v: _check_choice(v, SCHEDULES),
    "seed": lambda v: _check_int(v, 0, 2**31 - 1),
    "train_samples": _check_train_samples,
    "target_accuracy": _check_target,
    "dataset": lambda v: _check_choice(v, DATASETS),
    "accelerator": lambda v: _check_choice(v, ACCELERATORS),
}


def default_name(spec: dict[str, Any]) -> str:
    return f"{spec['optimizer']} lr={spec['lr']:g} bs={spec['batch_size']} ep={spec['epochs']}"


def validate_spec(raw: Any) -> dict[str, Any]:
    """Return a complete spec with defaults filled in, or raise SpecError."""
    if not isinstance(raw, dict):
        raise SpecError({"_": "the run spec must be a JSON object"})
    errors: dict[str, str] = {}
    for key in raw:
        if key not in DEFAULTS:
            errors[str(key)[:100]] = "unknown field"
    spec = dict(DEFAULTS)
    for key, check in _CHECKS.items():
        if key not in raw or (key == "name" and raw[key] is None):
            continue
        problem = check(raw[key])
        if problem:
            errors[key] = problem
        else:
            spec[key] = raw[key]
    if errors:
        raise SpecError(errors)
    for key in ("epochs", "batch_size", "seed", "train_samples"):
        if spec[key] is not None:
            spec[key] = int(spec[key])
    spec["lr"] = float(spec["lr"])
    if spec["target_accuracy"] is not None:
        spec["target_accuracy"] = float(spec["target_accuracy"])
    name = (spec["name"] or "").strip()
    spec["name"] = name or default_name(spec)
    return spec
