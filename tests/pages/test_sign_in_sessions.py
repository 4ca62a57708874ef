"""Sign-in sessions through app.py in AppTest: the cookie keeps a browser signed in (a new tab, a reload),
Streamlit's session state alone does not, and signing out, a new password or a deactivation end it.

Each AppTest run comes over a new stand-in connection and ``CookieJar`` plays the browser's cookies (see
tests/pages/browser_cookies.py); two AppTests sharing a jar are two tabs of one browser.
"""

from __future__ import annotations

import pytest

from core import auth, sessions
from core.domain import Role
from core.permissions import SYSTEM
from core.store import projects
from tests.pages.browser_cookies import CookieJar, jar_fixture  # noqa: F401 (the ``jar`` fixture)
from tests.pages.helpers import ADMIN_PASSWORD, make_project, page, texts


def sign_in_form(jar: CookieJar, username: str = "admin", password: str = ADMIN_PASSWORD):  # type: ignore[no-untyped-def]
    at = jar.run(page("app.py"))
    at.text_input[0].input(username)
    at.text_input[1].input(password)
    return jar.take(at.button[0].click().run())


def on_sign_in_page(at) -> bool:  # type: ignore[no-untyped-def]
    return [t.label for t in at.text_input] == ["User name", "Password"] and "user" not in at.session_state


def sidebar_button(at, label: str):  # type: ignore[no-untyped-def]
    return next(b for b in at.sidebar.button if b.label == label)


def test_sign_in_hands_the_browser_a_token_whose_hash_only_is_stored(runtime, jar):
    at = sign_in_form(jar)
    assert not at.exception and at.session_state["user"].username == "admin"
    assert jar.token and len(jar.token) >= 40
    assert sessions.user_for_token(runtime.store, jar.token).username == "admin"
    assert jar.token not in repr(runtime.store.query("SELECT * FROM sessions"))


def test_session_state_alone_grants_nothing(runtime, admin):
    """What a stolen Streamlit session id gives: the server-side state, without the browser's cookie."""
    at = page("app.py", user=admin).run()
    assert not at.exception
    assert on_sign_in_page(at)


def test_a_new_tab_of_the_same_browser_is_signed_in_by_the_cookie(runtime, jar):
    sign_in_form(jar)
    tab = jar.run(page("app.py"))
    assert not tab.exception
    assert tab.session_state["user"].username == "admin"
    assert "Projects" in [t.value for t in tab.title]


def test_another_browser_without_the_cookie_is_not(runtime, jar):
    sign_in_form(jar)
    assert on_sign_in_page(CookieJar().run(page("app.py")))


def test_signing_out_ends_the_other_tab_at_its_next_run(runtime, jar):
    first = sign_in_form(jar)
    second = jar.run(page("app.py"))
    assert second.session_state["user"].username == "admin"
    cookie_of_second = jar.token  # what the second tab's connection sent when it opened
    jar.take(sidebar_button(first, "Sign out").click().run())
    assert on_sign_in_page(first) and jar.token is None
    CookieJar(cookie_of_second).run(second)  # its next run finds the token revoked
    assert on_sign_in_page(second)


def test_a_password_change_ends_the_other_tabs_but_not_this_one(runtime, jar):
    first = sign_in_form(jar)
    old_token = jar.token
    other = CookieJar(old_token)  # the second tab's connection opened with the old cookie
    second = other.run(page("app.py"))
    assert second.session_state["user"].username == "admin"
    pw = [t for t in first.sidebar.text_input if t.label in ("New password", "Again")]
    pw[0].input("brand-new-pw")
    pw[1].input("brand-new-pw")
    jar.take(sidebar_button(first, "Change password").click().run())
    assert first.session_state["user"].username == "admin"
    assert jar.token != old_token and sessions.user_for_token(runtime.store, jar.token) is not None
    other.run(second)
    assert on_sign_in_page(second)
    assert "Your sign-in has ended" in texts(second)


def test_deactivating_a_user_ends_their_sessions(runtime, jar):
    auth.create_user(runtime.store, "lena", "secret-123", Role.LABELER, "Lena", by=SYSTEM)
    at = sign_in_form(jar, "lena", "secret-123")
    assert at.session_state["user"].username == "lena"
    auth.set_active(runtime.store, "lena", False, by=SYSTEM)  # what the Team tab's Deactivate does
    jar.run(at)
    assert on_sign_in_page(at)
    again = sign_in_form(jar, "lena", "secret-123")
    assert "do not match" in texts(again)


def test_repeated_wrong_passwords_are_slowed_with_a_clear_message(runtime, jar):
    for _ in range(5):
        at = sign_in_form(jar, "admin", "wrong-password")
        assert "do not match" in texts(at)
    at = sign_in_form(jar, "admin", ADMIN_PASSWORD)  # even the right password waits now
    assert "Too many failed sign-ins" in texts(at) and "try again" in texts(at)
    assert "user" not in at.session_state


