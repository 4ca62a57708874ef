"""Starting annota for a browser test, and what a person does in its UI: sign in, move by the sidebar, open a
project (or its label screen), wait for Streamlit to finish a run, press a shortcut, take screenshots, time
the steps of a flow.

Waits are on visible text, roles and Streamlit's "running" widget; the only fixed pauses are the short ones
before a shortcut key (``press``) and before looking for the end of a run a key just started (``wait_quiet``).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.images.probe import probe_file
from core.store.items import NewItem

ROOT = Path(__file__).resolve().parents[2]
SCREENS = ROOT / "artifacts" / "screens"
PERF = ROOT / "artifacts" / "perf"
ADMIN_PASSWORD = "flow-e2e-secret"  # ANNOTA_ADMIN_PASSWORD of the servers started here
HEALTH_TIMEOUT_S = 90
RUN_START_MS = 120  # a key's or click's rerun has begun by then (``wait_quiet``)
KEY_SETTLE_MS = 250  # a rerun's new buttons have bound their shortcut keys by then (``press``)

SCRIPT_STATE_JS = (  # Streamlit's own run state on the app's root (what Streamlit's E2E tests wait on)
    "(document.querySelector('[data-testid=stApp]') || {getAttribute: () => null})"
    ".getAttribute('data-test-script-state')"
)
IDLE_JS = (  # the run state says "notRunning" (the "Running…" widget shows only after a run's first 500 ms),
    # no "Running…" widget (still fading out), and no element left stale by a (fragment) rerun
    f"() => {SCRIPT_STATE_JS} === 'notRunning'"
    " && !document.querySelector('[data-testid=\"stStatusWidget\"]')"
    " && !document.querySelector('[data-stale=\"true\"]')"
)
RUN_SEEN_JS = (  # a run was asked for or is under way
    f"() => {SCRIPT_STATE_JS} !== 'notRunning' || !!document.querySelector('[data-testid=stStatusWidget]')"
)
IMG_READY_JS = (
    "() => { const i = document.querySelector('[data-testid=stMain] [data-testid=stImage] img');"
    " return !!i && i.complete && i.naturalWidth > 0; }"
)
IMAGES_LOADED_JS = (  # every image of the main area decoded (thumbnails on the review grid)
    "() => [...document.querySelectorAll('[data-testid=stMain] img')].every(i => i.complete && i.naturalWidth > 0)"
)


# -- the server ----------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class AppServer:
    """A running ``streamlit run app.py``; ``stop()`` may be called early (to read the store afterwards)."""

    url: str
    data: Path
    proc: subprocess.Popen
    log_path: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""


def start_app(data: Path, password: str = ADMIN_PASSWORD, env: Mapping[str, str] | None = None) -> AppServer:
    """Start the app on ``data`` (ANNOTA_DATA_DIR; it may hold a store seeded beforehand) with ``env`` added to
    this process's environment, and wait until ``/_stcore/health`` answers ``ok``."""
    data.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {**os.environ, **(env or {}), "ANNOTA_DATA_DIR": str(data), "ANNOTA_ADMIN_PASSWORD": password}
    log_path = data.parent / f"streamlit-{port}.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                "app.py",
                "--server.headless",
                "true",
                "--server.port",
                str(port),
                "--browser.gatherUsageStats",
                "false",
                "--server.fileWatcherType",
                "none",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = AppServer(f"http://127.0.0.1:{port}", data, proc, log_path)
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"streamlit exited with {proc.returncode}:\n{server.log_tail()}")
        try:
            if urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=2).read() == b"ok":
                return server
        except OSError:
            time.sleep(0.25)
    server.stop()
    pytest.fail(f"streamlit did not answer /_stcore/health within {HEALTH_TIMEOUT_S} s:\n{server.log_tail()}")


# -- seeding a store through core ----------------------------------------------------------------------


