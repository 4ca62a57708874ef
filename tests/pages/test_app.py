"""The shell: sign-in gate, first-start hint, navigation for signed-in users."""

from __future__ import annotations

import pytest

from core.domain import NotFound, ValidationError
from core.store import WriteConflict
from tests.pages.browser_cookies import jar_fixture  # noqa: F401 (the ``jar`` fixture)
from tests.pages.helpers import ADMIN_PASSWORD, ROOT, page, texts
from ui.widgets import explain


def test_signed_out_shows_only_sign_in_with_first_start_hint(runtime):
    at = page("app.py").run()
    assert not at.exception
    body = texts(at)
    assert "FIRST-SIGN-IN.txt" in body
    labels = [t.label for t in at.text_input]
    assert labels == ["User name", "Password"]


def test_wrong_password_is_refused_in_words(runtime):
    at = page("app.py").run()
    at.text_input[0].input("admin")
    at.text_input[1].input("nope-nope")
    at.button[0].click().run()
    assert "do not match" in texts(at)
    assert "user" not in at.session_state


def test_sign_in_then_shell_shows_projects_and_sidebar(runtime, jar):
    at = page("app.py").run()
    at.text_input[0].input("admin")
    at.text_input[1].input(ADMIN_PASSWORD)
    jar.take(at.button[0].click().run())
    assert not at.exception
    assert at.session_state["user"].username == "admin"
    assert "Projects" in [t.value for t in at.title]
    side = "\n".join(str(m.value) for m in at.sidebar.markdown)
    assert "Administrator" in side
    # sign out returns to the sign-in page
    jar.take(next(b for b in at.sidebar.button if b.label == "Sign out").click().run())
    assert "user" not in at.session_state
    assert jar.token is None
    assert [t.label for t in at.text_input] == ["User name", "Password"]


def test_hint_gone_after_admin_changes_password(runtime, jar):
    note = runtime.paths.root / "FIRST-SIGN-IN.txt"
    assert note.exists()
    at = page("app.py").run()
    at.text_input[0].input("admin")
    at.text_input[1].input(ADMIN_PASSWORD)
    jar.take(at.button[0].click().run())
    pw = [t for t in at.sidebar.text_input if t.label in ("New password", "Again")]
    pw[0].input("brand-new-pw")
    pw[1].input("brand-new-pw")
    jar.take(next(b for b in at.sidebar.button if b.label == "Change password").click().run())
    assert not note.exists()
    assert at.session_state["user"].username == "admin"  # this browser stays signed in, on a new token
    assert (ROOT / "app.py").exists()


@pytest.mark.parametrize(
    ("exc", "words"),
    [
        (ValidationError("A project needs a name."), "A project needs a name."),
        (NotFound("Item 3 does not exist."), "Item 3 does not exist."),
        (FileNotFoundError(2, "No such file", "/srv/x.jpg"), "could not be found"),
        (PermissionError(13, "Denied", "/srv/x"), "not allowed to read or write /srv/x"),
        (WriteConflict("busy"), "busy"),
        (RuntimeError("boom"), "Something went wrong (RuntimeError: boom)."),
    ],
)
def test_errors_are_explained_in_words(exc, words):
    assert words in explain(exc)


def test_the_shell_shows_a_toast_a_page_queued_before_its_rerun(runtime, jar):
    """``widgets.rerun_with_toast``: a page queues the toast and reruns; the shell shows it on the run
    after, whichever page that is, once."""
    from ui import widgets

    at = page("app.py").run()
    at.text_input[0].input("admin")
    at.text_input[1].input(ADMIN_PASSWORD)
    jar.take(at.button[0].click().run())
    assert not at.exception and not at.toast
    at.switch_page("pages/export.py")  # a page that does not show pending toasts itself
    at.session_state[widgets.TOAST_KEY] = "Export started."
    at.run()
    assert "Projects" not in [t.value for t in at.title]  # not the page that shows them itself
    assert [t.value for t in at.toast] == ["Export started."]
    assert widgets.TOAST_KEY not in at.session_state
    at.run()
    assert not at.toast  # shown once
