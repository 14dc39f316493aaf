"""What the layer watch (weight/gradient histograms, update ratio, filters) costs a
training epoch: the same epochs with the watch off and on, alternating, in one process.

Isolates the worker's training loop (no Redis, no web tier): train_epoch on MNIST
(DATA_DIR, or random images with --synthetic) plus, with the watch on, its collect().

    python -m benchmarks.layer_stats --samples 20000 --repeats 3
    python -m benchmarks.layer_stats --synthetic --samples 2000 --repeats 1   # smoke
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import torch

from worker import training
from worker.data import load_mnist
from worker.layer_watch import LayerWatch
from worker.model import Net

ROOT = Path(__file__).resolve().parent.parent


class Sink:
    def batch(self, loss: torch.Tensor, step: int, images: int) -> bool:
        return True


def epoch_seconds(
    images: torch.Tensor, labels: torch.Tensor, device: torch.device, watched: bool, batch_size: int, epoch: int
) -> float:
    training.seed_everything(0)
    model = Net().to(device)
    optimizer = training.build_optimizer(model, "adam", 1e-3, device)
    watch = LayerWatch(model) if watched else None
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    training.train_epoch(model, images, labels, optimizer, None, batch_size, 0, epoch, Sink(), watch=watch)
    if watch is not None:
        watch.collect(epoch)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=20000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--synthetic", action="store_true", help="random images instead of MNIST")
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if args.synthetic:
        images = torch.randint(0, 256, (args.samples, 28, 28), dtype=torch.uint8, device=device)
        labels = torch.randint(0, 10, (args.samples,), device=device)
    else:
        data = load_mnist(os.environ.get("DATA_DIR") or str(ROOT.parent / "shared" / "datasets"), device)
        images, labels = data.train_x[: args.samples], data.train_y[: args.samples]
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({os.cpu_count()} cores)"
    epoch_seconds(images[: args.batch_size * 4], labels[: args.batch_size * 4], device, True, args.batch_size, 1)
    off, on = [], []
    for i in range(args.repeats):  # alternating, so drift on a shared machine hits both
        off.append(epoch_seconds(images, labels, device, False, args.batch_size, i + 1))
        on.append(epoch_seconds(images, labels, device, True, args.batch_size, i + 1))
    m_off, m_on = statistics.median(off), statistics.median(on)
    print(f"device: {name}; {args.samples} images per epoch, batch {args.batch_size}, {args.repeats} repeat(s), medians")
    print(f"{'watch':8}{'epoch s':>10}")
    print(f"{'off':8}{m_off:>10.3f}")
    print(f"{'on':8}{m_on:>10.3f}")
    print(f"ratio on/off: {m_on / m_off:.4f} (goal <= 1.02)")


if __name__ == "__main__":
    main()
