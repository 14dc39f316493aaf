"""A finished run of any length on a results volume, written the way the worker writes it.

Benchmarks and tests of history at scale need runs of hours (200,000 events and
more) without training for hours. Each progress event carries ten batch losses,
as a worker at ~10 events/s on a fast GPU would; every epoch ends with an
``epoch`` and a light ``samples`` event. ``indexed=False`` writes what the version
before series and the seq index wrote: ``run.json`` and ``events.jsonl`` only.
"""

from __future__ import annotations

import json
import math
import random
import time
import uuid
from collections.abc import Callable
from typing import Any

from shared import eventfile, layout
from shared.events import EventType
from web.history.series import SeriesWriter, series_dir

STEPS_PER_EPOCH = 938
LOSSES_PER_EVENT = 10


def make_run(results_dir: str, events: int, indexed: bool = True, run_id: str | None = None) -> str:
    run_id = run_id or uuid.uuid4().hex
    folder = layout.run_dir(results_dir, run_id)
    folder.mkdir(parents=True, exist_ok=True)
    per_epoch = math.ceil(STEPS_PER_EPOCH / LOSSES_PER_EVENT) + 2  # progress + epoch + samples
    epochs = max(1, (events - 3) // per_epoch)
    spec = {
        "name": f"long-{events}",
        "epochs": epochs,
        "batch_size": 64,
        "lr": 0.001,
        "optimizer": "adam",
        "seed": 0,
        "train_samples": None,
        "dataset": "mnist",
        "schedule": "none",
        "target_accuracy": None,
        "accelerator": "any",
    }
    now = time.time()
    record = {
        "id": run_id,
        "name": spec["name"],
        "status": "succeeded",
        "spec": spec,
        "created_at": now - 3600,
        "queued_at": now - 3600,
        "started_at": now - 3590,
        "finished_at": now,
        "worker": "synthetic",
        "device": "cpu",
        "epoch": epochs,
        "metrics": {"test_accuracy": 0.99, "best_test_accuracy": 0.99},
        "error": None,
        "restarts": 0,
    }
    layout.write_json(folder / layout.RUN_JSON, record)
    log_path, index_path = eventfile.paths(results_dir, run_id)
    series = SeriesWriter(series_dir(results_dir, run_id), flush_interval=math.inf) if indexed else None
    seq = 0
    ts = now - 3590
    with open(log_path, "w") as out:

        def emit(type_: str, **fields) -> None:
            nonlocal seq, ts
            seq += 1
            ts += 0.1
            event = {"run_id": run_id, "seq": seq, "ts": ts, "type": type_, **fields}
            line = json.dumps(event, separators=(",", ":"))
            if indexed:
                offset = out.tell()
                eventfile.write_entry(index_path, seq, offset)
                if series is not None:
                    series.observe(event)
            out.write(line + "\n")

        emit("status", status="queued", message="waiting for a worker")
        emit("status", status="running", message="started on synthetic (cpu)")
        step_total = 0
        for epoch in range(1, epochs + 1):
            for step in range(LOSSES_PER_EVENT, STEPS_PER_EPOCH + LOSSES_PER_EVENT, LOSSES_PER_EVENT):
                step = min(step, STEPS_PER_EPOCH)
                n = step - (step_total % STEPS_PER_EPOCH if step_total % STEPS_PER_EPOCH else 0)
                losses = [round(2.3 / (1 + (step_total + i) / 500) + 0.01 * ((step_total + i) % 7), 6) for i in range(n)]
                step_total += n
                emit(
                    "progress",
                    epoch=epoch,
                    step=step,
                    steps_per_epoch=STEPS_PER_EPOCH,
                    losses=losses,
                    images_per_sec=50000.0,
                    lr=0.001,
                )
            acc = 1 - 0.5 / (epoch + 1)
            emit(
                "epoch",
                epoch=epoch,
                train_loss=0.1 / epoch,
                test_loss=0.12 / epoch,
                test_accuracy=acc,
                seconds=1.2,
                lr=0.001,
                confusion=[[100 if i == j else 0 for j in range(10)] for i in range(10)],
            )
            emit(
                "samples",
                epoch=epoch,
                sprite=layout.samples_sprite(epoch),
                tile=28,
                items=[{"index": i, "label": i % 10, "pred": i % 10, "confidence": 0.99, "slot": i} for i in range(16)],
                mistakes=[],
            )
        emit("status", status="succeeded", message=f"finished {epochs} epochs")
    if series is not None:
        series.flush()
    return run_id


def light_samples(epoch: int) -> dict[str, Any]:
    """A ``samples`` event as a worker sends it: 16 predictions and 24 mistakes, images in the sprite."""
    items = [{"index": i, "label": i % 10, "pred": i % 10, "confidence": 0.9, "slot": i} for i in range(40)]
    return {
        "epoch": epoch,
        "sprite": f"samples-epoch-{epoch:03d}.png",
        "tile": 28,
        "items": items[:16],
        "mistakes": items[16:],
    }


def publish_live(
    writers: list[Any],
    seconds: float,
    rate: float,
    epoch_every: int,
    samples: Callable[[int], dict[str, Any]] = light_samples,
) -> int:
    """Append to each writer what a training run sends, for ``seconds``: ``rate`` progress
    events per second (ten batch losses each), and every ``epoch_every`` of them an
    ``epoch`` and a ``samples`` event. Returns the events sent."""
    steps, sent, start, tick = STEPS_PER_EPOCH, 0, time.monotonic(), 0
    while time.monotonic() - start < seconds:
        tick += 1
        for w in writers:
            step = (tick * LOSSES_PER_EVENT) % steps or steps
            epoch = tick * LOSSES_PER_EVENT // steps + 1
            losses = [round(random.random(), 6) for _ in range(LOSSES_PER_EVENT)]
            w.append(
                EventType.PROGRESS,
                epoch=epoch,
                step=step,
                steps_per_epoch=steps,
                losses=losses,
                images_per_sec=12345.6,
                lr=0.001,
            )
            sent += 1
            if tick % epoch_every == 0:
                w.append(
                    EventType.EPOCH,
                    epoch=epoch,
                    train_loss=0.1,
                    test_loss=0.1,
                    test_accuracy=0.98,
                    seconds=5.0,
                    lr=0.001,
                    confusion=[[0] * 10 for _ in range(10)],
                )
                w.append(EventType.SAMPLES, **samples(epoch))
                sent += 2
        time.sleep(max(0.0, start + tick / rate - time.monotonic()))
    return sent
