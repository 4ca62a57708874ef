"""Who may do what: the pure rule, and every core function that changes data refusing whoever may not
(a labeler, a non-member, a deactivated member, anyone on an archived project) with nothing written;
the owner doing each one is the control that the calls themselves are right."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from core import auth, jobs
from core.assist import status
from core.config import Paths
from core.domain import ProjectState, Role, User
from core.formats.export import export_project
from core.formats.label_import import apply_import, preview_import
from core.images import add_folder, import_folder, rescan, set_watch
from core.images.importer import import_paths, import_uploads
from core.permissions import SYSTEM, Action, Forbidden, ProjectRole, allows, can
from core.store import Store, admin, items, labels, projects
from core.store.label_batch import LabelWrite, save_labels

# -- the pure rule -----------------------------------------------------------------------------------

TABLE = {  # role: the actions it may do (the module's table)
    ProjectRole.OWNER: set(Action),
    ProjectRole.REVIEWER: {Action.VIEW, Action.LABEL, Action.REVIEW, Action.EXPORT},
    ProjectRole.LABELER: {Action.VIEW, Action.LABEL},
}


@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize("role", [*ProjectRole, None])
def test_the_rule_table(role: ProjectRole | None, action: Action) -> None:
    expected = role is not None and action in TABLE[role]
    assert allows(role, action) is expected
    assert allows(role, action, admin=True) is True  # an admin may everything
    read_only = {Action.VIEW, Action.EXPORT, Action.ARCHIVE, Action.DELETE}
    assert allows(role, action, archived=True) is (expected and action in read_only)
    assert allows(None, action, admin=True, archived=True) is (action in read_only)


# -- a project with people ----------------------------------------------------------------------------


def _png(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


@dataclass
class World:
    store: Store
    paths: Paths
    tmp: Path
    pid: int
    ids: list[int]
    people: dict[str, User]
    source_id: int

    def fingerprint(self) -> str:
        """Every row of every table but the sign-in ones: equal before and after means nothing written."""
        h = hashlib.sha256()
        tables = [
            r[0] for r in self.store.query("SELECT table_name FROM information_schema.tables ORDER BY 1")
        ]
        for t in tables:
            if t in ("sessions", "sign_in_failures"):
                continue
            h.update(repr(sorted(map(repr, self.store.query(f"SELECT * FROM {t}")))).encode())
        return h.hexdigest()


@pytest.fixture
def world(tmp_path: Path) -> World:
    paths = Paths(tmp_path / "data").ensure()
    store = Store(paths.db)
    store.caches["paths"] = paths
    pid = projects.create_project(store, "Birds", "multiclass", ["cat", "dog", "bird"], by=SYSTEM).id
    import_uploads(store, paths, pid, [(f"u{i}.png", _png(i)) for i in range(3)], by=SYSTEM)
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "f0.png").write_bytes(_png(50))
    source_id = add_folder(store, pid, folder, watch=False, by=SYSTEM).id
    people = {}
    for name, role in (("olga", "owner"), ("lena", "labeler"), ("ivan", "owner"), ("nina", None)):
        people[name] = auth.create_user(store, name, "secret-123", Role.LABELER, name.title(), by=SYSTEM)
        if role:
            projects.add_member(store, pid, people[name].id, ProjectRole(role), by=SYSTEM)
    auth.set_active(store, "ivan", False, by=SYSTEM)
    ids = [it.id for it in items.list_items(store, pid, limit=10)]
    cls = projects.list_classes(store, pid)
    labels.save_label(store, ids[0], {"class_id": cls[0].id}, by=people["olga"], base_version=0)
    shown = Path(items.get_item(store, ids[1]).path).name  # an upload's name as stored
    (tmp_path / "labels.csv").write_text(f"image,label\n{shown},dog\n")
    (tmp_path / "more").mkdir()
    (tmp_path / "more" / "m0.png").write_bytes(_png(60))
    w = World(store, paths, tmp_path, pid, ids, people, source_id)
    yield w
    store.close()


def _cls(w: World, n: int) -> int:
    return projects.list_classes(w.store, w.pid)[n].id


def _settings(w: World) -> status.AssistSettings:
    return status.read_settings(projects.get_project(w.store, w.pid))


def _request_training(w: World, by: User) -> Any:
    from core.assist import classify_jobs  # here: the assist modules are heavier to import

    return classify_jobs.request_job(w.store, classify_jobs.TRAIN, w.pid, by=by)


# every core function that changes a project's data: (name, the action it needs, the call)
Op = Callable[[World, User], Any]
OPS: list[tuple[str, Action, Op]] = [
    ("update_project", Action.MANAGE, lambda w, by: projects.update_project(w.store, w.pid, description="x", by=by)),
    ("set_state", Action.MANAGE, lambda w, by: projects.set_state(w.store, w.pid, ProjectState.PAUSED, by=by)),
    ("add_class", Action.MANAGE, lambda w, by: projects.add_class(w.store, w.pid, "fish", by=by)),
    ("update_class", Action.MANAGE, lambda w, by: projects.update_class(w.store, _cls(w, 1), name="hound", by=by)),
    ("delete_class", Action.MANAGE,
     lambda w, by: projects.delete_class(w.store, _cls(w, 0), reassign_to=_cls(w, 1), by=by)),
    ("reassign_class", Action.MANAGE,
     lambda w, by: labels.reassign_class(w.store, w.pid, _cls(w, 0), _cls(w, 2), by=by)),
    ("add_member", Action.TEAM, lambda w, by: projects.add_member(w.store, w.pid, w.people["nina"].id, by=by)),
    ("change_role", Action.TEAM,
     lambda w, by: projects.add_member(w.store, w.pid, w.people["lena"].id, ProjectRole.OWNER, by=by)),
    ("remove_member", Action.TEAM, lambda w, by: admin.remove_member(w.store, w.pid, w.people["lena"].id, by=by)),
    ("archive", Action.ARCHIVE, lambda w, by: admin.archive_project(w.store, w.pid, by=by)),
    ("delete_project", Action.DELETE,
     lambda w, by: admin.delete_project(w.store, w.pid, confirm_name="Birds", by=by)),
    ("remove_images", Action.DELETE, lambda w, by: admin.remove_images(w.store, w.pid, w.ids[1:2], by=by)),
    ("add_folder", Action.MANAGE, lambda w, by: add_folder(w.store, w.pid, w.tmp / "more", by=by)),
    ("set_watch", Action.MANAGE, lambda w, by: set_watch(w.store, w.source_id, True, by=by)),
    ("rescan", Action.MANAGE, lambda w, by: rescan(w.store, w.source_id, by=by)),
    ("import_folder", Action.MANAGE, lambda w, by: import_folder(w.store, w.pid, w.tmp / "more", by=by)),
    ("import_paths", Action.MANAGE, lambda w, by: import_paths(w.store, w.pid, [str(w.tmp / "more" / "m0.png")], by=by)),
    ("import_uploads", Action.MANAGE,
     lambda w, by: import_uploads(w.store, w.paths, w.pid, [("n.png", _png(70))], by=by)),
    ("apply_import", Action.MANAGE,
     lambda w, by: apply_import(w.store, w.pid, preview_import(w.store, w.pid, w.tmp / "labels.csv"), by=by)),
    ("export", Action.EXPORT,
     lambda w, by: export_project(w.store, w.pid, "csv", out_path=w.tmp / "out.csv", by=by)),
    ("start_export_job", Action.EXPORT,
     lambda w, by: jobs.JobRunner(w.store).submit("export", {"format": "csv"}, project_id=w.pid, by=by)),
    ("train_now", Action.MANAGE, lambda w, by: _request_training(w, by)),
    ("save_assist_settings", Action.MANAGE, lambda w, by: status.save_settings(w.store, w.pid, _settings(w), by=by)),
    ("assist_on_off", Action.MANAGE, lambda w, by: status.set_enabled(w.store, w.pid, False, by=by)),
    ("save_label", Action.LABEL,
     lambda w, by: labels.save_label(w.store, w.ids[1], {"class_id": _cls(w, 1)}, by=by, base_version=0)),
    ("correct_someone_elses_label", Action.REVIEW,
     lambda w, by: labels.save_label(w.store, w.ids[0], {"class_id": _cls(w, 1)}, by=by, base_version=1)),
    ("skip_item", Action.LABEL, lambda w, by: labels.skip_item(w.store, w.ids[2], by=by, reason="blurry")),
    ("save_labels", Action.LABEL,
     lambda w, by: save_labels(w.store, w.pid, [LabelWrite(w.ids[1], {"class_id": _cls(w, 1)}, 0)], by=by)),
]  # fmt: skip
NAMES = [name for name, _, _ in OPS]
NOT_A_LABELERS = [(n, f) for n, a, f in OPS if a not in (Action.VIEW, Action.LABEL)]


@pytest.mark.parametrize(("name", "op"), [(n, f) for n, _, f in OPS], ids=NAMES)
def test_the_owner_may(world: World, name: str, op: Op) -> None:
    """The control: each call is right, and changes something, when the owner makes it."""
    before = world.fingerprint()
    op(world, world.people["olga"])
    assert world.fingerprint() != before or name == "export", f"{name} wrote nothing"


@pytest.mark.parametrize(("name", "op"), NOT_A_LABELERS, ids=[n for n, _ in NOT_A_LABELERS])
def test_a_labeler_is_refused(world: World, name: str, op: Op) -> None:
    before = world.fingerprint()
    with pytest.raises(Forbidden, match=r"lena may not|only their own"):
        op(world, world.people["lena"])
    assert world.fingerprint() == before
    assert not (world.tmp / "out.csv").exists()


@pytest.mark.parametrize(("name", "op"), [(n, f) for n, _, f in OPS], ids=NAMES)
def test_a_non_member_is_refused(world: World, name: str, op: Op) -> None:
    before = world.fingerprint()
    with pytest.raises(Forbidden, match="nina may not"):
        op(world, world.people["nina"])
    assert world.fingerprint() == before


@pytest.mark.parametrize(("name", "op"), [(n, f) for n, _, f in OPS], ids=NAMES)
def test_a_deactivated_owner_is_refused(world: World, name: str, op: Op) -> None:
    before = world.fingerprint()
    with pytest.raises(Forbidden, match="ivan may not"):
        op(world, world.people["ivan"])
    assert world.fingerprint() == before


READ_ONLY_OK = {"archive", "delete_project", "remove_images", "export", "start_export_job"}


@pytest.mark.parametrize(
    ("name", "op"),
    [(n, f) for n, _, f in OPS if n not in READ_ONLY_OK],
    ids=[n for n in NAMES if n not in READ_ONLY_OK],
)
def test_an_archived_project_refuses_changes_even_to_its_owner(world: World, name: str, op: Op) -> None:
    admin.archive_project(world.store, world.pid, by=SYSTEM)
    before = world.fingerprint()
    with pytest.raises(Forbidden, match="archived and read-only"):
        op(world, world.people["olga"])
    with pytest.raises(Forbidden, match="archived and read-only"):
        op(world, SYSTEM)  # nor may an admin: unarchive first
    assert world.fingerprint() == before


def test_a_labeler_labels_and_corrects_only_their_own(world: World) -> None:
    lena = world.people["lena"]
    ann = labels.save_label(world.store, world.ids[1], {"class_id": _cls(world, 1)}, by=lena, base_version=0)
    again = labels.save_label(
        world.store, world.ids[1], {"class_id": _cls(world, 2)}, by=lena, base_version=1
    )
    assert (ann.author, again.version) == ("lena", 2)
    with pytest.raises(Forbidden, match="olga's"):
        labels.save_label(world.store, world.ids[0], {"class_id": _cls(world, 1)}, by=lena, base_version=1)
    with pytest.raises(Forbidden, match="under another name"):
        labels.save_label(
            world.store, world.ids[2], {"class_id": _cls(world, 1)}, by=lena, base_version=0, author="olga"
        )
    # a batch: someone else's label is refused alone, the rest is saved
    out = save_labels(world.store, world.pid, [
        LabelWrite(world.ids[0], {"class_id": _cls(world, 2)}, 1),
        LabelWrite(world.ids[2], {"class_id": _cls(world, 2)}, 0),
    ], by=lena)  # fmt: skip
    assert list(out.saved) == [world.ids[2]] and "olga's" in out.refused[world.ids[0]]
    reviewer = world.people["nina"]
    projects.add_member(world.store, world.pid, reviewer.id, ProjectRole.REVIEWER, by=SYSTEM)
    fixed = labels.save_label(
        world.store, world.ids[0], {"class_id": _cls(world, 1)}, by=reviewer, base_version=1
    )
    assert fixed.author == "nina"


def test_admin_only_core_functions(world: World) -> None:
    for who in ("olga", "lena"):
        with pytest.raises(Forbidden):
            projects.create_project(world.store, "New", "multiclass", ["a", "b"], by=world.people[who])
        with pytest.raises(Forbidden):
            auth.set_active(world.store, "lena", False, by=world.people[who])
    assert [p.name for p in projects.list_projects(world.store)] == ["Birds"]
    assert "lena" not in auth.inactive_usernames(world.store)
    root = auth.create_user(world.store, "root", "secret-123", Role.ADMIN, "Root", by=SYSTEM)
    made = projects.create_project(world.store, "New", "multiclass", ["a", "b"], by=root)
    assert projects.member_roles(world.store, made.id) == {"root": ProjectRole.OWNER}
    assert can(world.store, root, Action.DELETE, world.pid)  # an admin needs no membership
