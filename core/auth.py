"""Accounts: password hashing (scrypt, from the standard library) and sign-in."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets

from core.domain import NotFound, Role, User, ValidationError
from core.store import Store

_N, _R, _P = 2**14, 8, 1


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, salt_b64, digest_b64 = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    digest = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt_b64), n=_N, r=_R, p=_P, dklen=32)
    return hmac.compare_digest(digest, base64.b64decode(digest_b64))


def _user(row: tuple) -> User:
    return User(id=row[0], username=row[1], role=Role(row[2]), display_name=row[3])


def create_user(
    store: Store, username: str, password: str, role: Role | str = Role.LABELER, display_name: str = ""
) -> User:
    username = (username or "").strip().lower()
    if not username or not username.replace("_", "").replace("-", "").replace(".", "").isalnum():
        raise ValidationError("A user name is letters, digits, '.', '-' or '_'.")
    if len(password or "") < 6:
        raise ValidationError("A password needs at least 6 characters.")
    if store.scalar("SELECT count(*) FROM users WHERE username = ?", [username]):
        raise ValidationError(f"The user name {username!r} is taken.")
    row = store.execute(
        "INSERT INTO users (username, display_name, role, password_hash) VALUES (?, ?, ?, ?)"
        " RETURNING id, username, role, display_name",
        [username, display_name.strip() or username, Role(role).value, hash_password(password)],
    )[0]
    return _user(row)


def authenticate(store: Store, username: str, password: str) -> User | None:
    row = store.query_one(
        "SELECT id, username, role, display_name, password_hash FROM users WHERE username = ? AND active",
        [(username or "").strip().lower()],
    )
    if row is None or not verify_password(password, row[4]):
        return None
    return _user(row)


def get_user(store: Store, username: str) -> User:
    row = store.query_one("SELECT id, username, role, display_name FROM users WHERE username = ?", [username])
    if row is None:
        raise NotFound(f"No user {username!r}.")
    return _user(row)


def list_users(store: Store) -> list[User]:
    return [_user(r) for r in store.query("SELECT id, username, role, display_name FROM users ORDER BY id")]


def set_password(store: Store, username: str, password: str) -> None:
    if len(password or "") < 6:
        raise ValidationError("A password needs at least 6 characters.")
    store.execute(
        "UPDATE users SET password_hash = ? WHERE username = ?", [hash_password(password), username]
    )


def ensure_admin(store: Store) -> tuple[str, str] | None:
    """On a first start, create the ``admin`` account; returns (user, password) when it did."""
    if store.scalar("SELECT count(*) FROM users"):
        return None
    password = os.environ.get("ANNOTA_ADMIN_PASSWORD") or secrets.token_urlsafe(9)
    create_user(store, "admin", password, Role.ADMIN, "Administrator")
    return "admin", password