def dataset_or_skip(name: str) -> Path:
    """``../shared/datasets/<name>``, or the test skipped with the reason printed."""
    from core.config import shared_datasets

    folder = shared_datasets() / name
    if not folder.is_dir():
        print(f"SKIP REASON: shared datasets not found at {folder}", file=sys.stderr)
        pytest.skip(f"shared datasets not found at {folder}")
    return folder


def new_items(files: Sequence[Path]) -> list[NewItem]:
    """Real image files as items to add (probed: size, hash, EXIF orientation), for stores seeded before a
    server starts."""
    out = []
    for f in files:
        p = probe_file(f)
        out.append(NewItem(str(f), p.width, p.height, p.sha1, p.bytes, p.orientation))
    return out


# -- the browser ---------------------------------------------------------------------------------------


def wait_idle(page, timeout: float | None = None) -> None:  # type: ignore[no-untyped-def]
    """Wait until Streamlit shows no "Running…" widget: the script run (and its reruns) ended. ``timeout``
    (ms) defaults to the page's default timeout."""
    page.wait_for_function(IDLE_JS, timeout=timeout)


def settle(page, timeout: float | None = None) -> None:  # type: ignore[no-untyped-def]
    """Wait for the run an action started: the status widget appears within a few frames, then goes."""
    with suppress(Exception):  # too quick to see, or no run at all
        page.wait_for_function(RUN_SEEN_JS, timeout=600)
    wait_idle(page, timeout)


def wait_quiet(page, timeout: float | None = None) -> None:  # type: ignore[no-untyped-def]
    """Give the rerun a key or click may just have started ``RUN_START_MS`` to begin, then ``wait_idle``
    (cheaper than ``settle`` where most calls follow no run at all)."""
    page.wait_for_timeout(RUN_START_MS)
    wait_idle(page, timeout)


def press(page, key: str) -> None:  # type: ignore[no-untyped-def]
    """Press a shortcut once the page is idle and its buttons had a moment to bind their keys (a key pressed
    while a rerun replaces the buttons is lost, as it would be for a person)."""
    wait_quiet(page)
    page.wait_for_timeout(KEY_SETTLE_MS)
    page.keyboard.press(key)


def unfocus(page) -> None:  # type: ignore[no-untyped-def]
    """Move the keyboard focus off any input, so keys go to the page's shortcuts."""
    page.evaluate("() => document.activeElement && document.activeElement.blur()")


def main(page):  # type: ignore[no-untyped-def]
    return page.get_by_test_id("stMain")


def sidebar(page):  # type: ignore[no-untyped-def]
    return page.get_by_test_id("stSidebar")


def sign_in(page, password: str = ADMIN_PASSWORD, username: str = "admin", url: str | None = None) -> None:  # type: ignore[no-untyped-def]
    """Sign in on the sign-in page (opened first when ``url`` is given)."""
    if url is not None:
        page.goto(url)
    page.get_by_label("User name").fill(username)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    sidebar(page).get_by_test_id("stSidebarNav").wait_for()
    wait_idle(page)


def go(page, title: str, heading: str | None = None) -> None:  # type: ignore[no-untyped-def]
    """Open a page by its sidebar link (faster than a page load, which signs in again from the cookie) and wait for its
    heading (``title`` unless told: the label page's heading is the project's name)."""
    sidebar(page).get_by_test_id("stSidebarNav").get_by_role("link", name=title, exact=True).click()
    main(page).get_by_role("heading", name=heading or title).first.wait_for()
    wait_idle(page)


def open_project(page, name: str) -> None:  # type: ignore[no-untyped-def]
    """Choose the project in the sidebar's "Open project" box (a combobox)."""
    box = sidebar(page).get_by_role("combobox", name="Open project")
    if box.input_value() == name:
        return
    box.click()
    page.get_by_role("option", name=name, exact=True).click()
    page.wait_for_function(
        "(name) => [...document.querySelectorAll('[data-testid=stSidebar] input[role=combobox]')]"
        ".some(i => i.value === name)",
        arg=name,
    )
    settle(page)


