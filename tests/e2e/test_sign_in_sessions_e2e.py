"""Sign-in sessions in real Chromium: a reload and a new tab keep the sign-in and the page's address (page
and ``?project=``), signing out and a deactivation end it in the other tabs at their next step, a second
browser holding a signed-in admin's Streamlit session id (read from the server's NewSession message to the
admin's page, injected into the second browser's websocket subprotocols, where Streamlit carries it on a
reconnect) lands on the sign-in page, and a skip reason written as markdown shows as plain text.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PIL import Image

from core import auth
from core.domain import Role, TaskType
from core.images import import_folder
from core.permissions import SYSTEM
from core.store import Store, labels, projects
from core.store.projects import ClassSpec
from tests.e2e.helpers import (
    ADMIN_PASSWORD,
    go,
    main,
    open_project,
    settle,
    shot,
    sidebar,
    sign_in,
    wait_idle,
)

pytestmark = pytest.mark.e2e

ATTACK = "[click](http://example.com) ![x](http://example.com/x.png)"
COOKIE = "annota_session"
JOIN = "\u2060"

# The attacker's browser: its own XSRF token, but the stolen session id as the third subprotocol.
INJECT_WS_JS = """
(() => {
  const Orig = window.WebSocket; const stolen = %s;
  function Injecting(url, protocols) {
    const p = [...(protocols || ['streamlit'])]; while (p.length < 2) p.push('PLACEHOLDER_AUTH_TOKEN');
    p[2] = stolen; window.__wsInjected = (window.__wsInjected || 0) + 1;
    return new Orig(url, p);
  }
  Injecting.prototype = Orig.prototype;
  Object.assign(Injecting, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
  window.WebSocket = Injecting;
})();
"""


def write_photos(folder: Path, n: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new("RGB", (96, 64), (40 * i % 255, 120, 200 - 30 * i)).save(folder / f"photo_{i}.png")
    return folder


def seed(data: Path) -> int:
    """Admin and labeler accounts, a boxes project "Pets" with 4 images, one skipped with a markdown reason."""
    store = Store(data / "annota.duckdb")
    auth.create_user(store, "admin", ADMIN_PASSWORD, Role.ADMIN, "Administrator", by=SYSTEM)
    lena = auth.create_user(store, "lena", "lena-secret-1", Role.LABELER, "Lena", by=SYSTEM)
    p = projects.create_project(
        store, "Pets", TaskType.BOXES, [ClassSpec("cat"), ClassSpec("dog")], by=SYSTEM
    )
    projects.add_member(store, p.id, lena.id, by=SYSTEM)
    import_folder(store, p.id, write_photos(data.parent / "photos", 4), watch=False, by=SYSTEM)
    first = store.scalar("SELECT min(id) FROM items WHERE project_id = ?", [p.id])
    labels.skip_item(store, first, author="lena", reason=ATTACK, by=SYSTEM)
    store.close()
    return p.id


@pytest.fixture
def seeded(serve, tmp_path: Path):  # type: ignore[no-untyped-def]
    data = tmp_path / "data"
    data.mkdir()
    pid = seed(data)
    return serve(data), pid


def new_page(context):  # type: ignore[no-untyped-def]
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    return pg


def session_cookie(context) -> dict | None:  # type: ignore[no-untyped-def]
    return next((c for c in context.cookies() if c["name"] == COOKIE), None)


def wait_cookie(page, present: bool = True) -> None:  # type: ignore[no-untyped-def]
    """The sign-in cookie is set (or gone) in the browser (the page's script sets it after the run)."""
    page.wait_for_function(
        f"(want) => document.cookie.split('; ').some(c => c.startsWith('{COOKIE}=')) === want", arg=present
    )


def sign_in_form_shown(page) -> None:  # type: ignore[no-untyped-def]
    page.get_by_label("User name").wait_for()
    wait_idle(page)
    assert sidebar(page).get_by_test_id("stSidebarNav").count() == 0


def test_reload_and_a_new_tab_keep_the_sign_in_the_page_and_the_project(seeded, browser):
    server, pid = seeded
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = new_page(context)
    sign_in(page, url=server.url)
    wait_cookie(page)
    cookie = session_cookie(context)
    assert cookie and cookie["sameSite"] == "Strict" and cookie["path"] == "/" and cookie["expires"] > 0
    open_project(page, "Pets")
    go(page, "Skipped")
    page.wait_for_function(
        "(pid) => location.pathname.endsWith('/skipped') && new URLSearchParams(location.search).get('project') == pid",
        arg=str(pid),
    )
    address = page.url
    page.reload()
    main(page).get_by_role("heading", name="Skipped").wait_for()
    settle(page)
    assert "Pets" in main(page).inner_text()
    assert page.get_by_label("User name").count() == 0
    tab = new_page(context)
    tab.goto(address)
    main(tab).get_by_role("heading", name="Skipped").wait_for()
    settle(tab)
    assert "Pets" in main(tab).inner_text()
    shot(tab, "sessions_new_tab_skipped")
    context.close()


def test_a_bookmark_opened_signed_out_shows_sign_in_then_that_page(seeded, browser):
    server, pid = seeded
    context = browser.new_context()
    page = new_page(context)
    page.goto(f"{server.url}/skipped?project={pid}")
    sign_in_form_shown(page)
    assert "Page not found" not in page.inner_text("body")
    sign_in(page)
    main(page).get_by_role("heading", name="Skipped").wait_for()
    settle(page)
    assert "Pets" in main(page).inner_text()
    context.close()


def test_signing_out_ends_the_other_tab_at_its_next_step(seeded, browser):
    server, _ = seeded
    context = browser.new_context()
    page = new_page(context)
    sign_in(page, url=server.url)
    wait_cookie(page)
    other = new_page(context)
    other.goto(server.url)
    sidebar(other).get_by_test_id("stSidebarNav").wait_for()
    wait_idle(other)
    sidebar(page).get_by_role("button", name="Sign out").click()
    sign_in_form_shown(page)
    wait_cookie(page, present=False)
    # the other tab's next step (any rerun) finds the sign-in ended
    sidebar(other).get_by_test_id("stSidebarNav").get_by_role("link", name="Skipped", exact=True).click()
    sign_in_form_shown(other)
    assert "Your sign-in has ended" in main(other).inner_text()
    other.reload()
    sign_in_form_shown(other)
    context.close()


def test_deactivating_a_user_ends_their_session(seeded, browser):
    server, _ = seeded
    lena_ctx, admin_ctx = browser.new_context(), browser.new_context(viewport={"width": 1400, "height": 1400})
    lena = new_page(lena_ctx)
    sign_in(lena, "lena-secret-1", "lena", url=server.url)
    wait_cookie(lena)
    admin = new_page(admin_ctx)
    sign_in(admin, url=server.url)
    open_project(admin, "Pets")
    main(admin).get_by_role("tab", name="Settings").click()
    settle(admin)
    main(admin).get_by_role("tab", name="Team").click()
    settle(admin)
    main(admin).get_by_role("combobox", name="Account").click()
    admin.get_by_role("option", name="Lena (lena)").click()
    settle(admin)
    main(admin).get_by_role("button", name="Deactivate").click()
    settle(admin)
    admin.get_by_text("Deactivated: lena").wait_for()
    shot(admin, "sessions_team_deactivated")
    sidebar(lena).get_by_test_id("stSidebarNav").get_by_role("link", name="Skipped", exact=True).click()
    sign_in_form_shown(lena)
    lena.reload()
    sign_in_form_shown(lena)
    sign_in_attempt = lena.get_by_label("User name")
    sign_in_attempt.fill("lena")
    lena.get_by_role("textbox", name="Password").fill("lena-secret-1")
    lena.get_by_role("button", name="Sign in").click()
    lena.get_by_text("do not match").wait_for()
    lena_ctx.close()
    admin_ctx.close()


def session_id_frames(page) -> list[str]:  # type: ignore[no-untyped-def]
    """Collects the Streamlit session ids the server sends this page (its NewSession message)."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    ids: list[str] = []

    def on_frame(payload) -> None:  # type: ignore[no-untyped-def]
        if isinstance(payload, bytes | bytearray):
            msg = ForwardMsg()
            try:
                msg.ParseFromString(bytes(payload))
            except Exception:  # not a ForwardMsg
                return
            if msg.WhichOneof("type") == "new_session" and msg.new_session.initialize.session_id:
                ids.append(msg.new_session.initialize.session_id)

    page.on("websocket", lambda ws: ws.on("framereceived", on_frame))
    return ids


def test_a_stolen_streamlit_session_id_lands_on_sign_in(seeded, browser):
    server, _ = seeded
    admin_ctx = browser.new_context()
    admin = new_page(admin_ctx)
    ids = session_id_frames(admin)
    sign_in(admin, url=server.url)
    wait_cookie(admin)
    open_project(admin, "Pets")
    assert ids, "no NewSession message seen"
    stolen = ids[-1]  # the admin's live Streamlit session
    assert re.fullmatch(r"[0-9a-f-]{36}", stolen), stolen

    thief_ctx = browser.new_context()  # no cookies: only the session id, in the websocket's subprotocols
    thief_ctx.add_init_script(INJECT_WS_JS % repr(stolen))
    thief = new_page(thief_ctx)
    thief.goto(server.url)
    sign_in_form_shown(thief)
    assert thief.evaluate("() => window.__wsInjected") >= 1
    shot(thief, "sessions_stolen_id_sign_in")
    assert "Projects" not in main(thief).inner_text()
    thief_ctx.close()
    log = server.log_tail(200_000)
    assert "Ignoring reconnect to logged-out session id" in log  # the id reached the server and was refused
    assert stolen not in log  # and the log does not print it

    # the admin's session was not touched: same session, project still open, no new sign-in
    sidebar(admin).get_by_test_id("stSidebarNav").get_by_role("link", name="Skipped", exact=True).click()
    main(admin).get_by_role("heading", name="Skipped").wait_for()
    settle(admin)
    assert "Pets" in main(admin).inner_text()
    assert ids[-1] == stolen
    admin_ctx.close()


def test_a_markdown_skip_reason_is_plain_text_on_the_skipped_page(seeded, browser):
    server, _ = seeded
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = new_page(context)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    sign_in(page, url=server.url)
    open_project(page, "Pets")
    go(page, "Skipped")
    text = main(page).inner_text().replace(JOIN, "")
    assert ATTACK in text
    assert main(page).locator("a[href*='example.com']").count() == 0
    assert main(page).locator("img[src*='example.com']").count() == 0
    assert not [u for u in requests if "example.com" in u]
    shot(page, "sessions_skipped_plain_reason")
    context.close()


def test_repeated_wrong_passwords_are_slowed_down_in_words(seeded, browser):
    """Wrong passwords in a row: after the account's free tries the page says how long to wait, and nobody is
    signed in. (Waits double from 2 s, so on a slow machine the message may need a few more tries.)"""
    server, _ = seeded
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = new_page(context)
    page.goto(server.url)
    form = main(page)
    for k in range(12):
        page.get_by_label("User name").fill("admin")
        page.get_by_role("textbox", name="Password").fill(f"wrong-{k}")
        page.get_by_role("button", name="Sign in").click()
        wait_idle(page)
        if form.get_by_text("Too many failed sign-ins").count():
            break
    else:
        pytest.fail("twelve wrong passwords in a row were never slowed down")
    assert k >= 5, f"slowed down after only {k + 1} tries (the account has 5 free ones)"
    assert re.search(r"Wait \d+ (s|min)", form.inner_text()), form.inner_text()
    assert sidebar(page).get_by_test_id("stSidebarNav").count() == 0
    shot(page, "sessions_backoff")
    context.close()
