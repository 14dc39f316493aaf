"""MNIST as tensors on the training device, loaded once per worker process.

The whole dataset is 55 MB as uint8, so it lives on the device and batches are
index slices of a device permutation: no DataLoader, no per-sample PIL
transforms, no host-to-device copy per batch. Normalisation happens per batch on
the device. Warm workers reuse the tensors across runs.

The files are read here (IDX is a 4-line format) and torchvision, whose MNIST class
knows the mirrors and checksums, is imported only to download missing ones:
importing torchvision costs 1.4 s of a worker's start (its models and ops), more
than torch itself.
"""

from __future__ import annotations

import math
import os
import struct
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

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
            train_x, train_y = read_split(data_dir, train=True, download=download)
            test_x, test_y = read_split(data_dir, train=False, download=download)
            _cache[key] = MnistTensors(train_x.to(device), train_y.to(device), test_x.to(device), test_y.to(device))
        return _cache[key]


#: torchvision's layout: ``<data_dir>/MNIST/raw/<name>``, images then labels.
RAW_FILES = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def read_split(data_dir: str, train: bool, download: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (uint8 [N, 28, 28]) and labels (int64 [N]) of one split, as torchvision's
    ``MNIST(...).data`` and ``.targets`` give them; missing files are downloaded by
    torchvision (or, without ``download``, its error says what is missing)."""
    raw = Path(data_dir) / "MNIST" / "raw"
    images, labels = (raw / name for name in RAW_FILES[train])
    if not (images.is_file() and labels.is_file()):
        from torchvision import datasets

        split = datasets.MNIST(data_dir, train=train, download=download)
        return split.data, split.targets
    x, y = read_idx(images), read_idx(labels).long()
    if x.dim() != 3 or y.dim() != 1 or len(x) != len(y):
        raise ValueError(f"{raw}: {images.name} {tuple(x.shape)} and {labels.name} {tuple(y.shape)} do not match")
    return x, y


def read_idx(path: Path) -> torch.Tensor:
    """One IDX file of unsigned bytes: a magic number (0, 0, type 0x08, dimensions),
    a big-endian int32 size per dimension, then the data."""
    raw = path.read_bytes()
    if len(raw) < 4 or raw[:3] != b"\x00\x00\x08":
        raise ValueError(f"{path}: not an IDX file of unsigned bytes")
    dims = raw[3]
    header = 4 + 4 * dims
    if len(raw) < header:
        raise ValueError(f"{path}: cut off inside its header")
    shape = struct.unpack(f">{dims}i", raw[4:header])
    if len(raw) - header != math.prod(shape):
        raise ValueError(f"{path}: {len(raw) - header} bytes of data for a {shape} array")
    return torch.from_numpy(np.frombuffer(raw, dtype=np.uint8, offset=header).copy()).reshape(shape)


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
