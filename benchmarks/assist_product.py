"""A simulated labeler that drives the product itself: classification assistance measured on its own code path.

On a temporary data directory, a project is created (``core.store.projects``), the photos are imported
with the real importer (``core.images.importer.import_paths``) and featurised by the real job; then the
labeler works as a person would, and the figures come from what the product did:

* the jobs: ``AssistScheduler.tick`` decides what is due (featurise, train every ``train_every``
  labels, infer) and the real ``JobRunner`` runs it; the labeler waits for each job to end before the
  next step (jobs finish at once, the best case for the product);
* the grid flow: a page from ``cluster_pages.next_page`` (``page_choice.choose_pages``), answered by
  the ground truth: a suggested class is kept and the odd ones get their own class in place, else the
  page gets its most frequent class; submitted with ``page_submit.submit_page``. When no page can be
  made, the labeler does one image (the screen says "switch to One image");
* the one-at-a-time flow: the next item of the real queue (``queue.next_item_id``), with what the label
  screen offers (``ui.labeling.proposals.model_help``): a shown proposal is accepted when right
  (``predictions.accept``) or corrected, pre-ticked sure classes are toggled to the truth; saved with
  ``labels.save_label``.

Hand actions are counted as before: multi-class, 1 per image by hand, an accepted or corrected
proposal 1; multi-label, 1 + the classes ticked by hand, a proposal or pre-ticks 1 + classes toggled;
a page 2 actions (its class, Submit; 1 when its suggested class is kept) + 1 click per odd tile
(multi-label: per class toggled; 2 clicks past ``ONE_CLICK_CLASSES`` classes). After each training the
true precision and coverage of the shown proposals on the still unlabeled items are recorded.

Entry point: ``run_flow(dataset, flow, n_labels_max, seed)`` -> dict of figures (``Dataset`` from
``flowers``/``coco_tags``). ``benchmarks.assist_classify`` runs the scenarios and prints the table.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.assist_datasets import FLOWER_CLASSES, Dataset, coco_tags, flowers
from benchmarks.assist_figures import at_labels, curve_point, first_reaching, first_shown
from core import jobs
from core.assist import classify_jobs as cj
from core.assist import cluster_pages, page_choice, page_submit, predictions, trained
from core.assist.backbone import Backbone
from core.assist.cluster_pages import ONE_CLICK_CLASSES
from core.assist.clustering import ClusterPage
from core.assist.scheduler import AssistScheduler
from core.config import default_paths
from core.domain import Source, TaskType
from core.images.importer import import_paths
from core.permissions import SYSTEM
from core.store import labels, projects, queue
from core.store.db import Store
from ui.labeling.payloads import source_for
from ui.labeling.proposals import model_help

__all__ = [  # the harness's entry points (datasets re-exported for callers)
    "FLOWER_CLASSES",
    "FLOWS",
    "Dataset",
    "Lab",
    "Labeler",
    "coco_tags",
    "flowers",
    "open_lab",
    "prepare",
    "run_flow",
    "simulated_page",
    "step",
    "whole_pool_state",
]
USER = "sim"
FLOWS = ("grid", "one")
JOB_TIMEOUT_S = 1800.0


# ---------------------------------------------------------------- the product on a temporary folder


_BACKBONE: Backbone | None = None


def backbone() -> Backbone:
    """The product's backbone, loaded once (its ONNX export cached in the default models folder)."""
    global _BACKBONE
    if _BACKBONE is None:
        _BACKBONE = Backbone.load(cache_dir=default_paths().models)
        cj.set_backbone(_BACKBONE)
    return _BACKBONE


@dataclass
class Lab:
    """A running product: store, job runner and scheduler on one data directory, one project."""

    store: Store
    project_id: int
    task: TaskType
    truth: dict[int, tuple[int, ...]]  # item id -> class ids (sorted)
    class_ids: tuple[int, ...]
    runner: jobs.JobRunner
    scheduler: AssistScheduler
    trainings_seen: set[int] = field(default_factory=set)

    def settle(self) -> list[int]:
        """Run what the scheduler finds due to its end; the finished training runs' ids, oldest first."""
        while True:
            decisions = self.scheduler.tick(force=True)
            active = jobs.list_jobs(self.store, self.project_id, active_only=True)
            if not decisions and not active:
                break
            for job in active:
                done = self.runner.wait(job.id, timeout=JOB_TIMEOUT_S)
                if done.state == "failed":
                    raise RuntimeError(f"job {done.kind} failed: {done.error}")
        rows = self.store.query(
            "SELECT id FROM model_runs WHERE project_id = ? AND kind = 'train' AND state = 'done' ORDER BY id",
            [self.project_id],
        )
        new = [int(r[0]) for r in rows if int(r[0]) not in self.trainings_seen]
        self.trainings_seen.update(new)
        return new

    def close(self) -> None:
        self.runner.stop()
        self.store.close()


