"""The OpenAPI 3.1 document of the REST API, served at /api/openapi.json.

Each blueprint describes its own endpoints beside its routes (``openapi_paths()``, with
the limits it enforces imported); the schemas come from their one declarations
(shared.spec, shared.run_record, shared.sweeps, shared.search_space). This module joins
them and applies what holds for every endpoint (web.access: JSON only, same site only;
web.auth: the token). A test checks that every API route of the app is described and
nothing else, so the document cannot drift from the real endpoints.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from shared import run_record
from shared import spec as specs
from web import api, forks_api, model_api, sweeps_api
from web.api_schema import error_response
from web.auth import is_guarded
from web.services import services

#: Serves the document (public: web.auth's PUBLIC_PATHS).
openapi_doc = Blueprint("openapi", __name__)


@openapi_doc.get("/api/openapi.json")
def openapi_document() -> Response:
    return jsonify(document(token_required=bool(services().settings.api_token)))


def openapi_paths() -> dict[str, Any]:
    return {"/api/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3.1"}}}}}


def document(token_required: bool = False) -> dict[str, Any]:
    """The API as this server is configured: with a token in force, every operation
    web.auth guards declares bearer security and a 401; without one, none does."""
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
            **api.openapi_paths(),
            **model_api.openapi_paths(),
            **forks_api.openapi_paths(),
            **sweeps_api.openapi_paths(),
            **openapi_paths(),
        },
    }
    for operations in doc["paths"].values():
        post = operations.get("post")
        if post is not None:  # see web.access: JSON only, same site only
            post["responses"]["415"] = error_response("the body is not application/json")
            post["responses"]["403"] = error_response("a request from another site")
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
                operation["responses"]["401"] = error_response("API token required")
    return doc
