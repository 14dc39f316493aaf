"""MNIST as tensors on the training device, loaded once per worker process.

The whole dataset is 55 MB as uint8, so it lives on the device and batches are
index slices of a device permutation: no DataLoader, no per-sample PIL
transforms, no host-to-device copy per batch. Normalisation happens per batch on
the device. Warm workers reuse the tensors across runs.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

import torch
from torchvision import datasets

#: MNIST's mean and standard deviation, the values the PyTorch example uses.
MEAN, STD = 0.1307, 0.3081

_cache: dict[tuple[str, str], MnistTensors] = {}
_cache_lock = threading.Lock()


@dataclass(frozen=True)
class MnistTensors:
    train_x: torch.Tensor  # uint8 [N, 28, 28] on the device
    train_y: torch.Tensor  # int64 [N]
    test_x: torch.Tensor
    test_y: torch.Tensor


def load_mnist(data_dir: str, device: torch.device, download: bool = True) -> MnistTensors:
    """The four MNIST arrays on ``device``; downloads into ``data_dir`` when missing."""
    key = (os.path.abspath(data_dir), str(device))
    with _cache_lock:
        if key not in _cache:
            train = datasets.MNIST(data_dir, train=True, download=download)
            test = datasets.MNIST(data_dir, train=False, download=download)
            _cache[key] = MnistTensors(
                train.data.to(device), train.targets.to(device), test.data.to(device), test.targets.to(device)
            )
        return _cache[key]


def training_subset(data: MnistTensors, samples: int | None, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """All training images, or a seeded random ``samples`` of them."""
    if samples is None or samples >= len(data.train_y):
        return data.train_x, data.train_y
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(data.train_y), generator=g)[:samples].to(data.train_x.device)
    return data.train_x[idx], data.train_y[idx]


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 [B, 28, 28] → float [B, 1, 28, 28], normalised, on the same device."""
    return images.unsqueeze(1).float().div_(255.0).sub_(MEAN).div_(STD)


def epoch_permutation(n: int, seed: int, epoch: int, device: torch.device) -> torch.Tensor:
    """The shuffle for one epoch, a pure function of (seed, epoch).

    Deriving it instead of drawing from a running generator makes a resumed run
    see exactly the batches an uninterrupted one would.
    """
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=g).to(device)
