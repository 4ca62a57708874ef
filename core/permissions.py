"""Who may do what in a project: one rule, ``can(store, user, action, project_id)``, checked by every core
function that changes data (pages only hide what the core would refuse).

Roles: an admin (a user-wide role) may do everything everywhere and manages users. Inside a project a
member is an owner, a reviewer or a labeler:

==========  ====  =====  ======  ======  ======  =======================
role        view  label  review  export  manage  archive / delete / team
==========  ====  =====  ======  ======  ======  =======================
owner       yes   yes    yes     yes     yes     yes
reviewer    yes   yes    yes     yes     no      no
labeler     yes   yes    no      no      no      no
==========  ====  =====  ======  ======  ======  =======================

An archived project is read-only: only VIEW, EXPORT and ARCHIVE (to unarchive) and DELETE stay allowed.
Background jobs and the command line act as ``SYSTEM`` (whoever runs the command line can read the data
directory anyway, which is an admin's power).
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from core.domain import Role, User

if TYPE_CHECKING:
    from core.store.db import Store


class ProjectRole(StrEnum):
    OWNER = "owner"
    REVIEWER = "reviewer"
    LABELER = "labeler"

    @property
    def display_name(self) -> str:
        return self.value.capitalize()


class Action(StrEnum):
    VIEW = "view"  # see the project, its items, dashboard and history
    LABEL = "label"  # label, skip, correct one's own work, answer consensus and gold items
    REVIEW = "review"  # approve / reject, mark gold, correct anyone's label, see likely errors
    EXPORT = "export"  # export labels and datasets
    MANAGE = "manage"  # settings, classes, data sources, label import, assist, start / pause
    TEAM = "team"  # add / remove members and change their roles
    ARCHIVE = "archive"  # archive and unarchive
    DELETE = "delete"  # delete the project, remove images


class Forbidden(PermissionError):
    """The acting user may not do this; the message is for the user."""


SYSTEM = User(id=0, username="annota", role=Role.ADMIN, display_name="annota (system)")

_ALLOWED: dict[ProjectRole, frozenset[Action]] = {
    ProjectRole.OWNER: frozenset(Action),
    ProjectRole.REVIEWER: frozenset({Action.VIEW, Action.LABEL, Action.REVIEW, Action.EXPORT}),
    ProjectRole.LABELER: frozenset({Action.VIEW, Action.LABEL}),
}
_WHILE_ARCHIVED = frozenset({Action.VIEW, Action.EXPORT, Action.ARCHIVE, Action.DELETE})

_VERBS = {
    Action.VIEW: "open this project",
    Action.LABEL: "label in this project",
    Action.REVIEW: "review labels in this project",
    Action.EXPORT: "export this project",
    Action.MANAGE: "change this project's settings, classes or data",
    Action.TEAM: "change this project's team",
    Action.ARCHIVE: "archive this project",
    Action.DELETE: "delete this project or its images",
}


def allows(role: ProjectRole | None, action: Action, *, admin: bool = False, archived: bool = False) -> bool:
    """The pure rule: may a member with ``role`` (None: not a member) do ``action``?"""
    if archived and action not in _WHILE_ARCHIVED:
        return False
    if admin:
        return True
    return role is not None and action in _ALLOWED[role]


def project_role(store: Store, user: User, project_id: int) -> ProjectRole | None:
    """The user's role in the project (None: not a member). Admins are not members unless added."""
    row = store.query(
        "SELECT role FROM project_members WHERE project_id = ? AND user_id = ?", [project_id, user.id]
    )
    return ProjectRole(row[0][0]) if row and row[0][0] else None


def _archived(store: Store, project_id: int) -> bool:
    return bool(store.scalar("SELECT archived_at IS NOT NULL FROM projects WHERE id = ?", [project_id]))


def _active_user(store: Store, user: User) -> bool:
    if user is SYSTEM or user.id == 0:
        return True
    return bool(store.scalar("SELECT active FROM users WHERE id = ?", [user.id]))


def can(store: Store, user: User, action: Action, project_id: int) -> bool:
    """Whether ``user`` may do ``action`` in project ``project_id`` now (an inactive user may do nothing)."""
    if not _active_user(store, user):
        return False
    admin = user.role == Role.ADMIN
    return allows(
        None if admin else project_role(store, user, project_id),
        action,
        admin=admin,
        archived=_archived(store, project_id),
    )


def require(store: Store, user: User, action: Action, project_id: int) -> None:
    """Raise ``Forbidden`` (with the reason in words) unless ``can`` says yes."""
    if can(store, user, action, project_id):
        return
    if _archived(store, project_id) and action not in _WHILE_ARCHIVED:
        raise Forbidden("This project is archived and read-only; unarchive it first.")
    raise Forbidden(f"{user.username} may not {_VERBS[action]}.")


def require_admin(user: User) -> None:
    if user.role != Role.ADMIN:
        raise Forbidden(f"{user.username} may not manage users; an admin may.")
