"""The REST API (JSON in, JSON out; errors are ``{"error", "fields"}`` with a 4xx)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import redis
from flask import Blueprint, Response, jsonify, request, send_file, stream_with_context

from shared import layout, lifecycle
from shared.artifacts import ArtifactError, ArtifactStore
from shared.eventlog import last_seq
from shared.redaction import public_run
from shared.run_record import RunRecord, new_record
from shared.runs import CURSOR_PATTERN, RunStore
from shared.settings import Settings
from shared.spec import SpecError, validate_spec
from shared.workers import live_workers
from web import health, submission
from web.api_schema import ERRORS, RUN, RUN_ID_PARAM, error_response, json_response
from web.auth import bearer, token_ok
from web.errors import ApiError, json_body
from web.history import series
from web.history.reader import DEFAULT_PAGE, MAX_PAGE, read_events, series_folder
from web.services import services

log = logging.getLogger(__name__)
#: Every route here needs the token when one is in force, but /healthz and the
#: OpenAPI document (web.auth's one guard, registered by create_app, says so).
api = Blueprint("api", __name__)


def _store() -> RunStore:
    return services().runs


def _redis() -> redis.Redis:
    return services().redis


def _settings() -> Settings:
    return services().settings


def _get_run(run_id: str) -> RunRecord:
    record = _store().get(run_id) if layout.is_run_id(run_id) else None
    if record is None:
        raise ApiError(404, f"no run with id {run_id!r}")
    return record


def _with_position(record: Mapping[str, Any], positions: dict[str, int]) -> dict[str, Any]:
    return {**public_run(record), "queue_position": positions.get(record["id"])}


@api.post("/api/runs")
def submit_run() -> tuple[Response, int]:
    try:
        spec = validate_spec(json_body())
    except SpecError as exc:
        raise ApiError(400, "invalid run spec", exc.fields) from None
    record = new_record(spec)
    submission.submit([record])
    return jsonify({**public_run(record), "queue_position": _store().queue_position(record["id"])}), 201


#: Runs per page of GET /api/runs when the caller gives no ``limit``, and the most allowed.
DEFAULT_RUNS_PAGE = 100
MAX_RUNS_PAGE = 500


@api.get("/api/runs")
def list_runs() -> Response:
    """``?limit=&cursor=&status=&q=`` → ``{"runs": [...], "next_cursor"}``, newest first.

    Follow ``next_cursor`` until it is null to reach every run; ``status`` filters by
    status, ``q`` searches names (case-insensitive substring)."""
    limit = _int_arg("limit", DEFAULT_RUNS_PAGE, 1, MAX_RUNS_PAGE)
    status = request.args.get("status") or None
    if status is not None and status not in lifecycle.ALL:
        raise ApiError(400, f"status must be one of {', '.join(lifecycle.ALL)}", {"status": "unknown status"})
    q = request.args.get("q") or None
    if q is not None and len(q) > 100:
        raise ApiError(400, "q must be at most 100 characters", {"q": "too long"})
    store = _store()
    try:
        runs, next_cursor = store.page(limit, request.args.get("cursor"), status, q)
    except ValueError:
        raise ApiError(400, "cursor is not one this API returned", {"cursor": "invalid"}) from None
    positions = store.queue_positions()
    return jsonify({"runs": [_with_position(r, positions) for r in runs], "next_cursor": next_cursor})


@api.get("/api/runs/<run_id>")
def get_run(run_id: str) -> Response:
    record = _get_run(run_id)
    return jsonify({**public_run(record), "queue_position": _store().queue_position(run_id)})


@api.post("/api/runs/<run_id>/cancel")
def cancel_run(run_id: str) -> tuple[Response, int]:
    record = _get_run(run_id)
    if lifecycle.is_terminal(record["status"]):
        raise ApiError(409, f"run is already {record['status']}; nothing to cancel")
    record = submission.cancel(record)
    return jsonify({**public_run(record), "cancel_requested": True}), 202


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    value = _optional_int_arg(name, low, high)
    return default if value is None else value


def _optional_int_arg(name: str, low: int, high: int) -> int | None:
    """Query argument ``name`` as an integer in [low, high], None when absent; 400 otherwise."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be an integer", {name: "must be an integer"}) from None
    if not low <= value <= high:
        raise ApiError(400, f"{name} must be between {low} and {high}", {name: f"must be between {low} and {high}"})
    return value


def _pause() -> None:
    """Let the server's other green threads run during a long read (async-mode agnostic)."""
    services().socketio.sleep(0)