@contextmanager
def open_lab(
    folder: Path, task: TaskType, truth_by_path: dict[str, frozenset[str]] | None = None
) -> Iterator[Lab]:
    """The product on ``folder`` (made by ``prepare``): its one project, a job runner and a scheduler."""
    backbone()
    store = Store(folder / "annota.duckdb")
    runner = jobs.JobRunner(store, workers=1, poll_s=0.02).start()
    lab = None
    try:
        project = projects.list_projects(store)[0]
        names = {c.name: c.id for c in projects.list_classes(store, project.id)}
        truth: dict[int, tuple[int, ...]] = {}
        if truth_by_path is not None:
            for item_id, path in store.query("SELECT id, path FROM items WHERE project_id = ?", [project.id]):
                truth[int(item_id)] = tuple(sorted(names[n] for n in truth_by_path[str(path)]))
        lab = Lab(
            store,
            project.id,
            task,
            truth,
            tuple(sorted(names.values())),
            runner,
            AssistScheduler(store, runner),
        )
        lab.trainings_seen.update(
            int(r[0]) for r in store.query("SELECT id FROM model_runs WHERE kind = 'train'")
        )
        yield lab
    finally:
        runner.stop()
        store.close()


def prepare(dataset: Dataset, folder: Path, seed: int = 0) -> dict[str, Any]:
    """A data directory with the project created, the photos imported (in an order shuffled by
    ``seed``: before its first model the product's queue follows the import order, and a folder sorted
    by class would give one class for the first dozens of labels) and featurised, by the product."""
    folder.mkdir(parents=True, exist_ok=True)
    store = Store(folder / "annota.duckdb")
    try:
        project = projects.create_project(store, dataset.name, dataset.task, list(dataset.classes), by=SYSTEM)
        t0 = time.perf_counter()
        order = np.random.default_rng(seed).permutation(len(dataset.paths))
        report = import_paths(store, project.id, [dataset.paths[k] for k in order], by=SYSTEM, workers=1)
        imported_s = time.perf_counter() - t0
    finally:
        store.close()
    with open_lab(folder, dataset.task) as lab:
        t0 = time.perf_counter()
        lab.settle()
        featurised_s = time.perf_counter() - t0
        n = int(
            lab.store.scalar("SELECT count(*) FROM embeddings WHERE project_id = ?", [lab.project_id]) or 0
        )
    return {
        "imported": report.added,
        "import_errors": len(report.errors),
        "import_s": imported_s,
        "featurised": n,
        "featurise_s": featurised_s,
        "featurise_images_per_s": n / featurised_s if featurised_s else float("nan"),
        "device": backbone().device_name,
    }


# ---------------------------------------------------------------- the labeler


@dataclass
class Labeler:
    """Answers from the ground truth and counts its hand actions."""

    lab: Lab
    actions: int = 0
    labels: int = 0  # items labeled (pages count each tile)
    one_at_a_time: int = 0
    pages: Counter[str] = field(default_factory=Counter)
    met_proposals: int = 0  # shown proposals the labeler was offered (one image, or a suggested page's tiles)
    met_right: int = 0

    @property
    def per_fix(self) -> int:
        return 1 if len(self.lab.class_ids) <= ONE_CLICK_CLASSES else 2

    def hand_cost(self, item_id: int) -> int:
        return 1 + len(self.lab.truth[item_id]) if self.lab.task is TaskType.MULTILABEL else 1

    def page(self, page: cluster_pages.GridPage) -> None:
        truth = {i: self.lab.truth[i] for i in page.item_ids}
        self.pages[page.reason.value] += 1
        if self.lab.task is TaskType.MULTILABEL:
            counts = Counter(c for t in truth.values() for c in t)
            cls = min(counts, key=lambda c: (-counts[c], c)) if counts else self.lab.class_ids[0]
            toggles = sum(len(set(t) ^ {cls}) for t in truth.values())
            self.actions += 2 + self.per_fix * toggles
            own = {i: t for i, t in truth.items() if t != (cls,)}
        else:
            if page.suggested_class is not None:
                cls = page.suggested_class
                self.met_proposals += len(truth)
                self.met_right += sum(t == (cls,) for t in truth.values())
            else:
                counts = Counter(t[0] for t in truth.values())
                cls = min(counts, key=lambda c: (-counts[c], c))
            odd = {i: t[0] for i, t in truth.items() if t != (cls,)}
            self.actions += (1 if page.suggested_class is not None else 2) + self.per_fix * len(odd)
            own = {i: (c,) for i, c in odd.items()}
        selected = [i for i in page.item_ids if i not in own]
        res = page_submit.submit_page(
            self.lab.store,
            page,
            selected,
            cls,
            self.lab.task,
            by=SYSTEM,
            own={i: list(t) for i, t in own.items()},
        )
        if len(res.saved) != len(page.item_ids):
            raise RuntimeError(f"a page was not saved whole: {res}")
        self.labels += len(res.saved)

    def item(self, item_id: int) -> None:
        store, task = self.lab.store, self.lab.task
        truth = self.lab.truth[item_id]
        version = int(store.scalar("SELECT version FROM items WHERE id = ?", [item_id]))
        proposal, sure = model_help(store, item_id)
        payload: dict[str, Any] = (
            {"class_ids": list(truth)} if task is TaskType.MULTILABEL else {"class_id": truth[0]}
        )
        if proposal is not None:
            proposed = page_submit.saved_answer(task, proposal.payload)
            self.met_proposals += 1
            self.met_right += proposed == truth
            if proposed == truth:
                predictions.accept(store, item_id, USER, version, by=SYSTEM)
                self.actions += 1
            else:
                self.actions += 1 + (len(set(proposed) ^ set(truth)) if task is TaskType.MULTILABEL else 0)
                self._save(item_id, payload, version, proposal.payload)
        else:
            if sure:
                self.actions += 1 + len(set(sure) ^ set(truth))
            else:
                self.actions += self.hand_cost(item_id)
            self._save(item_id, payload, version, None)
        self.labels += 1
        self.one_at_a_time += 1

    def _save(
        self, item_id: int, payload: dict[str, Any], version: int, proposal: dict[str, Any] | None
    ) -> None:
        src = source_for(self.lab.task, payload, proposal)  # as the label screen's Save
        labels.save_label(
            self.lab.store, item_id, payload, by=SYSTEM, author=USER, base_version=version, source=src,
            proposal_kept=None if not proposal else src is Source.PRELABEL,
        )  # fmt: skip


