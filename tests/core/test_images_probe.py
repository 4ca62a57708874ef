"""Probing images: sizes after EXIF orientation, hashes, and every way a file can be refused."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.images.probe import MAX_PIXELS, Probe, ProbeError, probe_bytes, probe_file


def noise(size: tuple[int, int], seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))


def encode(
    fmt: str, size: tuple[int, int] = (40, 20), color: tuple[int, int, int] = (200, 30, 30), **kw
) -> bytes:
    im = Image.new("RGB", size, color) if color != (0, 0, 0) else noise(size)
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def jpeg_with_orientation(orientation: int, size: tuple[int, int] = (40, 20)) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode("JPEG", size, exif=exif.tobytes())


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return (
        struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    )


def png_header_claiming(width: int, height: int) -> bytes:
    """A small PNG whose IHDR (with a valid CRC) claims a huge size; its pixels are never there."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")
    )


def animated_gif() -> bytes:
    frames = [Image.new("P", (30, 10), i) for i in (1, 2, 3)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=50)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("name", "data", "fmt", "size", "orientation"),
    [
        ("a.png", encode("PNG"), "PNG", (40, 20), 1),
        ("a.jpg", encode("JPEG"), "JPEG", (40, 20), 1),
        ("rot6.jpg", jpeg_with_orientation(6), "JPEG", (20, 40), 6),
        ("rot8.jpg", jpeg_with_orientation(8), "JPEG", (20, 40), 8),
        ("rot3.jpg", jpeg_with_orientation(3), "JPEG", (40, 20), 3),
        ("anim.gif", animated_gif(), "GIF", (30, 10), 1),
        ("a.webp", encode("WEBP"), "WEBP", (40, 20), 1),
        ("a.bmp", encode("BMP"), "BMP", (40, 20), 1),
        ("a.tif", encode("TIFF"), "TIFF", (40, 20), 1),
    ],
)
def test_probe_reads_format_size_orientation_and_hash(
    tmp_path: Path, name: str, data: bytes, fmt: str, size: tuple[int, int], orientation: int
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    probe = probe_file(path)
    assert probe == Probe(fmt, size[0], size[1], orientation, hashlib.sha1(data).hexdigest(), len(data))


def test_probe_does_not_decode_pixels(monkeypatch: pytest.MonkeyPatch) -> None:
    jpeg, png = jpeg_with_orientation(6), encode("PNG")

    def no_load(self: Image.Image) -> None:
        raise AssertionError("probe decoded the pixels")

    monkeypatch.setattr(Image.Image, "load", no_load)
    monkeypatch.setattr("PIL.ImageFile.ImageFile.load", no_load)
    assert probe_bytes(jpeg).width == 20
    assert probe_bytes(png).width == 40


def test_jpeg_with_a_trailer_after_its_end_marker_is_accepted() -> None:
    data = encode("JPEG", (64, 64), (0, 0, 0)) + b"SEFT" + bytes(range(256)) * 20  # as some phones append
    assert probe_bytes(data).width == 64


@pytest.mark.parametrize(
    ("data", "reason_words"),
    [
        (b"", "empty file"),
        (b"hello, I am a text file named like a photo\n", "not an image"),
        (encode("JPEG", (64, 64), (0, 0, 0))[:-200], "truncated"),
        (encode("JPEG", (64, 64), (0, 0, 0))[:-2], "truncated"),
        (encode("PNG", (64, 64), (0, 0, 0))[:-20], "truncated"),
        (encode("WEBP", (64, 64), (0, 0, 0))[:-10], "truncated"),
        (encode("GIF", (64, 64), (0, 0, 0))[:-1], "truncated"),
        (encode("BMP", (64, 64), (0, 0, 0))[:-100], "truncated"),
        (png_header_claiming(30000, 30000), "too large"),
        (png_header_claiming(12000, 9000), "108 megapixels"),
        (b"GIF89a" + b"\x00" * 3, "truncated"),
        (png_header_claiming(40, 20).replace(b"IHDR", b"IHDX"), "broken PNG file"),
    ],
)
@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_probe_refuses_with_a_reason(data: bytes, reason_words: str) -> None:
    with pytest.raises(ProbeError) as err:
        probe_bytes(data, "x.jpg")
    assert reason_words in err.value.reason


def test_huge_png_header_reason_names_the_size() -> None:
    with pytest.raises(ProbeError) as err:
        probe_bytes(png_header_claiming(30000, 30000))
    assert err.value.reason == "too large: the header claims 900 megapixels (the limit is 100 megapixels)"
    assert MAX_PIXELS == 100_000_000


def test_probe_file_refuses_missing_and_oversized(tmp_path: Path) -> None:
    with pytest.raises(ProbeError, match="disappeared"):
        probe_file(tmp_path / "nope.jpg")
    big = tmp_path / "big.jpg"
    big.write_bytes(encode("JPEG"))
    with pytest.raises(ProbeError, match="file too large"):
        probe_file(big, max_bytes=100)
