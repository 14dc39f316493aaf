"""Per-layer weight and gradient statistics: the bins both tiers agree on, and the
rule that flags a layer whose gradients vanish or explode.

A worker (worker.layer_watch) records, after every epoch and for every layer with
weights, a histogram of the weights and one of the gradients of the epoch's last
batches, with mean, std, min, max and norms, and the update/weight norm ratio of the
epoch's last step. The web tier serves them (``GET /api/runs/<id>/layers``) and flags
layers with this module, so the rule is written once.

Bins stay comparable across epochs (TensorBoard's distributions need that):

* **weights**: ``BINS`` linear bins over ``[-r, r]``, ``r`` fixed per layer when the
  run starts (``WEIGHT_RANGE_FACTOR`` × the largest initial |w|); values beyond land
  in the edge bins and min/max still say how far they went;
* **gradients**: ``BINS`` bins over signed log10 magnitude, from
  ``-10**GRAD_LOG_MAX`` through ±``10**GRAD_LOG_MIN`` (the middle bins: "zero") to
  ``+10**GRAD_LOG_MAX``, the same for every layer and epoch, so a vanishing layer
  visibly slides to the middle and an exploding one to the edges.
"""

from __future__ import annotations

import math
from typing import Any

BINS = 64
WEIGHT_RANGE_FACTOR = 3.0
#: Gradient magnitudes below 10**GRAD_LOG_MIN count as zero; above 10**GRAD_LOG_MAX, clipped.
GRAD_LOG_MIN, GRAD_LOG_MAX = -10.0, 2.0
#: A layer's gradient RMS below this (absolute), or this far below the epoch's largest
#: layer RMS, vanishes; above EXPLODING_RMS (or not finite) it explodes.
VANISHING_RMS = 1e-7
VANISHING_RELATIVE = 1e-4
EXPLODING_RMS = 1.0
#: Gradients are summed over this many of the epoch's last batches (then averaged).
LAST_BATCHES = 8
KINDS = ("weights", "gradients")


def grad_edges() -> list[float]:
    """The gradient bins' edges in signed-log units t = sign(g)·(log10|g| − GRAD_LOG_MIN)."""
    span = GRAD_LOG_MAX - GRAD_LOG_MIN
    return [-span + 2 * span * i / BINS for i in range(BINS + 1)]


def weight_edges(r: float) -> list[float]:
    return [-r + 2 * r * i / BINS for i in range(BINS + 1)]


def nice_range(largest: float) -> float:
    """``WEIGHT_RANGE_FACTOR`` × ``largest``, rounded up to 1, 2 or 5 × a power of ten."""
    target = max(largest * WEIGHT_RANGE_FACTOR, 1e-6)
    power = 10 ** math.floor(math.log10(target))
    return float(next(m * power for m in (1, 2, 5, 10) if m * power >= target))


def gradient_flag(rms: float | None, largest_rms: float | None) -> str | None:
    """``"vanishing"``, ``"exploding"`` or None for a layer's gradient RMS in one epoch
    (``largest_rms``: the largest over the model's layers in that epoch)."""
    if rms is None or not math.isfinite(rms) or rms > EXPLODING_RMS:
        return "exploding"
    if rms < VANISHING_RMS or (largest_rms and rms < VANISHING_RELATIVE * largest_rms):
        return "vanishing"
    return None


def flags(epochs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per layer: the epochs whose gradients vanished or exploded, and the latest verdict."""
    out: dict[str, dict[str, Any]] = {}
    for entry in epochs:
        layers = entry["layers"]
        rms = {name: stats["gradients"]["rms"] for name, stats in layers.items() if stats.get("gradients") is not None}
        finite = [v for v in rms.values() if v is not None and math.isfinite(v)]
        largest = max(finite) if finite else None
        for name, value in rms.items():
            verdict = gradient_flag(value, largest)
            layer = out.setdefault(name, {"vanishing": [], "exploding": [], "latest": None})
            if verdict:
                layer[verdict].append(entry["epoch"])
            layer["latest"] = verdict
    return out
