"""The run record, declared once: every field, its JSON type, who writes it and why.

A run's record is a JSON object (in Redis, mirrored to ``run.json``; shared.runs keeps
it). :class:`RunRecord` is its one definition: a TypedDict, so mypy checks the code that
reads a record, whose every field carries its row (JSON schema, meaning, writer, initial
value, durability), read into :data:`RUN_FIELDS`:

* :func:`new_record` builds a submitted run from it (the fields that start with a value);
* :func:`check_changes` refuses a change to a field the table does not have, so a
  record cannot grow fields nobody declared (``RunStore`` calls it on every change);
* :func:`json_schema` is the OpenAPI ``Run`` schema (web.openapi);
* :data:`LIST_COLUMNS` are the columns a run list shows in a terminal
  (``trainboard list``, a sweep's table), formatted as shared.metrics says.

Adding a field is one line in :class:`RunRecord` (and a column, if lists should show it);
a test checks that each row's JSON schema agrees with its Python type.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Required, TypedDict, cast, get_args, get_origin, get_type_hints

from shared.layout import RUN_ID_PATTERN
from shared.lifecycle import ALL, Status
from shared.metrics import MISSING, best_accuracy

_UNSET: Any = object()

STRING: dict[str, Any] = {"type": "string"}
NUMBER: dict[str, Any] = {"type": "number"}
INTEGER: dict[str, Any] = {"type": "integer", "minimum": 0}
RUN_ID: dict[str, Any] = {"type": "string", "pattern": RUN_ID_PATTERN}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "type": [schema["type"], "null"]}


NUMBER_MAP: dict[str, Any] = {"type": "object", "additionalProperties": nullable(NUMBER)}


@dataclass(frozen=True)
class Row:
    """What a record field's type does not say: its JSON schema, what it means, who writes it."""

    schema: dict[str, Any]
    help: str
    #: Who writes it: "web" (submission, forks, sweeps, cancel), "worker", "both".
    writer: str
    #: The value a new record starts with; unset: absent until first written.
    initial: Any = _UNSET
    #: Worth a write to ``run.json`` when it changes; False: ephemeral (the next change
    #: replaces it, and nothing restored from disk needs it).
    durable: bool = True


NumberMap = dict[str, float | None]


class RunRecord(TypedDict, total=False):
    """A run record: every field, its Python type (mypy checks the code that reads it) and
    its row (JSON schema, meaning, writer). ``Required`` fields are there from submission on."""

    id: Required[Annotated[str, Row(RUN_ID, "the run's id (32 hex digits)", "web")]]
    name: Required[Annotated[str, Row(STRING, "the spec's name, kept at the top for lists and searches", "web")]]
    status: Required[Annotated[str, Row({"enum": list(ALL)}, "where the run is (shared.lifecycle)", "both")]]
    spec: Required[
        Annotated[
            dict[str, Any],
            Row({"$ref": "#/components/schemas/AnsweredRunSpec"}, "what to train, every field answered", "web"),
        ]
    ]
    created_at: Required[Annotated[float, Row(NUMBER, "submitted (Unix seconds)", "web")]]
    queued_at: Annotated[float, Row(NUMBER, "when it last joined the queue (a handed-on run keeps its place)", "web")]
    started_at: Annotated[float | None, Row(nullable(NUMBER), "first claimed by a worker", "worker", initial=None)]
    finished_at: Annotated[
        float | None, Row(nullable(NUMBER), "ended (succeeded, failed or cancelled)", "both", initial=None)
    ]
    worker: Annotated[str | None, Row(nullable(STRING), "the worker training it now", "worker", initial=None)]
    device: Annotated[str | None, Row(nullable(STRING), "that worker's device, described", "worker", initial=None)]
    train_path: Annotated[
        str | None, Row(nullable(STRING), "how it trains there (compiled, mixed precision, ...)", "worker")
    ]
    epoch: Annotated[int, Row(INTEGER, "the last epoch announced", "worker", initial=0)]
    metrics: Annotated[
        NumberMap,
        Row(
            NUMBER_MAP,
            "the last epoch's metrics that runs keep (shared.metrics) and best_test_accuracy",
            "worker",
            initial={},
        ),
    ]
    accuracy_by_epoch: Annotated[
        NumberMap, Row(NUMBER_MAP, "test accuracy per epoch, for a sweep's early-stopping rule on any box", "worker")
    ]
    progress: Annotated[
        dict[str, float],
        Row(
            {"type": "object", "properties": {k: NUMBER for k in ("epoch", "step", "steps_per_epoch", "images_per_sec")}},
            "where training stands, at most once a second (run lists show % and ETA without following)",
            "worker",
            durable=False,
        ),
    ]
    error: Annotated[str | None, Row(nullable(STRING), "why it failed", "both", initial=None)]
    restarts: Annotated[int, Row(INTEGER, "times it was lost and resumed elsewhere", "both", initial=0)]
    loss_by_epoch: Annotated[NumberMap, Row(NUMBER_MAP, "test loss per epoch, for a search that minimises it", "worker")]
    stopped_early: Annotated[bool, Row({"type": "boolean"}, "its sweep's early-stopping rule ended it", "worker")]
    stopped_at_epoch: Annotated[
        int,
        Row(INTEGER, "the epoch a sweep's rule stopped it after (a pruner's rung, a PBT generation's end)", "worker"),
    ]
    peak_gpu_memory_mb: Annotated[float, Row(NUMBER, "the most GPU memory it held", "worker")]
    sweep_id: Annotated[str, Row(RUN_ID, "the sweep it belongs to", "web")]
    parent_run_id: Annotated[str, Row(RUN_ID, "a fork: the run it started from", "web")]
    forked_from_epoch: Annotated[int, Row(INTEGER, "a fork: the parent's epoch it started from", "web")]
    children: Annotated[list[str], Row({"type": "array", "items": RUN_ID}, "runs forked from this one", "web")]


