"""Fuzz the REST API from its own OpenAPI document (schemathesis), in-process against
a real Redis: no input may produce a server error or a response the document does not
describe. The number of generated cases is written to test-artifacts/fuzz-cases.txt."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from shared.settings import Settings

CASES = Path(__file__).resolve().parents[2] / "test-artifacts" / "fuzz-cases.txt"
counter = {"cases": 0}


@pytest.fixture(params=[None, "fuzz-token"], ids=["open", "token"])
def fuzz_app(request, r, redis_server, tmp_path, monkeypatch):
    from web.app import create_app

    app = create_app(
        Settings(
            async_mode="threading",
            redis_url=redis_server,
            results_dir=str(tmp_path),
            api_token=request.param,
            # Any schema-valid notify_url must be accepted: the address
            # rule (tests/web/test_guard.py) is what the schema cannot say.
            notify_allow_private=True,
            submit_rate_per_minute=100_000,
            max_queued_runs=100_000,
        )
    )
    return app


def test_no_input_breaks_the_api(fuzz_app):
    # Driven through hypothesis directly: schemathesis' pytest plugin does not support
    # the pytest version this project uses.
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", fuzz_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:

        @given(operation.as_strategy())
        @hypothesis_settings(
            max_examples=60, deadline=None, derandomize=bool(os.environ.get("CI")), suppress_health_check=list(HealthCheck)
        )
        def check(case):
            counter["cases"] += 1
            response = case.call()
            assert response.status_code < 500, (operation.label, response.text)
            # A sweep body can be schema-valid and still refused: grid or random (not both),
            # at most 200 runs in all, a run's name built within 100 characters.
            excluded = [positive_data_acceptance] if operation.label == "POST /api/sweeps" else []
            case.validate_response(response, excluded_checks=excluded)

        check()
    CASES.parent.mkdir(exist_ok=True)
    CASES.write_text(f"{counter['cases']}\n")  # both configurations so far
