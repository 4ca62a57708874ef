"""Administration: archive, delete a project (by its exact name), remove members, remove images."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core import auth
from core.config import Paths
from core.domain import NotFound, Role, ValidationError
from core.formats.export import export_project
from core.images import add_folder, rescan
from core.images.importer import import_uploads
from core.images.renditions import thumbnail_path
from core.permissions import SYSTEM, Forbidden, ProjectRole
from core.store import Store, admin, items, labels, projects


def png(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return Paths(tmp_path).ensure()


@pytest.fixture
def store(paths: Paths) -> Store:
    s = Store(paths.db)
    s.caches["paths"] = paths
    yield s
    s.close()


def _project_with_images(
    store: Store, paths: Paths, name: str, n: int = 3, seed: int = 0
) -> tuple[int, list[int]]:
    pid = projects.create_project(store, name, "multiclass", ["cat", "dog"], by=SYSTEM).id
    rep = import_uploads(store, paths, pid, [(f"{name}-{i}.png", png(seed + i)) for i in range(n)], by=SYSTEM)
    assert rep.added == n
    ids = [it.id for it in items.list_items(store, pid, limit=100)]
    return pid, ids


def _users(store: Store, pid: int) -> dict[str, object]:
    owner = auth.create_user(store, "olga", "secret1", Role.LABELER, "Olga", by=SYSTEM)
    lab = auth.create_user(store, "lena", "secret1", Role.LABELER, "Lena", by=SYSTEM)
    projects.add_member(store, pid, owner.id, ProjectRole.OWNER, by=SYSTEM)
    projects.add_member(store, pid, lab.id, ProjectRole.LABELER, by=SYSTEM)
    return {"owner": owner, "labeler": lab}


def test_archive_hides_the_project_and_makes_it_read_only(store: Store, paths: Paths) -> None:
    pid, ids = _project_with_images(store, paths, "A")
    people = _users(store, pid)
    with pytest.raises(Forbidden):
        admin.archive_project(store, pid, by=people["labeler"])
    admin.archive_project(store, pid, by=people["owner"])
    assert projects.list_projects(store) == []
    (shown,) = projects.list_projects(store, include_archived=True)
    assert shown.archived_at is not None
    with pytest.raises(Forbidden, match="archived"):
        labels.save_label(store, ids[0], {"class_id": 1}, by=people["owner"], base_version=0)
    with pytest.raises(Forbidden, match="archived"):
        projects.update_project(store, pid, description="new", by=SYSTEM)
    admin.unarchive_project(store, pid, by=people["owner"])
    assert [p.id for p in projects.list_projects(store)] == [pid]
    cid = projects.list_classes(store, pid)[0].id
    assert (
        labels.save_label(store, ids[0], {"class_id": cid}, by=people["labeler"], base_version=0) is not None
    )


def test_delete_needs_the_exact_name_and_removes_every_row_and_file(store: Store, paths: Paths) -> None:
    pid, ids = _project_with_images(store, paths, "Doomed", seed=0)
    other, other_ids = _project_with_images(store, paths, "Kept", seed=100)
    people = _users(store, pid)
    cid = projects.list_classes(store, pid)[0].id
    labels.save_label(store, ids[0], {"class_id": cid}, by=people["labeler"], base_version=0)
    labels.skip_item(store, ids[1], by=people["labeler"], reason="blurry")
    admin.remove_images(store, pid, [ids[2]], by=SYSTEM)
    other_cid = projects.list_classes(store, other)[0].id
    labels.save_label(store, other_ids[0], {"class_id": other_cid}, by=SYSTEM, author="kim", base_version=0)
    thumbs = [thumbnail_path(paths, it) for it in items.get_items(store, [*ids[:2], *other_ids])]
    export_project(store, pid, "csv", by=SYSTEM)
    assert (paths.uploads / str(pid)).is_dir() and (paths.exports / str(pid)).is_dir()

    with pytest.raises(Forbidden):
        admin.delete_project(store, pid, confirm_name="Doomed", by=people["labeler"])
    for wrong in ("doomed", "Doomed ", ""):
        with pytest.raises(ValidationError, match="exactly"):
            admin.delete_project(store, pid, confirm_name=wrong, by=people["owner"])
    assert projects.get_project(store, pid).name == "Doomed"

    done = admin.delete_project(store, pid, confirm_name="Doomed", by=people["owner"])
    assert done.rows["items"] == 2 and done.rows["annotations"] == 1 and done.rows["removed_items"] == 1
    with pytest.raises(NotFound):
        projects.get_project(store, pid)
    for table in store.write(admin._project_tables):
        assert store.scalar(f"SELECT count(*) FROM {table} WHERE project_id = ?", [pid]) == 0, table
    assert not (paths.uploads / str(pid)).exists() and not (paths.exports / str(pid)).exists()
    assert [t.exists() for t in thumbs] == [False, False, True, True, True]
    # the other project is untouched
    assert items.count_items(store, other) == 3
    assert labels.current_annotation(store, other_ids[0]) is not None
    assert (paths.uploads / str(other)).is_dir()
    assert auth.get_user(store, "lena") is not None  # people stay; only their membership goes


def test_delete_refuses_while_a_job_of_the_project_runs(store: Store, paths: Paths) -> None:
    pid, _ = _project_with_images(store, paths, "Busy", n=1)
    store.execute(
        "INSERT INTO jobs (kind, project_id, state, params) VALUES ('export', ?, 'running', '{}')", [pid]
    )
    with pytest.raises(ValidationError, match="running"):
        admin.delete_project(store, pid, confirm_name="Busy", by=SYSTEM)


def test_remove_member_keeps_an_owner(store: Store, paths: Paths) -> None:
    pid, _ = _project_with_images(store, paths, "Team", n=1)
    people = _users(store, pid)
    with pytest.raises(Forbidden):
        admin.remove_member(store, pid, people["owner"].id, by=people["labeler"])
    with pytest.raises(ValidationError, match="owner"):
        admin.remove_member(store, pid, people["owner"].id, by=people["owner"])
    admin.remove_member(store, pid, people["labeler"].id, by=people["owner"])
    assert projects.member_roles(store, pid) == {"olga": ProjectRole.OWNER}
    with pytest.raises(NotFound):
        admin.remove_member(store, pid, people["labeler"].id, by=people["owner"])
    admin.remove_member(store, pid, people["owner"].id, by=SYSTEM)  # an admin may
    assert projects.member_roles(store, pid) == {}


def test_remove_images_keeps_history_leaves_exports_and_stays_removed(
    tmp_path: Path, store: Store, paths: Paths
) -> None:
    pid = projects.create_project(store, "Folder", "multiclass", ["cat", "dog"], by=SYSTEM).id
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(4):
        (folder / f"p{i}.png").write_bytes(png(i))
    src = add_folder(store, pid, folder, watch=False, by=SYSTEM)
    assert rescan(store, src.id, by=SYSTEM).added == 4
    by_path = {Path(it.path).name: it for it in items.list_items(store, pid, limit=10)}
    cid = projects.list_classes(store, pid)[0].id
    for it in by_path.values():
        labels.save_label(store, it.id, {"class_id": cid}, by=SYSTEM, author="kim", base_version=0)
    gone = by_path["p1.png"]
    people = _users(store, pid)
    with pytest.raises(Forbidden):
        admin.remove_images(store, pid, [gone.id], by=people["labeler"])
    with pytest.raises(NotFound):
        admin.remove_images(store, pid, [gone.id, 999_999], by=people["owner"])
    assert items.count_items(store, pid) == 4  # nothing removed on a refusal
    assert admin.remove_images(store, pid, [gone.id], by=people["owner"]) == 1

    assert items.count_items(store, pid) == 3
    assert [a.version for a in labels.history(store, gone.id)] == [1]  # the label stays as history
    (rec,) = admin.removed_images(store, pid)
    assert (rec.path, rec.sha1, rec.removed_by) == (gone.path, gone.sha1, "olga")
    out = export_project(store, pid, "csv", include="all", out_path=tmp_path / "out.csv", by=SYSTEM)
    text = Path(out.path).read_text()
    assert "p1.png" not in text and "p0.png" in text and "p2.png" in text
    # a rescan does not bring it back, nor does a copy under another name, nor an upload of it
    assert rescan(store, src.id, by=SYSTEM).added == 0
    (folder / "copy-of-p1.png").write_bytes(png(1))
    assert rescan(store, src.id, by=SYSTEM).added == 0
    assert import_uploads(store, paths, pid, [("again.png", png(1))], by=SYSTEM).added == 0
    assert items.count_items(store, pid) == 3
    assert gone.sha1 in items.known_hashes(store, pid) and gone.path in items.known_paths(store, pid)
    # a new file still comes in
    (folder / "p9.png").write_bytes(png(9))
    assert rescan(store, src.id, by=SYSTEM).added == 1


def test_deactivation_is_an_admins(store: Store) -> None:
    auth.create_user(store, "root", "secret1", Role.ADMIN, "Root", by=SYSTEM)
    lena = auth.create_user(store, "lena", "secret1", Role.LABELER, "Lena", by=SYSTEM)
    kim = auth.create_user(store, "kim", "secret1", Role.LABELER, "Kim", by=SYSTEM)
    with pytest.raises(Forbidden):
        auth.set_active(store, "kim", False, by=lena)
    auth.set_active(store, "kim", False, by=SYSTEM)
    assert "kim" in auth.inactive_usernames(store)
    root = auth.get_user(store, "root")
    with pytest.raises(ValidationError, match="own"):
        auth.set_active(store, "root", False, by=root)
    del kim
