import pytest

from core import auth
from core.domain import Role, ValidationError
from core.permissions import SYSTEM


def test_create_and_authenticate(store):
    u = auth.create_user(store, "Alice", "secret-1", Role.LABELER, "Alice A.", by=SYSTEM)
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
        auth.create_user(store, name, pw, by=SYSTEM)


def test_duplicate_user(store):
    auth.create_user(store, "bob", "secret-1", by=SYSTEM)
    with pytest.raises(ValidationError, match="taken"):
        auth.create_user(store, "BOB", "secret-2", by=SYSTEM)


def test_first_start_creates_admin_once(store, monkeypatch):
    monkeypatch.setenv("ANNOTA_ADMIN_PASSWORD", "first-pass")
    assert auth.ensure_admin(store) == ("admin", "first-pass")
    assert auth.ensure_admin(store) is None
    assert auth.authenticate(store, "admin", "first-pass").role is Role.ADMIN
    auth.set_password(store, "admin", "changed-pass")
    assert auth.authenticate(store, "admin", "first-pass") is None


# -- hashing cost and rehash ---------------------------------------------------------------------


def test_production_cost_is_at_least_2_to_17_and_named_in_the_hash(monkeypatch):
    monkeypatch.delenv("ANNOTA_TEST", raising=False)
    assert auth.current_cost().n >= 2**17
    stored = auth.hash_password("secret-1")
    assert stored.startswith("scrypt$n=131072,r=8,p=1$")
    assert auth.verify_password("secret-1", stored) and not auth.verify_password("secret-2", stored)
    assert not auth.needs_rehash(stored)


def _legacy_hash(password: str) -> str:
    """A hash in the first format (no parameters, N=2**14), as stores made before the change hold."""
    import base64
    import hashlib
    import os

    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def test_old_hash_still_verifies_and_is_replaced_at_the_next_sign_in(store, monkeypatch):
    monkeypatch.delenv("ANNOTA_TEST", raising=False)
    auth.create_user(store, "olga", "secret-1", by=SYSTEM)
    store.execute("UPDATE users SET password_hash = ? WHERE username = 'olga'", [_legacy_hash("secret-1")])
    assert auth.needs_rehash(store.scalar("SELECT password_hash FROM users WHERE username = 'olga'"))
    assert auth.authenticate(store, "olga", "wrong-1") is None  # a failure keeps the old hash
    assert store.scalar("SELECT password_hash FROM users WHERE username = 'olga'").count("$") == 2
    assert auth.authenticate(store, "olga", "secret-1").username == "olga"
    new = store.scalar("SELECT password_hash FROM users WHERE username = 'olga'")
    assert new.startswith("scrypt$n=131072,r=8,p=1$")
    assert auth.authenticate(store, "olga", "secret-1").username == "olga"


@pytest.mark.parametrize(
    "stored", ["", "bcrypt$x$y", "scrypt$n=abc$x$y", "scrypt$x", "scrypt$n=16384,r=8,p=1$!!$??"]
)
def test_malformed_hashes_never_verify(stored):
    assert auth.verify_password("anything", stored) is False


# -- back-off --------------------------------------------------------------------------------------


def test_wrong_passwords_lead_to_a_growing_wait_with_a_clear_message(store):
    from core import sign_in_backoff as backoff

    auth.create_user(store, "tom", "secret-1", by=SYSTEM)
    for _ in range(backoff.USER_POLICY.free):
        assert auth.sign_in(store, "tom", "wrong-pw", client="10.0.0.7") is None
    # the next try is refused before the password is even checked, the right one included
    with pytest.raises(auth.TooManyTries, match=r"Too many failed sign-ins .* Wait \d+ s and try again"):
        auth.sign_in(store, "tom", "secret-1", client="10.0.0.7")
    assert backoff.failures(store, "user:tom") == backoff.USER_POLICY.free


def test_waits_double_and_are_capped():
    from core.sign_in_backoff import USER_POLICY, wait_after

    free = USER_POLICY.free
    assert [wait_after(free - 1 + k, USER_POLICY) for k in range(4)] == [0.0, 2.0, 4.0, 8.0]
    assert wait_after(free + 40, USER_POLICY) == USER_POLICY.max_s


