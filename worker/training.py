"""Plain training and evaluation functions, testable without Celery, Redis or a GPU."""

from __future__ import annotations

import contextlib
import functools
import math
from typing import TYPE_CHECKING, Any, Protocol

import torch
import torch.nn.functional as F
from torch import nn

from worker.data import epoch_permutation, normalize

if TYPE_CHECKING:
    from worker.layer_watch import LayerWatch


class BatchSink(Protocol):
    """Receives each batch's loss as a device tensor (no host sync) and may ask to stop."""

    def batch(self, loss: torch.Tensor, step: int, images: int) -> bool: ...


def build_optimizer(model: nn.Module, name: str, lr: float, device: torch.device) -> torch.optim.Optimizer:
    # Fused kernels on CUDA: one launch for all parameters instead of one per tensor.
    fast: dict[str, Any] = {"fused": True} if device.type == "cuda" else {"foreach": True}
    if name == "adam":
        return torch.optim.Adam(model.parameters(), lr=lr, **fast)
    if name == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=lr, **fast)
    if name == "sgd":
        return torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True, **fast)
    raise ValueError(f"unknown optimizer {name!r}")


def build_scheduler(
    optimizer: torch.optim.Optimizer, name: str, lr: float, epochs: int, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LRScheduler | None:
    if name == "none":
        return None
    if name == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, epochs=epochs, steps_per_epoch=steps_per_epoch)
    raise ValueError(f"unknown schedule {name!r}")


def precision_for_capability(capability: tuple[int, int] | None) -> str:
    """The training precision for a CUDA compute capability (None: the CPU).

    bf16 needs native support (Ampere, 8.0, and later). Volta and Turing (7.x: V100,
    T4, RTX 20xx) have fast fp16 tensor cores but no bf16, so they train in fp16 with
    a grad scaler; older GPUs (Pascal's fp16 is slow or absent) and the CPU use fp32."""
    if capability is None:
        return "fp32"
    if capability >= (8, 0):
        return "bf16"
    if capability >= (7, 0):
        return "fp16"
    return "fp32"


@functools.cache
def precision_for(device: torch.device) -> str:
    """``bf16``, ``fp16`` or ``fp32`` for this device (see precision_for_capability)."""
    if device.type != "cuda":
        return "fp32"
    return precision_for_capability(torch.cuda.get_device_capability(device))


AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def autocast_for(device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """Autocast at the device's precision (MNIST accuracy is unaffected); none for fp32."""
    dtype = AUTOCAST_DTYPES.get(precision_for(device))
    if dtype is not None:
        return torch.autocast(device.type, dtype=dtype)
    return contextlib.nullcontext()


def grad_scaler(device: torch.device) -> torch.amp.GradScaler | None:
    """A grad scaler where the device trains in fp16 (small gradients would underflow)."""
    return torch.amp.GradScaler(device.type) if precision_for(device) == "fp16" else None


def steps_per_epoch(n: int, batch_size: int) -> int:
    return math.ceil(n / batch_size)


def train_epoch(  # noqa: PLR0913 — the loop's inputs, flat as in a seed script (the bit-exact tests call it so)
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    batch_size: int,
    seed: int,
    epoch: int,
    sink: BatchSink,
    scaler: torch.amp.GradScaler | None = None,
    watch: LayerWatch | None = None,
) -> bool:
    """One pass over (images, labels); returns False if the sink asked to stop early.
    With ``scaler`` (fp16), the loss is scaled for backward and the step unscaled;
    ``watch`` sees the gradients of the last batches and the last step's update."""
    model.train()
    device = images.device
    order = epoch_permutation(len(labels), seed, epoch, device)
    steps = steps_per_epoch(len(labels), batch_size)
    for step, start in enumerate(range(0, len(labels), batch_size), 1):
        idx = order[start : start + batch_size]
        x, y = normalize(images[idx]), labels[idx]
        if device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        optimizer.zero_grad(set_to_none=True)
        with autocast_for(device):
            loss = F.cross_entropy(model(x), y)
        (loss if scaler is None else scaler.scale(loss)).backward()  # type: ignore[no-untyped-call]
        if watch is not None:
            watch.after_backward(step, steps, scaler)
        if scaler is None:
            optimizer.step()
        else:
            scaler.step(optimizer)
            scaler.update()
        if watch is not None:
            watch.after_step(step, steps)
        if scheduler is not None:
            scheduler.step()
        # The loss stays on the device: reading it here would sync every batch.
        if not sink.batch(loss.detach(), step, len(idx)):
            return False
    return True


@torch.no_grad()
def evaluate(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 2000, keep_wrong: int = 0
) -> dict[str, Any]:
    """Mean test loss, accuracy, the 10×10 confusion matrix (rows = true label) and the
    indices of the first ``keep_wrong`` misclassified images."""
    model.eval()
    device = images.device
    total_loss = torch.zeros((), device=device)
    confusion = torch.zeros(10, 10, dtype=torch.int64, device=device)
    wrong: list[torch.Tensor] = []
    for start in range(0, len(labels), batch_size):
        x, y = normalize(images[start : start + batch_size]), labels[start : start + batch_size]
        with autocast_for(device):
            logits = model(x)
        total_loss += F.cross_entropy(logits.float(), y, reduction="sum")
        pred = logits.argmax(1)
        confusion += torch.bincount(y * 10 + pred, minlength=100).view(10, 10)
        if keep_wrong:
            wrong.append((pred != y).nonzero().flatten() + start)
    n = len(labels)
    wrong_indices = torch.cat(wrong)[:keep_wrong].cpu().tolist() if wrong else []
    correct = int(confusion.diagonal().sum())
    return {
        "test_loss": float(total_loss) / n,
        "test_accuracy": correct / n,
        "confusion": confusion.cpu().tolist(),
        "wrong_indices": wrong_indices,
    }


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor) -> tuple[list[int], list[list[float]]]:
    """Predicted class and class probabilities for uint8 images [B, 28, 28]."""
    model.eval()
    with autocast_for(images.device):
        probs = F.softmax(model(normalize(images)).float(), dim=1)
    return probs.argmax(1).cpu().tolist(), probs.cpu().tolist()


def sample_predictions(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, count: int, seed: int, epoch: int
) -> list[dict[str, Any]]:
    """Predictions on ``count`` random test images (a fresh draw each epoch)."""
    g = torch.Generator().manual_seed(seed * 7919 + epoch)
    return describe_images(model, images, labels, torch.randperm(len(labels), generator=g)[:count].tolist())


@torch.no_grad()
def describe_images(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, indices: list[int]
) -> list[dict[str, Any]]:
    """Index, true label, prediction, confidence and pixels of the given test images."""
    if not indices:
        return []
    idx = torch.tensor(indices, device=images.device)
    batch = images[idx]
    preds, probs = predict(model, batch)
    pixels = batch.reshape(len(indices), -1).cpu().tolist()
    return [
        {"index": i, "label": int(labels[i]), "pred": p, "confidence": round(prob[p], 4), "image": px}
        for i, p, prob, px in zip(indices, preds, probs, pixels)
    ]


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
