"""Folder import at scale: 500,000 small distinct images referenced from a folder, into a fresh store.

python -m benchmarks.import_bench

Environment: ``ANNOTA_BENCH_N`` (image count, default 500,000), ``ANNOTA_BENCH_RUNS`` (import runs,
each into a fresh store; default 3 below 100,000 images, else 1), ``ANNOTA_BENCH_CACHE`` (where the
generated images are kept between runs; default ``/tmp/annota-bench-images``). Generation time is
reported apart from import time; the images are generated once and reused.
"""

from __future__ import annotations

import io
import os
import shutil
import struct
import tempfile
import time
import zlib
from pathlib import Path

from PIL import Image

from benchmarks.common import median, print_table, write_json
from core.images.sources import FolderWatcher, add_folder, rescan, scan_folder
from core.permissions import SYSTEM
from core.store import Store
from core.store.items import count_items
from core.store.projects import create_project

PER_FOLDER = 1000
TARGET_S_500K = 120.0


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def tiny_png(i: int) -> bytes:
    """An 8x8 RGB PNG whose pixels spell ``i`` (so every file has its own content hash)."""
    seed = i.to_bytes(6, "little")
    rows = b"".join(b"\x00" + (seed * 4)[:24] for _ in range(8))
    ihdr = struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(rows, 1))
        + _png_chunk(b"IEND", b"")
    )


def _jpeg_base() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 12), (90, 140, 60)).save(buf, "JPEG", quality=80)
    return buf.getvalue()


def tiny_jpeg(i: int, base: bytes) -> bytes:
    """A 16x12 JPEG made distinct by a comment segment holding ``i``."""
    text = f"annota bench {i}".encode()
    return base[:2] + b"\xff\xfe" + struct.pack(">H", len(text) + 2) + text + base[2:]


def generate(root: Path, n: int) -> float:
    """Write ``n`` images (4 in 5 PNG, 1 in 5 JPEG) in folders of 1,000; reuse them when already there."""
    marker = root / ".complete"
    if marker.exists() and marker.read_text().strip() == str(n):
        return 0.0
    if root.exists():
        shutil.rmtree(root)
    t0 = time.perf_counter()
    base = _jpeg_base()
    for start in range(0, n, PER_FOLDER):
        folder = root / f"d{start // PER_FOLDER:04d}"
        folder.mkdir(parents=True)
        for i in range(start, min(n, start + PER_FOLDER)):
            if i % 5 == 4:
                (folder / f"img{i:07d}.jpg").write_bytes(tiny_jpeg(i, base))
            else:
                (folder / f"img{i:07d}.png").write_bytes(tiny_png(i))
    marker.write_text(str(n))
    return time.perf_counter() - t0


def one_run(images: Path, n: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="annota-bench-data-") as tmp:
        store = Store(Path(tmp) / "annota.duckdb")
        try:
            pid = create_project(store, "bench", "multiclass", ["a", "b"], by=SYSTEM).id
            src = add_folder(store, pid, images, watch=True, by=SYSTEM)
            t0 = time.perf_counter()
            walk = scan_folder(images)
            walk_s = time.perf_counter() - t0
            assert len(walk.files) == n, f"expected {n} files, found {len(walk.files)}"
            progress_calls = 0

            def progress(fraction: float, message: str) -> None:
                nonlocal progress_calls
                progress_calls += 1

            t0 = time.perf_counter()
            report = rescan(store, src.id, progress=progress, by=SYSTEM)
            import_s = time.perf_counter() - t0
            if report.added != n or report.errors or report.duplicates:
                raise SystemExit(f"import went wrong: {report.summary()}; first errors {report.errors[:3]}")
            assert count_items(store, pid) == n
            t0 = time.perf_counter()
            again = rescan(store, src.id, by=SYSTEM)
            rescan_s = time.perf_counter() - t0
            assert again.added == 0 and again.skipped_known == n
            watcher = FolderWatcher(store, interval_s=3600, settle_s=0.0)
            watcher.poll()  # first poll: the full rescan that records folder times
            t0 = time.perf_counter()
            quiet = watcher.poll()
            poll_s = time.perf_counter() - t0
            assert quiet == {}
        finally:
            store.close()
    return {
        "walk_s": walk_s,
        "import_s": import_s,
        "files_per_s": n / import_s,
        "rescan_nothing_new_s": rescan_s,
        "watcher_quiet_poll_s": poll_s,
        "progress_reports": float(progress_calls),
    }


def main(n: int = 500_000) -> dict:
    n = int(os.environ.get("ANNOTA_BENCH_N", n))
    runs = int(os.environ.get("ANNOTA_BENCH_RUNS", 3 if n < 100_000 else 1))
    cache = Path(os.environ.get("ANNOTA_BENCH_CACHE", Path(tempfile.gettempdir()) / "annota-bench-images"))
    images = cache / f"n{n}"
    print(f"import benchmark: {n:,} images under {images}, {runs} run(s), {os.cpu_count()} cores", flush=True)
    gen_s = generate(images, n)
    print(f"generated in {gen_s:.1f} s" if gen_s else "reusing the generated images", flush=True)
    results = [one_run(images, n) for _ in range(runs)]
    keys = list(results[0])
    med = {k: median([r[k] for r in results]) for k in keys}
    extrapolated_500k = med["import_s"] * 500_000 / n
    rows = [[k, med[k], min(r[k] for r in results), max(r[k] for r in results)] for k in keys]
    rows.append(["generation_s (apart)", gen_s, gen_s, gen_s])
    rows.append(["import_s scaled to 500k", extrapolated_500k, extrapolated_500k, extrapolated_500k])
    print_table(
        f"Folder import of {n:,} images ({runs} run(s); median, min, max)",
        rows,
        ["measure", "median", "min", "max"],
    )
    verdict = "meets" if extrapolated_500k <= TARGET_S_500K else "MISSES"
    print(
        f"\ntarget: 500,000 images in <= {TARGET_S_500K:.0f} s; {verdict} it ({extrapolated_500k:.0f} s scaled)"
    )
    payload = {
        "n": n,
        "runs": runs,
        "generation_s": gen_s,
        "median": med,
        "all_runs": results,
        "import_s_scaled_to_500k": extrapolated_500k,
        "target_s_500k": TARGET_S_500K,
        "meets_target": extrapolated_500k <= TARGET_S_500K,
    }
    path = write_json("import", payload)
    print(f"results: {path}")
    return payload


if __name__ == "__main__":
    main()
