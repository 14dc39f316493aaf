"""The epoch loop of one run: data, model, checkpoints, epoch announcements.

What the loop returns is an :data:`Outcome` — finished with a terminal status, handed
off because the worker is stopping, or lost to another worker — and the run's
lifecycle (worker.runner) turns it into a status change. Pure training functions
live in worker.training; this module is where they meet the event log and the volume.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from enum import Enum
from typing import Any, Union

import torch

from shared import keys, layout
from shared.artifacts import ArtifactError
from shared.eventlog import EventWriter
from shared.events import finite
from shared.lifecycle import Status
from shared.metrics import record_metrics
from shared.redaction import public_spec
from shared.retry import TRANSIENT, Backoff, retry_redis
from worker import checkpoints, load, training
from worker.context import WorkerContext, describe_device
from worker.data import load_mnist, training_subset
from worker.early_stop import median_rule
from worker.model import Net
from worker.progress import ProgressReporter

log = logging.getLogger(__name__)

SAMPLE_COUNT = 16
#: Misclassified test images shown per epoch (the "mistakes" view).
MISTAKE_COUNT = 24


class Stop(Enum):
    """Why the loop stopped before the run's last epoch."""

    LOST = "lease lost"
    SHUTDOWN = "worker shutting down"
    TIMEOUT = "MAX_RUN_SECONDS passed"
    CANCELLED = "cancelled by a user"


@dataclass(frozen=True)
class Finished:
    """The run ended here: succeeded, failed (message = reason) or cancelled."""

    status: Status
    message: str


@dataclass(frozen=True)
class HandOff:
    """This worker is stopping: the run resumes from its last checkpoint elsewhere."""

    message: str


@dataclass(frozen=True)
class Lost:
    """Our lease expired and another worker owns the run now: write nothing more."""


Outcome = Union[Finished, HandOff, Lost]


