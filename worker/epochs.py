"""The epoch loop of one run: data, model, checkpoints, epoch announcements.

What the loop returns is an :data:`Outcome` — finished with a terminal status, handed
off because the worker is stopping, or lost to another worker — and the run's
lifecycle (worker.runner) turns it into a status change. Pure training functions
live in worker.training; this module is where they meet the event log and the volume.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Union

import torch

from shared import keys, layout
from shared.artifacts import ArtifactError, fetch_retrying
from shared.eventlog import EventWriter
from shared.events import EventType, finite
from shared.lifecycle import Status
from shared.metrics import record_metrics
from shared.redaction import public_spec
from shared.retry import TRANSIENT, attempts, retry_redis
from shared.run_record import RunRecord
from worker import checkpoints, forks, load, training
from worker.context import WorkerContext
from worker.data import load_mnist, training_subset
from worker.early_stop import sweep_verdict
from worker.layer_watch import LayerWatch
from worker.model import Net
from worker.model_summary import summarize
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


@dataclass
class Prepared:
    """Everything one run's epochs need, built before the run is claimed: data, model,
    optimizer, scheduler and, when the run was interrupted, the store's checkpoint."""

    run_id: str
    spec: dict[str, Any]
    folder: Path
    data: Any
    images: torch.Tensor
    labels: torch.Tensor
    steps: int
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: torch.amp.GradScaler | None
    history: dict[str, Any] = field(default_factory=lambda: {"epochs": [], "batch_losses": []})
    #: The checkpoint's epoch when resuming (or the parent's epoch, for a fork), else None.
    resumed_from: int | None = None
    watch: LayerWatch | None = None

    @property
    def checkpoint_path(self) -> Path:
        return self.folder / layout.CHECKPOINT

    @property
    def start_epoch(self) -> int:
        return (self.resumed_from or 0) + 1


def prepare(ctx: WorkerContext, run_id: str, spec: dict[str, Any], fork: forks.ForkPoint | None = None) -> Prepared:
    """Data, model, optimizer, scheduler; restored from the artifact store's checkpoint
    (the latest, whichever box wrote it) if the run was interrupted, or from its
    parent's epoch state if it is a fork that has not trained yet."""
    device = ctx.device
    data = load_mnist(ctx.settings.data_dir, device)
    images, labels = training_subset(data, spec["train_samples"], spec["seed"])
    steps = training.steps_per_epoch(len(labels), spec["batch_size"])
    training.seed_everything(spec["seed"])
    model = Net().to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    optimizer = training.build_optimizer(model, spec["optimizer"], spec["lr"], device)
    scheduler = training.build_scheduler(optimizer, spec["schedule"], spec["lr"], spec["epochs"], steps)
    run = Prepared(
        run_id,
        spec,
        layout.run_dir(ctx.settings.results_dir, run_id),
        data,
        images,
        labels,
        steps,
        model,
        optimizer,
        scheduler,
        training.grad_scaler(device),
    )
    ranges = None
    if fetch_retrying(ctx.artifacts, run_id, layout.CHECKPOINT, run.checkpoint_path):
        state = checkpoints.load_checkpoint(run.checkpoint_path, device)
        checkpoints.restore(state, model, optimizer, scheduler, run.scaler)
        run.history, run.resumed_from = state["history"], state["epoch"]
        ranges = run.history.get("layers", {}).get("ranges")
    elif fork is not None:
        # Not into checkpoint.pt: in a shared folder that would be this run's own checkpoint.
        state = forks.load_fork_state(ctx.artifacts, fork, run.folder / ".parent-state.pt", device)
        run.scheduler = forks.restore_fork(state, spec, model, optimizer, steps)
        checkpoints.restore_scaler(state, run.scaler)
        run.resumed_from = fork.epoch
        ranges = state["history"].get("layers", {}).get("ranges")  # the parent's bins
    run.watch = LayerWatch(model, ranges)
    layers = run.history.setdefault("layers", {"epochs": []})
    layers.update(run.watch.header())
    if not layers["epochs"]:  # a fresh start or a fork: the weights it starts from
        layers["epochs"].append(run.watch.initial(run.resumed_from or 0))
        layout.write_json(run.folder / layout.LAYER_STATS, finite(layers))
        _store(ctx, run_id, run.folder, layout.LAYER_STATS)
    layout.write_json(run.folder / layout.MODEL_SUMMARY, summarize(model))
    _store(ctx, run_id, run.folder, layout.MODEL_SUMMARY)
    return run


