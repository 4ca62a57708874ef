"""annota's command line: ``python -m core.cli COMMAND ...`` (``--help`` on each command).

It opens the store of ``$ANNOTA_DATA_DIR`` (else ``data/``) itself, so it works while the app is not
running; while another process (the app) holds the store it refuses in one line. Every command calls
the functions the pages call (``core.images.sources``, ``core.formats.label_import``, the ``export``
job through a job runner, ``core.auth``), so the rules, reports and refusals are the same.

Exit codes: 0 done; 1 refused or failed (one line on stderr, starting ``error:``); 2 wrong usage;
3 the store is in use by another process. Long work draws a progress bar on a terminal's stderr
and stays quiet when stderr is not a terminal (piped, in scripts).
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

import duckdb

from core.config import Paths, data_dir
from core.domain import NotFound, Project, TaskType, ValidationError
from core.permissions import SYSTEM, Forbidden
from core.store import Store
from core.store.db import StoreInUse

MAX_LISTED = 20  # issues printed per kind (--all lists every one)


class CliError(Exception):
    """A refusal or failure, said in one line."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


# --- output ----------------------------------------------------------------------------------------


class ProgressBar:
    """``[#####.....]  45 %  message`` redrawn on a terminal; nothing when ``stream`` is not a terminal."""

    def __init__(self, stream: TextIO | None = None, width: int = 30) -> None:
        self.stream = stream or sys.stderr
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.width = width
        self._last = 0.0
        self._drawn = False

    def __call__(self, fraction: float, message: str = "") -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < 0.1 and fraction < 1.0:
            return
        self._last = now
        f = min(1.0, max(0.0, float(fraction)))
        filled = round(f * self.width)
        cols = shutil.get_terminal_size((100, 20)).columns
        line = f"[{'#' * filled}{'.' * (self.width - filled)}] {f * 100:5.1f} %  {message}"
        self.stream.write("\r" + line[: cols - 1].ljust(cols - 1))
        self.stream.flush()
        self._drawn = True

    def done(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False


def _say(text: str = "") -> None:
    print(text, flush=True)


def _list(title: str, lines: Sequence[str], show_all: bool) -> None:
    if not lines:
        return
    _say(f"{title} ({len(lines):,}):")
    for line in lines if show_all else lines[:MAX_LISTED]:
        _say(f"  {line}")
    if not show_all and len(lines) > MAX_LISTED:
        _say(f"  ... and {len(lines) - MAX_LISTED:,} more (--all lists every one)")


# --- the store -------------------------------------------------------------------------------------


def open_store() -> Store:
    """The store of the data directory, or ``CliError`` (code 3) when another process holds it."""
    paths = Paths(data_dir())
    try:
        paths.ensure()
        return Store(paths.db)
    except StoreInUse as exc:
        who = f" (process {exc.pid})" if exc.pid else ""
        raise CliError(
            f"the store {paths.db} is in use by another process{who}: stop the app, or run this there", 3
        ) from None
    except duckdb.IOException as exc:
        text = str(exc)
        if "lock" in text.lower():
            pid = re.search(r"PID (\d+)", text)
            who = f" (process {pid.group(1)})" if pid else ""
            raise CliError(
                f"the store {paths.db} is in use by another process{who}: stop the app, or run this there",
                3,
            ) from None
        raise CliError(f"cannot open the store {paths.db}: {text.splitlines()[0]}") from None


def find_project(store: Store, name: str) -> Project:
    from core.store.projects import list_projects

    projects = list_projects(store, include_archived=True)  # archive --undo and delete-project find them
    for p in projects:
        if p.name == name:
            return p
    same = [p for p in projects if p.name.strip().lower() == name.strip().lower()]
    if len(same) == 1:
        return same[0]
    known = ", ".join(p.name for p in projects[:10]) or "none yet"
    raise CliError(f"no project named {name!r} (projects: {known})")


# --- commands --------------------------------------------------------------------------------------


def cmd_create_project(store: Store, args: argparse.Namespace) -> None:
    from core.store.projects import create_project, list_projects

    if any(
        p.name.strip().lower() == args.name.strip().lower()
        for p in list_projects(store, include_archived=True)
    ):
        raise CliError(f"a project named {args.name!r} exists already")
    classes = [c.strip() for c in args.classes.split(",") if c.strip()]
    project = create_project(
        store, args.name, TaskType(args.type), classes, instructions=args.instructions or "", by=SYSTEM
    )
    _say(
        f"created project {project.name!r} (id {project.id}, {project.task_type.value}, {len(classes)} classes)"
    )


def cmd_import_images(store: Store, args: argparse.Namespace) -> None:
    from core.images.sources import import_folder

    project = find_project(store, args.name)
    bar = ProgressBar()
    try:
        src, report = import_folder(store, project.id, args.folder, watch=args.watch, progress=bar, by=SYSTEM)
    finally:
        bar.done()
    _say(f"{project.name}: {report.summary()} (folder {src.path})")
    _list("refused", [f"{path}: {why}" for path, why in report.errors], args.all)
    _list("duplicates", [f"{path} repeats {orig}" for path, orig in report.duplicates], args.all)


def cmd_import_labels(store: Store, args: argparse.Namespace) -> None:
    from core.formats.label_import import ImportOptions, apply_import, preview_import
    from core.formats.loaders import LoadError

    project = find_project(store, args.name)
    try:
        pv = preview_import(store, project.id, Path(args.path), args.format)
    except LoadError as exc:
        raise CliError(str(exc)) from None
    _say(f"format: {pv.fmt}" + (f" (detected: {', '.join(pv.detected)})" if args.format == "auto" else ""))
    if pv.conversion:
        _say(f"the file holds {pv.file_task.value} labels; they become {pv.project_task.value}")
    _say(pv.summary())
    _say(
        "classes: "
        + ", ".join(f"{c.name} ({c.uses:,}){'' if c.target is not None else ' [new]'}" for c in pv.classes)
    )
    if pv.project_only:
        _say("project classes the file does not name: " + ", ".join(pv.project_only))
    _list("label files with no image", [f"{i.file_name}: {i.message}" for i in pv.unmatched], args.all)
    _list("unreadable records", [i.message for i in pv.issues], args.all)
    _list("refused geometry", [i.message for i in pv.refused], args.all)
    missing = [c.name for c in pv.classes if c.target is None and c.uses]
    if args.dry_run:
        if missing:
            _say(f"classes not in the project: {', '.join(missing)} (--create-classes creates them)")
        _say("dry run: nothing was written")
        return
    if missing and not args.create_classes:
        raise CliError(
            f"classes not in the project: {', '.join(missing)} (add --create-classes to create them)"
        )
    if not pv.matched:
        raise CliError("no label in the file matches an image of the project; nothing was imported")
    bar = ProgressBar()
    try:
        result = apply_import(store, project.id, pv, author=args.author, progress=bar,
                              options=ImportOptions(create_classes=args.create_classes, as_proposals=args.as_proposals,
                                                    skip_labeled=args.skip_labeled), by=SYSTEM)  # fmt: skip
    finally:
        bar.done()
    _list("refused on saving", [i.message for i in result.refused], args.all)
    _say(f"{project.name}: {result.summary()}")


def cmd_export(store: Store, args: argparse.Namespace) -> None:
    from core.formats.export import FORMATS  # importing it registers the ``export`` job
    from core.jobs import JobRunner, get_job

    project = find_project(store, args.name)
    if args.format not in FORMATS:
        raise CliError(f"unknown export format {args.format!r}; one of {', '.join(FORMATS)}")
    out = Path(args.out).expanduser()
    if out.exists() and not args.force:
        raise CliError(f"{out} exists already (--force replaces it)")
    runner = JobRunner(store, workers=1, poll_s=0.05).start()
    bar = ProgressBar()
    try:
        params: dict[str, Any] = {"format": args.format, "include": args.include}
        if args.with_images:
            params["with_images"] = True
        if args.approved_only:
            params["approved_only"] = True
        job = runner.submit("export", params, project_id=project.id, created_by=args.author)
        while True:
            job = get_job(store, job.id)
            bar(job.progress, job.message)
            if not job.active:
                break
            time.sleep(0.1)
    finally:
        bar.done()
        runner.stop()
    if job.state != "done":
        why = (job.error or job.message or "").strip().splitlines()
        reason = re.sub(r"^\w+(Error|Exception|Full): ", "", why[0]) if why else ""
        raise CliError(f"the export {job.state}: {reason}".rstrip(": "))
    result = job.result or {}
    made = Path(result["path"])
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists():
        shutil.rmtree(out) if out.is_dir() else out.unlink()
    shutil.move(str(made), out)
    issues = made.with_name(made.name + ".issues.jsonl")
    if issues.exists():
        shutil.move(str(issues), out.with_name(out.name + ".issues.jsonl"))
    counts = result.get("counts", {})
    _say(f"{project.name}: exported {counts.get('images', 0):,} images, {counts.get('annotations', 0):,} annotations "
         f"as {args.format} to {out}" + (f"; {counts.get('errors', 0):,} left out (see {out.name}.issues.jsonl)"
                                          if counts.get("errors") else ""))  # fmt: skip


def cmd_stats(store: Store, args: argparse.Namespace) -> None:
    from core.store.projects import list_classes
    from core.store.stats import project_stats

    project = find_project(store, args.name)
    st = project_stats(store, project.id)
    names = {c.id: c.name for c in list_classes(store, project.id)}
    per_class: dict[str, int] = {names.get(k, str(k)): v for k, v in sorted(st.by_class.items())}
    for name in names.values():
        per_class.setdefault(name, 0)
    per_labeler: dict[str, int] = dict(sorted(st.by_labeler.items()))
    data: dict[str, Any] = {
        "project": project.name, "task_type": project.task_type.value, "items": st.total, "labeled": st.labeled,
        "skipped": st.skipped, "remaining": st.remaining,
        "per_class": per_class, "per_labeler": per_labeler,
    }  # fmt: skip
    if args.json:
        _say(json.dumps(data, ensure_ascii=False))
        return
    _say(f"{project.name} ({project.task_type.value}): {st.total:,} items, {st.labeled:,} labeled, "
         f"{st.skipped:,} skipped, {st.remaining:,} remaining")  # fmt: skip
    what = "objects" if project.task_type in (TaskType.BOXES, TaskType.POLYGONS) else "images"
    _say(f"per class ({what}):")
    for name, n in per_class.items():
        _say(f"  {name}: {n:,}")
    _say("per labeler (current labels):")
    for name, n in per_labeler.items() or [("(none yet)", 0)]:
        _say(f"  {name}: {n:,}")


def cmd_label_errors(store: Store, args: argparse.Namespace) -> None:
    from core.assist.label_errors import find_label_errors
    from core.store.projects import list_classes

    project = find_project(store, args.name)
    if project.task_type in (TaskType.BOXES, TaskType.POLYGONS):
        return _box_label_errors(store, project, args)
    report = find_label_errors(store, project.id)
    if report.reason is not None:
        if not args.json:
            raise CliError(f"{project.name}: {report.reason}")
        print(f"note: {project.name}: {report.reason}", file=sys.stderr, flush=True)  # stdout: []
    names = {c.id: c.name for c in list_classes(store, project.id)}
    rows = [e.as_json(names) for e in report.errors]
    if args.json:
        _say(json.dumps(rows, ensure_ascii=False))
        return
    flagged = sum(1 for e in report.errors if e.flagged)
    _say(f"{project.name}: {len(rows):,} labels ranked, most suspect first ({flagged:,} flagged *)")
    for r in rows if args.all else rows[:MAX_LISTED]:
        now, new = ", ".join(r["label"]) or "(none)", ", ".join(r["suggested"]) or "(none)"
        _say(f" {'*' if r['flagged'] else ' '} {r['score']:.3f}  {r['image']}  {now} -> {new}")
    if not args.all and len(rows) > MAX_LISTED:
        _say(f"  ... and {len(rows) - MAX_LISTED:,} more (--all lists every one)")


def _box_label_errors(store: Store, project: Project, args: argparse.Namespace) -> None:
    from core.assist.box_label_errors import find_box_label_errors
    from core.store.projects import list_classes

    report = find_box_label_errors(store, project.id)
    if report.reason is not None:
        if not args.json:
            raise CliError(f"{project.name}: {report.reason}")
        print(f"note: {project.name}: {report.reason}", file=sys.stderr, flush=True)  # stdout: []
    names = {c.id: c.name for c in list_classes(store, project.id)}
    rows = [e.as_json(names) for e in report.errors]
    if args.json:
        _say(json.dumps(rows, ensure_ascii=False))
        return
    _say(f"{project.name}: {len(rows):,} of {report.n_labels:,} labeled images disagree with the detector")
    for r in rows if args.all else rows[:MAX_LISTED]:
        kinds = ", ".join(sorted({i["kind"] for i in r["issues"]}))
        _say(f"  {r['score']:.3f}  {r['image']}  {len(r['issues'])} issue(s): {kinds}")
    if not args.all and len(rows) > MAX_LISTED:
        _say(f"  ... and {len(rows) - MAX_LISTED:,} more (--all lists every one)")


def _password(args: argparse.Namespace) -> str:
    if args.password:
        return str(args.password)
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != first:
            raise CliError("the two passwords differ")
        return first
    return sys.stdin.readline().rstrip("\n")


def cmd_users(store: Store, args: argparse.Namespace) -> None:
    from core import auth

    if args.users_command == "add":
        user = auth.create_user(
            store, args.username, _password(args), role=args.role, display_name=args.display_name, by=SYSTEM
        )
        _say(f"added user {user.username} ({user.role.value})")
    elif args.users_command == "list":
        inactive = auth.inactive_usernames(store) if hasattr(auth, "inactive_usernames") else set()
        for u in auth.list_users(store):
            _say(
                f"{u.username}\t{u.role.value}\t{'inactive' if u.username in inactive else 'active'}\t{u.display_name}"
            )
    else:
        auth.get_user(store, args.username)  # NotFound names the user
        deactivate: Callable[[Store, str], Any] | None = getattr(auth, "deactivate_user", None)
        if deactivate is not None:
            deactivate(store, args.username)
        else:
            auth.set_active(store, args.username, False, by=SYSTEM)
        _say(f"deactivated {args.username}: no sign-in, open sessions end")


# --- parser ----------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    from core.formats.export import FORMATS
    from core.formats.loaders import LOADERS

    p = argparse.ArgumentParser(
        prog="python -m core.cli",
        description="annota from the command line. The store is $ANNOTA_DATA_DIR (else data/); the app need not "
        "run, and a store the app holds open is refused. Exit 0 when done, 1 refused or failed, 2 wrong "
        "usage, 3 store in use.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    c = sub.add_parser(
        "create-project", help="create a project", description="Create a project with its classes."
    )
    c.add_argument("name", metavar="NAME")
    c.add_argument("--type", required=True, choices=[t.value for t in TaskType], help="the labeling task")
    c.add_argument("--classes", required=True, help="class names, comma-separated: a,b,c (at least two)")
    c.add_argument("--instructions", help="instructions shown to labelers")
    c.set_defaults(fn=cmd_create_project)

    c = sub.add_parser("import-images", help="import a server folder of images",
                       description="Add FOLDER to project NAME and import its images, with the Data page's rules "
                       "(duplicates by content, unreadable files refused and listed).")  # fmt: skip
    c.add_argument("name", metavar="NAME")
    c.add_argument("folder", metavar="FOLDER")
    c.add_argument("--watch", action="store_true", help="keep watching the folder while the app runs")
    c.add_argument("--all", action="store_true", help="list every refused file, not the first 20")
    c.set_defaults(fn=cmd_import_images)

    c = sub.add_parser("import-labels", help="import labels (or proposals) from a file, zip or folder",
                       description="Import labels from PATH into project NAME: matched to the project's images by "
                       "relative path, then file name; each saved as a new version (source import). Unreadable "
                       "records and refused geometry are listed with their file and line or id; the rest is "
                       "imported.")  # fmt: skip
    c.add_argument("name", metavar="NAME")
    c.add_argument("path", metavar="PATH")
    c.add_argument("--format", default="auto", choices=["auto", *sorted(LOADERS)], help="default: detected")
    c.add_argument("--as-proposals", action="store_true",
                   help="bring them in as proposals (an outside model's, with scores) that labelers accept or correct")  # fmt: skip
    c.add_argument(
        "--create-classes", action="store_true", help="create the file's classes the project lacks"
    )
    c.add_argument("--skip-labeled", action="store_true", help="leave images that have a label as they are")
    c.add_argument("--dry-run", action="store_true", help="show the preview, write nothing")
    c.add_argument("--author", default="cli-import", help="the name the new versions are saved under")
    c.add_argument("--all", action="store_true", help="list every issue, not the first 20")
    c.set_defaults(fn=cmd_import_labels)

    c = sub.add_parser("export", help="export a project's labels",
                       description="Run the export job (the Export page's) and put the file at --out.")  # fmt: skip
    c.add_argument("name", metavar="NAME")
    c.add_argument("--format", required=True, choices=list(FORMATS))
    c.add_argument("--out", required=True, metavar="PATH", help="where the export goes")
    c.add_argument(
        "--with-images", action="store_true", help="copy the images into the export (formats that can)"
    )
    c.add_argument(
        "--include", default="labeled", choices=["labeled", "all"], help="which images (default labeled)"
    )
    c.add_argument("--approved-only", action="store_true", help="only the images a reviewer approved")
    c.add_argument("--force", action="store_true", help="replace PATH if it exists")
    c.add_argument("--author", default="cli", help=argparse.SUPPRESS)
    c.set_defaults(fn=cmd_export)

    c = sub.add_parser(
        "stats", help="a project's counts", description="Items, labeled, skipped, per class, per labeler."
    )
    c.add_argument("name", metavar="NAME")
    c.add_argument("--json", action="store_true", help="one JSON object")
    c.set_defaults(fn=cmd_stats)

    c = sub.add_parser(
        "label-errors", help="rank a project's labels by how likely they are wrong",
        description="Out-of-fold predictions of the project's head on its stored embeddings, ranked by"
        " confident learning: most suspect first, with the current and the suggested label.",
    )  # fmt: skip
    c.add_argument("name", metavar="NAME")
    c.add_argument("--json", action="store_true",
                   help="a JSON list, most suspect first: image, label, suggested, score")  # fmt: skip
    c.add_argument("--all", action="store_true", help="list every label (else the first 20)")
    c.set_defaults(fn=cmd_label_errors)

    c = sub.add_parser("users", help="add, list or deactivate users", description="Manage the app's users.")
    us = c.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    a = us.add_parser("add", help="add a user (password: --password, else asked, else one line on stdin)")
    a.add_argument("username")
    a.add_argument("--role", default="labeler", choices=["labeler", "admin"])
    a.add_argument("--password", help="the first password (else asked on a terminal, or read from stdin)")
    a.add_argument("--display-name", default="")
    us.add_parser("list", help="every user: name, role, active, display name")
    d = us.add_parser("deactivate", help="no more sign-in; open sessions end")
    d.add_argument("username")
    c.set_defaults(fn=cmd_users)

    from core import cli_admin  # projects list, archive, delete-project, remove-images

    cli_admin.add_parsers(sub)
    return p


def fail(message: str, code: int = 1) -> NoReturn:
    one_line = " ".join(str(message).split())
    print(f"error: {one_line}", file=sys.stderr, flush=True)
    raise SystemExit(code)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.getLogger().addHandler(logging.NullHandler())  # the job runner's log lines stay out of stderr
    try:
        store = open_store()
    except CliError as exc:
        fail(str(exc), exc.code)
    try:
        args.fn(store, args)
    except CliError as exc:
        fail(str(exc), exc.code)
    except (ValidationError, NotFound, Forbidden) as exc:
        fail(str(exc).rstrip("."))
    except (OSError, ValueError) as exc:
        fail(f"{type(exc).__name__}: {exc}")
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("ANNOTA_ASSIST_SCHEDULER", "0")
    from core import cli  # the importable module, not __main__: core.cli_admin raises its CliError

    sys.exit(cli.main())
