"""Why core never writes ``UPDATE ... RETURNING`` (or ``DELETE ... RETURNING``).

DuckDB 2.0 writes the whole row back for an UPDATE with RETURNING and raises no write conflict, so a
change another transaction committed meanwhile to other columns of that row is silently undone (a
cancel of a running job, a label saved while the queue ranks were cleared). A plain UPDATE of other
columns keeps both changes (same row, same column: a conflict, which ``Store.write`` retries). The
first test pins the behaviour core relies on; the second keeps the pattern out of core.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

CORE = Path(__file__).resolve().parents[2] / "core"


def test_a_plain_update_keeps_a_concurrent_commit_to_other_columns(tmp_path):
    con = duckdb.connect(str(tmp_path / "t.duckdb"))
    con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER, b INTEGER)")
    con.execute("INSERT INTO t VALUES (1, 0, 0)")
    first, second = con.cursor(), con.cursor()
    first.execute("BEGIN")
    first.execute("SELECT * FROM t").fetchall()
    second.execute("UPDATE t SET b = 5 WHERE id = 1")  # committed (autocommit) after `first` began
    first.execute("UPDATE t SET a = 7 WHERE id = 1")
    first.execute("COMMIT")
    assert con.execute("SELECT a, b FROM t").fetchall() == [(7, 5)]  # with RETURNING: (7, 0)


def test_core_has_no_update_or_delete_with_returning():
    offenders = []
    for path in CORE.rglob("*.py"):
        # Python's adjacent string literals joined ("... " "...": one SQL text), comments dropped; SQL's own
        # quotes ('labeled') may stand inside the statement
        text = re.sub(r"#[^\n\"]*", "", path.read_text(encoding="utf-8"))
        text = re.sub(r'"\s*"', "", re.sub(r"\s+", " ", text))
        for stmt in re.findall(r"\b(?:UPDATE \w+ SET|DELETE FROM \w+)\b[^\";]*?\bRETURNING\b", text):
            offenders.append(f"{path.relative_to(CORE.parent)}: {stmt[:80]}")
    assert not offenders, offenders