def train_run(ctx: WorkerContext, run_id: str, spec: dict[str, Any], record: dict[str, Any],
              writer: EventWriter) -> Outcome:
    """Train (or resume) the run epoch by epoch until it ends or must stop."""
    folder = layout.run_dir(ctx.settings.results_dir, run_id)
    device = ctx.device
    data = load_mnist(ctx.settings.data_dir, device)
    images, labels = training_subset(data, spec["train_samples"], spec["seed"])
    steps = training.steps_per_epoch(len(labels), spec["batch_size"])

    training.seed_everything(spec["seed"])
    model = Net().to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    optimizer = training.build_optimizer(model, spec["optimizer"], spec["lr"], device)
    scheduler = training.build_scheduler(optimizer, spec["schedule"], spec["lr"],
                                         spec["epochs"], steps)
    history: dict[str, Any] = {"epochs": [], "batch_losses": []}
    start_epoch = 1
    checkpoint_path = folder / layout.CHECKPOINT
    # A checkpoint exists only if this run was interrupted (worker lost or handed on);
    # the store's is the latest, whichever box wrote it.
    if ctx.artifacts.fetch(run_id, layout.CHECKPOINT, checkpoint_path):
        state = checkpoints.load_checkpoint(checkpoint_path, device)
        checkpoints.restore(state, model, optimizer, scheduler)
        history = state["history"]
        start_epoch = state["epoch"] + 1
        _replay_missing_epochs(ctx, run_id, writer, history, record)
        writer.append("status", status="running", resumed_from_epoch=state["epoch"],
                      message=f"resumed from epoch {state['epoch']} checkpoint on {ctx.name}")
    else:
        writer.append("status", status="running",
                      message=f"started on {ctx.name} ({describe_device(device)})")

    run_started = record.get("started_at") or time.time()  # across resumes
    load.reset_peak(device)
    stop_reason: list[Stop] = []

    def stop_requested() -> bool:
        reason = _why_stop(ctx, run_id, run_started)
        if reason is not None:
            stop_reason.append(reason)
        return reason is not None

    reporter = ProgressReporter(RecordProgress(ctx, run_id, writer.append), steps, stop_requested,
                                current_lr=lambda: optimizer.param_groups[0]["lr"])
    scaler = training.grad_scaler(device)  # fp16 devices only (pre-Ampere GPUs)
    for epoch in range(start_epoch, spec["epochs"] + 1):
        started = time.perf_counter()
        reporter.start_epoch(epoch)
        finished = training.train_epoch(model, images, labels, optimizer, scheduler,
                                        spec["batch_size"], spec["seed"], epoch, reporter, scaler)
        if not finished:
            reason = stop_reason[-1]
            if reason is Stop.LOST:
                return Lost()
            if reason is Stop.SHUTDOWN:
                return HandOff(f"worker {ctx.name} is shutting down; resuming from the "
                               f"epoch {epoch - 1} checkpoint on another worker")
            checkpoints.save_checkpoint(checkpoint_path, model=model, optimizer=optimizer,
                                        scheduler=scheduler, epoch=epoch - 1, spec=spec,
                                        history=history)
            _store(ctx, run_id, folder, layout.CHECKPOINT)
            if reason is Stop.TIMEOUT:
                return Finished(Status.FAILED, f"stopped after the maximum run duration of "
                                               f"{ctx.settings.max_run_seconds:g} s (MAX_RUN_SECONDS)")
            return Finished(Status.CANCELLED, f"cancelled during epoch {epoch}")
        metrics = training.evaluate(model, data.test_x, data.test_y, keep_wrong=MISTAKE_COUNT)
        seconds = time.perf_counter() - started
        epoch_record = {"epoch": epoch, "train_loss": reporter.mean_loss(),
                        "test_loss": metrics["test_loss"],
                        "test_accuracy": metrics["test_accuracy"], "seconds": round(seconds, 3),
                        "confusion": metrics["confusion"],
                        "lr": optimizer.param_groups[0]["lr"]}
        history["epochs"].append(epoch_record)
        history["batch_losses"].append(reporter.epoch_losses)
        samples = training.sample_predictions(model, data.test_x, data.test_y, SAMPLE_COUNT,
                                              spec["seed"], epoch)
        mistakes = training.describe_images(model, data.test_x, data.test_y,
                                            metrics["wrong_indices"])
        sprite = layout.samples_sprite(epoch)
        checkpoints.save_sprite(folder / sprite, [i["image"] for i in samples + mistakes])
        # Checkpoint before announcing the epoch: a crash in between re-announces it on
        # resume (see _replay_missing_epochs) instead of training it twice.
        checkpoints.save_checkpoint(checkpoint_path, model=model, optimizer=optimizer,
                                    scheduler=scheduler, epoch=epoch, spec=spec, history=history)
        _write_logs(folder, spec, history, samples)
        for name in (sprite, layout.TRAINING_LOG, layout.TEST_SAMPLES, layout.CHECKPOINT):
            _store(ctx, run_id, folder, name)
        _announce_epoch(ctx, run_id, writer, epoch_record, (sprite, samples, mistakes))
        stop = median_rule(ctx.r, ctx.settings.results_dir, record, epoch, metrics["test_accuracy"])
        if stop is not None:
            _save_final(ctx, run_id, folder, model)
            _record_peak_memory(ctx, run_id)
            ctx.store.update(run_id, stopped_early=True)
            return Finished(Status.SUCCEEDED, stop)
        target = spec["target_accuracy"]
        if target is not None and metrics["test_accuracy"] >= target:
            _save_final(ctx, run_id, folder, model)
            _record_peak_memory(ctx, run_id)
            return Finished(Status.SUCCEEDED,
                            f"reached target accuracy {target:.2%} after epoch {epoch}")
    _save_final(ctx, run_id, folder, model)
    _record_peak_memory(ctx, run_id)
    best = max(e["test_accuracy"] for e in history["epochs"])
    return Finished(Status.SUCCEEDED,
                    f"finished {spec['epochs']} epochs, best test accuracy {best:.2%}")


def _record_peak_memory(ctx: WorkerContext, run_id: str) -> None:
    """The run's peak GPU memory (MiB) in its record; nothing on a CPU worker."""
    peak = load.peak_gpu_memory_mb(ctx.device)
    if peak is not None:
        ctx.store.update(run_id, peak_gpu_memory_mb=peak)


def _why_stop(ctx: WorkerContext, run_id: str, run_started: float) -> Stop | None:
    """Asked at each progress point (at most every 0.1 s): must the loop stop, and why?"""
    if not ctx.leases.holds(run_id):
        return Stop.LOST
    if ctx.shutting_down.is_set():
        return Stop.SHUTDOWN
    if time.time() - run_started > ctx.settings.max_run_seconds:
        return Stop.TIMEOUT
    try:
        if ctx.r.exists(keys.run_cancel(run_id)):
            return Stop.CANCELLED
    except TRANSIENT:
        pass  # Redis is away: keep training, events queue up meanwhile
    return None


