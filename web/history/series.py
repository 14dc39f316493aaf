"""Dense numeric curves of a run on the results volume, downsampled on read.

A five-hour run has ~2 million batch losses; no browser wants 200,000 events to
draw them. The recorder therefore keeps each curve as two append-only arrays in the
run's ``series/`` folder — ``<name>.x`` (int64: global batch step or epoch) and
``<name>.y`` (float32) — and ``meta.json`` says how many points of each belong to
the log up to ``last_seq``. Readers memory-map the arrays and reduce the range
they want to at most ``points`` min/max/mean buckets, so a request costs the
points asked for, not the run's length, and spikes survive downsampling.

Points are derived from events by :meth:`SeriesWriter.observe` and nowhere else:
the recorder feeds it live, and a run recorded before series existed is rebuilt by
feeding it the old ``events.jsonl``. x only moves forward: a point at an x the
series already has first drops every point from that x on, so a resumed run (its
``resumed_from_epoch`` status event) or a stray event of an abandoned attempt
never leaves a partial epoch behind.

``epochs.json`` keeps the run's ``epoch`` and ``samples`` events (a few KB each,
at most one per epoch) so a page can show per-epoch detail without the log.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from shared import layout
from shared.events import EventType

#: Curves with one point per global batch step (x = (epoch - 1) * steps_per_epoch + step).
BATCH_SERIES = ("batch_loss", "lr", "images_per_sec")
#: Curves with one point per epoch (x = epoch).
EPOCH_SERIES = ("train_loss", "test_loss", "test_accuracy")
NAMES = BATCH_SERIES + EPOCH_SERIES
META = "meta.json"
EPOCHS = "epochs.json"
#: Default and largest number of buckets a read returns.
DEFAULT_POINTS = 1000
MAX_POINTS = 10_000
#: Points a curve holds in memory before writing them out, whatever the flush interval.
BUFFER_POINTS = 65536
X_DTYPE = np.dtype("<i8")
Y_DTYPE = np.dtype("<f4")


def series_dir(results_dir: str, run_id: str) -> Path:
    return layout.run_dir(results_dir, run_id) / layout.SERIES_DIR


class _Curve:
    """One append-only (x, y) array pair, buffered in memory between flushes."""

    def __init__(self, folder: Path, name: str, count: int):
        self.x_path, self.y_path = folder / f"{name}.x", folder / f"{name}.y"
        for path, dtype in ((self.x_path, X_DTYPE), (self.y_path, Y_DTYPE)):
            path.touch()
            os.truncate(path, count * dtype.itemsize)  # drop a dead writer's unflushed tail
        self.count = count
        self.last_x = self._x_at(count - 1) if count else None
        self.xs: list[int] = []
        self.ys: list[float] = []

    def _x_at(self, i: int) -> int:
        with open(self.x_path, "rb") as f:
            f.seek(i * X_DTYPE.itemsize)
            return int.from_bytes(f.read(X_DTYPE.itemsize), "little", signed=True)

    def add(self, x: int, y: float) -> None:
        if self.last_x is not None and x <= self.last_x:
            self.keep_below(x)
        self.xs.append(x)
        self.ys.append(y)
        self.count += 1
        self.last_x = x
        if len(self.xs) >= BUFFER_POINTS:
            self.flush()  # bounded memory when rebuilding millions of points

    def keep_below(self, x: int) -> None:
        """Drop every point at or after ``x``."""
        self.flush()
        on_disk = np.fromfile(self.x_path, dtype=X_DTYPE, count=self.count)
        keep = int(np.searchsorted(on_disk, x, side="left"))
        os.truncate(self.x_path, keep * X_DTYPE.itemsize)
        os.truncate(self.y_path, keep * Y_DTYPE.itemsize)
        self.count = keep
        self.last_x = int(on_disk[keep - 1]) if keep else None

    def flush(self) -> None:
        if not self.xs:
            return
        with open(self.x_path, "ab") as f:
            f.write(np.asarray(self.xs, dtype=X_DTYPE).tobytes())
        with open(self.y_path, "ab") as f:
            f.write(np.asarray(self.ys, dtype=Y_DTYPE).tobytes())
        self.xs, self.ys = [], []


def ensure_folder(folder: Path) -> None:
    """Create ``folder`` with an empty meta.json, atomically: a reader (or a second
    builder) sees either no folder or a complete one."""
    if (folder / META).exists():
        return
    folder.parent.mkdir(parents=True, exist_ok=True)  # a run with no history yet
    tmp = Path(tempfile.mkdtemp(prefix=".series-", dir=folder.parent))
    layout.write_json(tmp / META, {"last_seq": 0, "counts": {}, "steps_per_epoch": None})
    try:
        os.rename(tmp, folder)
    except OSError:  # somebody else made it first
        shutil.rmtree(tmp, ignore_errors=True)


class SeriesWriter:
    """Turns a run's events into points; one writer per run at a time (the event writer's)."""

    def __init__(self, folder: Path, flush_interval: float = 1.0, flush_on_detail: bool = True):
        ensure_folder(folder)
        self.folder = folder
        self.flush_interval = flush_interval
        #: Flush at every epoch, samples and status event (readers see an epoch at once);
        #: a caller that batches events (the recorder: one round) flushes after the batch.
        self.flush_on_detail = flush_on_detail
        meta = layout.read_json(folder / META) or {}
        counts = meta.get("counts", {})
        self.last_seq: int = meta.get("last_seq", 0)
        self.steps_per_epoch: int | None = meta.get("steps_per_epoch")
        self.curves = {n: _Curve(folder, n, int(counts.get(n, 0))) for n in NAMES}
        detail = layout.read_json(folder / EPOCHS) or {}
        self.epochs: dict[int, dict[str, Any]] = {
            e["epoch"]: e for e in detail.get("epochs", []) if e["seq"] <= self.last_seq
        }
        self.samples: dict[int, dict[str, Any]] = {
            e["epoch"]: e for e in detail.get("samples", []) if e["seq"] <= self.last_seq
        }
        self._detail_dirty = False
        self._flushed_at = time.monotonic()

    # -- events -> points ----------------------------------------------------
    def observe(self, event: dict[str, Any]) -> None:
        if event["seq"] <= self.last_seq:
            return  # already applied (a catch-up overlapping live events)
        kind = event.get("type")
        if kind == EventType.PROGRESS:
            self._progress(event)
        elif kind == EventType.EPOCH:
            epoch = int(event["epoch"])
            for name in EPOCH_SERIES:
                if event.get(name) is not None:
                    self.curves[name].add(epoch, float(event[name]))
            self._set_detail(self.epochs, epoch, event)
        elif kind == EventType.SAMPLES:
            self._set_detail(self.samples, int(event["epoch"]), event)
        elif kind == EventType.STATUS and event.get("resumed_from_epoch") is not None:
            self._rewind_to(int(event["resumed_from_epoch"]))
        self.last_seq = event["seq"]
        live = self.flush_on_detail and math.isfinite(self.flush_interval)  # a rebuild flushes once, at the end
        if (
            live and kind in (EventType.EPOCH, EventType.SAMPLES, EventType.STATUS)
        ) or time.monotonic() - self._flushed_at >= self.flush_interval:
            self.flush()

    def _progress(self, event: dict[str, Any]) -> None:
        steps = int(event["steps_per_epoch"])
        self.steps_per_epoch = steps
        end = (int(event["epoch"]) - 1) * steps + int(event["step"])
        losses = event.get("losses") or []
        for i, loss in enumerate(losses):
            self.curves["batch_loss"].add(end - len(losses) + 1 + i, math.nan if loss is None else float(loss))
        if event.get("lr") is not None:
            self.curves["lr"].add(end, float(event["lr"]))
        if event.get("images_per_sec") is not None:
            self.curves["images_per_sec"].add(end, float(event["images_per_sec"]))

    def _set_detail(self, table: dict[int, dict[str, Any]], epoch: int, event: dict[str, Any]) -> None:
        for later in [e for e in table if e > epoch]:
            del table[later]
        table[epoch] = event
        self._detail_dirty = True

    def _rewind_to(self, epoch: int) -> None:
        """A resumed run retrains from the checkpoint of ``epoch``: forget what came after."""
        if self.steps_per_epoch:
            for name in BATCH_SERIES:
                self.curves[name].keep_below(epoch * self.steps_per_epoch + 1)
        for name in EPOCH_SERIES:
            self.curves[name].keep_below(epoch + 1)
        for table in (self.epochs, self.samples):
            for later in [e for e in table if e > epoch]:
                del table[later]
        self._detail_dirty = True

    # -- durability ----------------------------------------------------------
    def flush(self) -> None:
        """Data first, then the per-epoch detail, then meta: meta never names points
        that are not on disk yet. Renamed into place but not fsynced: after a crash the
        series catch up from the event log (which they only ever mirror), so an fsync
        per epoch of every run would buy nothing but the recorder's lag."""
        for curve in self.curves.values():
            curve.flush()
        if self._detail_dirty:
            layout.write_json(
                self.folder / EPOCHS,
                {
                    "epochs": [self.epochs[e] for e in sorted(self.epochs)],
                    "samples": [self.samples[e] for e in sorted(self.samples)],
                },
                durable=False,
            )
            self._detail_dirty = False
        layout.write_json(
            self.folder / META,
            {
                "last_seq": self.last_seq,
                "steps_per_epoch": self.steps_per_epoch,
                "counts": {n: c.count for n, c in self.curves.items()},
            },
            durable=False,
        )
        self._flushed_at = time.monotonic()

    def catch_up(self, pages: Callable[[int], list[dict[str, Any]]]) -> None:
        """Apply every logged event after ``last_seq``, page by page (``pages(after)``)."""
        while True:
            page = pages(self.last_seq)
            if not page:
                break
            for event in page:
                self.observe(event)
        self.flush()


