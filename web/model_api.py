"""Inside a run's model: its layers, weights and gradients over time, first-layer
filters, and what each conv layer sees of an image; predictions with its final weights.

Everything here is read from the artifact store (written by the run's worker:
``model.json``, ``layers.json``, ``mnist_cnn.npz``); the forward passes run in NumPy
(web.inference), so the web tier needs no torch.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from flask import Blueprint, Response, jsonify, request

from shared import layer_stats, layout
from shared.artifacts import ArtifactError, read_json
from shared.run_record import RunRecord
from shared.spec import IMAGE_PIXELS, IMAGE_SIDE
from web.api_schema import ERRORS, RUN_ID_PARAM, error_response, json_response
from web.errors import ApiError, json_body
from web.services import services

model_api = Blueprint("model", __name__)


def _run(run_id: str) -> RunRecord:
    record = services().runs.get(run_id) if layout.is_run_id(run_id) else None
    if record is None:
        raise ApiError(404, f"no run with id {run_id!r}")
    return record


def _artifact_json(run_id: str, name: str) -> Any | None:
    try:
        return read_json(services().artifacts, run_id, name)
    except ArtifactError as exc:
        raise ApiError(503, f"the artifact store is unavailable: {exc}") from None


@model_api.get("/api/runs/<run_id>/model")
def model_summary(run_id: str) -> Response:
    """Every layer (type, output shape, parameters, MACs per image) and the totals."""
    _run(run_id)
    summary = _artifact_json(run_id, layout.MODEL_SUMMARY)
    if summary is None:
        raise ApiError(409, "this run has no model summary yet; its worker writes it when the run starts")
    return jsonify(summary)


def _layers_file(run_id: str) -> dict[str, Any]:
    data = _artifact_json(run_id, layout.LAYER_STATS)
    return data if isinstance(data, dict) else {"epochs": []}


@model_api.get("/api/runs/<run_id>/layers")
def layers(run_id: str) -> Response:
    """Without ``layer``: each layer's shape, weight range and gradient flags, and the
    epochs recorded. With ``layer`` (and ``kind``: weights or gradients): that layer's
    histogram for every epoch (epochs × bins), its bin edges and per-epoch statistics."""
    _run(run_id)
    data = _layers_file(run_id)
    epochs = data.get("epochs", [])
    flags = layer_stats.flags(epochs)
    shapes = data.get("shapes", {})
    name = request.args.get("layer")
    if not name:
        return jsonify(
            {
                "bins": data.get("bins", layer_stats.BINS),
                "epochs": [e["epoch"] for e in epochs],
                "layers": [
                    {
                        "name": n,
                        "shape": shape,
                        "weight_range": data["ranges"].get(n),
                        **flags.get(n, {"vanishing": [], "exploding": [], "latest": None}),
                    }
                    for n, shape in shapes.items()
                ],
            }
        )
    kind = request.args.get("kind") or "weights"
    if kind not in layer_stats.KINDS:
        raise ApiError(400, "kind must be weights or gradients", {"kind": "weights or gradients"})
    if name not in shapes:
        raise ApiError(404, f"no layer named {name[:100]!r}; there are: {', '.join(shapes) or 'none yet'}")
    if kind == "weights":
        r = data["ranges"][name]
        edges, scale = layer_stats.weight_edges(r), "linear"
    else:
        edges, scale = layer_stats.grad_edges(), "signed-log10"
    # Epoch 0 (the initial weights) has no gradients: that strip starts at epoch 1.
    epochs = [e for e in epochs if e["layers"][name].get(kind) is not None]
    rows = [e["layers"][name] for e in epochs]
    return jsonify(
        {
            "layer": name,
            "kind": kind,
            "bins": len(edges) - 1,
            "scale": scale,
            "edges": edges,
            "grad_log_min": layer_stats.GRAD_LOG_MIN,
            "epochs": [e["epoch"] for e in epochs],
            "counts": [row[kind]["counts"] for row in rows],
            "stats": [{k: v for k, v in row[kind].items() if k != "counts"} for row in rows],
            "update_ratio": [row.get("update_ratio") for row in rows] if kind == "weights" else None,
            **flags.get(name, {"vanishing": [], "exploding": [], "latest": None}),
        }
    )


@model_api.get("/api/runs/<run_id>/filters")
def filters(run_id: str) -> Response:
    """The first conv layer's kernels after every epoch: ``filters[e][k]`` is kernel k
    (row by row) after ``epochs[e]``."""
    _run(run_id)
    epochs = _layers_file(run_id).get("epochs", [])
    return jsonify(
        {
            "epochs": [e["epoch"] for e in epochs],
            "shape": epochs[-1]["filter_shape"] if epochs else None,
            "filters": [e["filters"] for e in epochs],
        }
    )


def _pixels_body() -> np.ndarray:
    """The body ``{"pixels": [IMAGE_PIXELS numbers 0-255]}`` of /predict and /activations."""
    body = json_body()
    pixels = body.get("pixels") if isinstance(body, dict) else None
    if (
        not isinstance(pixels, list)
        or len(pixels) != IMAGE_PIXELS
        or not all(isinstance(p, (int, float)) and not isinstance(p, bool) and 0 <= p <= 255 for p in pixels)
    ):
        raise ApiError(
            400,
            f"pixels must be a list of {IMAGE_PIXELS} numbers from 0 to 255 ({IMAGE_SIDE}×{IMAGE_SIDE}, row by row)",
            {"pixels": f"{IMAGE_PIXELS} numbers from 0 to 255"},
        )
    if set(body) != {"pixels"}:
        raise ApiError(400, "unknown fields", {k: "unknown field" for k in body if k != "pixels"})
    return np.asarray(pixels, dtype=np.float32)


def _final_weights(run_id: str) -> dict[str, np.ndarray]:
    """The run's final weights (from the artifact store once, then this tier's copy:
    final weights never change)."""
    from web.inference import weights_file

    path = layout.run_dir(services().settings.results_dir, run_id) / layout.FINAL_WEIGHTS_NPZ
    try:
        if not path.is_file() and not services().artifacts.fetch(run_id, layout.FINAL_WEIGHTS_NPZ, path):
            raise ApiError(409, "this run has no final model yet; predictions need a finished run")
    except ArtifactError as exc:
        raise ApiError(503, f"the artifact store is unavailable: {exc}") from None
    return weights_file(path)


def _prediction(probs: np.ndarray) -> dict[str, Any]:
    return {"pred": int(probs.argmax()), "probabilities": [round(float(p), 6) for p in probs]}


@model_api.post("/api/runs/<run_id>/predict")
def predict_digit(run_id: str) -> Response:
    """Class probabilities for a drawn 28×28 digit, from the run's final weights."""
    _run(run_id)
    pixels = _pixels_body()
    from web.inference import probabilities

    return jsonify(_prediction(probabilities(_final_weights(run_id), pixels)))