def open_label(page, name: str, task_words: str) -> None:  # type: ignore[no-untyped-def]
    """Open the project in the sidebar, then its label screen: wait for its heading (the project's name) and
    its task words (the new project's screen, not the previous one still shown)."""
    open_project(page, name)
    go(page, "Label", heading=name)
    main(page).get_by_text(task_words).wait_for()
    wait_quiet(page)


def show_grid(page, size: int) -> None:  # type: ignore[no-untyped-def]
    """On the label screen: switch to the grid, choose ``size`` tiles a page, wait for "Page of <size>"."""
    page.get_by_test_id("stButtonGroup").get_by_text("Grid", exact=True).click()
    wait_quiet(page)
    page.get_by_test_id("stButtonGroup").get_by_text(str(size), exact=True).click()
    page.get_by_text(f"Page of {size}").wait_for()


def image_caption(page) -> str:  # type: ignore[no-untyped-def]
    """The caption of the image on the label screen: "Image N · status …"."""
    cap = main(page).get_by_test_id("stCaptionContainer").filter(has_text=re.compile(r"^Image \d+ · ")).first
    cap.wait_for()
    return cap.inner_text()


def image_id(page) -> int:  # type: ignore[no-untyped-def]
    """The id of the image on the label screen, from its caption."""
    return int(re.match(r"Image (\d+)", image_caption(page)).group(1))  # type: ignore[union-attr]


def choose(page, label: str, option: str) -> None:  # type: ignore[no-untyped-def]
    """Pick ``option`` in the main area's selectbox labelled ``label``. A rerun that lands while the list is
    open (e.g. a page's periodic refresh) closes it and detaches the option: open it again, up to 3 times."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(3):
        main(page).get_by_role("combobox", name=label, exact=True).click()
        try:
            page.get_by_role("option", name=option, exact=True).click(timeout=15_000)
            break
        except PlaywrightTimeout:
            if attempt == 2:
                raise
            page.keyboard.press("Escape")
    settle(page)


def no_error_shown(page) -> None:  # type: ignore[no-untyped-def]
    """The page shows no traceback and no "Could not show …" error box."""
    text = main(page).inner_text()
    assert "Traceback" not in text, text[:2000]
    assert "Could not show" not in text, text[:2000]
    assert page.get_by_test_id("stException").count() == 0, text[:2000]


def wait_images(page) -> None:  # type: ignore[no-untyped-def]
    """Wait until every image of the main area is loaded and decoded (before a screenshot)."""
    page.wait_for_function(IMAGES_LOADED_JS)


def shot(page, name: str, full_page: bool = True) -> Path:  # type: ignore[no-untyped-def]
    SCREENS.mkdir(parents=True, exist_ok=True)
    path = SCREENS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


class StepClock:
    """Times the steps of a flow; a step that raises leaves a screenshot ``<prefix>FAILED-<step>.png``.

    ``write()`` saves ``{"steps": [{"step", "seconds", "ok"}], "total_s"}`` as JSON.
    """

    def __init__(self, page, prefix: str) -> None:  # type: ignore[no-untyped-def]
        self.page = page
        self.prefix = prefix
        self.steps: list[dict[str, object]] = []
        self.started = time.perf_counter()

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        ok = False
        try:
            yield
            ok = True
        except BaseException:
            try:
                shot(self.page, f"{self.prefix}FAILED-{name}")
            except Exception as exc:
                print(f"no screenshot of the failed step {name}: {exc}")
            raise
        finally:
            secs = round(time.perf_counter() - t0, 2)
            self.steps.append({"step": name, "seconds": secs, "ok": ok})
            print(f"  step {name}: {secs:.1f} s{'' if ok else ' (FAILED)'}", flush=True)

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        total = round(time.perf_counter() - self.started, 2)
        path.write_text(json.dumps({"steps": self.steps, "total_s": total}, indent=2) + "\n")