class StopCheck:
    """Asked at each progress point (at most every 0.1 s): must the loop stop? Keeps why."""

    def __init__(self, ctx: WorkerContext, run_id: str, run_started: float):
        self.ctx, self.run_id, self.run_started = ctx, run_id, run_started
        self.reason: Stop | None = None

    def __call__(self) -> bool:
        self.reason = _why_stop(self.ctx, self.run_id, self.run_started)
        return self.reason is not None


def train_run(ctx: WorkerContext, run: Prepared, record: RunRecord, writer: EventWriter) -> Outcome:
    """Train the claimed run epoch by epoch from where it stands until it ends or must stop."""
    if run.resumed_from is not None:
        _replay_missing_epochs(ctx, run.run_id, writer, run.history, record)
    stop = StopCheck(ctx, run.run_id, record.get("started_at") or time.time())  # across resumes
    load.reset_peak(ctx.device)
    reporter = ProgressReporter(
        RecordProgress(ctx, run.run_id, writer.append),
        run.steps,
        stop,
        current_lr=lambda: run.optimizer.param_groups[0]["lr"],
    )
    for epoch in range(run.start_epoch, run.spec["epochs"] + 1):
        outcome = run_epoch(ctx, run, record, writer, reporter, stop, epoch)
        if outcome is not None:
            return outcome
    best = max(e["test_accuracy"] for e in run.history["epochs"])
    return _finished(ctx, run, f"finished {run.spec['epochs']} epochs, best test accuracy {best:.2%}")


def run_epoch(
    ctx: WorkerContext,
    run: Prepared,
    record: Mapping[str, Any],
    writer: EventWriter,
    reporter: ProgressReporter,
    stop: StopCheck,
    epoch: int,
) -> Outcome | None:
    """One epoch in four steps — train, evaluate, keep, decide; an outcome when the run
    ends here (stopped, stopped by its sweep, target reached), None to go on."""
    started = time.perf_counter()
    reporter.start_epoch(epoch)
    if not _train(run, reporter, epoch):
        return _stopped(ctx, run, epoch, stop.reason or Stop.CANCELLED)
    epoch_record, wrong = _evaluate(run, reporter, epoch, started)
    samples = _keep(ctx, run, epoch, wrong)
    _announce_epoch(ctx, run.run_id, writer, epoch_record, samples)
    return _decide(ctx, run, record, epoch, epoch_record["test_accuracy"])


def _train(run: Prepared, reporter: ProgressReporter, epoch: int) -> bool:
    """One pass over the training set; False when the loop was told to stop inside it."""
    return training.train_epoch(
        run.model,
        run.images,
        run.labels,
        run.optimizer,
        run.scheduler,
        run.spec["batch_size"],
        run.spec["seed"],
        epoch,
        reporter,
        run.scaler,
        run.watch,
    )


def _evaluate(run: Prepared, reporter: ProgressReporter, epoch: int, started: float) -> tuple[dict[str, Any], list[int]]:
    """The epoch's record (losses, accuracy, confusion, lr) added to the run's history,
    and the indices of the test images it got wrong."""
    metrics = training.evaluate(run.model, run.data.test_x, run.data.test_y, keep_wrong=MISTAKE_COUNT)
    epoch_record = {
        "epoch": epoch,
        "train_loss": reporter.mean_loss(),
        "test_loss": metrics["test_loss"],
        "test_accuracy": metrics["test_accuracy"],
        "seconds": round(time.perf_counter() - started, 3),
        "confusion": metrics["confusion"],
        "lr": run.optimizer.param_groups[0]["lr"],
    }
    run.history["epochs"].append(epoch_record)
    run.history["batch_losses"].append(reporter.epoch_losses)
    if run.watch is not None:
        run.history["layers"]["epochs"].append(run.watch.collect(epoch))
    return epoch_record, metrics["wrong_indices"]


