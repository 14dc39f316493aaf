"""The run spec: what a user may ask of a training run, declared once.

:data:`FIELDS` is the single definition. The validator below, the JSON Schema in the
OpenAPI document (:func:`json_schema`), the page's form (its inputs, limits and
options are rendered from it) and the CLI's flags are all derived from it, so a
new field or bound is one line here.

The web tier validates before anything is stored or enqueued; the worker validates
again, because a task message is input too.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

MNIST_TRAIN_SIZE = 60_000
#: An MNIST image: 28 × 28 grey levels, row by row.
IMAGE_SIDE = 28
IMAGE_PIXELS = IMAGE_SIDE * IMAGE_SIDE
NAME_MAX = 100


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  #: "int", "number", "choice", "text" or "url"
    default: Any
    help: str
    low: float | None = None
    high: float | None = None
    #: The lower bound itself is not allowed (lr > 0).
    exclusive_low: bool = False
    choices: tuple[str, ...] = ()
    nullable: bool = False
    #: What the form shows for null (e.g. "all 60,000").
    placeholder: str = ""
    #: The form's label (default: the name, spaced and capitalised).
    title: str = ""
    #: Write-only: stored and used, but answered masked (see shared.redaction).
    secret: bool = False

    @property
    def label(self) -> str:
        return self.title or self.name.replace("_", " ").capitalize()

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def check(self, value: Any) -> str | None:
        """What is wrong with ``value`` for this field, or None."""
        if value is None and self.nullable:
            return None
        if self.kind == "text":
            return _check_text(value)
        if self.kind == "url":
            return _check_url(value)
        if self.kind == "choice":
            if not isinstance(value, str) or value not in self.choices:
                return "must be one of " + ", ".join(self.choices)
            return None
        numeric = _is_int(value) if self.kind == "int" else _is_number(value)
        if not numeric:
            return self.describe()
        above_low = value > self.low if self.exclusive_low else value >= self.low
        return None if above_low and value <= self.high else self.describe()

    def describe(self) -> str:
        if self.kind == "int":
            text = f"an integer between {int(self.low or 0)} and {int(self.high or 0)}"
        else:
            low = f"greater than {self.low:g}" if self.exclusive_low else f"at least {self.low:g}"
            text = f"a number {low} and at most {self.high:g}"
        return f"must be null or {text}" if self.nullable else f"must be {text}"


FIELDS: tuple[Field, ...] = (
    Field(
        "name",
        "text",
        None,
        f"run name, 1-{NAME_MAX} characters (default: built from the others)",
        nullable=True,
        placeholder="optional",
    ),
    Field("epochs", "int", 10, "passes over the training set", 1, 100),
    Field("batch_size", "int", 64, "images per batch", 1, 4096),
    Field("lr", "number", 0.001, "learning rate", 0, 10, exclusive_low=True, title="Learning rate"),
    Field("optimizer", "choice", "adam", "adam, adamw or sgd (momentum 0.9, Nesterov)", choices=("adam", "adamw", "sgd")),
    Field("schedule", "choice", "none", "learning-rate schedule", choices=("none", "onecycle"), title="LR schedule"),
    Field("seed", "int", 0, "random seed (data order, initial weights)", 0, 2**31 - 1),
    Field(
        "train_samples",
        "int",
        None,
        "train on a seeded random subset of this many images",
        100,
        MNIST_TRAIN_SIZE,
        nullable=True,
        placeholder="all 60,000",
    ),
    Field(
        "target_accuracy",
        "number",
        None,
        "stop once test accuracy reaches this fraction",
        0,
        1,
        exclusive_low=True,
        nullable=True,
        placeholder="e.g. 0.99",
        title="Stop at accuracy",
    ),
    Field("dataset", "choice", "mnist", "the dataset", choices=("mnist",)),
    Field(
        "accelerator",
        "choice",
        "any",
        "any worker, or gpu: only a worker with a GPU",
        choices=("any", "gpu"),
        title="Hardware",
    ),
    Field(
        "priority",
        "choice",
        "normal",
        "waiting runs of higher priority start first (FIFO within one)",
        choices=("high", "normal", "low"),
    ),  # in queue order: see PRIORITY_ORDER
    Field(
        "notify_url",
        "url",
        None,
        "POST a JSON notice (Slack-compatible text) here when the run ends",
        nullable=True,
        placeholder="https://hooks.example/…",
        title="Notify URL",
        secret=True,
    ),
)
BY_NAME = {f.name: f for f in FIELDS}
#: Queue order of each priority (lower starts first), from the field's choices: the one
#: mapping the broker (shared.connections) and the waiting index (shared.runs) use.
PRIORITY_ORDER = {name: order for order, name in enumerate(BY_NAME["priority"].choices)}
#: Every field with its default; a spec is exactly these keys once validated.
DEFAULTS: dict[str, Any] = {f.name: f.default for f in FIELDS}
OPTIMIZERS = BY_NAME["optimizer"].choices
SCHEDULES = BY_NAME["schedule"].choices
DATASETS = BY_NAME["dataset"].choices
ACCELERATORS = BY_NAME["accelerator"].choices


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


def _check_text(v: Any) -> str | None:
    """1–100 characters, no control characters (a blank name gets the default name)."""
    if not isinstance(v, str):
        return "must be a string"
    if not 1 <= len(v) <= NAME_MAX:
        return f"must be 1 to {NAME_MAX} characters"
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in v):
        return "must not contain control characters"
    return None


URL_MAX = 500


#: A TCP port, 1-65535, spelled without leading zeros (so the schema can say the range).
PORT_PATTERN = r"([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
#: http(s), a host name or IPv4 address (optionally a port), then printable ASCII: no credentials,
#: no spaces, no control characters. The validator and the JSON Schema use this same pattern.
URL_PATTERN = r"^https?://[A-Za-z0-9.\-]+(:" + PORT_PATTERN + r")?(/[!-~]*)?$"


def _check_url(v: Any) -> str | None:
    if not isinstance(v, str) or len(v) > URL_MAX or not re.fullmatch(URL_PATTERN, v) or "@" in v:
        return "must be an http:// or https:// URL (host[:port][/path], no credentials or spaces)"
    return None


def default_name(spec: dict[str, Any]) -> str:
    return f"{spec['optimizer']} lr={spec['lr']:g} bs={spec['batch_size']} ep={spec['epochs']}"


def validate_spec(raw: Any) -> dict[str, Any]:
    """Return a complete spec with defaults filled in, or raise SpecError."""
    if not isinstance(raw, dict):
        raise SpecError({"_": "the run spec must be a JSON object"})
    errors = {str(key)[:100]: "unknown field" for key in raw if key not in BY_NAME}
    spec = dict(DEFAULTS)
    for field in FIELDS:
        if field.name not in raw:
            continue
        problem = field.check(raw[field.name])
        if problem:
            errors[field.name] = problem
        elif raw[field.name] is not None:
            value = raw[field.name]
            spec[field.name] = int(value) if field.kind == "int" else float(value) if field.kind == "number" else value
    if errors:
        raise SpecError(errors)
    spec["name"] = (spec["name"] or "").strip() or default_name(spec)
    return spec


def field_schema(f: Field) -> dict[str, Any]:
    """One field as JSON Schema (the OpenAPI document's run spec and sweep body)."""
    base = {"int": "integer", "number": "number", "text": "string", "url": "string"}.get(f.kind)
    schema: dict[str, Any] = {"description": f.help}
    if f.kind == "choice":
        schema["enum"] = list(f.choices)
    else:
        schema["type"] = [base, "null"] if f.nullable else base
    if f.kind == "url":
        schema.update(maxLength=URL_MAX, pattern=URL_PATTERN.replace("[!-~]", "[!-?A-~]"))
    if f.kind == "text":
        schema.update(minLength=1, maxLength=NAME_MAX, pattern="^[^\\u0000-\\u001f\\u007f-\\u009f]*$")
    if f.low is not None:
        schema["exclusiveMinimum" if f.exclusive_low else "minimum"] = f.low
    if f.high is not None:
        schema["maximum"] = f.high
    if f.default is not None:
        schema["default"] = f.default
    return schema


def json_schema(answered: bool = False) -> dict[str, Any]:
    """The spec as JSON Schema (for the OpenAPI document), from :data:`FIELDS`; with
    ``answered``, as the API answers it: secret fields masked (``scheme://host/…``)."""
    properties: dict[str, Any] = {}
    for f in FIELDS:
        if answered and f.secret:
            properties[f.name] = {
                "type": ["string", "null"],
                "maxLength": URL_MAX,
                "description": f.help + " (write-only: answered masked)",
            }
            continue
        properties[f.name] = field_schema(f)
    return {"type": "object", "additionalProperties": False, "properties": properties}
