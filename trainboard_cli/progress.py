"""A one-line live progress bar for ``trainboard watch`` (no dependencies)."""

from __future__ import annotations

from typing import Any, TextIO

from shared.metrics import show

WIDTH = 30


class ProgressLine:
    def __init__(self, epochs: int, out: TextIO):
        self.epochs, self.out = epochs, out
        self.tty = out.isatty()
        self.loss = self.acc = self.rate = None
        self.epoch = self.step = self.steps = 0

    def update(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind == "progress":
            self.epoch, self.step, self.steps = event["epoch"], event["step"], event["steps_per_epoch"]
            self.loss, self.rate = event["losses"][-1], event["images_per_sec"]
            if self.tty:
                self._draw()
        elif kind == "epoch":
            self.acc = event["test_accuracy"]
            self._write(
                f"epoch {event['epoch']}/{self.epochs}: "
                f"train loss {show('train_loss', event.get('train_loss'))}, "
                f"test loss {show('test_loss', event.get('test_loss'))}, "
                f"accuracy {show('test_accuracy', event.get('test_accuracy'))}"
            )
        elif kind == "status":
            self._write(f"[{event['status']}] {event.get('message', '')}")

    def reconnected(self) -> None:
        self._write("reconnected; resuming from the last event received")

    def finish(self, run: dict[str, Any]) -> None:
        best = run.get("metrics", {}).get("best_test_accuracy")
        tail = f", best test accuracy {best:.2%}" if best is not None else ""
        self._write(f"run {run['id']} {run['status']}{tail}")

    def _draw(self) -> None:
        done = (self.epoch - 1 + self.step / max(self.steps, 1)) / self.epochs
        bar = "#" * int(done * WIDTH)
        acc = f"  acc {show('test_accuracy', self.acc)}" if self.acc is not None else ""
        rate = f"{self.rate:,.0f}" if self.rate is not None else show("seconds", None)
        self.out.write(
            f"\r[{bar:<{WIDTH}}] {done:6.1%}  epoch {self.epoch}/{self.epochs}  "
            f"loss {show('train_loss', self.loss)}{acc}  {rate} img/s "
        )
        self.out.flush()

    def _write(self, text: str) -> None:
        self.out.write(("\r\033[K" if self.tty else "") + text + "\n")
        self.out.flush()
