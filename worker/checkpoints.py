"""Resumable checkpoints and final weights, written atomically, loaded safely.

A checkpoint holds everything an interrupted run needs to continue as if it had
never stopped: model and optimizer (and scheduler) state, the last completed
epoch, the RNG state, and the history of losses and metrics so far.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from shared.layout import atomic_write
from shared.redaction import public_spec


def save_checkpoint(
    path: Path,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    epoch: int,
    spec: dict[str, Any],
    history: dict[str, Any],
    scaler: torch.amp.GradScaler | None = None,
) -> None:
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "epoch": epoch,
        "spec": public_spec(spec),  # a downloadable file: secrets masked
        "history": history,
        "rng_cpu": torch.get_rng_state(),
        # fp16 training: the loss scale it has settled on, so a resume does not re-learn it.
        "scaler": scaler.state_dict() if scaler is not None else None,
    }
    if torch.cuda.is_initialized():  # type: ignore[no-untyped-call]
        state["rng_cuda"] = torch.cuda.get_rng_state_all()
    atomic_write(path, lambda f: torch.save(state, f), binary=True)


def load_checkpoint(path: Path, device: torch.device) -> dict[str, Any]:
    """Tensors only (``weights_only=True``): a checkpoint cannot run code when loaded."""
    state: dict[str, Any] = torch.load(path, map_location=device, weights_only=True)
    return state


def restore(
    state: dict[str, Any],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    scaler: torch.amp.GradScaler | None = None,
) -> None:
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state.get("scheduler") is not None:
        scheduler.load_state_dict(state["scheduler"])
    restore_scaler(state, scaler)
    restore_rng(state)


def restore_scaler(state: dict[str, Any], scaler: torch.amp.GradScaler | None) -> None:
    if scaler is not None and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])


def restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["rng_cpu"].cpu())
    if "rng_cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["rng_cuda"]])


def save_weights(path: Path, model: nn.Module) -> None:
    atomic_write(path, lambda f: torch.save(model.state_dict(), f), binary=True)


def save_weights_npz(path: Path, model: nn.Module) -> None:
    """The same weights as float32 NumPy arrays (read by web.inference, no torch needed)."""
    arrays = {k: v.detach().float().cpu().numpy() for k, v in model.state_dict().items()}
    atomic_write(path, lambda f: np.savez(f, **arrays), binary=True)


def save_sprite(path: Path, images: list[list[int]]) -> None:
    """28×28 grayscale images side by side in one PNG (tile i at x = 28·i).

    Sample and mistake images live here, not in events: a ``samples`` event then
    stays a few KB however many browsers it fans out to."""
    tiles = np.asarray(images, dtype=np.uint8).reshape(len(images), 28, 28)
    strip = np.ascontiguousarray(tiles.transpose(1, 0, 2).reshape(28, 28 * len(images)))
    atomic_write(path, lambda f: Image.fromarray(strip).save(f, format="PNG"), binary=True)
