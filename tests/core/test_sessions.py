"""Sign-in sessions on a real store: a token signs its user in until it expires or is revoked."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core import auth, sessions
from core.domain import Role, ValidationError
from core.permissions import SYSTEM
from core.store.labels import utcnow


@pytest.fixture
def lena(store):
    return auth.create_user(store, "lena", "secret-1", Role.LABELER, "Lena", by=SYSTEM)


def test_a_token_signs_its_user_in_and_only_its_hash_is_stored(store, lena):
    new = sessions.start_session(store, lena.id)
    assert sessions.user_for_token(store, new.token) == lena
    stored = store.query("SELECT * FROM sessions")
    assert len(stored) == 1
    assert new.token not in repr(stored)
    assert new.session.token_hash == sessions.hash_token(new.token) != new.token


@pytest.mark.parametrize("token", [None, "", "made-up-token"])
def test_no_or_unknown_token_signs_nobody_in(store, lena, token):
    sessions.start_session(store, lena.id)
    assert sessions.user_for_token(store, token) is None


def test_a_session_expires_after_its_hours(store, lena):
    new = sessions.start_session(store, lena.id, hours=12)
    start = new.session.created_at
    assert new.session.expires_at - start == timedelta(hours=12)
    assert sessions.user_for_token(store, new.token, now=start + timedelta(hours=11, minutes=59)) == lena
    assert sessions.user_for_token(store, new.token, now=start + timedelta(hours=12, seconds=1)) is None


def test_signing_out_revokes_that_session_only(store, lena):
    one, two = sessions.start_session(store, lena.id), sessions.start_session(store, lena.id)
    sessions.revoke(store, one.session.token_hash)
    assert sessions.user_for_token(store, one.token) is None
    assert sessions.user_for_token(store, two.token) == lena


def test_a_password_change_ends_every_session_of_that_user_only(store, lena):
    other = auth.create_user(store, "omar", "secret-2", by=SYSTEM)
    mine = [sessions.start_session(store, lena.id) for _ in range(3)]
    his = sessions.start_session(store, other.id)
    auth.set_password(store, "lena", "new-secret")
    assert all(sessions.user_for_token(store, s.token) is None for s in mine)
    assert sessions.user_for_token(store, his.token) == other
    assert sessions.live_sessions(store, lena.id) == []


def test_deactivation_ends_every_session_and_reactivation_does_not_revive_them(store, lena):
    new = sessions.start_session(store, lena.id)
    auth.set_active(store, "lena", False, by=SYSTEM)
    assert sessions.user_for_token(store, new.token) is None
    auth.set_active(store, "lena", True, by=SYSTEM)
    assert sessions.user_for_token(store, new.token) is None


def test_an_inactive_user_s_live_token_signs_nobody_in(store, lena):
    new = sessions.start_session(store, lena.id)
    store.execute("UPDATE users SET active = false WHERE id = ?", [lena.id])  # e.g. set by hand in the store
    assert sessions.user_for_token(store, new.token) is None


def test_touch_and_forget_old_sessions(store, lena):
    old = sessions.start_session(store, lena.id, hours=1, now=utcnow() - timedelta(days=40))
    live = sessions.start_session(store, lena.id)
    later = utcnow() + timedelta(minutes=5)
    sessions.touch(store, live.session.token_hash, now=later)
    assert sessions.get_session(store, live.session.token_hash).last_seen_at == later
    assert sessions.forget_old_sessions(store) == 1
    assert sessions.get_session(store, old.session.token_hash) is None


@pytest.mark.parametrize(("raw", "hours"), [(None, 12.0), ("", 12.0), ("0.5", 0.5), ("48", 48.0)])
def test_session_hours_from_the_environment(monkeypatch, raw, hours):
    if raw is None:
        monkeypatch.delenv(sessions.SESSION_HOURS_ENV, raising=False)
    else:
        monkeypatch.setenv(sessions.SESSION_HOURS_ENV, raw)
    assert sessions.session_hours() == hours


@pytest.mark.parametrize("raw", ["twelve", "0", "-3"])
def test_bad_session_hours_are_refused_in_words(monkeypatch, raw):
    monkeypatch.setenv(sessions.SESSION_HOURS_ENV, raw)
    with pytest.raises(ValidationError, match="ANNOTA_SESSION_HOURS"):
        sessions.session_hours()