@api.get("/api/runs/<run_id>/events")
def run_events(run_id: str) -> Response:
    """``?after=<seq>&limit=<n>`` → ``{"events": [...], "last_seq"}``: one page of the log.

    A page costs the page (the stream, or the file through its seq index), never the log."""
    _get_run(run_id)
    after = _int_arg("after", 0, 0, 2**53)
    limit = _int_arg("limit", DEFAULT_PAGE, 1, MAX_PAGE)
    r, results_dir = _redis(), _settings().results_dir
    events = read_events(r, results_dir, run_id, after, limit, pause=_pause)
    return jsonify({"events": events, "last_seq": last_seq(r, results_dir, run_id)})


def _series_folder(run_id: str) -> Path:
    return series_folder(_settings().results_dir, run_id, _pause)


@api.get("/api/runs/<run_id>/series/<name>")
def run_series(run_id: str, name: str) -> Response:
    """``?start=&end=&points=`` → ``{"name", "total", "x", "min", "max", "mean", "last_seq"}``.

    At most ``points`` min/max/mean buckets of x in [start, end] (raw values when the
    range holds fewer); the cost grows with ``points``, not with the run's length."""
    _get_run(run_id)
    if name not in series.NAMES:
        raise ApiError(404, f"no series named {name!r}; there are: {', '.join(series.NAMES)}")
    start = _optional_int_arg("start", 0, 2**53)
    end = _optional_int_arg("end", 0, 2**53)
    points = _int_arg("points", series.DEFAULT_POINTS, 1, series.MAX_POINTS)
    return jsonify(series.read_series(_series_folder(run_id), name, start, end, points))


@api.get("/api/runs/<run_id>/epochs")
def run_epochs(run_id: str) -> Response:
    """``{"epochs": [epoch events], "samples": [samples events], "last_seq"}``: the
    per-epoch detail of a run (metrics, confusion, sample predictions), without the log."""
    _get_run(run_id)
    return jsonify(series.read_epochs(_series_folder(run_id)))


def _artifacts() -> ArtifactStore:
    return services().artifacts


@api.get("/api/runs/<run_id>/artifacts")
def list_artifacts(run_id: str) -> Response:
    """The run's files: its history here (run.json, events.jsonl, ...) and what its
    workers put in the artifact store (checkpoints, weights, sprites, logs)."""
    _get_run(run_id)
    folder = layout.run_dir(_settings().results_dir, run_id)
    files = {a["name"]: a for a in layout.list_artifacts(folder)}
    try:
        files.update({a["name"]: a for a in _artifacts().list(run_id)})
    except ArtifactError as exc:
        raise ApiError(503, f"the artifact store is unavailable: {exc}") from None
    return jsonify({"artifacts": [files[n] for n in sorted(files)]})


@api.get("/api/runs/<run_id>/artifacts/<path:name>")
def download_artifact(run_id: str, name: str) -> Response:
    """One file, streamed through the web tier whatever the store: the token check
    stays here, and browsers need not reach the store (on a compose network, say)."""
    record = _get_run(run_id)
    if layout.resolve_name(name) is None:
        raise ApiError(404, f"no artifact named {name!r} in run {run_id}")
    if name == layout.RUN_JSON:  # the record itself: answered masked, like GET /api/runs/<id>
        response = jsonify(public_run(record))
        response.headers["Content-Disposition"] = f"attachment; filename={layout.RUN_JSON}"
        return response
    path = layout.resolve_artifact(layout.run_dir(_settings().results_dir, run_id), name)
    if path is None:
        path = _artifacts().local_path(run_id, name)
    if path is not None:
        return send_file(path.resolve(), as_attachment=True, download_name=path.name)
    try:
        found = _artifacts().open(run_id, name)
    except ArtifactError as exc:
        raise ApiError(503, f"the artifact store is unavailable: {exc}") from None
    if found is None:
        raise ApiError(404, f"no artifact named {name!r} in run {run_id}")
    chunks, size = found
    response = Response(stream_with_context(chunks), mimetype="application/octet-stream")
    response.headers["Content-Length"] = str(size)
    response.headers["Content-Disposition"] = f"attachment; filename={name}"
    return response


@api.get("/api/workers")
def list_workers() -> Response:
    return jsonify({"workers": live_workers(_redis())})


