import pytest

from core import auth
from core.domain import Role, ValidationError


def test_create_and_authenticate(store):
    u = auth.create_user(store, "Alice", "secret-1", Role.LABELER, "Alice A.")
    assert u.username == "alice" and u.role is Role.LABELER
    assert auth.authenticate(store, "alice", "secret-1") == u
    assert auth.authenticate(store, "alice", "wrong") is None
    assert auth.authenticate(store, "nobody", "secret-1") is None
    stored = store.scalar("SELECT password_hash FROM users WHERE username = 'alice'")
    assert "secret-1" not in stored and stored.startswith("scrypt$")


@pytest.mark.parametrize(
    "name, pw, msg",
    [("", "secret-1", "user name"), ("a b", "secret-1", "user name"), ("bob", "123", "6 characters")],
)
def test_bad_accounts(store, name, pw, msg):
    with pytest.raises(ValidationError, match=msg):
        auth.create_user(store, name, pw)


def test_duplicate_user(store):
    auth.create_user(store, "bob", "secret-1")
    with pytest.raises(ValidationError, match="taken"):
        auth.create_user(store, "BOB", "secret-2")


def test_first_start_creates_admin_once(store, monkeypatch):
    monkeypatch.setenv("ANNOTA_ADMIN_PASSWORD", "first-pass")
    assert auth.ensure_admin(store) == ("admin", "first-pass")
    assert auth.ensure_admin(store) is None
    assert auth.authenticate(store, "admin", "first-pass").role is Role.ADMIN
    auth.set_password(store, "admin", "changed-pass")
    assert auth.authenticate(store, "admin", "first-pass") is None
