"""Raccoon boxes: train the detector on the first 50 labeled photos, propose on the other 100.

Reports the share of shown proposals (score >= the calibrated threshold) that a labeler would
accept unchanged (IoU >= 0.7 with a true box), precision/recall at that threshold, mAP@0.5 over all
proposals, and the time to train. The threshold comes from held-out images among the 50 (the
detector is trained on 40, calibrated on 10, then retrained on all 50), never from the test images.

    python -m benchmarks.assist_detect [--train 50] [--epochs N]
"""

from __future__ import annotations

import argparse
import re
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import print_table, write_json
from core.config import shared_datasets

TARGET_ACCEPTED = 0.60
ACCEPT_IOU = 0.7


def load_voc(folder: Path) -> list[tuple[Path, np.ndarray]]:
    """``(image path, (N, 4) xyxy)`` for each annotation file, ordered by the number in its name."""

    def number(p: Path) -> tuple[int, str]:
        m = re.search(r"(\d+)", p.stem)
        return (int(m.group(1)) if m else 0, p.stem)

    out = []
    for xml in sorted((folder / "annotations").glob("*.xml"), key=number):
        root = ET.parse(xml).getroot()
        name = root.findtext("filename") or f"{xml.stem}.jpg"
        boxes = [
            [float(o.findtext(f"bndbox/{k}") or 0) for k in ("xmin", "ymin", "xmax", "ymax")]
            for o in root.iter("object")
        ]
        img = folder / "images" / name
        if img.is_file():
            out.append((img, np.asarray(boxes, np.float32).reshape(-1, 4)))
    return out


def main(argv: list[str] | None = None) -> dict[str, Any] | None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--train", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--holdout", type=float, default=0.2)
    args = parser.parse_args(argv if argv is not None else [])

    from core.assist.box_metrics import Truth, average_precision, match
    from core.assist.detector import DetectorConfig, LabeledImage, fit_detector

    folder = shared_datasets() / "raccoon"
    data = load_voc(folder)
    if len(data) <= args.train:
        print(f"assist_detect: skipped, raccoon not found (or too small) under {folder}")
        return None
    train, test = data[: args.train], data[args.train :]
    cfg = DetectorConfig() if args.epochs is None else DetectorConfig(epochs=args.epochs)
    labeled = [LabeledImage(p, b, np.ones(len(b), np.int64), key=p.name) for p, b in train]

    t0 = time.perf_counter()
    fit = fit_detector(
        labeled, [1], cfg, holdout_fraction=args.holdout, iou=ACCEPT_IOU, target=TARGET_ACCEPTED
    )
    train_s = time.perf_counter() - t0

    t1 = time.perf_counter()
    dets = [fit.detector.predict(p) for p, _ in test]
    infer_s = (time.perf_counter() - t1) / len(test)
    truths = [Truth(b, np.ones(len(b), np.int64)) for _, b in test]
    thr = fit.calibration.threshold
    shown = [d.above(thr) for d in dets]
    n_shown = sum(len(d) for d in shown)
    n_true = sum(len(t.xyxy) for t in truths)
    acc07 = sum(int(match(d, t, ACCEPT_IOU).sum()) for d, t in zip(shown, truths, strict=True))
    acc05 = sum(int(match(d, t, 0.5).sum()) for d, t in zip(shown, truths, strict=True))
    images_with_proposal = sum(1 for d in shown if len(d))
    result = {
        "dataset": "raccoon",
        "train_images": len(train),
        "test_images": len(test),
        "test_boxes": n_true,
        "threshold": thr,
        "calibration": fit.calibration.to_dict(),
        "proposed": n_shown,
        "accepted_unchanged_iou07": acc07 / n_shown if n_shown else 0.0,
        "precision_iou05": acc05 / n_shown if n_shown else 0.0,
        "recall_iou07": acc07 / n_true if n_true else 0.0,
        "recall_iou05": acc05 / n_true if n_true else 0.0,
        "images_with_a_proposal": images_with_proposal,
        "map50_all_proposals": average_precision(dets, truths, 0.5),
        "map70_all_proposals": average_precision(dets, truths, 0.7),
        "train_s_total": train_s,
        "train_report": {
            "feature_s": fit.report.feature_s,
            "head_train_s": fit.report.train_s,
            "epochs": fit.report.epochs,
            "first_loss": fit.report.losses[0],
            "last_loss": fit.report.losses[-1],
        },
        "infer_s_per_image": infer_s,
        "target_accepted": TARGET_ACCEPTED,
        "meets_target": n_shown > 0 and acc07 / n_shown >= TARGET_ACCEPTED,
    }
    rows = [
        [f"proposed boxes shown (score >= {thr:.3f})", n_shown],
        ["accepted unchanged (IoU >= 0.7)", result["accepted_unchanged_iou07"]],
        ["precision at IoU 0.5", result["precision_iou05"]],
        ["recall at IoU 0.7 / 0.5", f"{result['recall_iou07']:.3f} / {result['recall_iou05']:.3f}"],
        ["test images with a proposal", f"{images_with_proposal}/{len(test)}"],
        ["mAP@0.5 (all proposals)", result["map50_all_proposals"]],
        ["mAP@0.7 (all proposals)", result["map70_all_proposals"]],
        ["train time, s (calibrate + final fit)", train_s],
        ["infer, s/image", infer_s],
        ["target: accepted >= 0.60", "met" if result["meets_target"] else "NOT met"],
    ]
    print_table(f"raccoon: train on {len(train)}, propose on {len(test)}", rows, ["measure", "value"])
    print(f"results: {write_json('assist_detect', result)}")
    return result


if __name__ == "__main__":
    main(None)
