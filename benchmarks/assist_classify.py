"""Classification assistance, measured with a simulated labeler that answers from ground truth.

    python -c "import benchmarks.assist_classify as m; m.main()"

Scenarios: flowers multi-class (5 classes, 1,000 photos); flowers multi-label (the same photos,
the tool not told one class per photo); coco128 image-level tags of its 10 most frequent classes;
each with the grid and one image at a time ("no pages").
The labeler works in the order the tool chooses, as the product's grid and queue hand it out:
clustering pages (give the page one class and submit, give each odd one out its own class on the
page: 2 actions + 1 click per odd one; nearest neighbours before the first head, then items the head
puts in one class at or above its page threshold, multi-label falling back to nearest neighbours;
multi-label tiles' chips are toggled from the page's class to the tile's set, a click per class), pages of items
sharing a shown proposal (confirm: 1 action + 1 per odd one), single proposals (accept or correct:
1 action; for multi-label 1 + classes toggled) and plain labeling (multi-class 1 action; multi-label
1 + classes ticked). Hand labeling costs the plain-labeling actions for every image. The head retrains every 10
labels, as the product's default. After each training the true precision and coverage of the shown
proposals on the still unlabeled images are recorded, and the precision of the head's most confident
half of them (what a perfect threshold at 50 % coverage would give: the ceiling for the target).
"""

from __future__ import annotations

import itertools
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from benchmarks.common import RESULTS, print_table, write_json
from core.assist.backbone import Backbone
from core.assist.calibration import Calibration, calibrate, uncalibrated
from core.assist.classify_jobs import MIN_CALIBRATION_LABELS
from core.assist.cluster_pages import ONE_CLICK_CLASSES
from core.assist.clustering import neighbour_pages, prediction_pages
from core.assist.embeddings import EmbeddingIndex, normalize
from core.assist.heads import LabelSpace, train_head
from core.assist.sampling import QueueOrder, rank_queue
from core.config import default_paths, shared_datasets
from core.domain import TaskType

FLOWER_CLASSES = ["daisy", "dandelion", "rose", "sunflower", "tulip"]
TARGET = 0.95


