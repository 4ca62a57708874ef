"""Shared fixtures of the browser tests: a real ``streamlit run app.py`` on a free port over a temporary data
directory, and Debian's Chromium driven by Playwright.

The label and shell E2E modules start their own, seeded servers; the fixtures here serve tests that build
their data through the UI (``test_flow_e2e``). A failing test leaves a screenshot in artifacts/screens/.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.helpers import SCREENS, AppServer, start_app

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _need_chromium() -> None:
    if not Path(CHROMIUM).exists():
        print(f"\nSKIP REASON: Chromium not found at {CHROMIUM} (make test installs it)", file=sys.stderr)
        pytest.skip(f"Chromium not found at {CHROMIUM} (make test installs it)")


@pytest.fixture
def app_server(tmp_path: Path) -> Iterator[AppServer]:
    """A fresh annota (empty data directory, admin password set) for one test."""
    _need_chromium()
    server = start_app(tmp_path / "data")
    yield server
    server.stop()


@pytest.fixture
def browser() -> Iterator[object]:
    """Chromium through Playwright's sync API, closed after the test (function scope: the label and shell
    modules open their own ``sync_playwright``, which cannot nest inside a running one)."""
    _need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):  # type: ignore[no-untyped-def]
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture
def page(browser, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """A page (1440x1000, downloads accepted, generous timeouts); a screenshot is saved if the test fails."""
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    yield pg
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        SCREENS.mkdir(parents=True, exist_ok=True)
        target = SCREENS / f"failed-{request.node.name}.png"
        try:
            pg.screenshot(path=str(target), full_page=True)
            print(f"\nfailure screenshot: {target}")
        except Exception as exc:  # the page may be gone with the failure
            print(f"\nno failure screenshot ({exc})")
    context.close()