def test_a_made_up_first_password_must_be_changed_first(runtime, jar, monkeypatch):
    runtime.store.execute("UPDATE users SET must_change_password = true WHERE username = 'admin'")
    at = sign_in_form(jar)
    assert any("Choose your password" in t.value for t in at.title)
    assert not any(t.value == "Projects" for t in at.title)
    note = runtime.paths.root / "FIRST-SIGN-IN.txt"
    assert note.exists()
    fields = [t for t in at.text_input if t.label in ("New password", "Again")]
    fields[0].input("my-own-password")
    fields[1].input("my-own-password")
    jar.take(next(b for b in at.button if b.label == "Change password").click().run())
    assert not at.exception
    assert "Projects" in [t.value for t in at.title]
    assert not note.exists()
    assert auth.authenticate(runtime.store, "admin", "my-own-password") is not None


def test_the_url_names_the_open_project(runtime, jar):
    first = make_project(runtime, name="Pets")
    second = make_project(runtime, name="Cars")
    sign_in_form(jar)
    tab = page("app.py")
    tab.query_params["project"] = str(second.id)
    jar.run(tab)
    assert tab.session_state["project_id"] == second.id
    assert tab.query_params["project"] == [str(second.id)] or tab.query_params["project"] == str(second.id)
    # opening another project writes it into the URL (so a reload brings it back)
    next(b for b in tab.button if b.label == "Open").click().run()
    assert tab.session_state["project_id"] == first.id
    assert str(tab.query_params["project"]).strip("[]'") == str(first.id)


def test_a_stale_address_in_a_later_run_does_not_reopen_the_project_just_left(runtime, jar):
    """A rerun the browser sends before it has taken the new address (the sidebar just opened another
    project) still names the old project: only a session's first run follows the URL's project."""
    first = make_project(runtime, name="Pets")
    second = make_project(runtime, name="Cars")
    sign_in_form(jar)
    tab = page("app.py")
    tab.query_params["project"] = str(second.id)
    jar.run(tab)
    assert tab.session_state["project_id"] == second.id
    next(b for b in tab.button if b.label == "Open").click().run()
    assert tab.session_state["project_id"] == first.id
    tab.query_params["project"] = str(second.id)  # the stale address of a rerun sent a moment too early
    tab.run()
    assert not tab.exception
    assert tab.session_state["project_id"] == first.id
    assert str(tab.query_params["project"]).strip("[]'") == str(first.id)


@pytest.mark.parametrize("wanted", ["999", "abc"])
def test_a_url_project_that_is_not_open_to_the_user_is_refused_in_words(runtime, jar, wanted):
    make_project(runtime, name="Pets")
    sign_in_form(jar)
    tab = page("app.py")
    tab.query_params["project"] = wanted
    jar.run(tab)
    assert "project_id" not in tab.session_state
    assert any("not open to you" in str(t.value) for t in tab.toast)


def test_a_labeler_cannot_open_a_project_they_are_not_in_by_url(runtime, jar):
    theirs = make_project(runtime, name="Theirs")  # she is a member of this one only
    other = make_project(runtime, name="Other")
    lena = auth.create_user(runtime.store, "lena", "secret-123", Role.LABELER, "Lena", by=SYSTEM)
    projects.add_member(runtime.store, theirs.id, lena.id, by=SYSTEM)
    sign_in_form(jar, "lena", "secret-123")
    tab = page("app.py")
    tab.query_params["project"] = str(other.id)
    jar.run(tab)
    assert "project_id" not in tab.session_state
    assert any("not open to you" in str(t.value) for t in tab.toast)


def test_the_label_screen_keeps_its_item_in_the_url_and_a_reload_reopens_it(runtime, jar, tmp_path):
    from core.store.items import NewItem, add_items
    from tests.pages.helpers import write_pngs

    project = make_project(runtime, name="Pets")
    files = write_pngs(tmp_path / "imgs", 3)
    add_items(runtime.store, project.id, [NewItem(str(f), 64, 48, f"sha{i}") for i, f in enumerate(files)])
    ids = [r[0] for r in runtime.store.query("SELECT id FROM items ORDER BY id")]
    sign_in_form(jar)
    first = page("app.py")
    first.query_params["project"] = str(project.id)
    jar.run(first)
    jar.take(first.switch_page("pages/label.py").run())
    assert not first.exception
    shown = str(first.query_params["item"]).strip("[]'")
    assert shown == str(ids[0])  # the queue's first item, now in the address
    # a reload (a new session) of an address naming the third item opens that one
    reload = page("app.py")
    reload.query_params["project"] = str(project.id)
    reload.query_params["item"] = str(ids[2])
    jar.run(reload.switch_page("pages/label.py"))
    assert not reload.exception
    assert reload.session_state["label_item_id"] == ids[2]
    assert str(reload.query_params["item"]).strip("[]'") == str(ids[2])
