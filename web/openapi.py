"""The OpenAPI 3.1 document of the REST API, served at /api/openapi.json.

The run-spec schema is built from shared.spec (the same bounds the validator
enforces) and a test checks that every API route of the app is described here
and nothing else, so the document cannot drift from the real endpoints.
"""

from __future__ import annotations

from typing import Any

from shared import layer_stats, layout, lifecycle, run_record, runs, search_space, sweeps
from shared import spec as specs
from web.auth import is_guarded
from web.history import series
from web.history.reader import DEFAULT_PAGE, MAX_PAGE

RUN_ID = {"name": "run_id", "in": "path", "required": True, "schema": {"type": "string", "pattern": layout.RUN_ID_PATTERN}}


SWEEP_ID = {
    "name": "sweep_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": layout.RUN_ID_PATTERN},
}


def sweep_schema() -> dict[str, Any]:
    """A sweep body (shared.sweeps): swept values use the run spec's own field schemas.
    Bounds a schema cannot state (at most 200 runs in all) are checked by the server."""
    fields = specs.json_schema()["properties"]
    values = {
        name: {"type": "array", "minItems": 1, "maxItems": sweeps.MAX_VALUES, "items": fields[name]}
        for name in sweeps.SWEEPABLE
    }
    base = {name: schema for name, schema in fields.items() if name in sweeps.SWEEPABLE}
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            **{f.name: specs.field_schema(f) for f in sweeps.SWEEP_FIELDS},
            "base": {"type": "object", "additionalProperties": False, "properties": base},
            "grid": {"type": "object", "additionalProperties": False, "minProperties": 1, "properties": values},
            "random": {"type": "object", "minProperties": 1},
            "count": {"type": "integer", "minimum": 1, "maximum": sweeps.MAX_SWEEP_RUNS},
            "seed": {"type": "integer"},
            # A search (shared.search_space): method + space, proposed as results come back.
            **{f.name: specs.field_schema(f) for f in search_space.SEARCH_FIELDS if f.name != "seed"},
            "space": {
                "type": "object",
                "minProperties": 1,
                "description": "per field: [choices] or {min, max[, log | step]}",
                "additionalProperties": {
                    "oneOf": [
                        {"type": "array", "minItems": 1, "maxItems": search_space.MAX_CHOICES},
                        {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["min", "max"],
                            "properties": {
                                "min": {"type": "number"},
                                "max": {"type": "number"},
                                "log": {"type": "boolean"},
                                "step": {"type": "number", "exclusiveMinimum": 0},
                            },
                        },
                    ]
                },
            },
            "pruner": {
                "type": "object",
                "additionalProperties": False,
                "properties": {f.name: specs.field_schema(f) for f in search_space.PRUNER_FIELDS},
            },
        },
    }


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json({"$ref": "#/components/schemas/Error"}, description)