@dataclass(frozen=True)
class RecordField:
    """One field of :class:`RunRecord`, read from its annotation."""

    name: str
    type: Any
    schema: dict[str, Any]
    help: str
    writer: str
    initial: Any
    #: Every record has it from submission on (the schema's ``required``).
    required: bool
    durable: bool


def _fields() -> tuple[RecordField, ...]:
    hints = get_type_hints(RunRecord, include_extras=True)
    out = []
    for name, hint in hints.items():
        # (Required is read from the hint: with postponed annotations, the class's
        # __required_keys__ cannot see it.)
        required = get_origin(hint) is Required
        if required:
            (hint,) = get_args(hint)
        base, row = get_args(hint)  # Annotated[type, Row]
        out.append(RecordField(name, base, row.schema, row.help, row.writer, row.initial, required, row.durable))
    return tuple(out)


RUN_FIELDS: tuple[RecordField, ...] = _fields()
BY_NAME = {f.name: f for f in RUN_FIELDS}

#: Added to a record when the API answers (not stored): its place in the queue.
ANSWER_FIELDS: dict[str, dict[str, Any]] = {"queue_position": nullable(INTEGER)}


def new_record(spec: dict[str, Any]) -> RunRecord:
    """A submitted run: queued, with every field that starts with a value."""
    now = time.time()
    given = {"id": uuid.uuid4().hex, "name": spec["name"], "status": Status.QUEUED.value, "spec": spec, "created_at": now}
    record = {**given, **{f.name: f.initial for f in RUN_FIELDS if f.initial is not _UNSET and f.name not in given}}
    return cast(RunRecord, record)


def check_changes(changes: Mapping[str, Any]) -> None:
    """ValueError for a field the record does not declare (a typo, or a field added
    without its row)."""
    unknown = sorted(set(changes) - set(BY_NAME))
    if unknown:
        raise ValueError(f"run records have no field {', '.join(unknown)} (declare it in shared/run_record.py)")


def is_durable(changes: Mapping[str, Any]) -> bool:
    """A change worth mirroring to ``run.json``: it touches a durable field."""
    return any(BY_NAME[name].durable for name in changes)


def json_schema() -> dict[str, Any]:
    """The OpenAPI ``Run`` schema: every field, described, and the answer-only ones."""
    properties = {f.name: {**f.schema, "description": f.help} for f in RUN_FIELDS}
    properties.update(ANSWER_FIELDS)
    return {"type": "object", "required": [f.name for f in RUN_FIELDS if f.required], "properties": properties}


@dataclass(frozen=True)
class Column:
    """One column of a run list in a terminal."""

    title: str
    #: Characters it takes (0: the rest of the line, for the last column).
    width: int
    value: Callable[[dict[str, Any]], str]
    right: bool = False


def _best(record: Mapping[str, Any]) -> str:
    best = best_accuracy(record)
    return MISSING if best is None else f"{best:.2%}"


LIST_COLUMNS: tuple[Column, ...] = (
    Column("ID", len(uuid.uuid4().hex), lambda r: r["id"]),
    Column("STATUS", max(map(len, ALL)), lambda r: r["status"]),
    Column("EPOCH", 7, lambda r: f"{r.get('epoch', 0):>3}/{r['spec']['epochs']:<3}", right=True),
    Column("BEST ACC", 8, _best, right=True),
    Column("NAME", 0, lambda r: r["name"]),
)


def list_lines(records: Iterable[dict[str, Any]], columns: tuple[Column, ...] = LIST_COLUMNS) -> list[str]:
    """A header and one line per record, columns two spaces apart."""

    def line(cells: list[str]) -> str:
        return "  ".join(
            cell if not c.width else (f"{cell:>{c.width}}" if c.right else f"{cell:<{c.width}}")
            for c, cell in zip(columns, cells, strict=True)
        ).rstrip()

    return [line([c.title for c in columns]), *(line([c.value(r) for c in columns]) for r in records)]