class RecordProgress:
    """Passes events on to the log and, at most once a second, copies the latest
    progress into the run record (run lists show % and ETA without following runs)."""

    INTERVAL = 1.0

    def __init__(self, ctx: WorkerContext, run_id: str, emit):
        self.ctx, self.run_id, self.emit = ctx, run_id, emit
        self.last = 0.0

    def __call__(self, type_: str, **fields: Any):
        event = self.emit(type_, **fields)
        now = time.monotonic()
        if type_ == "progress" and now - self.last >= self.INTERVAL:
            self.last = now
            progress = {k: fields[k] for k in ("epoch", "step", "steps_per_epoch", "images_per_sec")}
            try:
                record = self.ctx.store.update(self.run_id, progress=progress)
                if record is not None:
                    self.ctx.store.publish_update(record)
            except TRANSIENT:
                pass  # the event log has it; the record catches up next time
        return event


def _save_final(ctx: WorkerContext, run_id: str, folder, model) -> None:
    checkpoints.save_weights(folder / layout.FINAL_WEIGHTS, model)
    checkpoints.save_weights_npz(folder / layout.FINAL_WEIGHTS_NPZ, model)
    for name in (layout.FINAL_WEIGHTS, layout.FINAL_WEIGHTS_NPZ):
        _store(ctx, run_id, folder, name)


#: Tries to put one file in the artifact store before the run fails.
STORE_ATTEMPTS = 4


def _store(ctx: WorkerContext, run_id: str, folder, name: str) -> None:
    """Put ``folder/name`` (just written) in the artifact store, with backoff; a store
    that stays away fails the run (its checkpoint would be lost to a resume)."""
    backoff = Backoff()
    for attempt in range(1, STORE_ATTEMPTS + 1):
        try:
            ctx.artifacts.put_file(run_id, name, folder / name)
            return
        except ArtifactError as exc:
            if attempt == STORE_ATTEMPTS:
                raise
            delay = backoff.next()
            log.warning("run %s: %s; retry %d in %.1f s", run_id, exc, attempt, delay)
            time.sleep(delay)


def _without_images(items: list[dict[str, Any]], first_slot: int) -> list[dict[str, Any]]:
    """Items as events carry them: the image is tile ``slot`` of the epoch's sprite."""
    return [{**{k: v for k, v in item.items() if k != "image"}, "slot": first_slot + i}
            for i, item in enumerate(items)]


def _announce_epoch(ctx: WorkerContext, run_id: str, writer: EventWriter,
                    epoch_record: dict[str, Any],
                    samples: tuple[str, list[dict[str, Any]], list[dict[str, Any]]] | None) -> None:
    writer.append("epoch", **epoch_record)
    if samples is not None:
        sprite, items, mistakes = samples
        writer.append("samples", epoch=epoch_record["epoch"], sprite=sprite, tile=28,
                      items=_without_images(items, 0),
                      mistakes=_without_images(mistakes, len(items)))
    writer.append("checkpoint", epoch=epoch_record["epoch"], artifact=layout.CHECKPOINT)

    def update_record() -> None:
        record = ctx.store.get(run_id) or {}
        best = max(epoch_record["test_accuracy"],
                   record.get("metrics", {}).get("best_test_accuracy", 0))
        # Accuracy per epoch, for a sweep's median rule on any box (worker.early_stop).
        by_epoch = {**record.get("accuracy_by_epoch", {}),
                    str(epoch_record["epoch"]): epoch_record["test_accuracy"]}
        updated = ctx.store.update(
            run_id, epoch=epoch_record["epoch"], accuracy_by_epoch=by_epoch,
            metrics={**record_metrics(epoch_record), "best_test_accuracy": best})
        if updated is not None:
            ctx.store.publish_update(updated)
    retry_redis(update_record, f"run {run_id}: recording epoch {epoch_record['epoch']}")


def _replay_missing_epochs(ctx: WorkerContext, run_id: str, writer: EventWriter,
                           history: dict[str, Any], record: dict[str, Any]) -> None:
    """Announce epochs the checkpoint has but the log does not (a crash in between).

    The run record's ``epoch`` is set right after an epoch's events are sent, so it
    names the last announced epoch wherever the run trained before: no history file
    is read (the worker has none). A crash between the events and the record update
    repeats that epoch's events; the web side keeps one per epoch."""
    announced = int(record.get("epoch") or 0)
    for epoch_record in history["epochs"]:
        if epoch_record["epoch"] > announced:
            _announce_epoch(ctx, run_id, writer, epoch_record, None)


def _write_logs(folder, spec, history, samples) -> None:
    layout.write_json(folder / layout.TRAINING_LOG, finite({"spec": public_spec(spec), **history}))
    layout.write_json(folder / layout.TEST_SAMPLES, {"epoch": history["epochs"][-1]["epoch"],
                                                     "items": samples})
