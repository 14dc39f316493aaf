"""Strict forms (issue #23, items 7 and 8): an empty required field is an error, messages
use the form's visible labels next to the highlighted field, and the sweep preview counts
only what it would send."""

from __future__ import annotations

import pytest
import requests

from tests.ui.conftest import assert_quiet, shoot

pytestmark = [pytest.mark.ui, pytest.mark.integration]

API_NAMES = ("batch_size", "base.", "grid.", "must be null", "invalid run spec")


def field_error(form, label: str) -> str:
    """The message shown next to the field with this visible label ('' when none)."""
    note = form.get_by_label(label, exact=False).locator("xpath=following-sibling::*[contains(@class,'field-error')]")
    return note.inner_text() if note.count() else ""


def test_an_emptied_required_field_is_an_error_not_the_default(make_stack, page):
    stack = make_stack(workers=0)
    page.goto(stack.url)
    form = page.locator("#run-form")
    form.get_by_label("Learning rate").fill("")
    form.get_by_role("button", name="Start run").click()
    assert field_error(form, "Learning rate") == "Learning rate is required"
    assert form.get_by_label("Learning rate").get_attribute("aria-invalid") == "true"
    assert page.evaluate("document.activeElement.name") == "lr", "the bad field takes the focus"
    assert requests.get(stack.url + "/api/runs").json()["runs"] == [], "nothing started at the default lr"
    # Typing into the field clears its error, and with the last one the summary line.
    assert page.locator("#form-error").is_visible()
    form.get_by_label("Learning rate").fill("0.002")
    assert field_error(form, "Learning rate") == ""
    assert page.locator("#form-error").is_hidden(), "no summary left naming fields that are fixed"
    # The largest seed the field allows is accepted by the browser's own check too.
    form.get_by_label("Seed").fill("2147483647")
    assert page.evaluate("document.querySelector('#run-form [name=seed]').checkValidity()")
    form.get_by_label("Epochs").fill("1")
    form.get_by_role("button", name="Start run").click()
    page.wait_for_selector("#run-detail:not([hidden])")
    assert requests.get(stack.url + "/api/runs").json()["runs"][0]["spec"]["lr"] == 0.002
    assert_quiet(page)


def test_messages_use_the_visible_labels(make_stack, page):
    stack = make_stack(workers=0)
    page.goto(stack.url)
    form = page.locator("#run-form")
    form.get_by_label("Epochs").fill("0")
    form.get_by_label("Batch size").fill("2.5")
    form.get_by_label("Learning rate").fill("50")
    form.get_by_role("button", name="Start run").click()
    assert field_error(form, "Epochs") == "Epochs must be a whole number from 1 to 100"
    assert field_error(form, "Batch size") == "Batch size must be a whole number from 1 to 4096"
    assert field_error(form, "Learning rate") == "Learning rate must be a number greater than 0 and at most 10"
    summary = page.inner_text("#form-error")
    assert "Epochs" in summary and not any(name in summary for name in API_NAMES)
    assert page.locator("#run-form .invalid").count() == 3
    shoot(page, "form-errors-desktop.png", full_page=False)
    # What only the server checks comes back in the same words, on the same field.
    for label, value in (("Epochs", "2"), ("Batch size", "32"), ("Learning rate", "0.01")):
        form.get_by_label(label).fill(value)
    form.get_by_label("Notify URL").fill("ftp://example.com/hook")
    form.get_by_role("button", name="Start run").click()
    page.wait_for_selector("#run-form .field-error")
    assert field_error(form, "Notify URL").startswith("Notify URL must be an http:// or https:// URL")
    assert not any(name in page.inner_text("#form-error") for name in API_NAMES)
    assert requests.get(stack.url + "/api/runs").json()["runs"] == []


def test_the_sweep_preview_checks_what_it_counts(make_stack, page):
    stack = make_stack(workers=0)
    page.goto(stack.url)
    page.get_by_text("New sweep").click()
    form = page.locator("#sweep-form")
    form.get_by_label("Learning rate").fill("0.001,abc,-1")
    form.get_by_label("Epochs").fill("1,2")
    assert "runs" not in page.inner_text("#sweep-count"), "no count for values that would be refused"
    assert field_error(form, "Learning rate") == "Learning rate value “abc” must be a number greater than 0 and at most 10"
    assert form.get_by_label("Learning rate").get_attribute("aria-invalid") == "true"
    form.get_by_label("Learning rate").fill("0.001,0.01,-1")
    assert "“-1”" in field_error(form, "Learning rate")
    form.get_by_label("Learning rate").fill("0.001,0.003")
    page.wait_for_selector("#sweep-count:text('→ 4 runs')")
    assert page.locator("#sweep-form .invalid").count() == 0
    # 6 × 7 × 6 = 252 runs: refused before submitting, the swept fields highlighted.
    form.get_by_label("Learning rate").fill("0.001,0.002,0.003,0.004,0.005,0.006")
    form.get_by_label("Batch size").fill("16,32,48,64,80,96,112")
    form.get_by_label("Epochs").fill("1,2,3,4,5,6")
    assert "252 runs: a sweep may make at most 200" in page.inner_text("#sweep-error")
    assert page.locator("#sweep-form .invalid").count() == 3
    page.locator("#sweep-error").scroll_into_view_if_needed()
    shoot(page, "sweep-form-errors-desktop.png", full_page=False)
    form.get_by_role("button", name="Start sweep").click()
    assert requests.get(stack.url + "/api/sweeps").json()["sweeps"] == []
    assert requests.get(stack.url + "/api/runs").json()["runs"] == []
    assert_quiet(page)