@api.get("/healthz")
def healthz() -> tuple[Response, int]:
    """``{"status": "ok"}`` or ``{"status": "degraded"}`` (503 when Redis does not
    answer); what is wrong only to a caller with the API token (web.health)."""
    wired = services()
    status, answer = health.check(wired.redis, wired.settings, wired.recorder)
    detailed = bool(wired.settings.api_token) and token_ok(bearer())
    return jsonify(answer if detailed else health.public(answer)), status


def openapi_paths() -> dict[str, Any]:
    """This blueprint's endpoints in the OpenAPI document (web.openapi)."""
    return {
        "/api/runs": {
            "get": {
                "summary": "Runs newest first, a page at a time (follow next_cursor)",
                "parameters": [
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_RUNS_PAGE, "default": DEFAULT_RUNS_PAGE},
                    },
                    {"name": "cursor", "in": "query", "schema": {"type": "string", "pattern": CURSOR_PATTERN}},
                    {"name": "status", "in": "query", "schema": {"enum": list(lifecycle.ALL)}},
                    {"name": "q", "in": "query", "schema": {"type": "string", "maxLength": 100}},
                ],
                "responses": {
                    "200": json_response(
                        {
                            "type": "object",
                            "properties": {
                                "runs": {"type": "array", "items": RUN},
                                "next_cursor": {"type": ["string", "null"]},
                            },
                        },
                        "one page of runs",
                    ),
                    "400": ERRORS["400"],
                },
            },
            "post": {
                "summary": "Submit a run",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RunSpec"}}},
                },
                "responses": {
                    "201": json_response(RUN, "queued"),
                    "400": ERRORS["400"],
                    "413": error_response("body too large"),
                    "429": error_response("queue full or too many submissions"),
                },
            },
        },
        "/api/runs/{run_id}": {
            "get": {
                "summary": "One run record",
                "parameters": [RUN_ID_PARAM],
                "responses": {"200": json_response(RUN, "the run"), "404": ERRORS["404"]},
            }
        },
        "/api/runs/{run_id}/cancel": {
            "post": {
                "summary": "Cancel a queued or running run",
                "parameters": [RUN_ID_PARAM],
                "responses": {
                    "202": json_response(RUN, "cancel requested"),
                    "404": ERRORS["404"],
                    "409": error_response("the run already ended"),
                },
            }
        },
        "/api/runs/{run_id}/events": {
            "get": {
                "summary": "The run's event log after a seq",
                "parameters": [
                    RUN_ID_PARAM,
                    {"name": "after", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": DEFAULT_PAGE},
                    },
                ],
                "responses": {
                    "200": json_response(
                        {
                            "type": "object",
                            "properties": {
                                "events": {"type": "array", "items": {"type": "object"}},
                                "last_seq": {"type": "integer"},
                            },
                        },
                        "one page of events",
                    ),
                    **ERRORS,
                },
            }
        },
        "/api/runs/{run_id}/series/{name}": {
            "get": {
                "summary": "A curve of the run as min/max/mean buckets (raw points when few)",
                "parameters": [
                    RUN_ID_PARAM,
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
                    "200": json_response(
                        {"type": "object", "required": ["name", "total", "x", "min", "max", "mean", "last_seq"]},
                        "the series",
                    ),
                    **ERRORS,
                },
            }
        },
        "/api/runs/{run_id}/epochs": {
            "get": {
                "summary": "The run's epoch and samples events, without its log",
                "parameters": [RUN_ID_PARAM],
                "responses": {
                    "200": json_response(
                        {"type": "object", "required": ["epochs", "samples", "last_seq"]}, "per-epoch detail"
                    ),
                    "404": ERRORS["404"],
                },
            }
        },
        "/api/runs/{run_id}/artifacts": {
            "get": {
                "summary": "Files in the run's results folder",
                "parameters": [RUN_ID_PARAM],
                "responses": {"200": json_response({"type": "object"}, "artifacts"), "404": ERRORS["404"]},
            }
        },
        "/api/runs/{run_id}/artifacts/{name}": {
            "get": {
                "summary": "Download one file",
                "parameters": [RUN_ID_PARAM, {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "the file"}, "404": ERRORS["404"]},
            }
        },
        "/api/workers": {
            "get": {"summary": "Live workers", "responses": {"200": json_response({"type": "object"}, "workers")}}
        },
        "/healthz": {
            "get": {
                "summary": "200 when Redis answers",
                "responses": {
                    "200": json_response({"type": "object"}, "healthy"),
                    "503": json_response({"type": "object"}, "Redis unavailable"),
                },
            }
        },
    }
