"""What a killed export leaves behind, found and removed: ``<name>.part`` (a file, or a folder for a
folder export), the spool folder ``.<name>.spool-*`` and an ``<name>.issues.jsonl`` without its export.

An export written by a job has ``-job<id>`` in its name (``export_path``), so the leftovers of a job that
is still running are told apart and kept. The runtime calls ``remove_leftovers`` at start (no job runs
then: DuckDB lets one process open the store) and every export job calls it for its project's folder
before it writes, keeping the files of the jobs still running.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from pathlib import Path

from core.disk import remove_quietly
from core.formats.spool import SPOOL_MARK

PART = ".part"
ISSUES = ".issues.jsonl"
_JOB = re.compile(r"-job(\d+)(?:\.|$)")


def job_id_of(name: str) -> int | None:
    """The job id in an export's file name (``...-job12.json``), or None."""
    m = _JOB.search(name)
    return int(m.group(1)) if m else None


def final_name(name: str) -> str | None:
    """The export a leftover belongs to (``x.json.part`` -> ``x.json``); None for a finished file."""
    if name.startswith(".") and SPOOL_MARK in name:
        return name[1:].split(SPOOL_MARK, 1)[0]
    if name.endswith(PART):
        return name[: -len(PART)]
    return None


def leftovers(folder: Path, keep_job_ids: Collection[int] = (), *, only_jobs: bool = False) -> list[Path]:
    """The leftovers in one export folder, except those of the jobs in ``keep_job_ids`` (and, with
    ``only_jobs``, those of exports not written by a job, which may be running now)."""
    if not folder.is_dir():
        return []
    out: list[Path] = []
    for entry in sorted(folder.iterdir()):
        name = entry.name
        target = final_name(name)
        if target is None and name.endswith(ISSUES) and not (folder / name[: -len(ISSUES)]).exists():
            target = name[: -len(ISSUES)]  # an issue list whose export never finished
        if target is None:
            continue
        job_id = job_id_of(target)
        if (job_id is None and only_jobs) or (job_id is not None and job_id in keep_job_ids):
            continue
        out.append(entry)
    return out


def remove_leftovers(
    exports_root: Path,
    keep_job_ids: Collection[int] = (),
    *,
    one_folder: bool = False,
    only_jobs: bool = False,
) -> list[Path]:
    """Remove the leftovers under ``exports_root`` (in each ``<root>/<project id>/``, or in the folder
    itself with ``one_folder``); returns what was removed."""
    if one_folder:
        folders = [exports_root]
    else:
        folders = [d for d in exports_root.iterdir() if d.is_dir()] if exports_root.is_dir() else []
    removed: list[Path] = []
    for folder in folders:
        for entry in leftovers(folder, keep_job_ids, only_jobs=only_jobs):
            remove_quietly(entry)
            if not entry.exists():
                removed.append(entry)
    return removed
