"""Accounts: password hashing (scrypt, from the standard library), sign-in with back-off, and the changes
that end a user's sessions (a new password, deactivation).

A hash names its scrypt parameters (``scrypt$n=131072,r=8,p=1$SALT$DIGEST``), so hashes made with older,
weaker parameters (the first format, ``scrypt$SALT$DIGEST``, was N=2**14) still verify and are replaced by a
hash at today's cost on the next successful sign-in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass

from core import sessions
from core import sign_in_backoff as backoff
from core.domain import NotFound, Role, User, ValidationError
from core.permissions import SYSTEM, require_admin
from core.store import Store


@dataclass(frozen=True)
class ScryptCost:
    n: int
    r: int = 8
    p: int = 1

    @property
    def maxmem(self) -> int:
        return 128 * self.r * self.n * 2 + 1024 * 1024  # scrypt needs 128*r*N bytes; room to spare

    def text(self) -> str:
        return f"n={self.n},r={self.r},p={self.p}"


COST = ScryptCost(n=2**17)  # about 0.4 s and 128 MiB per hash on a 2024 server core
LEGACY_COST = ScryptCost(n=2**14)  # hashes without parameters were made with this
# The test suite (``ANNOTA_TEST=1``, set by tests/conftest.py only) hashes the many users it creates at the
# old, cheaper cost; tests of the cost itself pass ``cost=COST``. Never set ANNOTA_TEST on a server.
TEST_COST = LEGACY_COST


def current_cost() -> ScryptCost:
    return TEST_COST if os.environ.get("ANNOTA_TEST") == "1" else COST


def hash_password(password: str, cost: ScryptCost | None = None) -> str:
    cost = cost or current_cost()
    salt = os.urandom(16)
    digest = _scrypt(password, salt, cost)
    return f"scrypt${cost.text()}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def _scrypt(password: str, salt: bytes, cost: ScryptCost) -> bytes:
    return hashlib.scrypt(
        password.encode(), salt=salt, n=cost.n, r=cost.r, p=cost.p, dklen=32, maxmem=cost.maxmem
    )


def hash_cost(stored: str) -> ScryptCost | None:
    """The parameters a stored hash was made with (None: not a hash this module reads)."""
    parts = stored.split("$")
    if parts[0] != "scrypt":
        return None
    if len(parts) == 3:
        return LEGACY_COST
    if len(parts) != 4:
        return None
    try:
        fields = dict(kv.split("=", 1) for kv in parts[1].split(","))
        return ScryptCost(n=int(fields["n"]), r=int(fields["r"]), p=int(fields["p"]))
    except (KeyError, ValueError):
        return None


def verify_password(password: str, stored: str) -> bool:
    cost = hash_cost(stored)
    if cost is None:
        return False
    salt_b64, digest_b64 = stored.split("$")[-2:]
    try:
        digest = _scrypt(password, base64.b64decode(salt_b64), cost)
        return hmac.compare_digest(digest, base64.b64decode(digest_b64))
    except ValueError:
        return False


def needs_rehash(stored: str, cost: ScryptCost | None = None) -> bool:
    """Whether a hash was made with weaker parameters than ``cost`` (today's when None)."""
    have, want = hash_cost(stored), cost or current_cost()
    return have is None or (have.n, have.r, have.p) < (want.n, want.r, want.p)


def _user(row: tuple) -> User:
    return User(id=row[0], username=row[1], role=Role(row[2]), display_name=row[3])


def _check_password(password: str) -> None:
    if len(password or "") < 6:
        raise ValidationError("A password needs at least 6 characters.")


def create_user(
    store: Store,
    username: str,
    password: str,
    role: Role | str = Role.LABELER,
    display_name: str = "",
    *,
    by: User,
) -> User:
    """A new account; only an admin (or ``permissions.SYSTEM``: the first admin, the CLI) creates one."""
    require_admin(by)
    username = (username or "").strip().lower()
    if not username or not username.replace("_", "").replace("-", "").replace(".", "").isalnum():
        raise ValidationError("A user name is letters, digits, '.', '-' or '_'.")
    _check_password(password)
    if store.scalar("SELECT count(*) FROM users WHERE username = ?", [username]):
        raise ValidationError(f"The user name {username!r} is taken.")
    row = store.execute(
        "INSERT INTO users (username, display_name, role, password_hash) VALUES (?, ?, ?, ?)"
        " RETURNING id, username, role, display_name",
        [username, display_name.strip() or username, Role(role).value, hash_password(password)],
    )[0]
    return _user(row)


_DUMMY_HASH: dict[str, str] = {}


def authenticate(store: Store, username: str, password: str) -> User | None:
    """The active user with this name and password, or None. A match on an old hash stores a new one at
    today's cost. (No back-off here: ``sign_in`` is the door for people.)"""
    row = store.query_one(
        "SELECT id, username, role, display_name, password_hash FROM users WHERE username = ? AND active",
        [(username or "").strip().lower()],
    )
    if row is None:
        # spend the same time as a real check, so the answer's speed does not tell which names exist
        key = current_cost().text()
        dummy = _DUMMY_HASH.setdefault(key, hash_password(secrets.token_hex(8)))
        verify_password(password or "", dummy)
        return None
    if not verify_password(password or "", row[4]):
        return None
    if needs_rehash(row[4]):
        store.execute(
            "UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?",
            [hash_password(password), row[0], row[4]],
        )
    return _user(row)


class TooManyTries(ValidationError):
    """Sign-in refused without checking the password: too many failures for the account or the client."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(
            "Too many failed sign-ins for this account or from this computer. "
            f"Wait {backoff.in_words(seconds)} and try again."
        )


def sign_in(store: Store, username: str, password: str, client: str | None = None) -> User | None:
    """A person signing in from ``client`` (the browser's address; None: this machine or unknown). Returns
    the user, or None for a wrong name or password; raises ``TooManyTries`` while the account or the client
    must wait. Without an address only the account counts (behind a proxy on this machine every browser
    would share one count, and one person's typos would lock everyone out)."""
    keys = [backoff.user_key(username)] + ([backoff.client_key(client)] if client else [])
    wait = backoff.wait_seconds(store, keys)
    if wait > 0:
        raise TooManyTries(wait)
    user = authenticate(store, username, password)
    if user is None:
        backoff.record_failure(store, keys)
        return None
    backoff.clear(store, keys[:1])  # the client's count fades with time (another account must not reset it)
    return user


def get_user(store: Store, username: str) -> User:
    row = store.query_one("SELECT id, username, role, display_name FROM users WHERE username = ?", [username])
    if row is None:
        raise NotFound(f"No user {username!r}.")
    return _user(row)


def list_users(store: Store) -> list[User]:
    return [_user(r) for r in store.query("SELECT id, username, role, display_name FROM users ORDER BY id")]


def is_active(store: Store, username: str) -> bool:
    return bool(store.scalar("SELECT active FROM users WHERE username = ?", [username]))


def inactive_usernames(store: Store) -> set[str]:
    return {r[0] for r in store.query("SELECT username FROM users WHERE NOT active")}


def set_password(store: Store, username: str, password: str) -> None:
    """A new password; every session of the user ends (the caller signs the current one in again), and a
    first password annota made up no longer needs changing."""
    _check_password(password)
    user = get_user(store, username)
    store.execute(
        "UPDATE users SET password_hash = ?, must_change_password = false WHERE id = ?",
        [hash_password(password), user.id],
    )
    sessions.revoke_user_sessions(store, user.id)


def must_change_password(store: Store, username: str) -> bool:
    return bool(store.scalar("SELECT must_change_password FROM users WHERE username = ?", [username]))


def set_active(store: Store, username: str, active: bool, *, by: User) -> None:
    """Deactivate (no sign-in, every session ends at its next step) or reactivate a user; an admin's
    power (``by``). The last active administrator cannot be deactivated, nor can ``by`` deactivate
    themself."""
    require_admin(by)
    user = get_user(store, username)
    if not active and user.id == by.id:
        raise ValidationError("You cannot deactivate your own account.")
    if not active and user.role is Role.ADMIN:
        admins = store.scalar(
            "SELECT count(*) FROM users WHERE role = 'admin' AND active AND id <> ?", [user.id]
        )
        if not admins:
            raise ValidationError("The last active administrator cannot be deactivated.")
    store.execute("UPDATE users SET active = ? WHERE id = ?", [active, user.id])
    if not active:
        sessions.revoke_user_sessions(store, user.id)


def ensure_admin(store: Store) -> tuple[str, str] | None:
    """On a first start, create the ``admin`` account; returns (user, password) when it did. A password
    annota made up (no ``ANNOTA_ADMIN_PASSWORD``) must be changed at the first sign-in."""
    if store.scalar("SELECT count(*) FROM users"):
        return None
    chosen = os.environ.get("ANNOTA_ADMIN_PASSWORD")
    password = chosen or secrets.token_urlsafe(9)
    user = create_user(store, "admin", password, Role.ADMIN, "Administrator", by=SYSTEM)
    if not chosen:
        store.execute("UPDATE users SET must_change_password = true WHERE id = ?", [user.id])
    return "admin", password