def _keep(
    ctx: WorkerContext, run: Prepared, epoch: int, wrong: list[int]
) -> tuple[str, list[dict[str, Any]], list[dict[str, Any]]]:
    """Samples and mistakes (one sprite), the checkpoint, the logs, each put in the
    artifact store, and the epoch's state kept for forks. Checkpointed before the epoch is
    announced: a crash in between re-announces it on resume (_replay_missing_epochs)
    instead of training it twice."""
    samples = training.sample_predictions(run.model, run.data.test_x, run.data.test_y, SAMPLE_COUNT, run.spec["seed"], epoch)
    mistakes = training.describe_images(run.model, run.data.test_x, run.data.test_y, wrong)
    sprite = layout.samples_sprite(epoch)
    checkpoints.save_sprite(run.folder / sprite, [i["image"] for i in samples + mistakes])
    _save_checkpoint(run, epoch)
    _write_logs(run.folder, run.spec, run.history, samples)
    for name in (sprite, layout.TRAINING_LOG, layout.TEST_SAMPLES, layout.LAYER_STATS, layout.CHECKPOINT):
        _store(ctx, run.run_id, run.folder, name)
    forks.keep_epoch_state(
        ctx.artifacts,
        run.run_id,
        run.checkpoint_path,
        epoch,
        ctx.settings.keep_checkpoints,
        ctx.settings.checkpoint_budget_mb,
    )
    return sprite, samples, mistakes


def _decide(ctx: WorkerContext, run: Prepared, record: Mapping[str, Any], epoch: int, accuracy: float) -> Outcome | None:
    """After an announced epoch: does the run's sweep stop it, or has it reached its target?"""
    verdict = sweep_verdict(ctx.r, ctx.settings.results_dir, record, epoch, accuracy)
    if verdict is not None:
        return _finished(ctx, run, verdict.message, {**verdict.changes, "stopped_early": verdict.early})
    target = run.spec["target_accuracy"]
    if target is not None and accuracy >= target:
        return _finished(ctx, run, f"reached target accuracy {target:.2%} after epoch {epoch}")
    return None


def _stopped(ctx: WorkerContext, run: Prepared, epoch: int, reason: Stop) -> Outcome:
    """The loop stopped inside ``epoch``: lost (write nothing), handed on, or ended."""
    if reason is Stop.LOST:
        return Lost()
    if reason is Stop.SHUTDOWN:
        return HandOff(
            f"worker {ctx.name} is shutting down; resuming from the epoch {epoch - 1} checkpoint on another worker"
        )
    _save_checkpoint(run, epoch - 1)
    _store(ctx, run.run_id, run.folder, layout.CHECKPOINT)
    if reason is Stop.TIMEOUT:
        return Finished(
            Status.FAILED, f"stopped after the maximum run duration of {ctx.settings.max_run_seconds:g} s (MAX_RUN_SECONDS)"
        )
    return Finished(Status.CANCELLED, f"cancelled during epoch {epoch}")


def _finished(ctx: WorkerContext, run: Prepared, message: str, changes: dict[str, Any] | None = None) -> Finished:
    """The one finishing sequence: final weights to the store, peak memory, succeeded
    (``changes``: what a sweep's rule adds to the record when it stopped the run)."""
    _save_final(ctx, run.run_id, run.folder, run.model)
    _record_peak_memory(ctx, run.run_id)
    if changes:
        ctx.store.update(run.run_id, **changes)
    return Finished(Status.SUCCEEDED, message)


def _save_checkpoint(run: Prepared, epoch: int) -> None:
    checkpoints.save_checkpoint(
        run.checkpoint_path,
        model=run.model,
        optimizer=run.optimizer,
        scheduler=run.scheduler,
        epoch=epoch,
        spec=run.spec,
        history=run.history,
        scaler=run.scaler,
    )


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

    def __init__(self, ctx: WorkerContext, run_id: str, emit: Callable[..., dict[str, Any]]):
        self.ctx, self.run_id, self.emit = ctx, run_id, emit
        self.last = 0.0

    def __call__(self, type_: EventType, **fields: Any) -> dict[str, Any]:
        event = self.emit(type_, **fields)
        now = time.monotonic()
        if type_ is EventType.PROGRESS and now - self.last >= self.INTERVAL:
            self.last = now
            progress = {k: fields[k] for k in ("epoch", "step", "steps_per_epoch", "images_per_sec")}
            try:
                self.ctx.store.update(self.run_id, progress=progress)
            except TRANSIENT:
                pass  # the event log has it; the record catches up next time
        return event