def build_from_events(folder: Path, events: Iterable[dict[str, Any]]) -> None:
    """Series of a run recorded before series existed, from its event log.

    Built beside the run folder and renamed into place, so concurrent readers never
    see half a series and two builders never mix their points."""
    if (folder / META).exists():
        return
    folder.parent.mkdir(parents=True, exist_ok=True)  # a run with no history yet
    tmp = Path(tempfile.mkdtemp(prefix=".series-build-", dir=folder.parent)) / layout.SERIES_DIR
    writer = SeriesWriter(tmp, flush_interval=math.inf)
    for event in events:  # file order is seq order; a repeated seq is skipped by observe
        writer.observe(event)
    writer.flush()
    try:
        os.rename(tmp, folder)
    except OSError:
        pass  # another process built it meanwhile; theirs is as good as ours
    shutil.rmtree(tmp.parent, ignore_errors=True)


# -- reading ------------------------------------------------------------------
def read_meta(folder: Path) -> dict[str, Any] | None:
    meta = layout.read_json(folder / META)
    return meta if isinstance(meta, dict) else None


def _clean(values: np.ndarray) -> list[float | None]:
    """JSON has no NaN: a diverged loss is reported as null."""
    # Shortest decimal that reads back as the same float32: what was stored, no noise.
    out = [float(v) for v in values.astype(Y_DTYPE).astype(str)]
    if not np.isnan(values).any():
        return list(out)
    return [None if v != v else v for v in out]


