"""A run's life in one place: its statuses, the allowed transitions, and the named
operations that perform them. Every status change in the system goes through here.

    submit ──> queued ──claim──> running ──finish──> succeeded | failed | cancelled
                 │  ^              │   │
     cancel_waiting │      hand_off│   │lose (lease expired)      give_up (too many
                 │  │              v   v                           restarts) ──> failed
                 v  └── claim ── resuming ──cancel_waiting──> cancelled
             cancelled / reject (could not enqueue) ──> failed

Each operation is one optimistic Redis transaction on the run record (see
``RunStore._transition``): if two actors race — a worker claiming a queued run while
its user cancels it — exactly one wins and only the winner writes the run's next
events. The waiting-runs index (queue positions, the queue cap) and the per-status
indexes of the run list are kept inside the same transaction, and the winner's
``status`` event is appended by the operation itself: a status change and its event
are one call, so a new status is added here and nowhere else.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from enum import Enum
from typing import Any, Protocol, TypeVar

from shared.events import EventType


class Status(str, Enum):
    QUEUED = "queued"
    RUNNING = "running"
    RESUMING = "resuming"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    def __str__(self) -> str:
        return self.value


#: Waiting for a worker: members of the waiting-runs index.
WAITING = frozenset({Status.QUEUED, Status.RESUMING})
#: Not ended yet (the page shows a cancel button).
ACTIVE = WAITING | {Status.RUNNING}
#: A terminal status event is the last event of a run.
TERMINAL = frozenset({Status.SUCCEEDED, Status.FAILED, Status.CANCELLED})
ALL = tuple(s.value for s in Status)


class Op(Enum):
    """The named operations; each may only move a run from and to these statuses. The
    name leads each value, so two operations with the same moves stay two members
    (equal Enum values would silently make the second an alias of the first)."""

    CLAIM = ("claim", WAITING, frozenset({Status.RUNNING}))
    CANCEL_WAITING = ("cancel_waiting", WAITING, frozenset({Status.CANCELLED}))
    FINISH = ("finish", frozenset({Status.RUNNING}), TERMINAL)
    HAND_OFF = ("hand_off", frozenset({Status.RUNNING}), frozenset({Status.RESUMING}))
    LOSE = ("lose", frozenset({Status.RUNNING}), frozenset({Status.RESUMING}))
    GIVE_UP = ("give_up", frozenset({Status.RUNNING}), frozenset({Status.FAILED}))
    REJECT = ("reject", frozenset({Status.QUEUED}), frozenset({Status.FAILED}))

    @property
    def allowed_from(self) -> frozenset[Status]:
        return self.value[1]

    @property
    def leads_to(self) -> frozenset[Status]:
        return self.value[2]


#: A run record (shared.run_record.RunRecord: the lifecycle needs only its fields by name).
RecordT = TypeVar("RecordT", bound=Mapping[str, Any])


class TransitionStore(Protocol[RecordT]):
    """What the lifecycle needs of a record store (shared.runs.RunStore)."""

    def _transition(self, run_id: str, allowed_from: tuple[str, ...] | None, **changes: Any) -> RecordT | None: ...

    def create(self, record: RecordT) -> None: ...


class StatusLog(Protocol):
    """Where a run's status events go (shared.eventlog.EventWriter)."""

    def append(self, type_: EventType, **fields: Any) -> dict[str, Any]: ...


def is_terminal(status: str) -> bool:
    return status in TERMINAL


def apply(
    store: TransitionStore[RecordT],
    op: Op,
    run_id: str,
    to: Status,
    log: StatusLog,
    message: str,
    event: dict[str, Any] | None = None,
    **changes: Any,
) -> RecordT | None:
    """Move ``run_id`` to ``to`` by ``op`` if its status allows, then log its ``status``
    event (``message`` and any ``event`` fields); the new record, or None when another
    actor got there first (or the run is gone) — then nothing is logged."""
    if to not in op.leads_to:
        raise ValueError(f"{op.name} cannot lead to {to.value}")
    record = store._transition(run_id, tuple(s.value for s in op.allowed_from), status=to.value, **changes)
    if record is not None:
        log.append(EventType.STATUS, status=to.value, message=message, **(event or {}))
    return record


# -- the operations, by name ------------------------------------------------------
def submit(store: TransitionStore[RecordT], record: RecordT, log: StatusLog) -> None:
    """A new run is recorded, queued."""
    if record["status"] != Status.QUEUED.value:
        raise ValueError("a new run starts queued")
    store.create(record)
    log.append(EventType.STATUS, status=Status.QUEUED.value, message="waiting for a worker")


def claim(
    store: TransitionStore[RecordT],
    run_id: str,
    log: StatusLog,
    message: str,
    resumed_from_epoch: int | None = None,
    **fields: Any,
) -> RecordT | None:
    """A worker takes a waiting run (its lease already held); a resumed run's event says
    from which epoch's checkpoint it goes on."""
    event = {"resumed_from_epoch": resumed_from_epoch} if resumed_from_epoch is not None else None
    return apply(store, Op.CLAIM, run_id, Status.RUNNING, log, message, event, error=None, **fields)


def cancel_waiting(store: TransitionStore[RecordT], run_id: str, log: StatusLog) -> RecordT | None:
    """Nobody trains a waiting run: the web tier ends it itself."""
    return apply(
        store, Op.CANCEL_WAITING, run_id, Status.CANCELLED, log, "cancelled before it started", finished_at=time.time()
    )


def finish(store: TransitionStore[RecordT], run_id: str, status: Status, log: StatusLog, message: str) -> RecordT | None:
    """The training worker ends its run: succeeded, failed (``message`` is the reason,
    kept as the record's error) or cancelled."""
    fields: dict[str, Any] = {"finished_at": time.time()}
    if status is Status.FAILED:
        fields["error"] = message
    return apply(store, Op.FINISH, run_id, status, log, message, **fields)


def hand_off(store: TransitionStore[RecordT], run_id: str, log: StatusLog, message: str) -> RecordT | None:
    """The worker is shutting down: back to the queue, resumed from its checkpoint
    elsewhere (not counted as a restart)."""
    return apply(store, Op.HAND_OFF, run_id, Status.RESUMING, log, message, worker=None)


def lose(store: TransitionStore[RecordT], run_id: str, restarts: int, log: StatusLog, message: str) -> RecordT | None:
    """The run's worker died (its lease expired): resume it elsewhere."""
    return apply(store, Op.LOSE, run_id, Status.RESUMING, log, message, restarts=restarts, worker=None)


def give_up(store: TransitionStore[RecordT], run_id: str, reason: str, log: StatusLog) -> RecordT | None:
    """Lost once too often: the run fails."""
    return apply(store, Op.GIVE_UP, run_id, Status.FAILED, log, reason, error=reason, finished_at=time.time())


def reject(store: TransitionStore[RecordT], run_id: str, reason: str, log: StatusLog) -> RecordT | None:
    """The submission was stored but could not be enqueued: recorded as failed, never
    left queued without a task."""
    return apply(store, Op.REJECT, run_id, Status.FAILED, log, reason, error=reason, finished_at=time.time())
