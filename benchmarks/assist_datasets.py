"""The photos the classification assist benchmark labels, with what a person would answer for each."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from core.config import shared_datasets
from core.domain import TaskType

FLOWER_CLASSES = ("daisy", "dandelion", "rose", "sunflower", "tulip")


@dataclass(frozen=True)
class Dataset:
    """Photos and what a person would answer for each (a set of class names; one for multi-class)."""

    name: str
    task: TaskType
    classes: tuple[str, ...]
    paths: tuple[str, ...]
    truth: tuple[frozenset[str], ...]


def flowers(
    task: TaskType | str = TaskType.MULTICLASS, per_class: int | None = None, seed: int = 0
) -> Dataset:
    """The shared flowers (folder name = class); ``per_class`` a random subset of each folder."""
    root = shared_datasets() / "flowers"
    if not root.is_dir():
        raise FileNotFoundError(f"shared flowers dataset absent at {root}")
    rng = np.random.default_rng(seed)
    paths, truth = [], []
    for name in FLOWER_CLASSES:
        files = sorted((root / name).glob("*.jpg"))
        if per_class is not None and per_class < len(files):
            files = [files[k] for k in sorted(rng.choice(len(files), per_class, replace=False))]
        paths += [str(p.resolve()) for p in files]
        truth += [frozenset({name})] * len(files)
    task = TaskType(task)
    label = "multi-class" if task is TaskType.MULTICLASS else "multi-label"
    suffix = "" if per_class is None else f", {per_class} a class"
    return Dataset(f"flowers {label}{suffix}", task, FLOWER_CLASSES, tuple(paths), tuple(truth))


def coco_tags(top: int = 10) -> Dataset:
    """coco128's image-level tags of its ``top`` most frequent classes, multi-label (an image may hold none)."""
    root = shared_datasets() / "coco128-seg"
    if not root.is_dir():
        raise FileNotFoundError(f"shared coco128-seg dataset absent at {root}")
    names = [n.strip() for n in (root / "classes.txt").read_text().split("\n")]
    images = sorted((root / "images" / "train2017").glob("*.jpg"))
    tags = []
    for im in images:
        lab = root / "labels" / "train2017" / f"{im.stem}.txt"
        lines = lab.read_text().split("\n") if lab.exists() else []
        tags.append({int(line.split()[0]) for line in lines if line.strip()})
    counts = Counter(c for t in tags for c in t)
    frequent = [c for c, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]]
    classes = tuple(names[c] for c in frequent)
    truth = tuple(frozenset(names[c] for c in t if c in frequent) for t in tags)
    return Dataset(
        f"coco128 tags ({top})", TaskType.MULTILABEL, classes, tuple(str(p) for p in images), truth
    )