def read_series(
    folder: Path, name: str, start: int | None = None, end: int | None = None, points: int = DEFAULT_POINTS
) -> dict[str, Any]:
    """At most ``points`` min/max/mean buckets of ``name`` over x in [start, end];
    the raw points when the range holds no more than that."""
    meta = read_meta(folder) or {"counts": {}, "last_seq": 0}
    total = int(meta["counts"].get(name, 0))
    result: dict[str, Any] = {
        "name": name,
        "total": total,
        "last_seq": meta["last_seq"],
        "steps_per_epoch": meta.get("steps_per_epoch"),
        "x": [],
        "min": [],
        "max": [],
        "mean": [],
    }
    if total == 0:
        return result
    xs = np.memmap(folder / f"{name}.x", dtype=X_DTYPE, mode="r", shape=(total,))
    ys = np.memmap(folder / f"{name}.y", dtype=Y_DTYPE, mode="r", shape=(total,))
    lo = 0 if start is None else int(np.searchsorted(xs, start, side="left"))
    hi = total if end is None else int(np.searchsorted(xs, end, side="right"))
    n = hi - lo
    if n <= 0:
        return result
    if n <= points:
        x = np.asarray(xs[lo:hi])
        y = np.asarray(ys[lo:hi])
        result.update(x=x.tolist(), min=_clean(y), max=_clean(y), mean=_clean(y))
        return result
    edges = (np.arange(points, dtype=np.int64) * n) // points
    sizes = np.diff(np.append(edges, n))
    lows, highs, sums = _reduce_buckets(folder / f"{name}.y", lo, n, edges)
    result.update(x=np.asarray(xs[lo:hi][edges]).tolist(), min=_clean(lows), max=_clean(highs), mean=_clean(sums / sizes))
    return result


#: Points reduced per step: memory for a read stays ~16 MB whatever the range's length.
REDUCE_CHUNK = 1 << 21


def _reduce_buckets(y_path: Path, lo: int, n: int, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Min, max and (float64) sum per bucket of the ``n`` values from index ``lo`` of a
    y file, buckets starting at ``edges``. Read a few buckets at a time with plain reads:
    the range is never held whole, and the file's pages stay in the page cache instead of
    the web process' resident memory (a mapping would count them)."""
    lows = np.empty(len(edges), dtype=np.float64)
    highs, sums = np.empty_like(lows), np.empty_like(lows)
    ends = np.append(edges[1:], n)
    first = 0
    with open(y_path, "rb") as f:
        while first < len(edges):
            last = max(int(np.searchsorted(ends, edges[first] + REDUCE_CHUNK, side="right")), first + 1)
            start, stop = int(edges[first]), int(ends[last - 1])
            f.seek((lo + start) * Y_DTYPE.itemsize)
            chunk = np.fromfile(f, dtype=Y_DTYPE, count=stop - start).astype(np.float64)
            local = edges[first:last] - start
            with np.errstate(invalid="ignore"):
                lows[first:last] = np.minimum.reduceat(chunk, local)
                highs[first:last] = np.maximum.reduceat(chunk, local)
                sums[first:last] = np.add.reduceat(chunk, local)
            first = last
    return lows, highs, sums


def read_epochs(folder: Path) -> dict[str, Any]:
    """The run's epoch and samples events up to the series' ``last_seq``."""
    meta = read_meta(folder) or {"last_seq": 0}
    detail = layout.read_json(folder / EPOCHS) or {}
    upto = meta["last_seq"]
    return {
        "epochs": [e for e in detail.get("epochs", []) if e["seq"] <= upto],
        "samples": [e for e in detail.get("samples", []) if e["seq"] <= upto],
        "last_seq": upto,
    }
