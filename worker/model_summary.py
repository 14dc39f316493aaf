"""What the network *is*: every layer with its type, output shape, parameters and
multiply-accumulates per image, read from the real module.

The model is traced with torch.fx and one image is pushed through it (ShapeProp), so
functional steps (``F.relu``, ``F.max_pool2d``, ``torch.flatten``) are rows too, and a
change to worker.model.Net changes the summary with no table to keep in step.
Written once per run as ``model.json`` (shared.layout.MODEL_SUMMARY); served by
``GET /api/runs/<id>/model``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp


def _macs(module: nn.Module, out_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates per image of a parameterised layer (batch dimension excluded)."""
    if isinstance(module, nn.Conv2d):
        per_output = (module.in_channels // module.groups) * math.prod(module.kernel_size)
        return per_output * math.prod(out_shape[1:])
    if isinstance(module, nn.Linear):
        return module.in_features * module.out_features
    return 0


def _describe_function(target: Any) -> str:
    return getattr(target, "__name__", str(target))


def summarize(model: nn.Module, input_shape: tuple[int, ...] = (1, 1, 28, 28)) -> dict[str, Any]:
    """``{"input_shape", "layers": [...], "total_params", "trainable_params", "total_macs"}``.

    Each layer: ``name`` (the module path or the function), ``type``, ``output_shape``
    (per image, without the batch dimension), ``params`` and ``macs``."""
    traced = fx.symbolic_trace(model)
    device = next(model.parameters()).device
    with torch.no_grad():
        ShapeProp(traced).propagate(torch.zeros(input_shape, device=device))
    modules = dict(traced.named_modules())
    layers: list[dict[str, Any]] = []
    for node in traced.graph.nodes:
        if node.op not in ("call_module", "call_function", "call_method"):
            continue
        meta = node.meta.get("tensor_meta")
        shape = tuple(int(s) for s in meta.shape) if meta is not None else ()
        if node.op == "call_module":
            module = modules[node.target]
            params = sum(p.numel() for p in module.parameters(recurse=False))
            layers.append(
                {
                    "name": node.target,
                    "type": type(module).__name__,
                    "output_shape": list(shape[1:]),
                    "params": params,
                    "macs": _macs(module, shape),
                }
            )
        else:
            layers.append(
                {
                    "name": node.name,
                    "type": _describe_function(node.target),
                    "output_shape": list(shape[1:]),
                    "params": 0,
                    "macs": 0,
                }
            )
    return {
        "input_shape": list(input_shape[1:]),
        "layers": layers,
        "total_params": sum(p.numel() for p in model.parameters()),
        "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "total_macs": sum(layer["macs"] for layer in layers),
    }
