"""A full disk, said in words: one error (``DiskFull``) for every save, import, upload and export.

``is_disk_full(exc)`` recognises an operating system's ``ENOSPC``/``EDQUOT`` (``OSError``) and DuckDB's
errors that carry the same cause in their text ("No space left on device"). ``as_disk_full`` turns such
an error into ``DiskFull``, which carries the free megabytes of the disk it happened on, so the user reads
"The disk is full (3 MB free)" and not "the database was busy". Nothing here retries: a full disk stays
full until someone frees space, and then the next save simply works (no restart needed).
"""

from __future__ import annotations

import errno
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_TEXT = re.compile(
    r"no space left on device|disk quota exceeded|not enough space on the disk|disk is full|ENOSPC"
    r"|out of disk space",
    re.IGNORECASE,
)


class DiskFull(OSError):
    """The disk (or quota) is full: nothing was saved. ``free_mb`` is the free space when it happened."""

    def __init__(self, free_mb: float | None = None, what: str = "", path: Path | str | None = None) -> None:
        self.free_mb = free_mb
        self.what = what
        self.where = str(path) if path is not None else None
        super().__init__(errno.ENOSPC, self.words())

    def words(self) -> str:
        free = f"{self.free_mb:,.0f} MB free" if self.free_mb is not None else "free space unknown"
        action = f" {self.what[0].upper()}{self.what[1:]} could not be saved." if self.what else ""
        return f"The disk is full ({free}).{action} Free some space on the server and try again."

    def __str__(self) -> str:
        return self.words()

    def __reduce__(self) -> tuple[type[DiskFull], tuple[float | None, str, str | None]]:
        return (DiskFull, (self.free_mb, self.what, self.where))


def free_mb(path: Path | str) -> float | None:
    """Free megabytes on the disk that holds ``path`` (its nearest existing parent); None if unknown."""
    p = Path(path)
    for cand in (p, *p.parents):
        if cand.exists():
            try:
                return shutil.disk_usage(cand).free / 1e6
            except OSError:
                return None
    return None


def is_disk_full(exc: BaseException | None) -> bool:
    """True for ENOSPC/EDQUOT and for errors (DuckDB's among them) whose text or cause says so."""
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, DiskFull):
            return True
        if isinstance(exc, OSError) and exc.errno in _ERRNOS:
            return True
        if _TEXT.search(str(exc)):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def as_disk_full(exc: BaseException, path: Path | str, what: str = "") -> DiskFull | None:
    """``DiskFull`` for ``exc`` when it is a full disk (measured at ``path``), else None."""
    if isinstance(exc, DiskFull):
        return exc
    if not is_disk_full(exc):
        return None
    return DiskFull(free_mb(path), what, path)


@contextmanager
def disk_full_in_words(path: Path | str, what: str = "") -> Iterator[None]:
    """Re-raise a full-disk error inside the block as ``DiskFull`` (other errors pass unchanged)."""
    try:
        yield
    except DiskFull:
        raise
    except Exception as exc:
        full = as_disk_full(exc, path, what)
        if full is None:
            raise
        raise full from exc


def remove_quietly(*paths: Path | str | None) -> None:
    """Delete files or folders, ignoring every error (used on error paths, where the disk may be full)."""
    for p in paths:
        if p is None:
            continue
        q = Path(p)
        with suppress(OSError):
            if q.is_dir() and not q.is_symlink():
                shutil.rmtree(q, ignore_errors=True)
            else:
                q.unlink(missing_ok=True)
