"""Side-by-side training speed: Trainboard's worker vs a seed-style script vs a bare loop.

All three train the same CNN for one epoch of MNIST at batch 64 with Adam, one
after another in this process's machine, alternating over ``--repeats``:

* ``seed_style``  – torchvision DataLoader with ToTensor/Normalize per sample and
  ``loss.item()`` every batch (what the original single-file script did);
* ``bare_loop``   – the preloaded-tensor loop with no events at all;
* ``trainboard``  – a real run through Redis, Celery and a worker process,
  timed from the run's ``running`` event to its last progress event of epoch 1
  (training only, events included, the dataset already loaded by a warm worker).

Also the event overhead: the bare loop with progress events to a real Redis on
vs off (the worker's own cost); ``trainboard`` vs ``bare_loop`` includes, on top,
Redis and the web relay competing for the same cores. Prints one JSON object; ``docs/benchmarks.md`` records the figures.

    python -m benchmarks.compare_cpu [--data-dir ../shared/datasets] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import redis
import requests
import torch
import torch.nn.functional as F
from torchvision import datasets, transforms

from shared.eventlog import EventWriter
from tests import processes
from worker import training
from worker.data import load_mnist
from worker.model import Net
from worker.progress import ProgressReporter
from worker.spool import Spool

BATCH = 64
#: Training images per epoch (None: all 60,000); --smoke uses a few.
SAMPLES: int | None = None


def seed_style(data_dir: str, device: torch.device) -> float:
    """The classic script: PIL → ToTensor → Normalize per sample, item() per batch."""
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    dataset: torch.utils.data.Dataset = datasets.MNIST(data_dir, train=True, transform=tf)
    if SAMPLES is not None:
        dataset = torch.utils.data.Subset(dataset, range(SAMPLES))
    loader = torch.utils.data.DataLoader(dataset, batch_size=BATCH, shuffle=True)
    torch.manual_seed(0)
    model = Net().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    start = time.perf_counter()
    losses = []
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return time.perf_counter() - start


def bare_loop(data_dir: str, device: torch.device, writer: EventWriter | None = None) -> float:
    """Trainboard's own loop; with ``writer`` its progress events go to Redis."""
    data = load_mnist(data_dir, device)
    torch.manual_seed(0)
    model = Net().to(device)
    opt = training.build_optimizer(model, "adam", 1e-3, device)
    images, labels = data.train_x[:SAMPLES], data.train_y[:SAMPLES]
    steps = training.steps_per_epoch(len(labels), BATCH)
    emit = writer.append if writer else (lambda *a, **k: None)
    sink = ProgressReporter(emit, steps)
    sink.start_epoch(1)
    start = time.perf_counter()
    training.train_epoch(model, images, labels, opt, None, BATCH, 0, 1, sink)
    return time.perf_counter() - start


class Stack:
    """redis-server, one warm worker and the web tier, as `make run` starts them."""

    def __init__(self, data_dir: str, root: Path):
        self.redis_proc, url = processes.start_redis(root / "redis", persist=False)
        env = processes.stack_env(url, root / "results", Path(data_dir))
        env.pop("OMP_NUM_THREADS")
        self.r = redis.Redis.from_url(url)
        self.worker = processes.start_worker("bench", env, root)
        self.web, self.url = processes.start_web(env, root)
        processes.wait_worker_ready(self.r, "bench")
        self.train_seconds(train_samples=640)  # warm: dataset loaded, kernels ready

    def train_seconds(self, **spec) -> float:
        run = requests.post(self.url + "/api/runs", json={"epochs": 1, "batch_size": BATCH, **spec}).json()
        processes.wait_for(
            lambda: requests.get(f"{self.url}/api/runs/{run['id']}").json()["status"] in ("succeeded", "failed"),
            600,
            "benchmark run",
            interval=0.5,
        )
        events = requests.get(f"{self.url}/api/runs/{run['id']}/events").json()["events"]
        running = next(e for e in events if e.get("status") == "running")
        last_progress = [e for e in events if e["type"] == "progress"][-1]
        return last_progress["ts"] - running["ts"]

    def close(self) -> None:
        for p in (self.web, self.worker, self.redis_proc):
            p.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("DATA_DIR", "../shared/datasets"))
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="one repeat on 2,000 images (synthetic ones if --data-dir has no MNIST): "
        "CI's check that the benchmark still runs, not a measurement",
    )
    args = parser.parse_args()
    if args.smoke:
        args.repeats = 1
        global SAMPLES
        SAMPLES = 2000
        if not (Path(args.data_dir) / "MNIST" / "raw").is_dir():
            from tests.synthetic_mnist import make_dataset

            args.data_dir = str(make_dataset(Path(tempfile.mkdtemp()), train=2000, test=500))
    device = torch.device("cpu")
    times: dict[str, list[float]] = {"seed_style": [], "bare_loop": [], "trainboard": [], "events_off": [], "events_on": []}
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(args.data_dir, Path(tmp))
        try:
            load_mnist(args.data_dir, device)
            for _ in range(args.repeats):
                times["seed_style"].append(seed_style(args.data_dir, device))
                times["bare_loop"].append(bare_loop(args.data_dir, device))
                times["trainboard"].append(stack.train_seconds(train_samples=SAMPLES))
                print(json.dumps({k: v[-1] for k, v in times.items() if v}), file=sys.stderr)
        finally:
            stack.close()
        # The worker's own cost of events: the same loop writing to a plain Redis (no web
        # tier relaying on the same two cores), order alternated between repeats.
        redis_proc, url = processes.start_redis(Path(tmp) / "plain", persist=False)
        try:
            for i in range(args.repeats):
                writer = EventWriter(redis.Redis.from_url(url), tmp, "f" * 31 + str(i), spool=Spool(tmp, "f" * 31 + str(i)))
                pair = [("events_on", writer), ("events_off", None)]
                for name, w in pair if i % 2 == 0 else pair[::-1]:
                    times[name].append(bare_loop(args.data_dir, device, w))
                print(json.dumps({k: v[-1] for k, v in times.items()}), file=sys.stderr)
        finally:
            redis_proc.stop()
    med = {k: statistics.median(v) for k, v in times.items()}
    print(
        json.dumps(
            {
                "machine": f"{platform.machine()} {os.cpu_count()} cores, torch {torch.__version__}, {device}",
                "epoch": f"1 epoch, {SAMPLES or 60000:,} images, batch 64, Adam" + (" (smoke)" if args.smoke else ""),
                "seconds_median": {k: round(v, 2) for k, v in med.items()},
                "seconds_all": {k: [round(x, 2) for x in v] for k, v in times.items()},
                "trainboard_vs_seed_style": round(med["trainboard"] / med["seed_style"], 3),
                "trainboard_vs_bare_loop": round(med["trainboard"] / med["bare_loop"], 3),
                "event_overhead_worker": round(med["events_on"] / med["events_off"] - 1, 4),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