# ---------------------------------------------------------------- flows


def _truth_by_path(dataset: Dataset) -> dict[str, frozenset[str]]:
    return dict(zip(dataset.paths, dataset.truth, strict=True))


def step(lab: Lab, labeler: Labeler, flow: str, page_size: int = 9) -> cluster_pages.GridPage | int | None:
    """One step of the labeler: a grid page where the flow uses the grid and the product makes one
    (``cluster_pages.next_page``), else the next image of the queue; what was labeled (the page, or
    the item's id), ``None`` when nothing is left."""
    if flow == "grid":
        page = cluster_pages.next_page(lab.store, lab.project_id, USER, lab.task, page_size)
        if page is not None:
            labeler.page(page)
            return page
    item_id = queue.next_item_id(lab.store, lab.project_id, USER)
    if item_id is None:
        return None
    labeler.item(item_id)
    return item_id


def _returned(store: Store, project_id: int, user: str) -> set[int]:
    """Items the labeler handed back lately (the grid's lease book; this labeler never does)."""
    book = cluster_pages.page_book(store)
    with book.lock:
        return set(book.returned.get((project_id, user), []))


def whole_pool_state(
    store: Store, pid: int, task: TaskType, page_size: int = 9, user: str = USER
) -> page_choice.PoolState:
    """The pool as the simulation sees it: every prediction of every unlabeled item (no windowed
    query), for a labeler who may not get what others hold or what they handed back lately."""
    held = {i for i, u in queue.leased_items(store, pid).items() if u != user}
    held |= _returned(store, pid, user)
    rows = [
        r
        for r in store.query(
            "SELECT p.item_id, p.class_ids, p.confidence, p.shown FROM predictions p JOIN items i ON i.id = p.item_id"
            " WHERE p.project_id = ? AND i.status = 'new'",
            [pid],
        )
        if len(r[1] or []) == 1 and int(r[0]) not in held
    ]
    found = trained.latest(store, pid, trained.ModelKind.HEAD)
    return page_choice.PoolState(
        task=task,
        page_size=page_size,
        n_unlabeled=cluster_pages.featurised_unlabeled(store, pid),
        n_shown=int(
            store.scalar(
                "SELECT count(*) FROM predictions p JOIN items i ON i.id = p.item_id"
                " WHERE p.project_id = ? AND p.shown AND i.status = 'new'",
                [pid],
            )
            or 0
        ),
        page_threshold=None if found is None else found.page_threshold,
        pred_ids=np.array([int(r[0]) for r in rows], dtype=np.int64),
        pred_class=np.array([int(r[1][0]) for r in rows], dtype=np.int64),
        pred_conf=np.array([float(r[2]) for r in rows], dtype=np.float64),
        pred_shown=np.array([bool(r[3]) for r in rows], dtype=bool),
    )