def _save_final(ctx: WorkerContext, run_id: str, folder: Path, model: torch.nn.Module) -> None:
    checkpoints.save_weights(folder / layout.FINAL_WEIGHTS, model)
    checkpoints.save_weights_npz(folder / layout.FINAL_WEIGHTS_NPZ, model)
    for name in (layout.FINAL_WEIGHTS, layout.FINAL_WEIGHTS_NPZ):
        _store(ctx, run_id, folder, name)


#: Tries to put one file in the artifact store before the run fails.
STORE_ATTEMPTS = 4


def _store(ctx: WorkerContext, run_id: str, folder: Path, name: str) -> None:
    """Put ``folder/name`` (just written) in the artifact store, with backoff; a store
    that stays away fails the run (its checkpoint would be lost to a resume)."""
    for attempt in attempts(STORE_ATTEMPTS):
        try:
            ctx.artifacts.put_file(run_id, name, folder / name)
            return
        except ArtifactError as exc:
            if attempt == STORE_ATTEMPTS:
                raise
            log.warning("run %s: %s; retry %d of %d", run_id, exc, attempt, STORE_ATTEMPTS - 1)


def _without_images(items: list[dict[str, Any]], first_slot: int) -> list[dict[str, Any]]:
    """Items as events carry them: the image is tile ``slot`` of the epoch's sprite."""
    return [{**{k: v for k, v in item.items() if k != "image"}, "slot": first_slot + i} for i, item in enumerate(items)]


def _announce_epoch(
    ctx: WorkerContext,
    run_id: str,
    writer: EventWriter,
    epoch_record: dict[str, Any],
    samples: tuple[str, list[dict[str, Any]], list[dict[str, Any]]] | None,
) -> None:
    writer.append(EventType.EPOCH, **epoch_record)
    if samples is not None:
        sprite, items, mistakes = samples
        writer.append(
            EventType.SAMPLES,
            epoch=epoch_record["epoch"],
            sprite=sprite,
            tile=28,
            items=_without_images(items, 0),
            mistakes=_without_images(mistakes, len(items)),
        )
    writer.append(EventType.CHECKPOINT, epoch=epoch_record["epoch"], artifact=layout.CHECKPOINT)

    def update_record() -> None:
        record: Mapping[str, Any] = ctx.store.get(run_id) or {}
        # The objectives per epoch, for a sweep's rules on any box (worker.early_stop).
        key = str(epoch_record["epoch"])
        ctx.store.update(
            run_id,
            epoch=epoch_record["epoch"],
            accuracy_by_epoch={**record.get("accuracy_by_epoch", {}), key: epoch_record["test_accuracy"]},
            loss_by_epoch={**record.get("loss_by_epoch", {}), key: epoch_record["test_loss"]},
            metrics=record_metrics(epoch_record, record.get("metrics")),
        )

    retry_redis(update_record, f"run {run_id}: recording epoch {epoch_record['epoch']}")


def _replay_missing_epochs(
    ctx: WorkerContext, run_id: str, writer: EventWriter, history: dict[str, Any], record: Mapping[str, Any]
) -> None:
    """Announce epochs the checkpoint has but the log does not (a crash in between).

    The run record's ``epoch`` is set right after an epoch's events are sent, so it
    names the last announced epoch wherever the run trained before: no history file
    is read (the worker has none). A crash between the events and the record update
    repeats that epoch's events; the web side keeps one per epoch."""
    announced = int(record.get("epoch") or 0)
    for epoch_record in history["epochs"]:
        if epoch_record["epoch"] > announced:
            _announce_epoch(ctx, run_id, writer, epoch_record, None)


def _write_logs(folder: Path, spec: dict[str, Any], history: dict[str, Any], samples: list[dict[str, Any]]) -> None:
    """training_log.json (spec, epochs, batch losses), layers.json (weights and gradients
    per epoch, served by GET /api/runs/<id>/layers) and test_samples.json."""
    log_part = {k: v for k, v in history.items() if k != "layers"}
    layout.write_json(folder / layout.TRAINING_LOG, finite({"spec": public_spec(spec), **log_part}))
    layout.write_json(folder / layout.LAYER_STATS, finite(history.get("layers", {})))
    layout.write_json(folder / layout.TEST_SAMPLES, {"epoch": history["epochs"][-1]["epoch"], "items": samples})