def document(token_required: bool = False) -> dict[str, Any]:
    """The API as this server is configured: with a token in force, every operation
    web.auth guards declares bearer security and a 401; without one, none does."""
    run = {"$ref": "#/components/schemas/Run"}
    errors = {"400": _error("invalid input"), "404": _error("no such run")}
    pixels_body = {
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
                            "minItems": 784,
                            "maxItems": 784,
                            "items": {"type": "number", "minimum": 0, "maximum": 255},
                        }
                    },
                }
            }
        },
    }
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "Trainboard",
            "version": "1",
            "description": "Train MNIST CNNs as queued jobs and follow them live.",
        },
        "components": {
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "RunSpec": specs.json_schema(),
                "AnsweredRunSpec": specs.json_schema(answered=True),
                "Run": run_record.json_schema(),
                "Error": {
                    "type": "object",
                    "required": ["error", "fields"],
                    "properties": {"error": {"type": "string"}, "fields": {"type": "object"}},
                },
            },
        },
        "paths": {
            "/api/runs": {
                "get": {
                    "summary": "Runs newest first, a page at a time (follow next_cursor)",
                    "parameters": [
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 100},
                        },
                        {"name": "cursor", "in": "query", "schema": {"type": "string", "pattern": runs.CURSOR_PATTERN}},
                        {"name": "status", "in": "query", "schema": {"enum": list(lifecycle.ALL)}},
                        {"name": "q", "in": "query", "schema": {"type": "string", "maxLength": 100}},
                    ],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "runs": {"type": "array", "items": run},
                                    "next_cursor": {"type": ["string", "null"]},
                                },
                            },
                            "one page of runs",
                        ),
                        "400": errors["400"],
                    },
                },
                "post": {
                    "summary": "Submit a run",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RunSpec"}}},
                    },
                    "responses": {
                        "201": _json(run, "queued"),
                        "400": errors["400"],
                        "413": _error("body too large"),
                        "429": _error("queue full or too many submissions"),
                    },
                },
            },
            "/api/runs/{run_id}": {
                "get": {
                    "summary": "One run record",
                    "parameters": [RUN_ID],
                    "responses": {"200": _json(run, "the run"), "404": errors["404"]},
                }
            },
            "/api/runs/{run_id}/cancel": {
                "post": {
                    "summary": "Cancel a queued or running run",
                    "parameters": [RUN_ID],
                    "responses": {
                        "202": _json(run, "cancel requested"),
                        "404": errors["404"],
                        "409": _error("the run already ended"),
                    },
                }
            },
            "/api/runs/{run_id}/events": {
                "get": {
                    "summary": "The run's event log after a seq",
                    "parameters": [
                        RUN_ID,
                        {"name": "after", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": DEFAULT_PAGE},
                        },
                    ],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "events": {"type": "array", "items": {"type": "object"}},
                                    "last_seq": {"type": "integer"},
                                },
                            },
                            "one page of events",
                        ),
                        **errors,
                    },
                }
            },
            "/api/runs/{run_id}/series/{name}": {
                "get": {
                    "summary": "A curve of the run as min/max/mean buckets (raw points when few)",
                    "parameters": [
                        RUN_ID,
                        {"name": "name", "in": "path", "required": True, "schema": {"enum": list(series.NAMES)}},
                        {"name": "start", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                        {"name": "end", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                        {
                            "name": "points",
                            "in": "query",
                            "schema": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": series.MAX_POINTS,
                                "default": series.DEFAULT_POINTS,
                            },
                        },
                    ],
                    "responses": {
                        "200": _json(
                            {"type": "object", "required": ["name", "total", "x", "min", "max", "mean", "last_seq"]},
                            "the series",
                        ),
                        **errors,
                    },
                }
            },
            "/api/runs/{run_id}/epochs": {
                "get": {
                    "summary": "The run's epoch and samples events, without its log",
                    "parameters": [RUN_ID],
                    "responses": {
                        "200": _json({"type": "object", "required": ["epochs", "samples", "last_seq"]}, "per-epoch detail"),
                        "404": errors["404"],
                    },
                }
            },
            "/api/runs/{run_id}/artifacts": {
                "get": {
                    "summary": "Files in the run's results folder",
                    "parameters": [RUN_ID],
                    "responses": {"200": _json({"type": "object"}, "artifacts"), "404": errors["404"]},
                }
            },
            "/api/runs/{run_id}/artifacts/{name}": {
                "get": {
                    "summary": "Download one file",
                    "parameters": [RUN_ID, {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {"200": {"description": "the file"}, "404": errors["404"]},
                }
            },
            "/api/runs/{run_id}/predict": {
                "post": {
                    "summary": "Classify a drawn digit with the run's final model",
                    "parameters": [RUN_ID],
                    "requestBody": pixels_body,
                    "responses": {
                        "200": _json({"type": "object"}, "prediction"),
                        **errors,
                        "409": _error("the run has no final model yet"),
                    },
                }
            },
            "/api/runs/{run_id}/activations": {
                "post": {
                    "summary": "Each conv layer's activations (after ReLU) for a 28×28 image, with the prediction",
                    "parameters": [RUN_ID],
                    "requestBody": pixels_body,
                    "responses": {
                        "200": _json({"type": "object", "required": ["pred", "probabilities", "layers"]}, "activations"),
                        **errors,
                        "409": _error("the run has no final model yet"),
                    },
                }
            },
            "/api/runs/{run_id}/model": {
                "get": {
                    "summary": "The network's layers: type, output shape, parameters, MACs per image",
                    "parameters": [RUN_ID],
                    "responses": {
                        "200": _json(
                            {"type": "object", "required": ["layers", "total_params", "total_macs"]}, "the model summary"
                        ),
                        "404": errors["404"],
                        "409": _error("no worker has started the run yet"),
                    },
                }
            },
            "/api/runs/{run_id}/layers": {
                "get": {
                    "summary": "Weight and gradient histograms per layer and epoch (no layer: the index and flags)",
                    "parameters": [
                        RUN_ID,
                        {"name": "layer", "in": "query", "schema": {"type": "string", "maxLength": 100}},
                        {"name": "kind", "in": "query", "schema": {"enum": list(layer_stats.KINDS)}},
                    ],
                    "responses": {"200": _json({"type": "object", "required": ["epochs"]}, "histograms"), **errors},
                }
            },
            "/api/runs/{run_id}/filters": {
                "get": {
                    "summary": "The first conv layer's kernels after every epoch",
                    "parameters": [RUN_ID],
                    "responses": {
                        "200": _json({"type": "object", "required": ["epochs", "filters"]}, "filters"),
                        "404": errors["404"],
                    },
                }
            },
            "/api/runs/{run_id}/fork": {
                "post": {
                    "summary": "A new run from one epoch's state of this one, with spec overrides (continue: "
                    "from the last epoch, more epochs)",
                    "parameters": [RUN_ID],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    **specs.json_schema(),
                                    "properties": {
                                        "from_epoch": {
                                            "type": "integer",
                                            "minimum": 1,
                                            "description": "default: the last finished epoch",
                                        },
                                        **specs.json_schema()["properties"],
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "201": _json(run, "the fork, queued"),
                        **errors,
                        "429": _error("queue full or too many submissions"),
                    },
                }
            },
            "/api/sweeps": {
                "get": {
                    "summary": "The 100 newest sweeps with counts by status and their best run",
                    "responses": {"200": _json({"type": "object"}, "sweeps")},
                },
                "post": {
                    "summary": "Start a sweep: a grid or random list (its runs queued together), or a search "
                    "(method + space: grid, random, tpe or pbt, its runs proposed as results come back)",
                    "requestBody": {"required": True, "content": {"application/json": {"schema": sweep_schema()}}},
                    "responses": {
                        "201": _json({"type": "object"}, "the sweep and its runs"),
                        "400": errors["400"],
                        "413": _error("body too large"),
                        "429": _error("queue full or too many submissions"),
                    },
                },
            },
            "/api/sweeps/{sweep_id}": {
                "get": {
                    "summary": "A sweep, its runs, counts by status and the best run so far",
                    "parameters": [SWEEP_ID],
                    "responses": {"200": _json({"type": "object"}, "the sweep"), "404": errors["404"]},
                }
            },
            "/api/sweeps/{sweep_id}/cancel": {
                "post": {
                    "summary": "Cancel every waiting and running run of a sweep",
                    "parameters": [SWEEP_ID],
                    "responses": {"202": _json({"type": "object"}, "cancel requested"), "404": errors["404"]},
                }
            },
            "/api/workers": {"get": {"summary": "Live workers", "responses": {"200": _json({"type": "object"}, "workers")}}},
            "/api/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3.1"}}}},
            "/healthz": {
                "get": {
                    "summary": "200 when Redis answers",
                    "responses": {
                        "200": _json({"type": "object"}, "healthy"),
                        "503": _json({"type": "object"}, "Redis unavailable"),
                    },
                }
            },
        },
    }
    for operations in doc["paths"].values():
        post = operations.get("post")
        if post is not None:  # see web.access: JSON only, same site only
            post["responses"]["415"] = _error("the body is not application/json")
            post["responses"]["403"] = _error("a request from another site")
            post.setdefault(
                "requestBody", {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}
            )
    if not token_required:
        del doc["components"]["securitySchemes"]
        return doc
    for path, operations in doc["paths"].items():
        if is_guarded(path):  # the app's one guard decides, never a list kept here
            for operation in operations.values():
                operation["security"] = [{"token": []}]
                operation["responses"]["401"] = _error("API token required")
    return doc
