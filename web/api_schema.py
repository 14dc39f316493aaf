"""The building blocks each blueprint describes its endpoints with (web.openapi joins them).

Every REST blueprint (web.api, web.model_api, web.forks_api, web.sweeps_api) has an
``openapi_paths()`` beside its routes, with the limits it enforces imported, not
retyped; web.openapi adds the components, the rules web.access and web.auth apply to
every endpoint, and a test checks that the app's routes and the document name the same
endpoints.
"""

from __future__ import annotations

from typing import Any

from shared import layout

#: A run as the API answers it (shared.run_record's schema, in the document's components).
RUN: dict[str, Any] = {"$ref": "#/components/schemas/Run"}
RUN_ID_PARAM: dict[str, Any] = {
    "name": "run_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": layout.RUN_ID_PATTERN},
}
SWEEP_ID_PARAM: dict[str, Any] = {**RUN_ID_PARAM, "name": "sweep_id"}


def json_response(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def error_response(description: str) -> dict[str, Any]:
    return json_response({"$ref": "#/components/schemas/Error"}, description)


ERRORS: dict[str, dict[str, Any]] = {"400": error_response("invalid input"), "404": error_response("no such run")}
