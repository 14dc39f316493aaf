"""Batch losses → ``progress`` events, at a bounded rate, with none dropped.

The training loop hands over each loss as a device tensor. Only when an
interval has passed are the collected losses stacked and copied to the host in
one transfer (the only sync point), and sent as one event carrying all of them.
The same moment is used to ask whether the run should stop (cancel, lost lease).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from shared.events import EventType

EventSink = Callable[..., object]


class ProgressReporter:
    def __init__(
        self,
        emit: EventSink,
        steps_per_epoch: int,
        should_stop: Callable[[], bool] = lambda: False,
        interval: float = 0.1,
        current_lr: Callable[[], float] | None = None,
    ):
        self.emit = emit
        self.steps_per_epoch = steps_per_epoch
        self.should_stop = should_stop
        self.interval = interval
        self.current_lr = current_lr
        self.epoch = 0
        self.stopped = False
        self.epoch_losses: list[float] = []  # every batch loss of the current epoch
        self._pending: list[torch.Tensor] = []
        self._images = 0
        self._last = time.monotonic()
        self._step = 0

    def start_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.epoch_losses = []
        self._pending = []
        self._images = 0
        self._step = 0
        self._last = time.monotonic()

    def batch(self, loss: torch.Tensor, step: int, images: int) -> bool:
        """Record one loss; returns False when training should stop."""
        self._pending.append(loss)
        self._images += images
        self._step = step
        if step == self.steps_per_epoch or time.monotonic() - self._last >= self.interval:
            self.flush()
            if self.should_stop():
                self.stopped = True
                return False
        return True

    def flush(self) -> None:
        if not self._pending:
            return
        losses = torch.stack(self._pending).float().cpu().tolist()  # the one sync
        now = time.monotonic()
        rate = self._images / max(now - self._last, 1e-9)
        self.epoch_losses.extend(losses)
        self._pending, self._images, self._last = [], 0, now
        extra = {"lr": self.current_lr()} if self.current_lr else {}
        self.emit(
            EventType.PROGRESS,
            epoch=self.epoch,
            step=self._step,
            steps_per_epoch=self.steps_per_epoch,
            losses=[round(v, 6) for v in losses],
            images_per_sec=round(rate, 1),
            **extra,
        )

    def mean_loss(self) -> float:
        return sum(self.epoch_losses) / len(self.epoch_losses) if self.epoch_losses else float("nan")
