"""Small MNIST-format datasets for tests: real IDX files, learnable digits.

Each image is the digit drawn with PIL's built-in font at a random offset and
scale, plus noise, so a CNN really can learn it and a test that expects the loss
to fall or the accuracy to rise can fail for real.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def render_digits(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    images = np.zeros((len(labels), 28, 28), dtype=np.uint8)
    fonts = [ImageFont.load_default(size=s) for s in (14, 16, 18, 20)]
    for i, label in enumerate(labels):
        canvas = Image.new("L", (28, 28), 0)
        font = fonts[rng.integers(len(fonts))]
        ImageDraw.Draw(canvas).text(
            (6 + int(rng.integers(-2, 5)), 2 + int(rng.integers(-2, 4))), str(int(label)), fill=255, font=font
        )
        noise = rng.integers(0, 40, (28, 28))
        images[i] = np.clip(np.asarray(canvas, dtype=np.int32) + noise, 0, 255)
    return images


def write_idx(folder: Path, split: str, images: np.ndarray, labels: np.ndarray) -> None:
    image_file, label_file = FILES[split]
    with open(folder / image_file, "wb") as f:
        f.write(struct.pack(">IIII", 2051, len(images), 28, 28))
        f.write(images.tobytes())
    with open(folder / label_file, "wb") as f:
        f.write(struct.pack(">II", 2049, len(labels)))
        f.write(labels.astype(np.uint8).tobytes())


def make_dataset(root: Path, train: int = 600, test: int = 200, seed: int = 0) -> Path:
    """Write torchvision's layout (root/MNIST/raw/*) and return ``root``."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for split, n in (("train", train), ("test", test)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        write_idx(raw, split, render_digits(labels, rng), labels)
    return root
