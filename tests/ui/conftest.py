"""The browser for the page tests: Debian's Chromium, headless, driven by Playwright.

Each test gets a fresh context (desktop 1300×1000, or a 390×844 phone); JavaScript errors
fail the test, and console errors and warnings are kept for tests that assert a quiet page.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
#: Where the tests leave screenshots: test-artifacts/, or with UPDATE_SCREENSHOTS=1 the set
#: the docs show (docs/screenshots), so a plain test run leaves the tree clean.
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "docs" / "screenshots" if os.environ.get("UPDATE_SCREENSHOTS") else ROOT / "test-artifacts"
DESKTOP = {"width": 1300, "height": 1000}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def browser():
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} not found (make test installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


def _open(browser, viewport: dict[str, int], **options):
    context = browser.new_context(viewport=viewport, **options)
    pg = context.new_page()
    errors: list[str] = []
    pg.console_problems = []  # console errors and warnings, for assert_quiet
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("console", lambda m: m.type in ("error", "warning") and pg.console_problems.append(f"{m.type}: {m.text}"))
    return context, pg, errors


@pytest.fixture
def page(browser):
    context, pg, errors = _open(browser, DESKTOP)
    yield pg
    context.close()
    assert errors == [], f"JavaScript errors: {errors}"


@pytest.fixture
def phone(browser):
    context, pg, errors = _open(browser, PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    yield pg
    context.close()
    assert errors == [], f"JavaScript errors: {errors}"


def assert_quiet(pg) -> None:
    """The page's console had no error and no warning."""
    assert pg.console_problems == [], f"console: {pg.console_problems}"


def shoot(pg, name: str, full_page: bool = True) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(SHOTS / name), full_page=full_page, scale="css")


def finished_run(stack, name: str, epochs: int = 2, batch_size: int = 32, train_samples: int = 640) -> dict:
    """A small run, trained to the end by the stack's worker (seconds on a CPU)."""
    run = stack.submit(name=name, epochs=epochs, batch_size=batch_size, train_samples=train_samples)
    stack.wait_status(run["id"], "succeeded", timeout=180)
    return run


def open_run(pg, stack, run_id: str, status: str | None = "succeeded") -> None:
    """The page, on a run's view by its address, once the header shows ``status``."""
    pg.goto(f"{stack.url}/#run={run_id}")
    if status is not None:
        pg.wait_for_selector(f"#run-status:text('{status}')")
