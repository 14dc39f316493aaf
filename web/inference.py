"""The trained CNN's forward pass in NumPy, for "draw a digit" in the web tier.

The web tier runs without torch (a slim image, no CUDA libraries), and
sending one 28×28 prediction through the training queue would wait behind a
training run on a busy worker. So the worker also writes the final weights as
``mnist_cnn.npz`` and this module mirrors worker.model.Net in NumPy; a test
checks that both give the same probabilities. One image takes about a millisecond.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

MEAN, STD = 0.1307, 0.3081  # as worker.data


def _conv3x3(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """x [C, H, W], w [O, C, 3, 3] → [O, H, W] with padding 1 (like nn.Conv2d(..., 3, padding=1))."""
    windows = sliding_window_view(np.pad(x, ((0, 0), (1, 1), (1, 1))), (3, 3), axis=(1, 2))
    out: np.ndarray = np.einsum("chwij,ocij->ohw", windows, w, optimize=True) + b[:, None, None]
    return out


def _maxpool2(x: np.ndarray) -> np.ndarray:
    c, h, w = x.shape
    h2, w2 = h // 2, w // 2  # floor, like nn.MaxPool2d(2)
    out: np.ndarray = x[:, : h2 * 2, : w2 * 2].reshape(c, h2, 2, w2, 2).max(axis=(2, 4))
    return out


def _relu(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = np.maximum(x, 0)
    return out


def forward(weights: dict[str, np.ndarray], pixels: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Class probabilities for one uint8-range 28×28 image, and each conv layer's
    activations after its ReLU (before pooling), ``{"conv1": [16, 28, 28], ...}``."""
    x = ((pixels.reshape(1, 28, 28).astype(np.float32) / 255.0) - MEAN) / STD
    maps: dict[str, np.ndarray] = {}
    for i, pool in ((1, True), (2, True), (3, True), (4, False)):
        x = _relu(_conv3x3(x, weights[f"conv{i}.weight"], weights[f"conv{i}.bias"]))
        maps[f"conv{i}"] = x
        if pool:
            x = _maxpool2(x)
    x = _relu(weights["fc1.weight"] @ x.reshape(-1) + weights["fc1.bias"])
    logits = weights["fc2.weight"] @ x + weights["fc2.bias"]
    e = np.exp(logits - logits.max())
    return e / e.sum(), maps


def probabilities(weights: dict[str, np.ndarray], pixels: np.ndarray) -> np.ndarray:
    """Class probabilities for one uint8-range image of 28×28."""
    return forward(weights, pixels)[0]


@lru_cache(maxsize=16)
def load_weights(path: str, mtime: float) -> dict[str, np.ndarray]:
    """Cached per file version (the mtime is part of the key)."""
    with np.load(path) as data:
        return {k: data[k].astype(np.float32) for k in data.files}


def weights_file(path: Path) -> dict[str, np.ndarray]:
    return load_weights(str(path), path.stat().st_mtime)


def predict_file(path: Path, pixels: np.ndarray) -> np.ndarray:
    return probabilities(weights_file(path), pixels)
