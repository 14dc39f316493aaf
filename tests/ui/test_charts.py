"""Charts that say what is coming and zoom where dragged (issue #23, items 11 and 14)."""

from __future__ import annotations

import pytest

from tests.ui.conftest import assert_quiet, finished_run, open_run, shoot

pytestmark = [pytest.mark.ui, pytest.mark.integration]

X_RANGE = "(() => { const s = window.trainboard.lossChart.plot.scales.x; return [s.min, s.max]; })()"


def test_empty_and_one_point_charts_say_what_is_coming(make_stack, page):
    stack = make_stack(workers=1)
    finished_run(stack, "one epoch", epochs=1)
    stack.workers[0].stop()
    waiting = stack.submit(name="waiting", epochs=2)
    page.goto(f"{stack.url}/#run={waiting['id']}")
    page.wait_for_selector("#run-status:text('queued')")
    assert page.locator("#loss-chart").get_by_text("waiting for the first batch…").is_visible()
    assert page.locator("#rate-chart").get_by_text("waiting for the first batch…").is_visible()
    assert page.locator("#acc-chart").get_by_text("waiting for the first epoch to finish…").is_visible()
    shoot(page, "waiting-desktop.png", full_page=False)
    # One epoch: one accuracy point, on an axis that stops at 100 %.
    page.get_by_role("list", name="Runs").get_by_text("one epoch", exact=True).click()
    page.wait_for_selector("#run-status:text('succeeded')")
    page.wait_for_function("window.trainboard.accChart.plot.data[0].length === 1")
    assert page.locator("#loss-chart .chart-empty").is_hidden() and page.locator("#acc-chart .chart-empty").is_hidden()
    top = page.evaluate("window.trainboard.accChart.plot.scales.y.max")
    low = page.evaluate("window.trainboard.accChart.plot.scales.y.min")
    point = page.evaluate("window.trainboard.accChart.plot.data[1][0]")
    assert low < point < top <= 100
    assert_quiet(page)


def test_dragging_across_the_loss_chart_zooms_into_that_range(stack, page):
    run = finished_run(stack, "zoom", train_samples=1500)  # 2 epochs of 47 batches
    open_run(page, stack, run["id"], status=None)
    page.wait_for_function("document.querySelector('#loss-chart').dataset.points === '94'")
    page.wait_for_timeout(300)
    full = page.evaluate(X_RANGE)
    assert full[1] >= 94
    over = page.locator("#loss-chart .u-over").bounding_box()
    y = over["y"] + over["height"] / 2
    page.mouse.move(over["x"] + over["width"] * 0.4, y)
    page.mouse.down()
    page.mouse.move(over["x"] + over["width"] * 0.6, y, steps=8)
    page.mouse.up()
    page.wait_for_function("document.querySelector('#loss-chart').dataset.zoomed !== ''")
    start, end = (int(v) for v in page.get_attribute("#loss-chart", "data-zoomed").split("-"))
    lo, hi = page.evaluate(X_RANGE)
    assert (lo, hi) == (start, end), "the x axis is the dragged range"
    assert hi - lo < 0.3 * full[1] and lo > full[0] + 0.3 * (full[1] - full[0])
    # The finer data of that range arrives: every point drawn lies in it.
    page.wait_for_function(f"window.trainboard.lossChart.batch.x.every(x => x >= {start} && x <= {end})")
    shoot(page, "zoomed-desktop.png", full_page=False)
    page.locator("#loss-chart .u-over").dblclick()
    page.wait_for_function("document.querySelector('#loss-chart').dataset.zoomed === ''")
    page.wait_for_function(f"{X_RANGE}[1] >= 94")
    assert_quiet(page)


def test_the_first_loss_line_is_drawn_within_a_second_of_start_run(stack, page):
    warm = stack.submit(name="warm-up", epochs=1, batch_size=32, train_samples=300)
    stack.wait_status(warm["id"], "succeeded", timeout=120)  # a warm worker, as the issue measures
    page.goto(stack.url)
    page.wait_for_selector("#connection:text('live')")
    form = page.locator("#run-form")
    for label, value in (("Epochs", "1"), ("Batch size", "32"), ("Train samples", "640")):
        form.get_by_label(label).fill(value)
    page.evaluate(
        "document.querySelector('#run-form').addEventListener('submit', () => { window.t0 = performance.now(); }, true)"
    )
    form.get_by_role("button", name="Start run").click()
    page.wait_for_function("window.trainboard.lossChart.plot.data[0].length > 0")
    elapsed = page.evaluate("performance.now() - window.t0")
    assert elapsed <= 1000, f"first loss line drawn {elapsed:.0f} ms after Start run"
    assert_quiet(page)
