"""One training run from claim to terminal status: the body of the Celery task.

Split from the task so it runs in tests without Celery, and from the training
functions so those run without Redis.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import redis
import torch

from shared import keys, layout
from shared.eventlog import EventWriter, read_events
from shared.retry import TRANSIENT, retry_redis
from shared.series import SeriesWriter, read_epochs, series_dir
from shared.runs import RunStore
from shared.settings import Settings
from shared.spec import SpecError, validate_spec
from worker import checkpoints, training
from worker.data import load_mnist, training_subset
from worker.leases import LeaseKeeper
from worker.model import Net
from worker.progress import ProgressReporter

log = logging.getLogger(__name__)

SAMPLE_COUNT = 16
#: Misclassified test images shown per epoch (the "mistakes" view).
MISTAKE_COUNT = 24


@dataclass
class WorkerContext:
    settings: Settings
    r: redis.Redis
    name: str
    device: torch.device
    leases: LeaseKeeper
    events_enabled: bool = True
    #: Puts a run back on its queue (used to hand runs on when this worker shuts down).
    enqueue: Callable[[str, str], None] | None = None
    #: Set on a warm shutdown: running runs checkpoint-resume elsewhere instead of finishing here.
    shutting_down: threading.Event = field(default_factory=threading.Event)

    @property
    def store(self) -> RunStore:
        return RunStore(self.r, self.settings.results_dir)


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return "cpu"


def pick_device(setting: str) -> torch.device:
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(setting)


def training_path(device: torch.device, spec: dict[str, Any]) -> str:
    """Which code path trains the run, for the run record (benchmarks compare these)."""
    optimizer = spec.get("optimizer", "adam")
    if device.type == "cuda":
        return f"cuda: data on device, bf16 autocast, channels_last, fused {optimizer}, eager"
    return f"cpu: data in memory, fp32, foreach {optimizer}, eager"


def claim(ctx: WorkerContext, run_id: str) -> dict[str, Any] | None:
    """Take the run if it is queued or resuming and nobody holds its lease."""
    if not ctx.leases.acquire(run_id):
        log.info("run %s is leased by another worker; skipping duplicate delivery", run_id)
        return None
    current = ctx.store.get(run_id)
    path = training_path(ctx.device, current["spec"]) if current else None
    record = ctx.store.transition(
        run_id, ("queued", "resuming"), status="running", worker=ctx.name,
        device=describe_device(ctx.device), train_path=path, error=None)
    if record is None:
        ctx.leases.release(run_id)
        return None
    if record.get("started_at") is None:
        record = ctx.store.update(run_id, started_at=time.time())
    return record


def execute_run(ctx: WorkerContext, run_id: str) -> str | None:
    """Run ``run_id`` to a terminal status; returns it, or None if not ours to run."""
    if not layout.is_run_id(run_id):
        log.error("refusing task with malformed run id %r", run_id)
        return None
    record = claim(ctx, run_id)
    if record is None:
        return None
    writer = open_event_writer(ctx, run_id)
    try:
        spec = validate_spec(record["spec"])
        status, message = _train(ctx, run_id, spec, record, writer)
    except SpecError as exc:
        status, message = "failed", str(exc)
    except Exception as exc:  # the run fails, the worker lives on
        log.exception("run %s failed", run_id)
        status, message = "failed", f"{type(exc).__name__}: {exc}"
    if status == "lost":
        log.warning("run %s: lease lost, another worker owns it now; stopping quietly", run_id)
        writer.close(timeout=5)
        return None
    if status == "handoff":
        return _hand_off(ctx, run_id, record, writer, message)
    fields: dict[str, Any] = {"status": status, "finished_at": time.time()}
    if status == "failed":
        fields["error"] = message
    try:
        retry_redis(lambda: ctx.store.transition(run_id, ("running",), **fields),
                    f"run {run_id}: recording {status}")
        writer.append("status", status=status, message=message)
        writer.close()
    finally:
        # Even if Redis stayed away too long to record the end: stop renewing the lease,
        # so the reaper resumes the run from its checkpoint rather than it hanging.
        try:
            ctx.leases.release(run_id)
        except TRANSIENT:
            log.warning("run %s: could not release its lease; it will expire", run_id)
    return status


def open_event_writer(ctx: WorkerContext, run_id: str) -> EventWriter:
    """The run's event writer, feeding its series; the series first catch up with
    whatever the log has that they lack (events of an earlier attempt or of the web tier)."""
    settings = ctx.settings
    series = SeriesWriter(series_dir(settings.results_dir, run_id))
    series.catch_up(lambda after: read_events(ctx.r, settings.results_dir, run_id, after))
    return EventWriter.for_run(ctx.r, settings, run_id, observer=series)


def _hand_off(ctx: WorkerContext, run_id: str, record: dict[str, Any], writer: EventWriter,
              message: str) -> str:
    """This worker is stopping: give the run back to the queue; it resumes from its
    last epoch checkpoint on the next worker (not counted as a restart)."""
    ctx.store.transition(run_id, ("running",), status="resuming", worker=None,
                         queued_at=time.time())
    writer.append("status", status="resuming", message=message)
    writer.close(timeout=10)
    ctx.leases.release(run_id)
    if ctx.enqueue is not None:
        ctx.enqueue(run_id, keys.queue_for(record["spec"]))
    log.warning("run %s: %s", run_id, message)
    return "resuming"


def _train(ctx: WorkerContext, run_id: str, spec: dict[str, Any], record: dict[str, Any],
           writer: EventWriter) -> tuple[str, str]:
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
    # A checkpoint exists only if this run was interrupted (worker lost or handed on).
    if checkpoint_path.exists():
        state = checkpoints.load_checkpoint(checkpoint_path, device)
        checkpoints.restore(state, model, optimizer, scheduler)
        history = state["history"]
        start_epoch = state["epoch"] + 1
        _replay_missing_epochs(ctx, run_id, writer, history, folder)
        writer.append("status", status="running", resumed_from_epoch=state["epoch"],
                      message=f"resumed from epoch {state['epoch']} checkpoint on {ctx.name}")
    else:
        writer.append("status", status="running",
                      message=f"started on {ctx.name} ({describe_device(device)})")

    run_started = record.get("started_at") or time.time()  # across resumes
    stop_reason: list[str] = []

    def stop_requested() -> bool:
        if not ctx.leases.holds(run_id):
            stop_reason.append("lost")
            return True
        if ctx.shutting_down.is_set():
            stop_reason.append("handoff")
            return True
        if time.time() - run_started > ctx.settings.max_run_seconds:
            stop_reason.append("timeout")
            return True
        try:
            if ctx.r.exists(keys.run_cancel(run_id)):
                stop_reason.append("cancelled")
                return True
        except TRANSIENT:
            pass  # Redis is away: keep training, events queue up meanwhile
        return False

    reporter = ProgressReporter(RecordProgress(ctx, run_id, writer.append), steps, stop_requested,
                                enabled=ctx.events_enabled,
                                current_lr=lambda: optimizer.param_groups[0]["lr"])
    for epoch in range(start_epoch, spec["epochs"] + 1):
        started = time.perf_counter()
        reporter.start_epoch(epoch)
        finished = training.train_epoch(model, images, labels, optimizer, scheduler,
                                        spec["batch_size"], spec["seed"], epoch, reporter)
        if not finished:
            if stop_reason[-1] == "lost":
                return "lost", "lease lost"
            if stop_reason[-1] == "handoff":
                return "handoff", (f"worker {ctx.name} is shutting down; resuming from the "
                                   f"epoch {epoch - 1} checkpoint on another worker")
            checkpoints.save_checkpoint(checkpoint_path, model=model, optimizer=optimizer,
                                        scheduler=scheduler, epoch=epoch - 1, spec=spec,
                                        history=history)
            if stop_reason[-1] == "timeout":
                return "failed", (f"stopped after the maximum run duration of "
                                  f"{ctx.settings.max_run_seconds:g} s (MAX_RUN_SECONDS)")
            return "cancelled", f"cancelled during epoch {epoch}"
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
        _announce_epoch(ctx, run_id, writer, epoch_record, (sprite, samples, mistakes))
        target = spec["target_accuracy"]
        if target is not None and metrics["test_accuracy"] >= target:
            _save_final(folder, model)
            return "succeeded", f"reached target accuracy {target:.2%} after epoch {epoch}"
    _save_final(folder, model)
    best = max(e["test_accuracy"] for e in history["epochs"])
    return "succeeded", f"finished {spec['epochs']} epochs, best test accuracy {best:.2%}"


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


def _save_final(folder, model) -> None:
    checkpoints.save_weights(folder / layout.FINAL_WEIGHTS, model)
    checkpoints.save_weights_npz(folder / layout.FINAL_WEIGHTS_NPZ, model)


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
        updated = ctx.store.update(
            run_id, epoch=epoch_record["epoch"],
            metrics={"train_loss": epoch_record["train_loss"],
                     "test_loss": epoch_record["test_loss"],
                     "test_accuracy": epoch_record["test_accuracy"], "best_test_accuracy": best})
        if updated is not None:
            ctx.store.publish_update(updated)
    retry_redis(update_record, f"run {run_id}: recording epoch {epoch_record['epoch']}")


def _replay_missing_epochs(ctx: WorkerContext, run_id: str, writer: EventWriter,
                           history: dict[str, Any], folder) -> None:
    """Announce epochs the checkpoint has but the event log does not (crash in between).

    The series already hold every announced epoch (they caught up with the log when
    the writer opened), so the log itself is not read."""
    announced = {e["epoch"] for e in read_epochs(folder / layout.SERIES_DIR)["epochs"]}
    for epoch_record in history["epochs"]:
        if epoch_record["epoch"] not in announced:
            _announce_epoch(ctx, run_id, writer, epoch_record, None)


def _write_logs(folder, spec, history, samples) -> None:
    layout.write_json(folder / layout.TRAINING_LOG, {"spec": spec, **history})
    layout.write_json(folder / layout.TEST_SAMPLES, {"epoch": history["epochs"][-1]["epoch"],
                                                     "items": samples})