@dataclass
class Sim:
    """One simulated labeling session over embeddings ``x`` with answers ``truth``."""

    name: str
    space: LabelSpace
    x: np.ndarray  # unit embeddings
    truth: np.ndarray  # (n,) column index, or (n, C) 0/1
    index: EmbeddingIndex
    page_size: int = 9
    train_every: int = 10
    labeled: dict[int, Any] = field(default_factory=dict)  # row -> encoded answer
    actions: int = 0
    curve: list[dict[str, float]] = field(default_factory=list)
    cal: Calibration | None = None
    proba: np.ndarray | None = None
    page_thr: float = float("inf")  # grouping pages from this confidence (calibration.page_threshold)
    page_rows: set[int] = field(default_factory=set)  # labeled through a page: never used to calibrate

    @property
    def n(self) -> int:
        return len(self.x)

    def hand_cost(self, row: int) -> int:
        return 1 + int(self.truth[row].sum()) if self.space.multilabel else 1

    def label(self, row: int) -> None:
        self.labeled[row] = self.truth[row]

    def unlabeled(self) -> np.ndarray:
        mask = np.ones(self.n, bool)
        mask[list(self.labeled)] = False
        return np.flatnonzero(mask)

    def train(self) -> None:
        rows = np.array(sorted(self.labeled))
        y = (
            np.stack([self.labeled[r] for r in rows])
            if self.space.multilabel
            else np.array([self.labeled[r] for r in rows])
        )
        classes_seen = (y.sum(0) > 0).sum() if self.space.multilabel else len(np.unique(y))
        if len(rows) < 10 or classes_seen < 2:
            return
        center = self.x.mean(axis=0)
        single = np.array([k for k, r in enumerate(rows) if r not in self.page_rows], dtype=np.int64)
        if len(single) < MIN_CALIBRATION_LABELS:  # as the product: no threshold from too few labels
            self.cal = uncalibrated(self.space, TARGET)
        else:
            self.cal = calibrate(self.space, self.x[rows][single], y[single], target=TARGET, center=center)
        head = train_head(self.space, self.x[rows], y, center=center)
        self.proba = head.predict_proba(self.x)
        self.page_thr = self.cal.page_threshold
        rest = self.unlabeled()
        props = self.cal.propose(self.proba[rest])
        ok = self._correct(props.classes, rest)
        shown = props.shown
        # the best any threshold could do with this head: precision of its most confident half
        top = np.argsort(-props.confidence, kind="stable")[: max(1, len(rest) // 2)]
        self.curve.append(
            {
                "human_labels": len(rows),
                "actions": self.actions,
                "threshold": float(self.cal.threshold),
                "true_precision": float(ok[shown].mean()) if shown.any() else float("nan"),
                "coverage": float(shown.mean()) if len(rest) else 0.0,
                "heldout_lower_bound": self.cal.choice.lower_bound,
                "oracle_precision_top_half": float(ok[top].mean()) if len(rest) else float("nan"),
            }
        )
        if self.space.multilabel:  # pre-ticked classes where the whole set is not proposed
            sure = self._sure(rest) & ~shown[:, None]
            right = sure & (self.truth[rest] >= 0.5)
            self.curve[-1]["sure_claims_precision"] = (
                float(right.sum() / sure.sum()) if sure.any() else float("nan")
            )
            self.curve[-1]["sure_coverage"] = float(sure.any(axis=1).mean()) if len(rest) else 0.0

    def _correct(self, classes: np.ndarray, rows: np.ndarray) -> np.ndarray:
        if self.space.multilabel:
            return np.all(classes == (self.truth[rows] >= 0.5), axis=1)
        return classes == np.array(self.space.class_ids)[self.truth[rows]]

    def run(self, use_pages: bool) -> dict[str, Any]:
        last_train = 0
        while len(self.labeled) < self.n:
            if len(self.labeled) - last_train >= self.train_every or (  # as the product: every N labels
                self.cal is None and len(self.labeled) >= 10 and len(self.labeled) - last_train >= 5
            ):
                self.train()
                last_train = len(self.labeled)
            self.step(use_pages)
        self.train_final()
        hand = int(sum(self.hand_cost(r) for r in range(self.n)))
        return {
            "actions": self.actions,
            "hand_actions": hand,
            "ratio": self.actions / hand,
            "curve": self.curve,
        }

    def train_final(self) -> None:
        pass

    def step(self, use_pages: bool) -> None:
        rest = self.unlabeled()
        if use_pages and self.space.multilabel:  # as the product's grid
            if self._grouping_page(rest):
                return
            pool = rest.tolist()  # else look-alikes
            if len(pool) >= self.page_size:
                pages = neighbour_pages(self.index, pool, self.page_size, n_pages=1, seed_ids=pool[:16])
                if pages:
                    self._do_page(list(pages[0].item_ids), suggested=None)
                    return
        shown = np.zeros(len(rest), bool)
        if self.cal is not None and self.proba is not None:
            props = self.cal.propose(self.proba[rest])
            shown = props.shown
            if use_pages and not self.space.multilabel and shown.sum() >= self.page_size:
                pages = prediction_pages(
                    rest[shown], props.classes[shown], props.confidence[shown], self.page_size
                )
                if pages:
                    self._do_page(list(pages[0].item_ids), suggested=pages[0].suggested_class)
                    return
            if shown.any():  # a single proposal: accept or correct
                j = int(np.flatnonzero(shown)[np.argmax(props.confidence[shown])])
                row = int(rest[j])
                ok = self._correct(props.classes[j : j + 1], np.array([row]))[0]
                if self.space.multilabel:
                    diff = int(np.sum(props.classes[j] != (self.truth[row] >= 0.5)))
                    self.actions += 1 + (0 if ok else diff)
                else:
                    self.actions += 1
                self.label(row)
                return
        if use_pages and not self.space.multilabel and self._grouping_page(rest):
            return
        ranks = rank_queue(
            rest,
            QueueOrder.LEARN,
            self.space if self.proba is not None else None,
            self.proba[rest] if self.proba is not None else None,
            self.x[rest],
            self.x[sorted(self.labeled)] if self.labeled else None,
            diverse_head=16,
        )
        order = ranks.order()
        if use_pages and not self.space.multilabel and self.proba is None and len(rest) >= self.page_size:
            pool = rest.tolist()
            pages = neighbour_pages(self.index, pool, self.page_size, n_pages=1, seed_ids=order[:16].tolist())
            if pages:
                self._do_page(list(pages[0].item_ids), suggested=None)
                return
        row = int(order[0])
        sure = self._sure(np.array([row]))[0]
        if sure.any():  # multi-label partial proposal: the sure classes come ticked
            self.actions += 1 + int(np.sum(sure != (self.truth[row] >= 0.5)))
        else:
            self.actions += self.hand_cost(row)
        self.label(row)

    def _grouping_page(self, rest: np.ndarray) -> bool:
        """A page of items the latest head puts in one class at or above its page threshold (no class
        shown; multi-label: items predicted to hold exactly one class), done; False where none."""
        if self.cal is None or self.proba is None:
            return False
        class_ids = np.array(self.space.class_ids)
        if self.space.multilabel:
            props = self.cal.propose(self.proba[rest])
            one = props.classes.sum(axis=1) == 1
            ids, cls, conf = rest[one], class_ids[props.classes[one].argmax(axis=1)], props.confidence[one]
        else:
            ids, cls, conf = rest, class_ids[self.proba[rest].argmax(axis=1)], self.proba[rest].max(axis=1)
        pages = prediction_pages(ids, cls, conf, self.page_size, min_confidence=self.page_thr, suggest=False)
        if pages:
            self._do_page(list(pages[0].item_ids), suggested=None)
        return bool(pages)

    def _sure(self, rows: np.ndarray) -> np.ndarray:
        if self.cal is None or self.proba is None or not self.space.multilabel:
            return np.zeros((len(rows), self.space.n_classes), bool)
        return self.cal.sure(self.proba[rows])

    def _do_page(self, rows: list[int], suggested: int | None) -> None:
        """Multi-class: the page gets its majority class (a click or key, then Submit; a suggested class
        only needs Submit), each odd one out its own class in place (one click up to
        ``ONE_CLICK_CLASSES`` classes, else two). Multi-label: the page gets its most frequent class
        (click, Submit); each tile's chips show that class ticked, and the labeler toggles them to the
        tile's true set (a click per class toggled; none ticked is a valid answer)."""
        per_fix = 1 if self.space.n_classes <= ONE_CLICK_CLASSES else 2
        if self.space.multilabel:
            sets = self.truth[rows] >= 0.5
            c = int(np.argmax(sets.sum(axis=0)))
            page_class = np.zeros(self.space.n_classes, bool)
            page_class[c] = True
            self.actions += 2 + per_fix * int(np.sum(sets != page_class))
            for r in rows:
                self.label(r)
                self.page_rows.add(r)
            return
        classes = [int(self.truth[r]) for r in rows]
        if suggested is not None:
            chosen = self.space.column(suggested)
        else:
            chosen = max(set(classes), key=classes.count)
        odd = [r for r, c in zip(rows, classes, strict=True) if c != chosen]
        self.actions += (1 if suggested is not None else 2) + per_fix * len(odd)
        for r in rows:
            self.label(r)
            self.page_rows.add(r)


def _index(x: np.ndarray, folder: Path) -> EmbeddingIndex:
    idx = EmbeddingIndex(folder, dim=x.shape[1])
    idx.add(range(len(x)), x)
    return idx


def flowers(bb: Backbone, root: Path) -> tuple[np.ndarray, np.ndarray, float]:
    paths, labels = [], []
    for k, name in enumerate(FLOWER_CLASSES):
        files = sorted((root / name).glob("*.jpg"))
        paths += files
        labels += [k] * len(files)
    bb.embed_paths(paths[:32])  # warm up
    t0 = time.perf_counter()
    x = bb.embed_paths(paths, batch_size=32)
    rate = len(paths) / (time.perf_counter() - t0)
    return normalize(x), np.array(labels), rate


def coco_tags(bb: Backbone, root: Path, top: int = 10) -> tuple[np.ndarray, np.ndarray, list[str]]:
    names = (root / "classes.txt").read_text().split("\n")
    images = sorted((root / "images" / "train2017").glob("*.jpg"))
    tags: list[set[int]] = []
    for im in images:
        lab = root / "labels" / "train2017" / f"{im.stem}.txt"
        lines = lab.read_text().split("\n") if lab.exists() else []
        tags.append({int(line.split()[0]) for line in lines if line.strip()})
    counts: dict[int, int] = {}
    for t in tags:
        for c in t:
            counts[c] = counts.get(c, 0) + 1
    frequent = sorted(counts, key=lambda c: -counts[c])[:top]
    y = np.array([[1.0 if c in t else 0.0 for c in frequent] for t in tags], dtype=np.float32)
    return normalize(bb.embed_paths(images)), y, [names[c].strip() for c in frequent]


def _at_labels(curve: list[dict[str, float]], limit: int) -> dict[str, float]:
    best: dict[str, float] = {"human_labels": 0, "true_precision": float("nan"), "coverage": 0.0}
    for point in curve:
        if point["human_labels"] <= limit:
            best = point
    return best


def _first_reaching(curve: list[dict[str, float]], precision: float, coverage: float) -> float:
    for p in curve:
        if p["coverage"] >= coverage and p["true_precision"] >= precision:
            return p["human_labels"]
    return float("nan")


SERIES = (  # key in a curve point, legend, colour, line width
    ("true_precision", "true precision of shown proposals", (31, 119, 180), 3),
    ("coverage", "coverage: share of the rest shown a proposal", (255, 127, 14), 2),
    ("oracle_precision_top_half", "best any threshold could do on the top half", (150, 150, 150), 1),
    ("sure_claims_precision", "multi-label: pre-ticked classes right", (44, 160, 44), 2),
    ("sure_coverage", "multi-label: share of the rest with pre-ticks", (148, 103, 189), 1),
)


def plot(path: Path, title: str, curve: list[dict[str, float]], target: float = TARGET) -> None:
    """The scenario's curves against the number of human labels, drawn with Pillow (one colour each)."""
    w, h, m = 960, 560, 70
    im = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(im)
    xmax = max((p["human_labels"] for p in curve), default=1) or 1

    def xy(x: float, v: float) -> tuple[float, float]:
        return m + (w - 2 * m) * x / xmax, h - m - v * (h - 2 * m)

    d.text((m, 15), title, fill="black")
    d.rectangle([m, m, w - m, h - m], outline="black")
    for v in (0.0, 0.25, 0.5, 0.75, 1.0):
        d.line([xy(0, v), xy(xmax, v)], fill=(230, 230, 230))
        d.text((15, xy(0, v)[1] - 6), f"{v:.2f}", fill="black")
    d.line([xy(0, target), xy(xmax, target)], fill=(214, 39, 40))
    d.text((w - m - 90, xy(0, target)[1] - 14), f"target {target:.0%}", fill=(214, 39, 40))
    for k in range(6):
        x = xmax * k / 5
        d.text((xy(x, 0)[0] - 10, h - m + 8), f"{x:.0f}", fill="black")
    d.text((w // 2 - 40, h - 30), "human labels", fill="black")
    row = 0
    for key, legend, colour, width in SERIES:
        pts = [xy(p["human_labels"], p[key]) for p in curve if key in p and np.isfinite(p[key])]
        if not pts:
            continue
        for a, b in itertools.pairwise(pts):
            d.line([a, b], fill=colour, width=width)
        for pt in pts if len(pts) < 3 else ():
            d.ellipse([pt[0] - 3, pt[1] - 3, pt[0] + 3, pt[1] + 3], fill=colour)
        d.line([m + 10, m + 14 + 16 * row, m + 40, m + 14 + 16 * row], fill=colour, width=max(2, width))
        d.text((m + 48, m + 8 + 16 * row), legend, fill="black")
        row += 1
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path)


def _subsets(x: np.ndarray, y: np.ndarray, folder: Path, n: int = 6, size: int = 800) -> dict[str, Any]:
    """The multi-class grid run on random subsets of the photos: how far the ratio moves with the data."""
    ratios = []
    for seed in range(n):
        pick = np.sort(np.random.default_rng(seed).choice(len(x), size, replace=False))
        space = LabelSpace(TaskType.MULTICLASS, (1, 2, 3, 4, 5))
        sim = Sim(f"subset {seed}", space, x[pick], y[pick], _index(x[pick], folder / f"sub{seed}"))
        ratios.append(float(sim.run(use_pages=True)["ratio"]))
    return {"size": size, "ratios": ratios, "median": float(np.median(ratios))}


def main() -> None:
    data = shared_datasets()
    if not (data / "flowers").is_dir():
        print(f"assist_classify: skipped, shared datasets absent at {data}")
        return
    bb = Backbone.load(cache_dir=default_paths().models)
    x, y, rate = flowers(bb, data / "flowers")
    print(f"featurisation: {rate:.0f} images/s on {bb.device_name}", flush=True)
    results: dict[str, Any] = {"featurisation_images_per_s": rate, "device": bb.device_name, "scenarios": {}}
    rows = []
    with tempfile.TemporaryDirectory(prefix="annota-bench-") as tmp:
        scenarios: list[tuple[str, LabelSpace, np.ndarray, np.ndarray, bool]] = [
            ("flowers multi-class", LabelSpace(TaskType.MULTICLASS, (1, 2, 3, 4, 5)), x, y, True),
            ("flowers multi-class, no pages", LabelSpace(TaskType.MULTICLASS, (1, 2, 3, 4, 5)), x, y, False),
            *(
                (
                    f"flowers multi-label{'' if pages else ', no pages'}",
                    LabelSpace(TaskType.MULTILABEL, (1, 2, 3, 4, 5)),
                    x,
                    np.eye(5, dtype=np.float32)[y],
                    pages,
                )
                for pages in (True, False)
            ),
        ]
        if (data / "coco128-seg").is_dir():
            cx, cy, names = coco_tags(bb, data / "coco128-seg")
            results["coco_tags"] = names
            scenarios += [
                (
                    f"coco128 tags (10){'' if pages else ', no pages'}",
                    LabelSpace(TaskType.MULTILABEL, tuple(range(1, 11))),
                    cx,
                    cy,
                    pages,
                )
                for pages in (True, False)
            ]
        else:
            print(f"coco128 scenario skipped: {data / 'coco128-seg'} absent")
        for n, (name, space, sx, sy, pages) in enumerate(scenarios):
            t0 = time.perf_counter()
            sim = Sim(name, space, sx, sy, _index(sx, Path(tmp) / f"s{n}"))
            out = sim.run(use_pages=pages)
            at50 = _at_labels(out["curve"], 50)
            out["at_50_labels"] = at50
            out["labels_to_95p_50c"] = _first_reaching(out["curve"], 0.95, 0.5)
            out["seconds"] = time.perf_counter() - t0
            results["scenarios"][name] = out
            print(
                f"  {name}: {out['actions']} actions vs {out['hand_actions']} by hand ({out['ratio']:.2f});"
                f" at <=50 labels: precision {at50['true_precision']:.3f}, coverage {at50['coverage']:.3f};"
                f" {out['seconds']:.0f} s",
                flush=True,
            )
            rows.append(
                [
                    name,
                    len(sx),
                    at50["human_labels"],
                    at50["true_precision"],
                    at50["coverage"],
                    at50.get("oracle_precision_top_half", float("nan")),
                    out["labels_to_95p_50c"],
                    out["actions"],
                    out["hand_actions"],
                    out["ratio"],
                ]
            )
    print_table(
        f"Classification assistance (featurisation {rate:.0f} images/s on {bb.device_name})",
        rows,
        [
            "scenario",
            "images",
            "labels<=50",
            "true prec",
            "coverage",
            "best possible prec, top 50%",
            "labels to 95%/50%",
            "actions",
            "by hand",
            "ratio",
        ],
    )
    with tempfile.TemporaryDirectory(prefix="annota-bench-") as tmp:
        results["flowers_subsets"] = subsets = _subsets(x, y, Path(tmp))
    print(
        f"flowers multi-class on {len(subsets['ratios'])} random subsets of {subsets['size']} photos:"
        f" actions ratio median {subsets['median']:.3f}, {min(subsets['ratios']):.3f}-{max(subsets['ratios']):.3f}"
    )
    for name, sc in results["scenarios"].items():
        plot(RESULTS / f"assist_classify_{name.replace(' ', '_').replace(',', '')}.png", name, sc["curve"])
    path = write_json("assist_classify", results)
    print(f"\nJSON: {path}; plots: {RESULTS}/assist_classify_*.png")
    print(
        "targets: flowers multi-class 95% precision on >= 50% of the rest after <= 50 labels; ratio <= 0.40; >= 100 img/s"
    )


if __name__ == "__main__":
    main()
