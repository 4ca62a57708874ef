"""The command line's administration commands: archive, delete-project, remove-images (``core.cli``
registers them). They act as ``permissions.SYSTEM``: whoever runs the command line can read the data
directory anyway, which is an admin's power."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from core.permissions import SYSTEM
from core.store import Store


def _cli() -> Any:
    from core import cli  # here: core.cli imports this module while it builds its parser

    return cli


def cmd_projects(store: Store, args: argparse.Namespace) -> None:
    from core.store.projects import list_projects
    from core.store.stats import all_project_progress

    progress = all_project_progress(store)
    for p in list_projects(store, include_archived=args.archived):
        total, labeled, *_ = progress.get(p.id, (0, 0, 0))
        state = "archived" if p.archived_at is not None else p.state.value
        _cli()._say(f"{p.name}\t{p.task_type.value}\t{state}\t{labeled:,}/{total:,} labeled")


def cmd_archive(store: Store, args: argparse.Namespace) -> None:
    from core.store import admin

    cli = _cli()
    project = cli.find_project(store, args.name)
    if args.undo:
        admin.unarchive_project(store, project.id, by=SYSTEM)
        cli._say(f"unarchived {project.name!r}: it is listed and can be changed again")
    else:
        admin.archive_project(store, project.id, by=SYSTEM)
        cli._say(f"archived {project.name!r}: read-only, hidden from the project list")


def cmd_delete_project(store: Store, args: argparse.Namespace) -> None:
    from core.store import admin

    cli = _cli()
    project = cli.find_project(store, args.name)
    done = admin.delete_project(store, project.id, confirm_name=args.confirm, by=SYSTEM)
    rows = ", ".join(f"{n:,} {table}" for table, n in sorted(done.rows.items()))
    cli._say(f"deleted {done.name!r}: {rows}; {done.files:,} file(s) or folder(s) under the data directory")


def _read_paths(path: str) -> list[str]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise _cli().CliError(f"cannot read {path}: {exc.strerror or exc}") from None
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def cmd_remove_images(store: Store, args: argparse.Namespace) -> None:
    from core.store import admin

    cli = _cli()
    project = cli.find_project(store, args.name)
    wanted = _read_paths(args.paths_file)
    if not wanted:
        raise cli.CliError(
            f"{args.paths_file} names no image (one path a line, as `stats` or an export shows them)"
        )
    rows = store.query(
        "SELECT id, path FROM items WHERE project_id = ? AND path IN (SELECT unnest(?))", [project.id, wanted]
    )
    found = {str(r[1]): int(r[0]) for r in rows}
    missing = [p for p in wanted if p not in found]
    if missing and not args.ignore_missing:
        cli._list("not images of this project", missing, args.all)
        raise cli.CliError(
            f"{len(missing):,} of {len(wanted):,} paths are not images of {project.name!r}; nothing removed"
            " (--ignore-missing removes the others)"
        )
    n = admin.remove_images(store, project.id, list(found.values()), by=SYSTEM)
    cli._say(
        f"{project.name}: removed {n:,} image(s); their labels stay in the history, a rescan does not bring them back"
        + (f"; {len(missing):,} path(s) not found" if missing else "")
    )


def add_parsers(sub: Any) -> None:
    c = sub.add_parser("projects", help="list projects", description="Projects.")
    ps = c.add_subparsers(dest="projects_command", required=True, metavar="ACTION")
    pl = ps.add_parser("list", help="every project: name, task, state, progress")
    pl.add_argument("--archived", action="store_true", help="archived projects too")
    c.set_defaults(fn=cmd_projects)

    c = sub.add_parser(
        "archive",
        help="archive a project (read-only, hidden), or --undo",
        description="Archive a project: it turns read-only and leaves the project list; --undo unarchives it.",
    )
    c.add_argument("name")
    c.add_argument("--undo", action="store_true", help="unarchive instead")
    c.set_defaults(fn=cmd_archive)

    c = sub.add_parser(
        "delete-project",
        help="delete a project, its rows and files (--confirm NAME)",
        description="Delete a project with everything of it: images' rows, labels, history, jobs, its uploads, "
        "exports, models and cached thumbnails. The images of its server folders stay where they are.",
    )
    c.add_argument("name")
    c.add_argument("--confirm", required=True, metavar="NAME", help="the project's name again, exactly")
    c.set_defaults(fn=cmd_delete_project)

    c = sub.add_parser(
        "remove-images",
        help="remove images from a project (their labels stay in history)",
        description="Remove the images listed in a file (one path a line, as imported) from a project: they leave "
        "every view, queue and export; their labels stay in the history; a rescan does not bring them back.",
    )
    c.add_argument("name")
    c.add_argument("--paths-file", required=True, metavar="FILE", help="one image path a line (# comments)")
    c.add_argument("--ignore-missing", action="store_true", help="remove the paths found, list the others")
    c.add_argument("--all", action="store_true", help="list every path not found")
    c.set_defaults(fn=cmd_remove_images)
