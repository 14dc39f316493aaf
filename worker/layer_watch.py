"""Weights and gradients over time, recorded by the training loop itself (no user code).

:class:`LayerWatch` is handed to worker.training.train_epoch. It touches the model only
on the epoch's last ``LAST_BATCHES`` steps (summing their gradients on the device) and
around the very last optimizer step (the update/weight norm ratio); :meth:`collect`
then bins it all once per epoch (shared.layer_stats says how). The cost is measured by
``python -m benchmarks.layer_stats`` (side by side with the watch off).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from shared import layer_stats as ls


def _round(x: float) -> float | None:
    return float(f"{x:.6g}") if math.isfinite(x) else None


def _stats(t: torch.Tensor) -> dict[str, Any]:
    t = t.detach().float()
    return {
        "mean": _round(t.mean().item()),
        "std": _round(t.std().item()),
        "min": _round(t.min().item()),
        "max": _round(t.max().item()),
        "rms": _round(t.pow(2).mean().sqrt().item()),
        "norm": _round(t.norm().item()),
    }


def weight_histogram(w: torch.Tensor, r: float) -> list[int]:
    """Counts of ``w`` in ``BINS`` linear bins over [-r, r]; beyond lands in the edge bins."""
    w = w.detach().float().flatten().clamp(-r, r)
    return [int(c) for c in torch.histc(w, ls.BINS, -r, r).tolist()]


def gradient_histogram(g: torch.Tensor) -> list[int]:
    """Counts of ``g`` in ``BINS`` signed-log10 bins (shared.layer_stats.grad_edges)."""
    g = g.detach().float().flatten()
    span = ls.GRAD_LOG_MAX - ls.GRAD_LOG_MIN
    magnitude = (torch.log10(g.abs()) - ls.GRAD_LOG_MIN).nan_to_num(0.0, posinf=span, neginf=0.0)
    t = torch.sign(g) * magnitude.clamp(0.0, span)
    return [int(c) for c in torch.histc(t, ls.BINS, -span, span).tolist()]


def watched_layers(model: nn.Module) -> dict[str, nn.Parameter]:
    """Each layer's weight (modules with a weight matrix or kernel), in model order."""
    return {
        name: module.weight
        for name, module in model.named_modules()
        if isinstance(getattr(module, "weight", None), nn.Parameter) and module.weight.dim() >= 2
    }


class LayerWatch:
    """Per-epoch weight/gradient histograms and statistics of ``model``'s layers."""

    def __init__(self, model: nn.Module, ranges: dict[str, float] | None = None, last_batches: int = ls.LAST_BATCHES):
        self.layers = watched_layers(model)
        self.last_batches = last_batches
        #: The weight range per layer: fixed at the run's start (kept across resumes).
        self.ranges = ranges or {name: ls.nice_range(w.detach().abs().max().item()) for name, w in self.layers.items()}
        self._grads: dict[str, torch.Tensor] = {}
        self._batches = 0
        self._before: dict[str, torch.Tensor] = {}
        self._update: dict[str, torch.Tensor] = {}

    def after_backward(self, step: int, steps: int, scale: torch.amp.GradScaler | None) -> None:
        """Called with the gradients of batch ``step`` of ``steps`` in place."""
        if step <= steps - self.last_batches:
            return
        factor = 1.0 / scale.get_scale() if scale is not None else 1.0  # fp16: unscaled
        for name, w in self.layers.items():
            if w.grad is None:
                continue
            g = w.grad.detach().float() * factor
            self._grads[name] = self._grads[name] + g if name in self._grads else g.clone()
        self._batches += 1
        if step == steps:
            self._before = {name: w.detach().clone() for name, w in self.layers.items()}

    def after_step(self, step: int, steps: int) -> None:
        if step == steps and self._before:
            self._update = {name: w.detach() - self._before[name] for name, w in self.layers.items()}
            self._before = {}

    def initial(self, epoch: int = 0) -> dict[str, Any]:
        """The weights the run starts from, before any batch (no gradients yet): epoch 0,
        or a fork's starting epoch, so the page can compare what training made of them."""
        layers: dict[str, Any] = {}
        for name, w in self.layers.items():
            weights = w.detach().float().cpu()
            layers[name] = {
                "weights": {"counts": weight_histogram(weights, self.ranges[name]), **_stats(weights)},
                "gradients": None,
                "update_ratio": None,
            }
        return {"epoch": epoch, "layers": layers, **self._filters()}

    def _filters(self) -> dict[str, Any]:
        """The first layer's kernels, one row each."""
        first = next(iter(self.layers.values()))
        filters = first.detach().float().cpu().reshape(first.shape[0], -1)
        return {"filters": [[round(v, 4) for v in row] for row in filters.tolist()], "filter_shape": list(first.shape)}

    def collect(self, epoch: int) -> dict[str, Any]:
        """This epoch's entry (and reset for the next): per layer, histograms and stats."""
        layers: dict[str, Any] = {}
        for name, w in self.layers.items():
            weights = w.detach().float().cpu()
            grad = self._grads.get(name)
            grad = (grad / max(self._batches, 1)).cpu() if grad is not None else torch.zeros_like(weights)
            update = self._update.get(name)
            w_norm = weights.norm().item()
            ratio = update.float().norm().item() / w_norm if update is not None and w_norm else None
            layers[name] = {
                "weights": {"counts": weight_histogram(weights, self.ranges[name]), **_stats(weights)},
                "gradients": {"counts": gradient_histogram(grad), **_stats(grad)},
                "update_ratio": _round(ratio) if ratio is not None else None,
            }
        self._grads, self._batches, self._update = {}, 0, {}
        return {"epoch": epoch, "layers": layers, **self._filters()}

    def header(self) -> dict[str, Any]:
        """What every epoch shares: bins, weight ranges, gradient edges, layer shapes."""
        return {
            "bins": ls.BINS,
            "ranges": self.ranges,
            "grad_log": [ls.GRAD_LOG_MIN, ls.GRAD_LOG_MAX],
            "last_batches": self.last_batches,
            "shapes": {name: list(w.shape) for name, w in self.layers.items()},
        }
