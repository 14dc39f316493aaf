"""The page in real headless Chromium (Debian's) driven by Playwright, against a real stack."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from tests.ui.conftest import assert_quiet, finished_run, open_run

pytestmark = [pytest.mark.ui, pytest.mark.integration]

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def points(page) -> int:
    return int(page.get_attribute("#loss-chart", "data-points") or 0)


def test_submit_watch_reload_and_finish(stack, page):
    SHOTS.mkdir(exist_ok=True)
    page.goto(stack.url)
    page.wait_for_selector("#connection:text('live')")
    page.wait_for_selector(".worker:text('cpu')")

    page.fill("input[name=name]", "browser run")
    page.fill("input[name=epochs]", "3")
    page.fill("input[name=batch_size]", "32")
    page.fill("input[name=train_samples]", "3000")
    page.click("#submit-run")
    page.wait_for_selector("#run-title:text('browser run')")
    page.wait_for_selector(".run[data-status=running]", timeout=30_000)

    # The chart gains points while it trains.
    page.wait_for_function("Number(document.querySelector('#loss-chart').dataset.points) > 20")
    first = points(page)
    page.wait_for_function(f"Number(document.querySelector('#loss-chart').dataset.points) > {first}")
    page.wait_for_selector("#samples figure", timeout=60_000)
    assert page.locator("#samples figure").count() == 16
    page.screenshot(path=str(SHOTS / "mid-run.png"), full_page=True)

    # Reload mid-run: the page comes back to the same run and the curve continues.
    before = points(page)
    assert before < 3 * 94, "still training when the page reloads"
    page.reload()
    page.wait_for_selector("#run-title:text('browser run')")
    page.wait_for_function(f"Number(document.querySelector('#loss-chart').dataset.points) >= {before}")
    page.wait_for_selector("#run-status:text('succeeded')", timeout=120_000)
    assert points(page) == 3 * 94, "every batch loss of every epoch, no gap and no repeat"
    assert page.inner_text("#stat-epoch") == "3"
    assert page.locator("#confusion table tbody tr").count() == 10
    assert page.locator("#artifacts a:text('mnist_cnn.pth')").count() == 1
    page.screenshot(path=str(SHOTS / "finished.png"), full_page=True)

    # Samples of every epoch stay reachable with the slider.
    slider = page.locator("#samples-slider")
    assert slider.get_attribute("max") == "3" and slider.is_enabled()
    slider.fill("1")
    page.wait_for_selector("#samples-epoch:text('epoch 1')")

    # Draw a "1" and get a prediction from the finished model.
    page.locator("#draw-card").scroll_into_view_if_needed()
    box = page.locator("#digit-pad").bounding_box()
    x = box["x"] + box["width"] / 2
    page.mouse.move(x, box["y"] + 30)
    page.mouse.down()
    for y in range(30, int(box["height"]) - 30, 8):
        page.mouse.move(x, box["y"] + y)
    page.mouse.up()
    page.click("#predict-digit")
    page.wait_for_function("/^[0-9]$/.test(document.querySelector('#digit-result').textContent)")
    assert page.locator("#digit-probs .prob").count() == 10
    page.screenshot(path=str(SHOTS / "draw.png"))

    # Clone the spec into the form.
    page.click("#clone-run")
    assert page.input_value("input[name=epochs]") == "3"
    assert page.input_value("input[name=name]") == "browser run (copy)"
    assert_quiet(page)


def test_api_docs_page_lists_every_operation(stack, page):
    page.goto(stack.url + "/api/docs")
    page.wait_for_selector(".card h2")
    doc = requests.get(stack.url + "/api/openapi.json").json()
    operations = sum(len(ops) for ops in doc["paths"].values())
    assert page.locator(".card h2").count() == operations
    assert "POST /api/runs" in page.inner_text("#docs") and "batch_size" in page.inner_text("#docs")


def test_cancel_from_the_run_list(make_stack, page):
    stack = make_stack(workers=0)
    run = stack.submit(name="to cancel", epochs=1)
    page.goto(stack.url)
    item = page.locator(f".run[data-run-id='{run['id']}']")
    item.wait_for()
    item.get_by_role("button", name="Cancel to cancel").click()
    page.get_by_role("dialog").get_by_role("button", name="Cancel run").click()
    page.wait_for_selector(f".run[data-run-id='{run['id']}'][data-status=cancelled]")
    assert stack.run(run["id"])["status"] == "cancelled"
    assert_quiet(page)


def test_compare_two_runs_on_one_chart(stack, page):
    a = stack.submit(name="adam run", epochs=2, batch_size=32, train_samples=1000)
    b = stack.submit(name="sgd run", epochs=2, batch_size=64, train_samples=1000, optimizer="sgd", lr=0.05)
    stack.wait_status(b["id"], "succeeded")
    page.goto(stack.url)
    for run in (a, b):
        page.locator(f".run[data-run-id='{run['id']}'] input[type=checkbox]").check()
    page.wait_for_selector("#compare-card:not([hidden])")
    legend = page.locator("#compare-loss .u-legend")
    legend.wait_for()
    page.wait_for_function("document.querySelector('#compare-loss').innerText.includes('sgd run')")
    text = page.inner_text("#compare-loss")
    assert text.count("adam run") == 1 and text.count("sgd run") == 1, "each run named once"
    last_x = "(() => { const d = window.trainboard.compare.chart.lossPlot.data; return d[0][d[0].length - 1]; })()"
    # Batch sizes 32 and 64: on epochs (the default) both runs end at epoch 2 ...
    assert page.evaluate(last_x) == 2
    page.select_option("#compare-axis", "batch")
    page.wait_for_function("document.querySelector('#compare-loss').dataset.axis === 'batch'")
    assert page.evaluate(last_x) == 64, "... on batches the bs-32 run goes twice as far"
    last_acc_x = "(() => { const d = window.trainboard.compare.chart.accPlot.data; return d[0][d[0].length - 1]; })()"
    assert page.evaluate(last_acc_x) == 64, "accuracy follows the axis too (#23 item 16)"
    page.select_option("#compare-axis", "images")
    page.wait_for_function("document.querySelector('#compare-loss').dataset.axis === 'images'")
    assert page.evaluate(last_x) == 2000
    page.screenshot(path=str(SHOTS / "compare.png"), full_page=True)
    page.locator(f".run[data-run-id='{a['id']}'] input[type=checkbox]").uncheck()
    page.wait_for_function("!document.querySelector('#compare-loss').innerText.includes('adam run')")
    assert_quiet(page)


def test_page_asks_for_the_token_once_and_then_works(make_stack, page):
    stack = make_stack(workers=0, API_TOKEN="ui-token")
    prompts = []

    def answer(dialog):
        prompts.append(dialog.message)
        dialog.accept("ui-token")

    page.on("dialog", answer)
    page.goto(stack.url)
    page.wait_for_selector("#connection:text('live')")
    page.fill("input[name=name]", "with token")
    page.click("#submit-run")
    page.wait_for_selector("#run-title:text('with token')")
    assert len(prompts) == 1 and "token" in prompts[0]
    assert requests.get(stack.url + "/api/runs").status_code == 401, "reads need the token too"
    listed = requests.get(stack.url + "/api/runs", headers={"Authorization": "Bearer ui-token"}).json()
    assert [r["name"] for r in listed["runs"]] == ["with token"]
    page.reload()
    page.wait_for_selector("#connection:text('live')")
    page.click("#cancel-run")
    page.get_by_role("dialog").get_by_role("button", name="Cancel run").click()
    page.wait_for_selector("#run-status:text('cancelled')")
    assert len(prompts) == 1, "the token is remembered"


def test_the_page_shows_a_resumed_run_without_double_counting(make_stack, page):
    stack = make_stack(workers=1, LEASE_SECONDS="3")
    run = stack.submit(name="survivor", epochs=3, batch_size=32, train_samples=3000)
    page.goto(f"{stack.url}/#run={run['id']}")
    page.wait_for_selector("#run-title:text('survivor')")
    from tests.processes import wait_for

    wait_for(
        lambda: any(e["type"] == "progress" and e["epoch"] == 2 for e in stack.events(run["id"])), 60, "epoch 2 under way"
    )
    stack.workers[0].kill()
    stack.add_worker("rescuer")  # live workers are the ones that notice a lost run
    page.wait_for_selector("#run-message:text('resumed from epoch 1 checkpoint')", timeout=30_000)
    page.wait_for_selector("#run-status:text('succeeded')", timeout=120_000)
    # Where the chart draws the epoch marks: the x of each non-null epoch train loss.
    marks = "(() => { const d = window.trainboard.lossChart.plot.data; return d[0].filter((x, i) => d[4][i] != null); })()"
    page.wait_for_function(f"{marks}.length === 3")
    ends = page.evaluate(marks)
    assert ends == [94, 188, 282], "one epoch mark per epoch, on its last batch"
    rate_x = page.evaluate("window.trainboard.rateChart.x")
    assert rate_x == sorted(rate_x) and rate_x[-1] == 282
    assert points(page) == 3 * 94, "the interrupted partial epoch is not counted twice"
    item = page.locator(f".run[data-run-id='{run['id']}']")
    assert "restarted 1×" in item.inner_text()
    page.screenshot(path=str(SHOTS / "resumed.png"), full_page=True)


def test_a_long_run_opens_from_its_series(make_stack, page):
    from benchmarks.synthetic_run import make_run

    stack = make_stack(workers=0)
    stack.results.mkdir(parents=True, exist_ok=True)
    run_id = make_run(str(stack.results), 20_000)
    total = requests.get(f"{stack.url}/api/runs/{run_id}/series/batch_loss").json()["total"]
    page.goto(f"{stack.url}/#run={run_id}")
    page.wait_for_function(f"document.querySelector('#loss-chart').dataset.points === '{total}'")
    assert page.evaluate("window.trainboard.lossChart.batch.x.length") <= 1500, "buckets, not 190k points"
    epochs = total // 938
    page.wait_for_selector(f"#stat-epoch:text('{epochs}')")
    epoch = -(-total // 938)  # where it stands is its last batch, not its last bucket's first
    assert f"epoch {epoch}/" in page.inner_text("#progress-text")
    assert f"batch {total - (epoch - 1) * 938}/938" in page.inner_text("#progress-text")
    assert page.get_attribute("#samples-slider", "max") == str(epochs)
    page.screenshot(path=str(SHOTS / "long-run.png"), full_page=True)
    # uPlot draws ticks on a canvas: ask the axis how it labels fractional epochs.
    labels = page.evaluate(
        "(() => { const u = window.trainboard.accChart.plot; return u.axes[0].values(u, [1, 1.5, 2], 0, 0, 0); })()"
    )
    assert labels == ["1", "", "2"], "epoch axes label whole epochs only"
    lr = page.evaluate(
        "(() => { const u = window.trainboard.rateChart.plot;"
        " return u.axes[2].values(u, [0.0001, 0.00025, 0.01], 0, 0, 0); })()"
    )
    assert lr == ["1e-4", "2.5e-4", "0.01"]
    # Zoom into 100 batches: the raw losses of exactly that range.
    page.evaluate("window.trainboard.lossChart.onZoom(1001, 1100)")
    page.wait_for_function("window.trainboard.lossChart.batch.x.length === 100")
    assert page.evaluate("window.trainboard.lossChart.batch.x[0]") == 1001


def test_the_run_list_pages_and_searches_on_the_server(make_stack, page):
    stack = make_stack(workers=0, SUBMIT_RATE_PER_MINUTE="1000", MAX_QUEUED_RUNS="1000")
    for i in range(130):
        stack.submit(name=f"{'needle' if i % 40 == 3 else 'hay'}-{i}", epochs=1)
    page.goto(stack.url)
    page.wait_for_selector("#run-list .run")
    assert page.locator("#run-list .run").count() == 100, "the first page"
    assert page.locator("#run-list .run").first.get_attribute("data-run-id") is not None
    assert "hay-129" in page.locator("#run-list .run").first.inner_text(), "newest first"
    page.click("#load-more")
    page.wait_for_function("document.querySelectorAll('#run-list .run').length === 130")
    assert page.locator("#load-more").is_hidden()
    assert "#130 in queue" in page.locator("#run-list .run").first.inner_text()
    page.fill("#run-search", "NEEDLE")
    page.wait_for_function("document.querySelectorAll('#run-list .run').length === 4")
    names = page.locator("#run-list .run-name").all_inner_texts()
    assert names == ["needle-123", "needle-83", "needle-43", "needle-3"]
    page.fill("#run-search", "")
    page.select_option("#status-filter", "cancelled")
    page.wait_for_function("document.querySelectorAll('#run-list .run').length === 0")


def test_a_sweep_from_the_form_fills_its_view_live(make_stack, page):
    stack = make_stack(workers=2)
    page.goto(stack.url)
    page.wait_for_selector("#connection:text('live')")
    page.click("#sweep-card summary")
    form = page.locator("#sweep-form")
    form.locator("input[name=name]").fill("ui sweep")
    form.locator("input[name=lr]").fill("0.001, 0.01")
    form.locator("input[name=batch_size]").fill("32,64")
    page.wait_for_selector("#sweep-count:text('→ 4 runs')")
    form.locator("input[name=epochs]").fill("1")
    form.locator("input[name=train_samples]").fill("300")
    page.click("#submit-sweep")
    page.wait_for_selector("#sweep-detail:not([hidden])")
    page.wait_for_selector("#sweep-title:text('Sweep: ui sweep')")
    assert page.locator("#sweep-table tbody tr").count() == 4
    page.wait_for_selector("#sweep-summary:text('finished')", timeout=240_000)
    page.wait_for_selector("#sweep-table tr.best")
    best_row = page.locator("#sweep-table tr.best")
    sweep_id = page.evaluate("window.trainboard.sweepView.id")
    state = requests.get(f"{stack.url}/api/sweeps/{sweep_id}").json()
    assert best_row.get_attribute("data-run-id") == state["best_run_id"]
    assert "★" in best_row.inner_text()
    assert page.locator("#sweep-scatter .scatter").count() == 2, "one plot per swept field"
    assert page.locator("#sweep-scatter .u-legend").count() == 0, "no empty 'Value: --' legend (#23 item 16)"
    assert page.locator("#sweep-scatter .scatter").first.bounding_box()["width"] > 320, "as wide as the card allows"
    page.wait_for_function("document.querySelector('#sweep-loss').innerText.includes('ui sweep')")
    accuracy = {r["id"]: r["metrics"]["best_test_accuracy"] for r in state["runs"]}

    def rows():
        ids = page.locator("#sweep-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.runId)")
        return [accuracy[i] for i in ids]

    assert rows() == sorted(rows(), reverse=True), "best first"
    page.click("#sweep-table th[data-key=best]")  # the same header again: ascending
    assert rows() == sorted(rows())
    assert page.locator("#sweep-list [data-sweep-id]").count() == 1
    assert "cpu" in page.inner_text("#workers"), "the workers panel shows their load"
    # Parallel coordinates: one line per run; brushing batch_size's upper half keeps the bs-64 runs.
    assert page.locator("#sweep-parallel polyline").count() == 4
    axis = page.locator(".pc-axis[data-axis=batch_size] .pc-hit")
    axis.scroll_into_view_if_needed()  # sorting by a header below may have scrolled it away
    hit = axis.bounding_box()
    x = hit["x"] + hit["width"] / 2
    page.mouse.move(x, hit["y"] + 2)
    page.mouse.down()
    page.mouse.move(x, hit["y"] + hit["height"] * 0.4, steps=5)
    page.mouse.up()
    page.wait_for_selector("#sweep-brush-note:text('2 of 4 runs')")
    spec = {r["id"]: r["spec"] for r in state["runs"]}
    kept = page.locator("#sweep-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.runId)")
    assert len(kept) == 2 and all(spec[i]["batch_size"] == 64 for i in kept), "the brush filters the table"
    assert page.locator("#sweep-parallel polyline.pc-out").count() == 2
    dimmed = page.evaluate("window.trainboard.sweepView.chart.lossPlot.series.slice(1).filter(s => s.width === 1).length")
    assert dimmed == 2, "the runs outside the brush fade in the overlay"
    page.screenshot(path=str(SHOTS / "sweep-brushed.png"), full_page=True)
    page.click("#sweep-clear-brush")
    page.wait_for_function("document.querySelectorAll('#sweep-table tbody tr').length === 4")
    page.screenshot(path=str(SHOTS / "sweep.png"), full_page=True)
    best_row.click()  # opens the run
    page.wait_for_selector("#run-detail:not([hidden])")
    assert_quiet(page)


def test_inside_a_finished_run_and_a_fork_from_the_page(stack, page):
    run = finished_run(stack, "inspected", epochs=3)
    open_run(page, stack, run["id"])
    page.get_by_role("tab", name="Inside the model").click()
    page.wait_for_selector("#model-summary table")
    assert "394,890" in page.inner_text("#model-summary tfoot")
    assert page.locator("#model-summary tbody tr").count() == 15
    page.wait_for_function("document.querySelectorAll('#layers .layer canvas.strip').length === 6")
    columns = page.evaluate("document.querySelector('#layers .layer canvas').width")
    assert columns == 4, "one column per epoch, and epoch 0: the initial weights"
    page.select_option("#layers-kind", "gradients")
    page.wait_for_function("document.querySelector('#layers canvas').getAttribute('aria-label').includes('gradients')")
    page.wait_for_function("document.querySelectorAll('#filters canvas.filter').length === 16")
    assert page.get_attribute("#filters-slider", "max") == "3"
    page.fill("#filters-slider", "1")
    page.wait_for_selector("#filters-epoch:text('epoch 1')")
    page.get_by_role("tab", name="Overview").click()
    page.wait_for_selector("#samples figure.sample canvas")
    page.locator("#samples figure.sample").first.click()
    page.wait_for_selector("#fmaps-card:not([hidden]) .fmaps[data-layer=conv4]")
    assert page.locator(".fmaps[data-layer=conv1] canvas").count() == 16
    assert page.locator(".fmaps[data-layer=conv4] canvas").count() == 128
    page.screenshot(path=str(SHOTS / "inside.png"), full_page=True)

    page.click("#fork-run")
    page.wait_for_selector("#fork-dialog[open]")
    page.select_option("#fork-epoch", "2")
    page.fill("#fork-form input[name=lr]", "0.0005")
    page.click("#submit-fork")
    page.wait_for_selector("#run-lineage:text('forked at epoch 2')")
    child_id = page.evaluate("location.hash.slice(5)")
    child = stack.run(child_id)
    assert child["parent_run_id"] == run["id"] and child["spec"]["lr"] == 0.0005
    assert child["spec"]["epochs"] == 3, "the parent's plan: from epoch 2 it trains epoch 3"
    page.wait_for_selector("#run-status:text('succeeded')", timeout=120_000)
    steps = 20  # 640 images in batches of 32
    page.wait_for_function("window.trainboard.lossChart.ancestor && window.trainboard.accChart.ancestor.size === 2")
    ancestor_x = page.evaluate("window.trainboard.lossChart.ancestor[0]")
    assert ancestor_x[-1] == 2 * steps, "the parent's curve up to the fork"
    page.screenshot(path=str(SHOTS / "fork.png"), full_page=True)
    page.locator("#run-lineage a").click()  # back to the parent: it lists its fork
    page.wait_for_selector("#run-title:text('inspected')")
    page.wait_for_selector(f"#run-lineage a[data-run-id='{child_id}']")
    assert_quiet(page)