def test_the_wait_ends_and_a_success_clears_the_account(store):
    from datetime import timedelta

    from core import sign_in_backoff as backoff
    from core.store.labels import utcnow

    auth.create_user(store, "tom", "secret-1", by=SYSTEM)
    keys = [backoff.user_key("tom"), backoff.client_key(None)]
    then = utcnow() - timedelta(seconds=30)
    for _ in range(backoff.USER_POLICY.free + 2):  # 7 failures half a minute ago: a wait of 8 s, over now
        backoff.record_failure(store, keys, now=then)
    assert backoff.wait_seconds(store, keys, now=then) == pytest.approx(8.0)
    assert backoff.wait_seconds(store, keys) == 0
    assert auth.sign_in(store, "tom", "secret-1").username == "tom"
    assert backoff.failures(store, "user:tom") == 0
    assert backoff.failures(store, "client:local") == backoff.USER_POLICY.free + 2  # fades with time only


def test_one_client_trying_many_accounts_is_slowed_too(store):
    from core import sign_in_backoff as backoff

    for n in range(backoff.CLIENT_POLICY.free):
        assert auth.sign_in(store, f"guess{n}", "wrong-pw", client="10.0.0.9") is None
    with pytest.raises(auth.TooManyTries):
        auth.sign_in(store, "someone-else", "wrong-pw", client="10.0.0.9")
    assert auth.sign_in(store, "someone-else", "wrong-pw", client="10.0.0.10") is None  # another client may


def test_old_failures_are_forgotten(store):
    from datetime import timedelta

    from core import sign_in_backoff as backoff
    from core.store.labels import utcnow

    long_ago = utcnow() - timedelta(hours=2)
    for _ in range(20):
        backoff.record_failure(store, ["user:tom"], now=long_ago)
    assert backoff.wait_seconds(store, ["user:tom"]) == 0
    backoff.record_failure(store, ["user:tom"])
    assert backoff.failures(store, "user:tom") == 1


# -- first password, deactivation --------------------------------------------------------------------


def test_made_up_first_password_must_be_changed(store, monkeypatch):
    monkeypatch.delenv("ANNOTA_ADMIN_PASSWORD", raising=False)
    _, password = auth.ensure_admin(store)
    assert auth.must_change_password(store, "admin")
    auth.set_password(store, "admin", "my-own-pass")
    assert not auth.must_change_password(store, "admin")
    assert auth.authenticate(store, "admin", password) is None


def test_a_chosen_first_password_need_not_change(store, monkeypatch):
    monkeypatch.setenv("ANNOTA_ADMIN_PASSWORD", "chosen-pass")
    auth.ensure_admin(store)
    assert not auth.must_change_password(store, "admin")


def test_deactivated_user_cannot_sign_in_and_the_last_admin_stays(store, monkeypatch):
    monkeypatch.setenv("ANNOTA_ADMIN_PASSWORD", "chosen-pass")
    auth.ensure_admin(store)
    auth.create_user(store, "lena", "secret-1", by=SYSTEM)
    auth.set_active(store, "lena", False, by=SYSTEM)
    assert auth.authenticate(store, "lena", "secret-1") is None
    assert auth.inactive_usernames(store) == {"lena"}
    auth.set_active(store, "lena", True, by=SYSTEM)
    assert auth.authenticate(store, "lena", "secret-1").username == "lena"
    with pytest.raises(ValidationError, match="last active administrator"):
        auth.set_active(store, "admin", False, by=SYSTEM)


def test_without_a_client_address_only_the_account_counts(store):
    from core import sign_in_backoff as backoff

    for n in range(backoff.CLIENT_POLICY.free + 2):
        assert auth.sign_in(store, f"guess{n}", "wrong-pw", client=None) is None
    assert backoff.failures(store, "client:local") == 0
    auth.create_user(store, "tom", "secret-1", by=SYSTEM)
    assert auth.sign_in(store, "tom", "secret-1").username == "tom"


def test_only_an_admin_creates_accounts(store):
    from core.permissions import Forbidden

    admin = auth.create_user(store, "boss", "secret-123", Role.ADMIN, by=SYSTEM)
    lena = auth.create_user(store, "lena", "secret-123", Role.LABELER, by=admin)
    with pytest.raises(Forbidden, match="lena may not manage users"):
        auth.create_user(store, "mallory", "secret-123", Role.ADMIN, by=lena)
    assert store.scalar("SELECT count(*) FROM users WHERE username = 'mallory'") == 0
