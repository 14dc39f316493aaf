"""The per-epoch metrics, declared once: name, label and how each is shown.

:data:`EPOCH_METRICS` is the one table. The CLI's ``logs`` table and CSV, its
``watch`` lines, the page's CSV/JSON export and epoch table (rendered into the page,
as the statuses are) and the run record's ``metrics`` are all derived from it.

A value may be ``None``: a diverged run's NaN/inf losses are logged and stored as
null (shared.events.finite), so :func:`show` is the only way a metric is formatted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: What a missing or non-finite value is shown as (the page and the CLI alike).
MISSING = "—"

#: A live run's throughput and ETA, one definition for the page and ``trainboard watch``:
#: batches per second over the last THROUGHPUT_WINDOW_S seconds of wall-clock time, so
#: epoch evaluations count and one odd batch does not swing it; with less than
#: THROUGHPUT_MIN_SPAN_S of history the worker's own last figure stands in.
THROUGHPUT_WINDOW_S = 60.0
THROUGHPUT_MIN_SPAN_S = 2.0


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    #: A Python format spec (the page maps it to its own formatter).
    format: str
    #: Column width in the CLI's table.
    width: int
    #: Also kept in the run record's ``metrics`` (what the run list shows).
    in_record: bool = False


EPOCH_METRICS: tuple[Metric, ...] = (
    Metric("epoch", "Epoch", "d", 5),
    Metric("train_loss", "Train loss", ".4f", 10, in_record=True),
    Metric("test_loss", "Test loss", ".4f", 9, in_record=True),
    Metric("test_accuracy", "Accuracy", ".2%", 8, in_record=True),
    Metric("seconds", "Seconds", ".1f", 7),
    Metric("lr", "LR", ".3g", 9),
)
BY_NAME = {m.name: m for m in EPOCH_METRICS}
NAMES = tuple(m.name for m in EPOCH_METRICS)


def show(name: str, value: Any) -> str:
    """``value`` formatted as metric ``name`` says, or :data:`MISSING` for None."""
    if value is None or isinstance(value, bool):
        return MISSING
    return format(value, BY_NAME[name].format)


#: Derived over a run's epochs and kept in its record's ``metrics``: the best test accuracy
#: so far. Sweeps rank their runs by it; notices, the CLI and the page show it.
BEST_ACCURACY = "best_test_accuracy"


def record_metrics(epoch: dict[str, Any], before: dict[str, Any] | None = None) -> dict[str, Any]:
    """The run record's ``metrics`` after an epoch event: the epoch's metrics that the
    record keeps, and the best accuracy so far (``before``: the record's metrics until now)."""
    kept = {m.name: epoch.get(m.name) for m in EPOCH_METRICS if m.in_record}
    seen = [v for v in (epoch.get("test_accuracy"), (before or {}).get(BEST_ACCURACY)) if isinstance(v, int | float)]
    return {**kept, BEST_ACCURACY: max(seen) if seen else None}


def best_accuracy(record: Mapping[str, Any]) -> float | None:
    """A run record's (or a sweep summary's metrics') best test accuracy, or None."""
    value = (record.get("metrics") or {}).get(BEST_ACCURACY)
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def page_measures() -> dict[str, Any]:
    """How the page shows a missing value and measures throughput (rendered into index.html)."""
    return {
        "best": BEST_ACCURACY,
        "missing": MISSING,
        "throughput_window_s": THROUGHPUT_WINDOW_S,
        "throughput_min_span_s": THROUGHPUT_MIN_SPAN_S,
    }


def page_table() -> list[dict[str, str]]:
    """The table as the page receives it (rendered into index.html)."""
    return [{"name": m.name, "label": m.label, "format": m.format} for m in EPOCH_METRICS]
