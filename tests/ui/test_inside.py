"""Inside the model has a section of its own, colour scales and values on hover (issue
#23, item 15)."""

from __future__ import annotations

import re

import pytest
import requests

from tests.ui.conftest import assert_quiet, finished_run, open_run, shoot

pytestmark = [pytest.mark.ui, pytest.mark.integration]


def test_inside_the_model_has_its_section_scales_and_values_on_hover(make_stack, page):
    stack = make_stack(workers=1)
    open_run(page, stack, finished_run(stack, "looked into")["id"])
    page.get_by_role("tab", name="Inside the model").click()
    page.wait_for_selector("#model-summary table")
    assert page.locator("#panel-inside .scale").count() == 2, "a colour scale for the strips and one for the filters"
    # A strip says what is under the pointer: the epoch, the bin's values, the count.
    page.wait_for_function("document.querySelectorAll('#layers canvas.strip').length > 0")
    strip = page.locator("#layers .layer").first
    strip.locator("canvas.strip").hover(position={"x": 5, "y": 40})
    text = strip.locator(".readout").inner_text()
    # The first column is epoch 0: the initial weights, recorded before any batch.
    assert re.fullmatch(r"epoch 0 · \S+ … \S+: [\d,]+ weights", text), text
    strip.locator("canvas.strip").hover(position={"x": 200, "y": 40})
    assert strip.locator(".readout").inner_text().startswith("epoch 2 ·")
    # A filter's colour bar has its values at the ends; hovering a cell gives its value.
    page.wait_for_function("document.querySelectorAll('#filters canvas.filter').length === 16")
    assert re.fullmatch(r"−\S+", page.inner_text("#filters-min")) and page.inner_text("#filters-max").startswith("+")
    page.locator("#filters canvas.filter").nth(3).hover(position={"x": 2, "y": 2})
    assert re.fullmatch(r"filter 3 · row 1, column 1: -?\d\S*", page.inner_text("#filters-readout"))
    # The filters as they started, to compare with what training made of them.
    assert page.inner_text("#filters-epoch") == "epoch 2"
    page.locator("#filters-slider").fill("0")
    assert page.inner_text("#filters-epoch") == "initial weights (epoch 0)"
    # Gradients exist from epoch 1: their strips start there.
    page.locator("#panel-inside").get_by_label("Show").select_option("gradients")
    page.wait_for_function("document.querySelectorAll('#layers canvas[aria-label*=gradients]').length > 0")
    grad = page.locator("#layers .layer").first.locator("canvas.strip")
    grad.hover(position={"x": 2, "y": 40})
    assert page.locator("#layers .layer").first.locator(".readout").inner_text().startswith("epoch 1 ·")
    shoot(page, "inside-desktop.png", full_page=False)
    assert_quiet(page)


def test_a_run_cancelled_before_it_trained_says_so_inside_the_model(make_stack, page):
    stack = make_stack(workers=0)  # nobody trains it: it waits, then is cancelled
    run = stack.submit(name="never trained", epochs=2)
    assert requests.post(f"{stack.url}/api/runs/{run['id']}/cancel", json={}, timeout=10).status_code == 202
    open_run(page, stack, run["id"], status="cancelled")
    page.get_by_role("tab", name="Inside the model").click()
    never = "none: the run ended before it trained"
    for where in ("#model-summary", "#layers", "#filters-epoch"):
        page.wait_for_selector(f"{where}:has-text('{never}')", timeout=15_000)
    page.wait_for_timeout(1500)  # the inside views refresh a second after the end: still true then
    assert page.locator(f"#layers:has-text('{never}')").count() == 1
    assert page.get_by_text("when training starts", exact=False).count() == 0, "nothing promised that will never come"
    shoot(page, "inside-never-trained.png", full_page=False)
