"""Projects, their label classes and their team."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import duckdb

from core import domain
from core.domain import LabelClass, NotFound, Project, ProjectState, TaskType, User, ValidationError
from core.permissions import Action, ProjectRole, require, require_admin
from core.store.db import Store, dumps, loads

_PROJECT_COLS = "id, name, description, task_type, instructions, instructions_url, state, created_at, target_precision, settings, archived_at"


@dataclass(frozen=True)
class ClassSpec:
    name: str
    color: str | None = None
    hotkey: str | None = None


def _project(row: tuple) -> Project:
    settings = dict(loads(row[9]) or {})  # as stored; its keys, defaults and cleaning: core.settings
    return Project(
        id=row[0],
        name=row[1],
        description=row[2],
        task_type=TaskType(row[3]),
        instructions=row[4],
        instructions_url=row[5],
        state=ProjectState(row[6]),
        created_at=row[7],
        target_precision=row[8],
        settings=settings,
        archived_at=row[10],
    )


def _label_class(row: tuple) -> LabelClass:
    return LabelClass(id=row[0], project_id=row[1], name=row[2], color=row[3], hotkey=row[4], ord=row[5])


def _specs(classes: Sequence[ClassSpec | str]) -> list[ClassSpec]:
    return [c if isinstance(c, ClassSpec) else ClassSpec(name=c) for c in classes]


def create_project(
    store: Store,
    name: str,
    task_type: TaskType | str,
    classes: Sequence[ClassSpec | str],
    *,
    by: User,
    description: str = "",
    instructions: str = "",
    instructions_url: str = "",
    created_by: str | None = None,
    target_precision: float = 0.95,
    settings: dict[str, Any] | None = None,
) -> Project:
    """Create a project (an admin's power). Its creator (``created_by``, else ``by``) owns it when that is
    a user (the command line's ``SYSTEM`` owns nothing)."""
    require_admin(by)
    created_by = by.username if created_by is None else created_by
    specs = _specs(classes)
    domain.validate_project(name, [s.name for s in specs])
    task = TaskType(task_type)
    if instructions_url and not instructions_url.startswith(("http://", "https://")):
        raise ValidationError("The instructions link must start with http:// or https://.")
    if not 0.5 <= target_precision < 1.0:
        raise ValidationError("The target precision must be between 50 % and 99.9 %.")
    rows = _class_rows(specs, start=0, taken_keys=set())

    def tx(cur: duckdb.DuckDBPyConnection) -> int:
        pid = cur.execute(
            "INSERT INTO projects (name, description, task_type, instructions, instructions_url, created_by,"
            " target_precision, settings) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            [
                name.strip(),
                description,
                task.value,
                instructions,
                instructions_url,
                created_by,
                target_precision,
                dumps(settings or {}),
            ],
        ).fetchone()[0]  # type: ignore[index]
        for r in rows:
            cur.execute(
                "INSERT INTO label_classes (project_id, name, color, hotkey, ord) VALUES (?, ?, ?, ?, ?)",
                [pid, *r],
            )
        # whoever creates a project owns it (a plain name that is no user, e.g. "cli", owns nothing)
        cur.execute(
            "INSERT INTO project_members (project_id, user_id, role) SELECT ?, id, 'owner' FROM users"
            " WHERE username = ?",
            [pid, created_by],
        )
        return int(pid)

    return get_project(store, store.write(tx))


def _class_rows(
    specs: Sequence[ClassSpec], start: int, taken_keys: set[str], taken_colors: Sequence[str] = ()
) -> list[tuple]:
    """Rows for new classes; a class without a colour gets a palette colour no other class of the
    project has (``taken_colors`` plus the colours given in ``specs``) while the palette lasts."""
    rows = []
    free_keys = [k for k in domain.DEFAULT_HOTKEYS if k not in taken_keys]
    taken = set(taken_keys)
    given = [domain.validate_color(s.color) if s.color else None for s in specs]
    auto = iter(domain.free_colors([*taken_colors, *(c for c in given if c)], given.count(None)))
    for i, spec in enumerate(specs):
        color = given[i] or next(auto)
        key = domain.validate_hotkey(spec.hotkey)
        if key is None:
            key = next((k for k in free_keys if k not in taken), None)
        if key is not None:
            if key in taken:
                raise ValidationError(f"Hotkey {key!r} is used twice.")
            taken.add(key)
        rows.append((spec.name.strip(), color, key, start + i))
    return rows


def get_project(store: Store, project_id: int) -> Project:
    row = store.query_one(f"SELECT {_PROJECT_COLS} FROM projects WHERE id = ?", [project_id])
    if row is None:
        raise NotFound(f"Project {project_id} does not exist.")
    return _project(row)


def list_projects(store: Store, *, include_archived: bool = False) -> list[Project]:
    """The projects, oldest first; archived ones only with ``include_archived``."""
    where = "" if include_archived else " WHERE archived_at IS NULL"
    return [_project(r) for r in store.query(f"SELECT {_PROJECT_COLS} FROM projects{where} ORDER BY id")]


def update_project(store: Store, project_id: int, *, by: User, **fields: Any) -> Project:
    allowed = {"name", "description", "instructions", "instructions_url", "target_precision"}
    current = get_project(store, project_id)
    require(store, by, Action.MANAGE, project_id)
    sets, params = [], []
    for key, value in fields.items():
        if key == "settings":
            sets.append("settings = ?")
            params.append(dumps({**current.settings, **value}))
            continue
        if key == "state":
            sets.append("state = ?")
            params.append(ProjectState(value).value)
            continue
        if key not in allowed:
            raise ValueError(f"unknown project field {key}")
        if key == "name" and not str(value).strip():
            raise ValidationError("A project needs a name.")
        if key == "target_precision" and not 0.5 <= float(value) < 1.0:
            raise ValidationError("The target precision must be between 50 % and 99.9 %.")
        if key == "instructions_url" and value and not str(value).startswith(("http://", "https://")):
            raise ValidationError("The instructions link must start with http:// or https://.")
        sets.append(f"{key} = ?")
        params.append(value)
    if sets:
        store.execute(f"UPDATE projects SET {', '.join(sets)} WHERE id = ?", [*params, project_id])
    return get_project(store, project_id)


def set_state(store: Store, project_id: int, state: ProjectState | str, *, by: User) -> Project:
    return update_project(store, project_id, state=ProjectState(state), by=by)


def list_classes(store: Store, project_id: int) -> list[LabelClass]:
    return [
        _label_class(r)
        for r in store.query(
            "SELECT id, project_id, name, color, hotkey, ord FROM label_classes WHERE project_id = ? ORDER BY ord, id",
            [project_id],
        )
    ]


def add_class(store: Store, project_id: int, spec: ClassSpec | str, *, by: User) -> LabelClass:
    require(store, by, Action.MANAGE, project_id)
    (spec,) = _specs([spec])
    existing = list_classes(store, project_id)
    if spec.name.strip().lower() in {c.name.lower() for c in existing}:
        raise ValidationError(f"There is already a class named {spec.name.strip()!r}.")
    if not spec.name.strip():
        raise ValidationError("A class needs a name.")
    taken = {c.hotkey for c in existing if c.hotkey}
    (row,) = _class_rows(
        [spec], start=len(existing), taken_keys=taken, taken_colors=[c.color for c in existing]
    )
    cid = store.execute(
        "INSERT INTO label_classes (project_id, name, color, hotkey, ord) VALUES (?, ?, ?, ?, ?) RETURNING id",
        [project_id, *row],
    )[0][0]
    return next(c for c in list_classes(store, project_id) if c.id == cid)


def update_class(
    store: Store,
    class_id: int,
    *,
    by: User,
    name: str | None = None,
    color: str | None = None,
    hotkey: str | None = None,
) -> LabelClass:
    row = store.query_one("SELECT project_id FROM label_classes WHERE id = ?", [class_id])
    if row is None:
        raise NotFound(f"Class {class_id} does not exist.")
    require(store, by, Action.MANAGE, row[0])
    others = [c for c in list_classes(store, row[0]) if c.id != class_id]
    sets: list[str] = []
    params: list[Any] = []
    if name is not None:
        if not name.strip():
            raise ValidationError("A class needs a name.")
        if name.strip().lower() in {c.name.lower() for c in others}:
            raise ValidationError(f"There is already a class named {name.strip()!r}.")
        sets.append("name = ?")
        params.append(name.strip())
    if color is not None:
        sets.append("color = ?")
        params.append(domain.validate_color(color))
    if hotkey is not None:
        key = domain.validate_hotkey(hotkey)
        if key and key in {c.hotkey for c in others}:
            raise ValidationError(f"Hotkey {key!r} is used by another class.")
        sets.append("hotkey = ?")
        params.append(key)
    if sets:
        store.execute(f"UPDATE label_classes SET {', '.join(sets)} WHERE id = ?", [*params, class_id])
    return next(c for c in list_classes(store, row[0]) if c.id == class_id)


def class_usage(store: Store, class_id: int) -> int:
    """How many items' current labels use the class."""
    return int(store.scalar("SELECT count(*) FROM items WHERE list_contains(class_ids, ?)", [class_id]) or 0)


def delete_class(store: Store, class_id: int, *, by: User, reassign_to: int | None = None) -> int:
    """Delete a class. Items using it need ``reassign_to`` (another class of the project): their labels
    get a new version with the class replaced. Returns the number of items relabeled."""
    from core.store import labels  # local: labels imports projects

    row = store.query_one("SELECT project_id, name FROM label_classes WHERE id = ?", [class_id])
    if row is None:
        raise NotFound(f"Class {class_id} does not exist.")
    project_id, name = row
    require(store, by, Action.MANAGE, project_id)
    classes = list_classes(store, project_id)
    if len(classes) <= 2:
        raise ValidationError("A project keeps at least two classes.")
    used = class_usage(store, class_id)
    if used and reassign_to is None:
        raise ValidationError(
            f"Class {name!r} is used by {used} item(s); choose a class to move those labels to first."
        )
    relabeled = 0
    if used:
        if reassign_to == class_id or reassign_to not in {c.id for c in classes}:
            raise ValidationError("Move the labels to another class of this project.")
        relabeled = labels.reassign_class(store, project_id, class_id, int(reassign_to), by=by)
    store.execute("DELETE FROM label_classes WHERE id = ?", [class_id])
    return relabeled


def add_member(
    store: Store, project_id: int, user_id: int, role: ProjectRole | str = ProjectRole.LABELER, *, by: User
) -> None:
    """Make the user a member of the project with ``role`` (a member's role is changed in place). A
    project keeps one owner at least: only an admin may demote the last one."""
    role = ProjectRole(role)
    get_project(store, project_id)
    require(store, by, Action.TEAM, project_id)
    current = store.scalar(
        "SELECT role FROM project_members WHERE project_id = ? AND user_id = ?", [project_id, user_id]
    )
    if current == ProjectRole.OWNER and role != ProjectRole.OWNER and by.role.value != "admin":
        owners = store.scalar(
            "SELECT count(*) FROM project_members WHERE project_id = ? AND role = 'owner'", [project_id]
        )
        if int(owners or 0) <= 1:
            raise ValidationError("A project keeps at least one owner; make someone else owner first.")
    if current is not None:
        store.execute(
            "UPDATE project_members SET role = ? WHERE project_id = ? AND user_id = ?",
            [role.value, project_id, user_id],
        )
    else:
        store.execute(
            "INSERT INTO project_members (project_id, user_id, role) VALUES (?, ?, ?)",
            [project_id, user_id, role.value],
        )


def member_roles(store: Store, project_id: int) -> dict[str, ProjectRole]:
    """Every member's username and project role, by username."""
    rows = store.query(
        "SELECT u.username, m.role FROM project_members m JOIN users u ON u.id = m.user_id"
        " WHERE m.project_id = ? ORDER BY u.username",
        [project_id],
    )
    return {r[0]: ProjectRole(r[1] or ProjectRole.LABELER) for r in rows}


def list_members(store: Store, project_id: int) -> list[str]:
    return [
        r[0]
        for r in store.query(
            "SELECT u.username FROM project_members m JOIN users u ON u.id = m.user_id WHERE m.project_id = ?"
            " ORDER BY u.username",
            [project_id],
        )
    ]
