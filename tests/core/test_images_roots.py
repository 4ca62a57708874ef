"""Which server folders may be imported (core.images.roots, called by add_folder): system folders, the
data directory and, with ANNOTA_IMPORT_ROOTS, everything outside the roots are refused, with the reason."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from core.config import Paths
from core.domain import ValidationError
from core.images import add_folder, list_sources
from core.images.roots import ROOTS_ENV, check_import_folder, refusal
from core.permissions import SYSTEM
from core.store import Store
from core.store.projects import create_project


@pytest.fixture
def project_id(store: Store) -> int:
    return create_project(store, "Roots", "multiclass", ["a", "b"], by=SYSTEM).id


@pytest.fixture(autouse=True)
def no_roots(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ROOTS_ENV, raising=False)


@pytest.mark.parametrize(
    ("folder", "words"),
    [
        ("/", "/ is the whole server (/)"),
        ("/etc", "/etc is a system folder (/etc)"),
        ("/proc", "system folder (/proc)"),
        ("/sys", "system folder (/sys)"),
        ("/dev", "system folder (/dev)"),
        ("/usr/share", "/usr/share is a system folder (/usr)"),
        ("/var", "system folder (/var)"),
    ],
)
def test_system_folders_are_refused_with_the_reason(
    store: Store, project_id: int, folder: str, words: str
) -> None:
    if not os.path.isdir(folder):
        pytest.skip(f"{folder} does not exist on this machine")
    with pytest.raises(ValidationError, match="This folder cannot be imported") as err:
        add_folder(store, project_id, folder, by=SYSTEM)
    assert words in str(err.value)
    assert list_sources(store, project_id) == []


def test_root_refusals_for_folders_that_need_not_exist() -> None:
    """The rule itself, on resolved paths: /root and /boot, and that /tmp and /srv stay allowed."""
    assert "system folder (/root)" in (refusal("/root/photos", None) or "")
    assert "system folder (/boot)" in (refusal("/boot", None) or "")
    assert refusal("/srv/photos", None) is None
    assert refusal("/home/ann/photos", None) is None
    assert refusal("/tmp", None) is None and refusal("/tmp/x/y", None) is None


def test_a_link_to_a_system_folder_is_resolved_first(tmp_path: Path, store: Store, project_id: int) -> None:
    link = tmp_path / "innocent"
    link.symlink_to("/etc")
    with pytest.raises(
        ValidationError, match=r"innocent \(which leads to /etc\) is a system folder \(/etc\)"
    ):
        add_folder(store, project_id, link, by=SYSTEM)


def test_the_data_directory_and_its_own_folders_are_refused(
    tmp_path: Path, store: Store, project_id: int
) -> None:
    data = Paths(store.path.parent).ensure()  # the store's folder is its data directory
    with pytest.raises(ValidationError, match="is annota's data directory"):
        add_folder(store, project_id, data.root, by=SYSTEM)
    for own in (data.uploads, data.thumbnails, data.exports, data.models):
        with pytest.raises(ValidationError, match="inside annota's data directory"):
            add_folder(store, project_id, own, by=SYSTEM)
    with pytest.raises(ValidationError, match="holds annota's data directory"):
        add_folder(store, project_id, data.root.parent, by=SYSTEM)
    mine = data.root / "demo-photos"  # a folder put in the data directory by hand stays allowed
    mine.mkdir()
    assert add_folder(store, project_id, mine, by=SYSTEM).path == str(mine.resolve())


def test_the_runtime_data_directory_counts_when_the_store_lives_elsewhere(tmp_path: Path) -> None:
    store = Store(tmp_path / "db" / "a.duckdb")
    try:
        data = Paths(tmp_path / "data").ensure()
        store.caches["paths"] = data
        pid = create_project(store, "R", "multiclass", ["a", "b"], by=SYSTEM).id
        with pytest.raises(ValidationError, match="inside annota's data directory"):
            add_folder(store, pid, data.uploads, by=SYSTEM)
    finally:
        store.close()


def test_tmp_folders_stay_allowed_without_roots(store: Store, project_id: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="annota-roots-"))  # as the CI's mktemp -d
    try:
        assert add_folder(store, project_id, folder, by=SYSTEM).path == str(folder.resolve())
    finally:
        folder.rmdir()


def test_with_import_roots_only_folders_inside_them(
    tmp_path: Path, store: Store, project_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    inside = tmp_path / "allowed" / "batch-1"
    inside.mkdir(parents=True)
    other = tmp_path / "other"
    other.mkdir()
    second = tmp_path / "second"
    second.mkdir()
    monkeypatch.setenv(ROOTS_ENV, os.pathsep.join([str(tmp_path / "allowed"), str(second)]))
    assert add_folder(store, project_id, inside, by=SYSTEM).path == str(inside.resolve())
    assert add_folder(store, project_id, second, by=SYSTEM).path == str(second.resolve())
    with pytest.raises(
        ValidationError, match=r"outside the folders this server imports from \(ANNOTA_IMPORT_ROOTS"
    ):
        add_folder(store, project_id, other, by=SYSTEM)
    link = inside / "escape"
    link.symlink_to(other)
    with pytest.raises(ValidationError, match="outside the folders"):
        add_folder(store, project_id, link, by=SYSTEM)  # resolved before the check


def test_a_root_inside_a_system_folder_opens_only_that_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ROOTS_ENV, "/var/photos")
    assert refusal("/var/photos/batch", None) is None
    assert "system folder (/var)" in (refusal("/var/lib", None) or "")
    assert "outside the folders" in (refusal("/srv/other", None) or "")
    monkeypatch.setenv(ROOTS_ENV, "/")
    assert "system folder (/etc)" in (refusal("/etc", None) or "")


def test_check_returns_the_resolved_folder(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "alias").symlink_to(real)
    assert check_import_folder(tmp_path / "alias") == real.resolve()
    with pytest.raises(ValidationError, match="Give the path"):
        check_import_folder("  ")
