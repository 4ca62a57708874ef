"""Sign-in sessions: a random token the browser keeps (a cookie), stored here only as its SHA-256.

A session lasts ``session_hours()`` from its start (``$ANNOTA_SESSION_HOURS``, default 12) unless it is
revoked first: by signing out, by a password change, or by an administrator deactivating the user (those
end every session of the user). ``user_for_token`` is the one check: a token that is unknown, expired or
revoked, or whose user is inactive, signs nobody in.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from core.domain import Role, User, ValidationError
from core.store import Store
from core.store.labels import utcnow

SESSION_HOURS_ENV = "ANNOTA_SESSION_HOURS"
DEFAULT_SESSION_HOURS = 12.0


def session_hours() -> float:
    """How long a sign-in lasts, in hours: ``$ANNOTA_SESSION_HOURS`` (a positive number) or 12."""
    raw = os.environ.get(SESSION_HOURS_ENV, "").strip()
    if not raw:
        return DEFAULT_SESSION_HOURS
    try:
        hours = float(raw)
    except ValueError:
        raise ValidationError(f"{SESSION_HOURS_ENV} must be a number of hours, not {raw!r}.") from None
    if not 0 < hours <= 24 * 366:
        raise ValidationError(f"{SESSION_HOURS_ENV} must be more than 0 and at most a year of hours.")
    return hours


def hash_token(token: str) -> str:
    """The stored form of a token (SHA-256, hex): the store never holds a token that works in a browser."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Session:
    token_hash: str
    user_id: int
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_seen_at: datetime | None


@dataclass(frozen=True)
class NewSession:
    """A session just started: ``token`` goes to the browser once and is not kept anywhere else."""

    token: str
    session: Session


_COLS = "token_hash, user_id, created_at, expires_at, revoked_at, last_seen_at"


def start_session(
    store: Store, user_id: int, *, hours: float | None = None, now: datetime | None = None
) -> NewSession:
    """A new session for ``user_id`` lasting ``hours`` (``session_hours()`` when None)."""
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    expires = now + timedelta(hours=session_hours() if hours is None else hours)
    row = store.execute(
        f"INSERT INTO sessions (token_hash, user_id, created_at, expires_at, last_seen_at) VALUES (?, ?, ?, ?, ?)"
        f" RETURNING {_COLS}",
        [hash_token(token), user_id, now, expires, now],
    )[0]
    return NewSession(token, Session(*row))


def get_session(store: Store, token_hash: str) -> Session | None:
    row = store.query_one(f"SELECT {_COLS} FROM sessions WHERE token_hash = ?", [token_hash])
    return Session(*row) if row else None


def user_for_hash(store: Store, token_hash: str, *, now: datetime | None = None) -> User | None:
    """The active user of a live session (neither expired nor revoked), or None."""
    row = store.query_one(
        "SELECT u.id, u.username, u.role, u.display_name FROM sessions s JOIN users u ON u.id = s.user_id"
        " WHERE s.token_hash = ? AND s.revoked_at IS NULL AND s.expires_at > ? AND u.active",
        [token_hash, now or utcnow()],
    )
    if row is None:
        return None
    return User(id=row[0], username=row[1], role=Role(row[2]), display_name=row[3])


def user_for_token(store: Store, token: str | None, *, now: datetime | None = None) -> User | None:
    """The user a browser's token signs in, or None (no token, unknown, expired, revoked, inactive user)."""
    if not token:
        return None
    return user_for_hash(store, hash_token(token), now=now)


def touch(store: Store, token_hash: str, *, now: datetime | None = None) -> None:
    """Note that the session was used (``last_seen_at``)."""
    store.execute("UPDATE sessions SET last_seen_at = ? WHERE token_hash = ?", [now or utcnow(), token_hash])


def revoke(store: Store, token_hash: str) -> None:
    """End one session (sign out)."""
    store.execute(
        "UPDATE sessions SET revoked_at = ? WHERE token_hash = ? AND revoked_at IS NULL",
        [utcnow(), token_hash],
    )


def revoke_user_sessions(store: Store, user_id: int) -> int:
    """End every live session of a user (password change, deactivation); returns how many ended."""

    def tx(cur: Any) -> int:
        # no UPDATE ... RETURNING: DuckDB would write whole rows back over a concurrent change (last_seen_at)
        n = int(
            cur.execute(
                "SELECT count(*) FROM sessions WHERE user_id = ? AND revoked_at IS NULL", [user_id]
            ).fetchone()[0]
        )
        cur.execute(
            "UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL", [utcnow(), user_id]
        )
        return n

    return store.write(tx)


def live_sessions(store: Store, user_id: int, *, now: datetime | None = None) -> list[Session]:
    rows = store.query(
        f"SELECT {_COLS} FROM sessions WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ?"
        " ORDER BY created_at",
        [user_id, now or utcnow()],
    )
    return [Session(*r) for r in rows]


def forget_old_sessions(store: Store, *, older_than_days: float = 30, now: datetime | None = None) -> int:
    """Delete sessions that ended (expired or revoked) more than ``older_than_days`` ago."""
    cutoff = (now or utcnow()) - timedelta(days=older_than_days)

    def tx(cur: Any) -> int:
        where = "FROM sessions WHERE expires_at < ? OR revoked_at < ?"
        n = int(cur.execute(f"SELECT count(*) {where}", [cutoff, cutoff]).fetchone()[0])
        cur.execute(f"DELETE {where}", [cutoff, cutoff])
        return n

    return store.write(tx)
