"""The event types of a run's log, declared once: what each carries.

Writers (worker.epochs, worker.runner, worker.reaper, web.api) append events through
shared.eventlog.EventWriter, which refuses an event missing a required field;
readers (web.history.series, the relay, the page, the CLI) key on the same names. Every
event also has ``run_id``, ``seq`` (1, 2, 3 … per run, no gaps) and ``ts`` (epoch
seconds), added by the writer. More fields may be added; none may be removed.
"""

from __future__ import annotations

import math
from enum import Enum
from typing import Any


class EventType(str, Enum):
    STATUS = "status"
    PROGRESS = "progress"
    EPOCH = "epoch"
    SAMPLES = "samples"
    CHECKPOINT = "checkpoint"

    def __str__(self) -> str:
        return self.value


#: Fields each event type must carry (optional ones: docs/events.md's table).
REQUIRED: dict[EventType, tuple[str, ...]] = {
    # message always; resumed_from_epoch on a resumed run's "running" event
    EventType.STATUS: ("status", "message"),
    # losses: every batch loss since the previous progress event; lr optional
    EventType.PROGRESS: ("epoch", "step", "steps_per_epoch", "losses", "images_per_sec"),
    # also confusion (10×10, rows = true label) and lr
    EventType.EPOCH: ("epoch", "train_loss", "test_loss", "test_accuracy", "seconds"),
    # items/mistakes: {index, label, pred, confidence, slot}; slot = 28-px tile of `sprite`
    EventType.SAMPLES: ("epoch", "sprite", "tile", "items", "mistakes"),
    EventType.CHECKPOINT: ("epoch", "artifact"),
}


def check(type_: str, fields: dict[str, Any]) -> EventType:
    """The event's type, or ValueError when it is unknown or lacks a required field."""
    kind = EventType(type_)
    missing = [name for name in REQUIRED[kind] if name not in fields]
    if missing:
        raise ValueError(f"a {kind.value} event needs {', '.join(missing)}")
    return kind


def finite(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by None: JSON has no NaN, and a
    diverged run (loss NaN) must still be logged, charted and ended, not failed by its log."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value
