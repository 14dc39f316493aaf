"""GPU figures in one command (``make bench-gpu``, under 5 minutes on one GPU), the
device named: the same CNN and epoch, side by side in one process.

* per epoch: the seed-style script (DataLoader + per-sample transforms, ``item()`` per
  batch), Trainboard's bare loop (data on the device, no events), and the worker's
  per-epoch path without servers (progress reporter, layer watch, evaluation, sample
  predictions, at the device's precision);
* precision: the bare loop in fp32 vs bf16 autocast (fp16 on 7.x GPUs);
* compile: the bare loop with ``torch.compile`` off vs on (compile time reported apart);
* time to 99 % test accuracy with the fast recipe (AdamW, one-cycle, batch 256).

``--tiny`` (the default where there is no CUDA device) runs every part on a few thousand images on the CPU (CI runs it so the
script cannot rot before a GPU machine is at hand); its figures are not measurements.

    python -m benchmarks.gpu                # on a GPU box
    python -m benchmarks.gpu --tiny         # anywhere
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from benchmarks import compare_cpu
from worker import training
from worker.data import load_mnist, normalize
from worker.layer_watch import LayerWatch
from worker.model import Net
from worker.progress import ProgressReporter

ROOT = Path(__file__).resolve().parent.parent


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return f"{props.name} (capability {props.major}.{props.minor}, {props.total_memory // 2**30} GiB)"
    return f"CPU {platform.machine()} ({os.cpu_count()} cores)"


def loop_epoch(
    data: Any, device: torch.device, samples: int | None, batch: int, precision: str = "fp32", compiled: bool = False
) -> tuple[float, float]:
    """One epoch of the bare loop at ``precision``; (seconds, compile seconds)."""
    torch.manual_seed(0)
    model: torch.nn.Module = Net().to(device)
    opt = training.build_optimizer(model, "adam", 1e-3, device)
    images, labels = data.train_x[:samples], data.train_y[:samples]
    compile_s = 0.0
    if compiled:
        model = torch.compile(model)  # type: ignore[assignment]
        started = time.perf_counter()
        x = normalize(images[:batch])
        F.cross_entropy(model(x), labels[:batch]).backward()  # the compile, outside the timing
        opt.zero_grad(set_to_none=True)
        _sync(device)
        compile_s = time.perf_counter() - started
    dtype = training.AUTOCAST_DTYPES.get(precision)
    cast = torch.autocast(device.type, dtype=dtype) if dtype else contextlib.nullcontext()
    order = torch.randperm(len(labels), device=device)
    _sync(device)
    started = time.perf_counter()
    model.train()
    for start in range(0, len(labels), batch):
        idx = order[start : start + batch]
        opt.zero_grad(set_to_none=True)
        with cast:
            loss = F.cross_entropy(model(normalize(images[idx])), labels[idx])
        loss.backward()
        opt.step()
    _sync(device)
    return time.perf_counter() - started, compile_s


def worker_epoch(data: Any, device: torch.device, samples: int | None, batch: int) -> float:
    """What worker.epochs.run_epoch does on the device, without Redis or files."""
    torch.manual_seed(0)
    model = Net().to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    opt = training.build_optimizer(model, "adam", 1e-3, device)
    images, labels = data.train_x[:samples], data.train_y[:samples]
    steps = training.steps_per_epoch(len(labels), batch)
    reporter = ProgressReporter(lambda *a, **k: None, steps)
    watch = LayerWatch(model)
    _sync(device)
    started = time.perf_counter()
    reporter.start_epoch(1)
    training.train_epoch(model, images, labels, opt, None, batch, 0, 1, reporter, training.grad_scaler(device), watch)
    watch.collect(1)
    training.evaluate(model, data.test_x, data.test_y, keep_wrong=24)
    training.sample_predictions(model, data.test_x, data.test_y, 16, 0, 1)
    _sync(device)
    return time.perf_counter() - started


def time_to_accuracy(data: Any, device: torch.device, samples: int | None, target: float, max_epochs: int) -> dict[str, Any]:
    """The fast recipe (AdamW 4e-3 one-cycle, batch 256) until test accuracy >= target."""
    batch, lr = 256, 4e-3
    torch.manual_seed(0)
    model = Net().to(device)
    opt = training.build_optimizer(model, "adamw", lr, device)
    images, labels = data.train_x[:samples], data.train_y[:samples]
    steps = training.steps_per_epoch(len(labels), batch)
    sched = training.build_scheduler(opt, "onecycle", lr, max_epochs, steps)
    sink = ProgressReporter(lambda *a, **k: None, steps)
    _sync(device)
    started = time.perf_counter()
    history = []
    for epoch in range(1, max_epochs + 1):
        sink.start_epoch(epoch)
        training.train_epoch(model, images, labels, opt, sched, batch, 0, epoch, sink, training.grad_scaler(device))
        acc = training.evaluate(model, data.test_x, data.test_y)["test_accuracy"]
        history.append(round(acc, 4))
        if acc >= target:
            _sync(device)
            return {"seconds": round(time.perf_counter() - started, 2), "epochs": epoch, "accuracy_by_epoch": history}
    return {"seconds": None, "epochs": None, "accuracy_by_epoch": history, "note": f"{target:.0%} not reached"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=os.environ.get("DATA_DIR", str(ROOT.parent / "shared" / "datasets")))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tiny", action="store_true", help="a few thousand images on the CPU: a check, not figures")
    args = parser.parse_args()
    if not torch.cuda.is_available() and not args.tiny:
        print("no CUDA device here: running --tiny on the CPU (a check, not figures)", file=sys.stderr)
        args.tiny = True
    device = torch.device("cuda" if not args.tiny else "cpu")
    samples, max_epochs, repeats = (None, 8, args.repeats) if not args.tiny else (2000, 1, 1)
    data_dir = args.data_dir
    if not (Path(data_dir) / "MNIST" / "raw").is_dir():
        from tests.synthetic_mnist import make_dataset

        data_dir = str(make_dataset(Path(tempfile.mkdtemp()), train=2000, test=500))
    data = load_mnist(data_dir, device)
    compare_cpu.SAMPLES = samples
    precision = training.precision_for(device)
    low = precision if precision != "fp32" else "bf16"  # the CPU: bf16 autocast, for the check
    runs: dict[str, list[float]] = {k: [] for k in ("seed_style", "bare_loop", "worker_epoch", "fp32", low, "compiled")}
    compile_s = []
    loop_epoch(data, device, 4096 if not args.tiny else 256, 64)  # warm: kernels, allocator
    for _ in range(repeats):  # alternating, so drift hits every variant alike
        runs["seed_style"].append(compare_cpu.seed_style(data_dir, device))
        runs["bare_loop"].append(loop_epoch(data, device, samples, 64, precision)[0])
        runs["worker_epoch"].append(worker_epoch(data, device, samples, 64))
        runs["fp32"].append(loop_epoch(data, device, samples, 256, "fp32")[0])
        runs[low].append(loop_epoch(data, device, samples, 256, low)[0])
        seconds, compiling = loop_epoch(data, device, samples, 256, precision, compiled=True)
        runs["compiled"].append(seconds)
        compile_s.append(compiling)
    med = {k: round(statistics.median(v), 3) for k, v in runs.items()}
    plain = med[precision] if precision in med else med["fp32"]
    print(
        json.dumps(
            {
                "device": device_name(device),
                "torch": torch.__version__,
                "mode": "tiny (not a measurement)" if args.tiny else "full",
                "epoch": f"{samples or 60000:,} images",
                "per_epoch_batch64_s": {k: med[k] for k in ("seed_style", "bare_loop", "worker_epoch")},
                "worker_vs_seed_style": round(med["worker_epoch"] / med["seed_style"], 3),
                "worker_vs_bare_loop": round(med["worker_epoch"] / med["bare_loop"], 3),
                "precision_batch256_s": {
                    "fp32": med["fp32"],
                    low: med[low],
                    f"{low}_speedup": round(med["fp32"] / med[low], 3),
                },
                "compile_batch256_s": {
                    "off": plain,
                    "on": med["compiled"],
                    "speedup": round(plain / med["compiled"], 3),
                    "compile_s": round(statistics.median(compile_s), 1),
                },
                "time_to_99": time_to_accuracy(data, device, samples, 0.99, max_epochs),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
