"""Shared fixtures of the browser tests: a real ``streamlit run app.py`` on a free port over a temporary data
directory, and Debian's Chromium driven by Playwright.

``serve`` starts servers for one test: on a fresh data directory, or on one the test seeded through core
beforehand, with extra environment variables where a test needs them; ``app_server`` is the plain fresh one.
``page`` is a page of its own browser context (``viewport`` and ``page_timeout_ms`` are fixtures a module may
override). A failing test leaves a screenshot in artifacts/screens/ and prints the tail of its servers' logs.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping
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


def _failed(request: pytest.FixtureRequest) -> bool:
    rep = getattr(request.node, "rep_call", None)
    return rep is not None and rep.failed


Serve = Callable[..., AppServer]


@pytest.fixture
def serve(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Serve]:
    """A factory: ``serve(data=None, env=None)`` starts annota on ``data`` (``tmp_path/"data"`` when None;
    it may hold a store seeded through core) with ``env`` added to the environment, the admin's password
    ``helpers.ADMIN_PASSWORD``. Every server it started is stopped after the test (``stop()`` may come
    earlier, to read the store)."""
    _need_chromium()
    started: list[AppServer] = []

    def _serve(data: Path | None = None, env: Mapping[str, str] | None = None) -> AppServer:
        server = start_app(tmp_path / "data" if data is None else data, env=env)
        started.append(server)
        return server

    yield _serve
    for server in started:
        server.stop()
        if _failed(request):
            print(f"\nserver log ({server.log_path}), last lines:\n{server.log_tail()}")


@pytest.fixture
def app_server(serve: Serve) -> AppServer:
    """A fresh annota (empty data directory, admin password set) for one test."""
    return serve()


@pytest.fixture
def browser() -> Iterator[object]:
    """Chromium through Playwright's sync API, closed after the test (function scope: a running sync
    Playwright would stay in the way of the other tests of the session)."""
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
def viewport() -> dict[str, int]:
    """The page's size; a module overrides this fixture for another."""
    return {"width": 1440, "height": 1000}


@pytest.fixture
def page_timeout_ms() -> int:
    """The page's default timeout of waits and actions; a module overrides this fixture for another."""
    return 60_000  # waits on conditions: generous, since CI may run on a busy machine


@pytest.fixture
def page(browser, viewport: dict[str, int], page_timeout_ms: int, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """A page (``viewport``, downloads accepted, ``page_timeout_ms``); a screenshot is saved if the test fails."""
    context = browser.new_context(viewport=viewport, accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(page_timeout_ms)
    yield pg
    if _failed(request):
        SCREENS.mkdir(parents=True, exist_ok=True)
        target = SCREENS / f"failed-{request.node.name}.png"
        try:
            pg.screenshot(path=str(target), full_page=True)
            print(f"\nfailure screenshot: {target}")
        except Exception as exc:  # the page may be gone with the failure
            print(f"\nno failure screenshot ({exc})")
    context.close()