@model_api.post("/api/runs/<run_id>/activations")
def activations(run_id: str) -> Response:
    """What each conv layer makes of an image (after its ReLU), with the prediction.

    Each layer: ``shape`` [maps, h, w], ``max`` per map and ``maps`` as 0-255 integers
    per map scaled by that map's max (value = byte / 255 × max), row by row."""
    _run(run_id)
    pixels = _pixels_body()
    from web.inference import forward

    probs, maps = forward(_final_weights(run_id), pixels)
    out = []
    for name, a in maps.items():
        peak = a.reshape(a.shape[0], -1).max(axis=1)
        scaled = np.where(peak[:, None] > 0, a.reshape(a.shape[0], -1) / np.maximum(peak[:, None], 1e-30), 0)
        out.append(
            {
                "name": name,
                "shape": list(a.shape),
                "max": [round(float(p), 6) for p in peak],
                "maps": np.rint(scaled * 255).astype(np.uint8).tolist(),
            }
        )
    return jsonify({**_prediction(probs), "layers": out})


#: The body of /predict and /activations, as the document declares it.
PIXELS_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "additionalProperties": False,
                "required": ["pixels"],
                "properties": {
                    "pixels": {
                        "type": "array",
                        "minItems": IMAGE_PIXELS,
                        "maxItems": IMAGE_PIXELS,
                        "items": {"type": "number", "minimum": 0, "maximum": 255},
                    }
                },
            }
        }
    },
}


def openapi_paths() -> dict[str, Any]:
    """This blueprint's endpoints in the OpenAPI document (web.openapi)."""
    return {
        "/api/runs/{run_id}/predict": {
            "post": {
                "summary": "Classify a drawn digit with the run's final model",
                "parameters": [RUN_ID_PARAM],
                "requestBody": PIXELS_BODY,
                "responses": {
                    "200": json_response({"type": "object"}, "prediction"),
                    **ERRORS,
                    "409": error_response("the run has no final model yet"),
                },
            }
        },
        "/api/runs/{run_id}/activations": {
            "post": {
                "summary": "Each conv layer's activations (after ReLU) for a 28×28 image, with the prediction",
                "parameters": [RUN_ID_PARAM],
                "requestBody": PIXELS_BODY,
                "responses": {
                    "200": json_response({"type": "object", "required": ["pred", "probabilities", "layers"]}, "activations"),
                    **ERRORS,
                    "409": error_response("the run has no final model yet"),
                },
            }
        },
        "/api/runs/{run_id}/model": {
            "get": {
                "summary": "The network's layers: type, output shape, parameters, MACs per image",
                "parameters": [RUN_ID_PARAM],
                "responses": {
                    "200": json_response(
                        {"type": "object", "required": ["layers", "total_params", "total_macs"]}, "the model summary"
                    ),
                    "404": ERRORS["404"],
                    "409": error_response("no worker has started the run yet"),
                },
            }
        },
        "/api/runs/{run_id}/layers": {
            "get": {
                "summary": "Weight and gradient histograms per layer and epoch (no layer: the index and flags)",
                "parameters": [
                    RUN_ID_PARAM,
                    {"name": "layer", "in": "query", "schema": {"type": "string", "maxLength": 100}},
                    {"name": "kind", "in": "query", "schema": {"enum": list(layer_stats.KINDS)}},
                ],
                "responses": {"200": json_response({"type": "object", "required": ["epochs"]}, "histograms"), **ERRORS},
            }
        },
        "/api/runs/{run_id}/filters": {
            "get": {
                "summary": "The first conv layer's kernels after every epoch",
                "parameters": [RUN_ID_PARAM],
                "responses": {
                    "200": json_response({"type": "object", "required": ["epochs", "filters"]}, "filters"),
                    "404": ERRORS["404"],
                },
            }
        },
    }
