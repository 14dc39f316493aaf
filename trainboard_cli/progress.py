"""A one-line live progress bar for ``trainboard watch`` (no dependencies)."""

from __future__ import annotations

from collections import deque
from typing import Any, TextIO

from shared.events import EventType
from shared.metrics import THROUGHPUT_MIN_SPAN_S as MIN_SPAN_S
from shared.metrics import THROUGHPUT_WINDOW_S as WINDOW_S
from shared.metrics import best_accuracy, show

WIDTH = 30


class Throughput:
    """A run's live throughput and ETA, from where it stood at each event's time."""

    def __init__(self, batch_size: int):
        self.batch_size = batch_size
        self.samples: deque[tuple[float, int]] = deque()
        self.reported: float | None = None

    def observe(self, ts: float, batch: int, reported: float | None) -> None:
        if self.samples and (batch < self.samples[-1][1] or ts < self.samples[-1][0]):
            self.samples.clear()  # resumed from a checkpoint
        self.samples.append((ts, batch))
        while len(self.samples) > 2 and self.samples[1][0] <= ts - WINDOW_S:
            self.samples.popleft()
        self.reported = reported

    def batches_per_second(self) -> float | None:
        if not self.samples:
            return None
        (t0, b0), (t1, b1) = self.samples[0], self.samples[-1]
        if t1 - t0 >= MIN_SPAN_S and b1 > b0:
            return (b1 - b0) / (t1 - t0)
        return self.reported / self.batch_size if self.reported and self.batch_size else None

    def images_per_second(self) -> float | None:
        rate = self.batches_per_second()
        return rate * self.batch_size if rate is not None else None

    def eta(self, batches_left: int) -> float | None:
        rate = self.batches_per_second()
        return max(batches_left, 0) / rate if rate else None


def format_duration(seconds: float) -> str:
    """As the page writes it: 45s, 1m 26s, 2h 05m."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {(s % 3600) // 60:02d}m"


class ProgressLine:
    def __init__(self, epochs: int, out: TextIO, batch_size: int = 0):
        self.epochs, self.out = epochs, out
        self.throughput = Throughput(batch_size)
        self.tty = out.isatty()
        self.loss = self.acc = None
        self.rate: float | None = None
        self.epoch = self.step = self.steps = 0

    def update(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind == EventType.PROGRESS:
            self.epoch, self.step, self.steps = event["epoch"], event["step"], event["steps_per_epoch"]
            self.loss = event["losses"][-1]
            batch = (self.epoch - 1) * self.steps + self.step
            self.throughput.observe(event.get("ts", 0.0), batch, event["images_per_sec"])
            self.rate = self.throughput.images_per_second()
            if self.tty:
                self._draw()
        elif kind == EventType.EPOCH:
            self.acc = event["test_accuracy"]
            self._write(
                f"epoch {event['epoch']}/{self.epochs}: "
                f"train loss {show('train_loss', event.get('train_loss'))}, "
                f"test loss {show('test_loss', event.get('test_loss'))}, "
                f"accuracy {show('test_accuracy', event.get('test_accuracy'))}"
            )
        elif kind == EventType.STATUS:
            self._write(f"[{event['status']}] {event.get('message', '')}")

    def reconnected(self) -> None:
        self._write("reconnected; resuming from the last event received")

    def finish(self, run: dict[str, Any]) -> None:
        best = best_accuracy(run)
        tail = f", best test accuracy {best:.2%}" if best is not None else ""
        self._write(f"run {run['id']} {run['status']}{tail}")

    def _draw(self) -> None:
        done = (self.epoch - 1 + self.step / max(self.steps, 1)) / self.epochs
        bar = "#" * int(done * WIDTH)
        acc = f"  acc {show('test_accuracy', self.acc)}" if self.acc is not None else ""
        rate = f"{self.rate:,.0f}" if self.rate is not None else show("seconds", None)
        eta = self.throughput.eta(self.epochs * self.steps - ((self.epoch - 1) * self.steps + self.step))
        left = f"  ETA {format_duration(eta)}" if eta is not None else ""
        self.out.write(
            f"\r[{bar:<{WIDTH}}] {done:6.1%}  epoch {self.epoch}/{self.epochs}  "
            f"loss {show('train_loss', self.loss)}{acc}  {rate} img/s{left} "
        )
        self.out.flush()

    def _write(self, text: str) -> None:
        self.out.write(("\r\033[K" if self.tty else "") + text + "\n")
        self.out.flush()
