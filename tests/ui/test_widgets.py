"""Small screen helpers that format numbers for people."""

from __future__ import annotations


def test_money_never_shows_a_cost_as_zero():
    from ui.widgets import money

    assert [money(v) for v in (0, 7.9e-05, 0.000123456, 0.0123, 1.5, 1234.5, None)] == [
        "0", "0.000079", "0.00012", "0.01", "1.50", "1,234.50", "—",
    ]  # fmt: skip


def test_explain_says_the_disk_is_full() -> None:
    from core.disk import DiskFull
    from ui.widgets import explain

    raw = RuntimeError('Failed to commit: Could not write file "a.wal": No space left on device')
    assert explain(raw).startswith("The disk is full (") and "busy" not in explain(raw)
    assert explain(DiskFull(3.2, "the change")).startswith("The disk is full (3 MB free). The change could")


def test_explain_says_why_a_file_in_a_zip_is_not_read() -> None:
    from core.formats.tree import TooLarge
    from ui.widgets import explain

    msg = "labels/a.txt would inflate from 322,069 to 331,350,016 bytes (a decompression bomb); not read"
    assert explain(TooLarge(msg)) == msg


def test_explain_names_the_other_process_holding_the_data_directory() -> None:
    from pathlib import Path

    from core.store.db import StoreInUse
    from ui.widgets import explain

    words = explain(StoreInUse(Path("/srv/annota/annota.duckdb"), 4242, "python"))
    assert words.startswith("Another annota process (PID 4242) holds the data directory /srv/annota"), words
