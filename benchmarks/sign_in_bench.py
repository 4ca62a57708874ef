"""Sign-in costs: a password check at the old and the new scrypt cost, 25 wrong tries against the back-off,
and the per-rerun session check (``user_for_hash``) with many sessions in the store.

python -m benchmarks.sign_in_bench        (ANNOTA_BENCH_SESSIONS to change the session count)
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from benchmarks.common import median, percentile, print_table, write_json
from core import auth, sessions
from core.permissions import SYSTEM
from core.store import Store


def main() -> None:
    os.environ.pop("ANNOTA_TEST", None)  # the production cost
    n_sessions = int(os.environ.get("ANNOTA_BENCH_SESSIONS", "20000"))
    rows = []
    out: dict[str, object] = {"sessions": n_sessions}
    for label, cost in (("scrypt N=2^14 (before)", auth.LEGACY_COST), ("scrypt N=2^17 (now)", auth.COST)):
        stored = auth.hash_password("a-password", cost)
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            auth.verify_password("a-password", stored)
            times.append(time.perf_counter() - t0)
        rows.append((label, median(times) * 1000))
        out[label] = median(times)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.duckdb")
        auth.create_user(store, "victim", "right-password-1", by=SYSTEM)
        refused = accepted_checks = 0
        t0 = time.perf_counter()
        for _ in range(25):  # the attack of the issue: 25 quick guesses
            try:
                auth.sign_in(store, "victim", "wrong-guess", client="203.0.113.5")
                accepted_checks += 1
            except auth.TooManyTries:
                refused += 1
        spent = time.perf_counter() - t0
        wait = auth.backoff.wait_seconds(store, ["user:victim"])
        rows.append(("25 wrong tries: checked / refused", f"{accepted_checks} / {refused}"))
        rows.append(("  their time (ms)", spent * 1000))
        rows.append(("  wait before the next try (s)", wait))
        out.update(guesses_checked=accepted_checks, guesses_refused=refused, wait_after_s=wait)

        user = auth.create_user(store, "lena", "secret-123", by=SYSTEM)
        cur = store.cursor()
        cur.execute(
            "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) SELECT sha256(i::VARCHAR), ?,"
            " now()::TIMESTAMP, now()::TIMESTAMP + INTERVAL 12 HOUR FROM range(?) t(i)",
            [user.id, n_sessions],
        )
        live = sessions.start_session(store, user.id)
        checks = []
        for _ in range(300):
            t0 = time.perf_counter()
            assert sessions.user_for_hash(store, live.session.token_hash) is not None
            checks.append(time.perf_counter() - t0)
        rows.append((f"session check per rerun, {n_sessions:,} sessions: median (ms)", median(checks) * 1000))
        rows.append(("  p95 (ms)", percentile(checks, 0.95) * 1000))
        out.update(check_median_s=median(checks), check_p95_s=percentile(checks, 0.95))
        store.close()
    print_table("Sign-in", rows, ["what", "value"])
    print(f"\nwritten to {write_json('sign_in', out)}")


if __name__ == "__main__":
    main()