def simulated_page(
    store: Store, pid: int, task: TaskType, page_size: int = 9, user: str = USER
) -> ClusterPage | None:
    """The page ``page_choice.choose_pages`` picks first over ``whole_pool_state`` (look-alikes seeded at
    the head of the queue: unlabeled featurised items in queue order), with the audit tiles the grid
    adds (``cluster_pages._audit_tiles``)."""
    state = whole_pool_state(store, pid, task, page_size, user)
    model = cluster_pages.embedding_model(store, pid)

    def neighbours() -> list[ClusterPage]:
        if model is None:
            return []
        held = {i for i, u in queue.leased_items(store, pid).items() if u != user}
        held |= _returned(store, pid, user)
        pool = [
            int(r[0])
            for r in store.query(
                "SELECT i.id FROM items i JOIN embeddings e ON e.item_id = i.id AND e.model = ?"
                " WHERE i.project_id = ? AND i.status = 'new' ORDER BY i.queue_rank NULLS LAST, i.id",
                [model, pid],
            )
            if int(r[0]) not in held
        ]
        return page_choice.neighbour_candidates(cj.project_index(store, pid, model), pool, page_size)

    pages = page_choice.choose_pages(state, neighbours)
    # the audit's random tiles go on the chosen page as the grid puts them (section 3's rule, not re-made here)
    held = {i for i, u in queue.leased_items(store, pid).items() if u != user} | _returned(store, pid, user)
    pages = cluster_pages._audit_tiles(store, pid, page_size, held, pages)
    return pages[0] if pages else None


def run_flow(
    dataset: Dataset,
    flow: str,
    n_labels_max: int | None = None,
    seed: int = 0,
    *,
    page_size: int = 9,
    prepared: Path | None = None,
    settings: dict[str, Any] | None = None,
    on_training: Callable[[Lab, dict[str, float]], None] | None = None,
) -> dict[str, Any]:
    """Label ``dataset`` through the product with ``flow`` (``grid`` or ``one``) until every image is
    labeled or ``n_labels_max`` labels are given; the figures.

    ``prepared``: a folder made by ``prepare`` (copied, so several flows share one featurisation);
    ``settings``: project settings to set first (e.g. ``{"assist_queue_order": ...}``); ``seed``: the
    import order (``prepare``; with ``prepared`` the folder's own), the product's choices being
    deterministic given the store."""
    if flow not in FLOWS:
        raise ValueError(f"flow is one of {FLOWS}, not {flow!r}")
    with tempfile.TemporaryDirectory(prefix="annota-sim-") as tmp:
        folder = Path(tmp) / "data"
        t0 = time.perf_counter()
        if prepared is None:
            prep = prepare(dataset, folder, seed)
        else:
            shutil.copytree(prepared, folder)
            prep = {}
        with open_lab(folder, dataset.task, _truth_by_path(dataset)) as lab:
            if settings:
                projects.update_project(lab.store, lab.project_id, by=SYSTEM, settings=settings)
            labeler = Labeler(lab)
            curve: list[dict[str, float]] = []
            limit = len(lab.truth) if n_labels_max is None else min(n_labels_max, len(lab.truth))
            while labeler.labels < limit:
                for run_id in lab.settle():
                    curve.append(curve_point(lab, run_id, labeler))
                    if on_training is not None:
                        on_training(lab, curve[-1])
                if not step(lab, labeler, flow, page_size):
                    break
            for run_id in lab.settle():
                curve.append(curve_point(lab, run_id, labeler))
            labeled = list(labeler_items(lab))
            hand = sum(labeler.hand_cost(i) for i in labeled)
    seen = first_shown(curve)
    return {
        "dataset": dataset.name,
        "flow": flow,
        "seed": seed,
        "images": len(dataset.paths),
        "labels": labeler.labels,
        "one_at_a_time_labels": labeler.one_at_a_time,
        "pages": dict(labeler.pages),
        "actions": labeler.actions,
        "hand_actions": hand,
        "ratio": labeler.actions / hand if hand else float("nan"),
        "met_proposals": labeler.met_proposals,
        "met_precision": labeler.met_right / labeler.met_proposals if labeler.met_proposals else float("nan"),
        "labels_to_first_proposal": seen["human_labels"] if seen else float("nan"),
        "first_proposal_point": seen,
        "at_50_labels": at_labels(curve, 50),
        "labels_to_95p_50c": first_reaching(curve, 0.95, 0.5),
        "trainings": len(curve),
        "curve": curve,
        "seconds": time.perf_counter() - t0,
        **({"prepare": prep} if prep else {}),
    }


def labeler_items(lab: Lab) -> Iterator[int]:
    """Items the labeler labeled (status labeled)."""
    for (item_id,) in lab.store.query(
        "SELECT id FROM items WHERE project_id = ? AND status IN ('labeled', 'reviewed')", [lab.project_id]
    ):
        yield int(item_id)
