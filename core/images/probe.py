"""Probing one image: format, size after EXIF orientation, content hash, without decoding pixels.

Pillow's ``Image.open`` reads only the header, so a probe costs one read of the file's bytes (which
the content hash needs anyway) and a header parse. A file that is not a usable image raises
``ProbeError`` whose message is the reason shown to the user, per file.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

# Extensions imported from folders (lower case). GIFs give their first frame.
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"})
# Pillow format names accepted (MPO is a JPEG with extra frames, as phones write them).
ACCEPTED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP", "BMP", "TIFF", "GIF"})
MAX_PIXELS = 100_000_000  # decompression-bomb guard: 100 megapixels
MAX_FILE_BYTES = 200 * 1024 * 1024  # a folder file larger than this is refused unread
MAX_UPLOAD_BYTES = 50 * 1024 * 1024  # per uploaded file
ORIENTATION_TAG = 0x0112
SWAPPING_ORIENTATIONS = frozenset({5, 6, 7, 8})  # rotated by 90 degrees: width and height swap

_PNG_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"


class ProbeError(ValueError):
    """A file that cannot be imported; ``str(exc)`` is the reason for the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Probe:
    """What the import needs to know of one image."""

    format: str  # Pillow's name: JPEG, PNG, ...
    width: int  # after EXIF orientation (the frame all geometry lives in)
    height: int
    orientation: int  # EXIF orientation 1..8 (1: as stored)
    sha1: str
    bytes: int


def is_image_name(name: str | os.PathLike[str]) -> bool:
    return os.path.splitext(str(name))[1].lower() in IMAGE_EXTENSIONS


def orientation_of(im: Image.Image) -> int:
    """EXIF orientation (1..8) read from the header only; 1 when absent or unreadable."""
    try:
        if im.format == "PNG":
            # PngImageFile.getexif() decodes the whole image when eXIf comes after the pixels;
            # only an eXIf chunk placed before them (in ``info`` after open) counts.
            raw = im.info.get("exif")
            if not raw:
                return 1
            exif = Image.Exif()
            exif.load(raw if isinstance(raw, bytes) else bytes(raw))
            value = exif.get(ORIENTATION_TAG, 1)
        elif im.format in ("GIF", "BMP"):
            return 1
        else:
            value = im.getexif().get(ORIENTATION_TAG, 1)
        value = int(value)
    except Exception:
        return 1
    return value if 1 <= value <= 8 else 1


def size_words(n: int) -> str:
    """A byte count for people: 812 bytes, 35.2 KB, 48.0 MB."""
    if n < 1024:
        return f"{n} bytes"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n / (1024 * 1024):.1f} MB"


def _truncation(fmt: str, data: bytes) -> str | None:
    """A cheap check that the file is complete, by format; the reason, or None when it looks whole."""
    if fmt in ("JPEG", "MPO"):
        # Every JPEG ends with the EOI marker FFD9. Some cameras append a trailer after it: only
        # then is the image decoded (in draft mode, at 1/8 scale) to tell a trailer from a cut.
        if b"\xff\xd9" not in data[-1024:] and _jpeg_decode_fails(data):
            return "truncated: the JPEG ends before its end-of-image marker"
    elif fmt == "PNG":
        if _PNG_IEND not in data[-64:]:
            return "truncated: the PNG ends before its IEND chunk"
    elif fmt == "GIF":
        if not data.rstrip(b"\x00").endswith(b";"):
            return "truncated: the GIF ends before its trailer"
    elif fmt == "WEBP":
        riff_size = struct.unpack_from("<I", data, 4)[0] if len(data) >= 8 else 0
        if len(data) < riff_size + 8:
            return f"truncated: the WebP file holds {len(data)} of {riff_size + 8} bytes"
    elif fmt == "BMP":
        declared = struct.unpack_from("<I", data, 2)[0] if len(data) >= 6 else 0
        if declared and len(data) < declared:
            return f"truncated: the BMP file holds {len(data)} of {declared} bytes"
    return None


def _jpeg_decode_fails(data: bytes) -> bool:
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.draft("RGB", (max(1, im.width // 8), max(1, im.height // 8)))
            im.load()
    except Exception:
        return True
    return False


def probe_bytes(data: bytes, name: str = "", *, max_pixels: int = MAX_PIXELS) -> Probe:
    """Probe an image held in memory; raises ``ProbeError`` with the reason it cannot be imported."""
    if not data:
        raise ProbeError("empty file (0 bytes)")
    try:
        im = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))
        claimed = f"{int(found.group(1)) / 1e6:,.0f} megapixels" if found else "more pixels than allowed"
        raise ProbeError(
            f"too large: the header claims {claimed} (the limit is {max_pixels / 1e6:.0f} megapixels)"
        ) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, struct.error, EOFError) as exc:
        raise ProbeError(_unreadable_reason(data, exc)) from exc
    with im:
        fmt = im.format or "?"
        if fmt not in ACCEPTED_FORMATS:
            raise ProbeError(f"unsupported image format {fmt} (accepted: JPEG, PNG, WebP, BMP, TIFF, GIF)")
        width, height = im.size
        if width <= 0 or height <= 0:
            raise ProbeError(f"the header gives no size ({width} x {height} px)")
        if width * height > max_pixels:
            raise ProbeError(
                f"too large: {width} x {height} px is {width * height / 1e6:.0f} megapixels"
                f" (the limit is {max_pixels / 1e6:.0f} megapixels)"
            )
        problem = _truncation(fmt, data)
        if problem:
            raise ProbeError(problem)
        orientation = orientation_of(im)
    if orientation in SWAPPING_ORIENTATIONS:
        width, height = height, width
    return Probe(fmt, width, height, orientation, hashlib.sha1(data).hexdigest(), len(data))


def probe_file(path: str | os.PathLike[str], *, max_bytes: int = MAX_FILE_BYTES) -> Probe:
    """Probe an image file (read once: the bytes feed both the hash and the header parse)."""
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > max_bytes:
                raise ProbeError(f"file too large: {size_words(size)} (the limit is {size_words(max_bytes)})")
            data = fh.read()
    except ProbeError:
        raise
    except FileNotFoundError as exc:
        raise ProbeError("the file disappeared before it could be read") from exc
    except IsADirectoryError as exc:
        raise ProbeError("a folder, not a file") from exc
    except PermissionError as exc:
        raise ProbeError("permission denied: the server cannot read this file") from exc
    except OSError as exc:
        raise ProbeError(f"cannot read the file: {exc.strerror or exc}") from exc
    return probe_bytes(data, p.name)


_MAGIC = [
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
]


def _magic(data: bytes) -> str | None:
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return next((fmt for head, fmt in _MAGIC if data.startswith(head)), None)


def _unreadable_reason(data: bytes, exc: BaseException) -> str:
    """Why Pillow could not open the file, in words: not an image at all, truncated, or broken."""
    fmt = _magic(data)
    if fmt is None:
        kind = "text" if _looks_like_text(data) else "data"
        return f"not an image: the file holds {kind} that no image format recognises"
    truncated = _truncation(fmt, data)
    if truncated or "runcated" in str(exc):
        return truncated or f"truncated: the {fmt} file ends early"
    detail = "" if isinstance(exc, UnidentifiedImageError) else f": {exc}"
    return f"broken {fmt} file: its header cannot be read{detail}"


def _looks_like_text(data: bytes) -> bool:
    head = data[:512]
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
