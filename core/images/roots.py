"""Which server folders may be imported: the one rule every way in (Data page, import job, CLI) goes through.

``check_import_folder`` resolves the folder (symbolic links followed) and refuses, with the reason in
words (``ValidationError``):

- ``/`` and the system folders (``/etc``, ``/proc``, ``/sys``, ``/dev``, ``/boot``, ``/root``, ``/var``,
  ``/usr``, ...) and everything inside them: importing ``/`` once found 62,498 "images", another annota
  instance's data among them;
- annota's data directory, its own folders (uploads, caches, exports, models) and any folder that holds
  the data directory (its thumbnails would be imported as images); folders an administrator puts in
  the data directory themselves (such as the demo's ``demo-photos``) stay allowed;
- with ``ANNOTA_IMPORT_ROOTS`` set (folders separated by ``os.pathsep``), every folder outside them.
  A root inside a system folder (``/var/photos``) opens that root, not the rest of the system folder.

The system temporary folder (``/tmp``) is not a system folder: tests, the demo and CI import from it.
"""

from __future__ import annotations

import os
from pathlib import Path

from core.config import Paths
from core.domain import ValidationError

ROOTS_ENV = "ANNOTA_IMPORT_ROOTS"
SYSTEM_FOLDERS = (
    "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/lost+found", "/proc",
    "/root", "/run", "/sbin", "/snap", "/sys", "/usr", "/var",
    "/System", "/Library", "/private/etc", "/private/var", "/cores",  # macOS
)  # fmt: skip


def shown(path: str | os.PathLike[str]) -> str:
    """A path as text for people and for the database: bytes that are not UTF-8 escaped as ``\\xe9``."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def is_utf8(path: str) -> bool:
    """Whether a path from the file system can be stored as text (names with raw Latin-1 bytes cannot)."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


NOT_UTF8_FILE = "the file name is not valid UTF-8 (the bytes shown as \\xNN); rename the file to import it"


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def import_roots() -> list[str]:
    """The resolved folders of ``ANNOTA_IMPORT_ROOTS`` (empty when unset)."""
    raw = os.environ.get(ROOTS_ENV, "")
    return [os.path.realpath(os.path.expanduser(p.strip())) for p in raw.split(os.pathsep) if p.strip()]


def _data_folders(data_root: Path) -> tuple[str, list[str]]:
    paths = Paths(Path(os.path.realpath(data_root)))
    own = [paths.uploads, paths.cache, paths.exports, paths.models]
    return str(paths.root), [str(p) for p in own]


def refusal(folder: str, data_root: Path | None, name: str | None = None) -> str | None:
    """Why the resolved ``folder`` may not be imported, or None when it may (``name``: as the user gave it)."""
    name = name or shown(folder)
    if folder == os.sep:
        return f"{name} is the whole server (/): choose the folder that holds the images."
    roots = import_roots()
    for system in SYSTEM_FOLDERS:
        if _inside(folder, system) and not any(_inside(r, system) and _inside(folder, r) for r in roots):
            return f"{name} is a system folder ({system}): choose a folder that holds images."
    if data_root is not None:
        root, own = _data_folders(data_root)
        if folder == root:
            return f"{name} is annota's data directory; put the images in a folder of their own."
        if _inside(root, folder):
            return f"{name} holds annota's data directory ({shown(root)}), whose cached images would be imported."
        for sub in own:
            if _inside(folder, sub):
                return f"{name} is inside annota's data directory ({shown(sub)}): annota writes there itself."
    if roots and not any(_inside(folder, r) for r in roots):
        listed = ", ".join(shown(r) for r in roots)
        return f"{name} is outside the folders this server imports from ({ROOTS_ENV}: {listed})."
    return None


def check_import_folder(folder: str | os.PathLike[str], data_root: Path | None = None) -> Path:
    """The folder, resolved, if the server may import it; otherwise ``ValidationError`` with the reason."""
    raw = os.fspath(folder)
    text = raw.strip() if isinstance(raw, str) else os.fsdecode(raw).strip()
    if not text:
        raise ValidationError("Give the path of a folder on the server.")
    path = Path(text).expanduser()
    if not path.exists():
        raise ValidationError(f"The folder {shown(text)} does not exist on the server.")
    if not path.is_dir():
        raise ValidationError(f"{shown(text)} is a file, not a folder.")
    if not os.access(path, os.R_OK | os.X_OK):
        raise ValidationError(f"The server may not read the folder {shown(text)}.")
    resolved = os.path.realpath(path)
    if not is_utf8(resolved):
        raise ValidationError(
            f"The folder name {shown(resolved)} is not valid UTF-8 (the bytes shown as \\xNN); rename it."
        )
    given = os.path.abspath(path)
    name = shown(resolved) if given == resolved else f"{shown(text)} (which leads to {shown(resolved)})"
    why = refusal(resolved, data_root, name)
    if why is not None:
        raise ValidationError(f"This folder cannot be imported: {why}")
    return Path(resolved)
