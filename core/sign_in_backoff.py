"""Back-off after failed sign-ins, per account and per client (the browser's network address).

Each key (``user:NAME``, ``client:ADDRESS``) gets a few free failures; after those, every further failure
makes the key wait twice as long before the next try (2 s, 4 s, 8 s, ... up to 15 min). A success clears
the keys it used; failures an hour old are forgotten. The counts live in the store, so every server thread
and session sees the same ones.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from core.store import Store
from core.store.labels import utcnow


@dataclass(frozen=True)
class Policy:
    free: int  # failures allowed before any wait
    base_s: float  # the first wait
    max_s: float  # the longest wait
    forget_after_s: float  # failures older than this (since the last one) are forgotten


USER_POLICY = Policy(free=5, base_s=2.0, max_s=15 * 60.0, forget_after_s=3600.0)
CLIENT_POLICY = Policy(free=10, base_s=2.0, max_s=15 * 60.0, forget_after_s=3600.0)


def user_key(username: str) -> str:
    return "user:" + (username or "").strip().lower()


def client_key(address: str | None) -> str:
    return "client:" + (address or "local")


def _policy(key: str) -> Policy:
    return CLIENT_POLICY if key.startswith("client:") else USER_POLICY


def wait_after(failures: int, policy: Policy) -> float:
    """Seconds to wait after ``failures`` failures in a row (0 while they are within the free ones)."""
    extra = failures - policy.free
    if extra < 0:
        return 0.0
    return min(policy.max_s, policy.base_s * 2.0 ** min(extra, 30))


def wait_seconds(store: Store, keys: Iterable[str], *, now: datetime | None = None) -> float:
    """How long the slowest of ``keys`` must still wait before the next try (0: it may try now)."""
    now = now or utcnow()
    keys = list(keys)
    if not keys:
        return 0.0
    marks = ",".join("?" * len(keys))
    rows = store.query(
        f"SELECT key, failures, last_failure_at FROM sign_in_failures WHERE key IN ({marks})", keys
    )
    longest = 0.0
    for key, failures, last in rows:
        policy = _policy(key)
        since = (now - last).total_seconds()
        if since > policy.forget_after_s:
            continue
        longest = max(longest, wait_after(failures, policy) - since)
    return max(0.0, longest)


def record_failure(store: Store, keys: Iterable[str], *, now: datetime | None = None) -> None:
    """Count one failed try against each key (a count older than the forget time starts again at 1)."""
    now = now or utcnow()

    def write(cur: Any) -> None:
        for key in keys:
            forget = now - timedelta(seconds=_policy(key).forget_after_s)
            cur.execute(
                "INSERT INTO sign_in_failures (key, failures, last_failure_at) VALUES (?, 1, ?)"
                " ON CONFLICT (key) DO UPDATE SET failures = CASE WHEN sign_in_failures.last_failure_at < ?"
                " THEN 1 ELSE sign_in_failures.failures + 1 END, last_failure_at = excluded.last_failure_at",
                [key, now, forget],
            )

    store.write(write)


def clear(store: Store, keys: Iterable[str]) -> None:
    """Forget the failures of ``keys`` (after a successful sign-in)."""
    keys = list(keys)
    if keys:
        store.execute(f"DELETE FROM sign_in_failures WHERE key IN ({','.join('?' * len(keys))})", keys)


def failures(store: Store, key: str) -> int:
    return int(store.scalar("SELECT failures FROM sign_in_failures WHERE key = ?", [key]) or 0)


def in_words(seconds: float) -> str:
    """'45 s', '2 min 8 s', '15 min'."""
    s = max(1, int(seconds + 0.999))
    if s < 60:
        return f"{s} s"
    m, s = divmod(s, 60)
    return f"{m} min {s} s" if s else f"{m} min"
