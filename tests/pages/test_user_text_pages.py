"""User text shows as typed on the pages (escaped markdown), and the Team tab's account access."""

from __future__ import annotations

from core import auth, sessions
from core.domain import Role
from core.permissions import SYSTEM
from core.store.items import NewItem, add_items
from core.store.labels import skip_item
from tests.pages.helpers import page, texts, write_pngs

ATTACK = "[click](http://example.com) ![x](http://example.com/x.png)"


def test_a_skip_reason_is_escaped_on_the_skipped_page(runtime, admin, project, tmp_path):
    files = write_pngs(tmp_path / "imgs", 1)
    add_items(runtime.store, project.id, [NewItem(str(files[0]), 64, 48, "sha0")])
    skip_item(runtime.store, 1, author="lena", reason=ATTACK, by=SYSTEM)
    at = page("pages/skipped.py", admin, project.id).run()
    assert not at.exception and not at.error
    body = texts(at)
    assert ATTACK not in body  # never handed to markdown as it is
    assert "\\[click\\]\\(http\\:\u2060//example.com\\)" in body
    assert "\\!\\[x\\]" in body


def test_project_and_member_names_are_escaped_on_the_projects_page(runtime, admin):
    from tests.pages.helpers import make_project

    p = make_project(runtime, name="**Big** :red[news]", description="see [here](http://x.org)")
    at = page("pages/projects.py", admin, p.id).run()
    body = texts(at)
    assert "\\*\\*Big\\*\\* \\:red\\[news\\]" in body and "**Big**" not in body
    assert "see \\[here\\]\\(http\\:\u2060//x.org\\)" in body


def _team_tab(runtime, admin, project):  # type: ignore[no-untyped-def]
    return page("pages/projects.py", admin, project.id, projects_tab="Settings").run()


def test_an_admin_deactivates_and_reactivates_an_account(runtime, admin, project):
    lena = auth.create_user(runtime.store, "lena", "secret-123", Role.LABELER, "Lena", by=SYSTEM)
    live = sessions.start_session(runtime.store, lena.id)
    at = _team_tab(runtime, admin, project)
    at.selectbox(key="access_pick").select("lena").run()
    at.button(key="access_off").click().run()
    assert not at.error, [e.value for e in at.error]
    assert auth.inactive_usernames(runtime.store) == {"lena"}
    assert sessions.user_for_token(runtime.store, live.token) is None
    assert "Deactivated: lena" in texts(at)
    at.selectbox(key="access_pick").select("lena").run()
    at.button(key="access_on").click().run()
    assert auth.inactive_usernames(runtime.store) == set()
    assert auth.authenticate(runtime.store, "lena", "secret-123") is not None


def test_an_admin_cannot_deactivate_themself(runtime, admin, project):
    at = _team_tab(runtime, admin, project)
    at.selectbox(key="access_pick").select("admin").run()
    assert "cannot deactivate your own account" in texts(at)
    assert not [b for b in at.button if b.key == "access_off"]
