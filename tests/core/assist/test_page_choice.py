"""The grid's page choice: the pure rule (``page_choice.choose_pages``), and the product's grid
(``cluster_pages.next_page``, which reads a windowed slice of the store) against the simulation's
view of the whole pool (``benchmarks.assist_product.simulated_page``) on seeded stores: the same pages.

The last case runs the simulated labeler on 40 real flower photos through the product (skipped with a
printed reason when the shared datasets are absent) and checks every page it takes.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from benchmarks import assist_product as ap
from core.assist import cluster_pages, page_choice, page_submit
from core.assist.clustering import ClusterPage, PageKind
from core.assist.embeddings import to_blob
from core.assist.page_choice import PREDICTION_MIN_SHARE, PoolState, choose_page, choose_pages
from core.config import shared_datasets
from core.domain import TaskType
from core.permissions import SYSTEM
from core.store import items, projects, queue
from core.store.items import NewItem
from core.store.labels import utcnow

MC, ML = TaskType.MULTICLASS, TaskType.MULTILABEL


def _state(task=MC, *, n_unlabeled=100, n_shown=0, threshold=None, ids=(), cls=(), conf=(), shown=(), size=4):
    return PoolState(
        task=task,
        page_size=size,
        n_unlabeled=n_unlabeled,
        n_shown=n_shown,
        page_threshold=threshold,
        pred_ids=np.array(ids, dtype=np.int64),
        pred_class=np.array(cls, dtype=np.int64),
        pred_conf=np.array(conf, dtype=np.float64),
        pred_shown=np.array(shown, dtype=bool),
    )


class _Neighbours:
    """A stand-in look-alike maker that records whether the rule asked for look-alikes."""

    def __init__(self) -> None:
        self.calls = 0
        self.page = ClusterPage((101, 102, 103, 104), 0.9)

    def __call__(self) -> list[ClusterPage]:
        self.calls += 1
        return [self.page]


def _eight_shown(threshold: float | None = 0.5):
    """8 items of class 7, shown (conf 0.99..0.92), and 4 of class 8, not shown (conf 0.6)."""
    ids = list(range(1, 13))
    cls = [7] * 8 + [8] * 4
    conf = [0.99 - k / 100 for k in range(8)] + [0.6] * 4
    shown = [True] * 8 + [False] * 4
    return {"ids": ids, "cls": cls, "conf": conf, "shown": shown, "threshold": threshold}


def test_proposal_pages_need_the_minimum_share_of_the_pool_shown():
    nb = _Neighbours()
    # 8 shown of 20 unlabeled: under the share, so the head's grouping pages (threshold 0.5) come instead
    below = _state(n_unlabeled=20, n_shown=8, **_eight_shown())
    assert PREDICTION_MIN_SHARE * 20 > 8
    page = choose_page(below, nb)
    assert page is not None and page.reason is PageKind.PREDICTED and page.suggested_class is None
    # the same predictions once 8 shown are at least the share of 16: a page with its class suggested
    at = _state(n_unlabeled=16, n_shown=8, **_eight_shown())
    page = choose_page(at, nb)
    assert page is not None and page.reason is PageKind.PROPOSED and page.suggested_class == 7
    assert page.item_ids == (1, 2, 3, 4)  # the most confident first
    assert nb.calls == 0


def test_proposal_pages_need_a_page_of_shown_items_even_over_the_share():
    small = _state(n_unlabeled=6, n_shown=3, threshold=float("inf"), ids=[1, 2, 3], cls=[7] * 3,
                   conf=[0.99] * 3, shown=[True] * 3)  # fmt: skip
    nb = _Neighbours()
    assert choose_pages(small, nb) == [] and nb.calls == 0  # a head without page threshold: no look-alikes


def test_grouping_pages_take_items_at_or_over_the_page_threshold_only():
    state = _state(n_unlabeled=100, n_shown=0, threshold=0.6, ids=[1, 2, 3, 4, 5, 6, 7],
                   cls=[3] * 7, conf=[0.9, 0.8, 0.7, 0.6, 0.59, 0.2, 0.1], shown=[False] * 7)  # fmt: skip
    pages = choose_pages(state, _Neighbours())
    assert [p.item_ids for p in pages] == [(1, 2, 3, 4)]
    assert pages[0].reason is PageKind.PREDICTED and pages[0].suggested_class is None


def test_look_alikes_before_any_head_and_never_after_a_multiclass_head():
    nb = _Neighbours()
    assert choose_page(_state(threshold=None), nb) == nb.page and nb.calls == 1
    nb = _Neighbours()
    assert choose_page(_state(threshold=float("inf")), nb) is None and nb.calls == 0
    nb = _Neighbours()
    assert choose_page(_state(threshold=0.5), nb) is None and nb.calls == 0  # nothing over it


def test_multilabel_never_gets_proposal_pages_and_falls_back_to_look_alikes():
    nb = _Neighbours()
    state = _state(ML, n_unlabeled=8, n_shown=8, **_eight_shown(threshold=0.995))
    assert choose_page(state, nb) == nb.page and nb.calls == 1  # shown, but multi-label: no class suggested
    grouped = choose_page(_state(ML, n_unlabeled=8, n_shown=8, **_eight_shown(threshold=0.5)), _Neighbours())
    assert grouped is not None and grouped.reason is PageKind.PREDICTED


def test_a_state_with_ragged_arrays_is_refused():
    with pytest.raises(ValueError, match="same length"):
        _state(ids=[1, 2], cls=[1], conf=[0.5, 0.5], shown=[True, True])
    with pytest.raises(ValueError, match="4, 6 or 9"):
        _state(size=5)


# ---------------------------------------------------------------- the product against the simulation

MODEL = "test-backbone"


def _seeded(store, task, n=60, seed=0):
    """A project of ``n`` featurised items in 3 interleaved look-alike groups, ranked in a shuffled
    queue order."""
    p = projects.create_project(store, f"P-{task.value}", task, ["cat", "dog", "bird"], by=SYSTEM)
    store.execute(
        "UPDATE projects SET settings = ? WHERE id = ?", ['{"assist_audit_share": 0}', p.id]
    )  # no audit tiles
    items.add_items(store, p.id, [NewItem(f"/nowhere/{i}.jpg", 64, 48, f"{i:040d}") for i in range(n)])
    ids = [int(r[0]) for r in store.query("SELECT id FROM items WHERE project_id = ? ORDER BY id", [p.id])]
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, 1280))
    rows = [
        (i, p.id, MODEL, to_blob(centres[k % 3] + 0.3 * rng.normal(size=1280)), utcnow())
        for k, i in enumerate(ids)
    ]
    store.write(
        lambda cur: cur.executemany(
            "INSERT INTO embeddings (item_id, project_id, model, vec, created_at) VALUES (?, ?, ?, ?, ?)",
            rows,
        )
    )
    queue.set_ranks(store, p.id, {i: float(r) for i, r in zip(ids, rng.permutation(n), strict=True)})
    classes = [c.id for c in projects.list_classes(store, p.id)]
    return p, ids, classes, rng


def _predict(store, project_id, ids, classes, rng, *, shown_share, page_threshold, multilabel=False):
    """A head's run: a prediction for every item (random class and confidence; ``shown_share`` of them
    shown, the most confident), multi-label ones with one or two classes."""
    conf = rng.uniform(0.2, 1.0, size=len(ids)).round(3)
    cut = np.quantile(conf, 1 - shown_share) if shown_share > 0 else 2.0
    rows = []
    for k, i in enumerate(ids):
        cids = [int(rng.choice(classes))]
        if multilabel and rng.random() < 0.3:
            cids = sorted({*cids, int(rng.choice(classes))})
        payload = {"class_ids": cids} if multilabel else {"class_id": cids[0]}
        rows.append((i, project_id, json.dumps(payload), float(conf[k]), bool(conf[k] >= cut), cids))
    store.write(lambda cur: cur.execute("DELETE FROM predictions WHERE project_id = ?", [project_id]))
    store.write(
        lambda cur: cur.executemany(
            "INSERT INTO predictions (item_id, project_id, payload, confidence, shown, class_ids)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )
    )
    metrics = {"head_path": "/nowhere/head.npz", "page_threshold": page_threshold}
    store.execute(
        "INSERT INTO model_runs (project_id, kind, state, metrics) VALUES (?, 'train', 'done', ?)",
        [project_id, json.dumps(metrics)],
    )


def _ids(page):
    return None if page is None else tuple(page.item_ids)


def _same_page(store, p, task, size, user="sim"):
    expected = ap.simulated_page(store, p.id, task, size, user)
    got = cluster_pages.next_page(store, p.id, user, task, size)
    assert _ids(got) == _ids(expected)
    if got is not None:
        assert got.reason == expected.reason and got.suggested_class == expected.suggested_class
    return got


@pytest.mark.parametrize("size", [4, 9])
def test_the_product_and_the_simulation_pick_the_same_pages_multiclass(store, size):
    p, ids, classes, rng = _seeded(store, MC)
    kinds = []
    page = _same_page(store, p, MC, size)  # before any head: look-alikes at the head of the queue
    kinds.append(page.reason)
    cluster_pages.release_page(store, p.id, "sim")
    for share, thr in [(0.2, 0.5), (0.7, 0.3), (0.7, None), (0.0, float("inf"))]:
        _predict(store, p.id, ids, classes, rng, shown_share=share, page_threshold=thr)
        # another labeler holds a page: neither side may give its items
        other = cluster_pages.next_page(store, p.id, "bob", MC, 4)
        for _ in range(2):
            page = _same_page(store, p, MC, size)
            if page is None:
                break
            kinds.append(page.reason)
            page_submit.submit_page(
                store, page, page.item_ids, page.suggested_class or classes[0], MC, by=SYSTEM
            )
        if other is not None:
            cluster_pages.release_page(store, p.id, "bob")
    assert {PageKind.NEIGHBOURS, PageKind.PREDICTED, PageKind.PROPOSED} <= set(kinds)


def test_the_product_and_the_simulation_pick_the_same_pages_multilabel(store):
    p, ids, classes, rng = _seeded(store, ML)
    kinds = []
    for thr in [None, 0.6, float("inf")]:
        if thr is not None:
            _predict(store, p.id, ids, classes, rng, shown_share=0.5, page_threshold=thr, multilabel=True)
        for _ in range(2):
            page = _same_page(store, p, ML, 6)
            assert page is not None
            kinds.append(page.reason)
            page_submit.submit_page(store, page, page.item_ids, classes[1], ML, by=SYSTEM)
    assert {PageKind.NEIGHBOURS, PageKind.PREDICTED} <= set(kinds)


def test_the_simulated_labeler_takes_the_pages_the_pure_rule_picks_on_real_photos(tmp_path):
    """The benchmark's labeler on 40 flowers through the product: every page it takes is the one
    ``page_choice`` picks over the whole pool just before, and it gets at least one grouping page."""
    root = shared_datasets() / "flowers"
    if not root.is_dir():
        print(f"SKIP REASON: shared flowers dataset absent at {root}", file=sys.stderr)
        pytest.skip(f"shared flowers dataset absent at {root}")
    ds = ap.flowers(MC, per_class=8)
    ap.prepare(ds, tmp_path / "data", seed=1)
    kinds = []
    with ap.open_lab(tmp_path / "data", MC, dict(zip(ds.paths, ds.truth, strict=True))) as lab:
        lab.store.execute(  # the page rule alone: no audit tiles (core.assist.audit)
            "UPDATE projects SET settings = ? WHERE id = ?", ['{"assist_audit_share": 0}', lab.project_id]
        )
        labeler = ap.Labeler(lab)
        while labeler.labels < len(lab.truth):
            lab.settle()
            expected = ap.simulated_page(lab.store, lab.project_id, MC, 4)
            did = ap.step(lab, labeler, "grid", page_size=4)
            if did is None:
                break
            if isinstance(did, cluster_pages.GridPage):
                assert _ids(did) == _ids(expected)
                kinds.append(did.reason)
            else:
                assert expected is None  # one image only where no page could be made
        assert labeler.labels == 40
    assert PageKind.NEIGHBOURS in kinds
    print(f"pages taken: {kinds}", file=sys.stderr)


def test_page_choice_is_what_the_grid_calls():
    assert cluster_pages.PREDICTION_MIN_SHARE == page_choice.PREDICTION_MIN_SHARE
    assert cluster_pages.SEEDS == page_choice.SEEDS


def _lab(store, task, truth_by_index):
    """A ``Lab`` over a seeded store whose items' truths are given by their order."""
    from core import jobs
    from core.assist.scheduler import AssistScheduler

    p, ids, classes, _ = _seeded(store, task, n=12)
    truth = {i: tuple(sorted(classes[c] for c in truth_by_index(k))) for k, i in enumerate(ids)}
    runner = jobs.JobRunner(store, workers=1)  # not started: nothing runs
    return (
        ap.Lab(store, p.id, task, truth, tuple(classes), runner, AssistScheduler(store, runner)),
        ids,
        classes,
    )


def _saved(store, item_ids, task):
    rows = dict(
        store.query("SELECT id, class_ids FROM items WHERE id IN (SELECT unnest(?))", [list(item_ids)])
    )
    return {i: tuple(sorted(rows[i] or ())) for i in item_ids}


def test_the_labeler_answers_a_page_with_the_truth_and_counts_its_clicks(store):
    lab, ids, classes = _lab(store, MC, lambda k: {0 if k % 4 else 1})
    labeler = ap.Labeler(lab)
    page = cluster_pages.GridPage(lab.project_id, ap.USER, tuple(ids[:4]), 4)  # truths b, a, a, a
    assert queue.lease_many(store, lab.project_id, page.item_ids, ap.USER, lease_minutes=10)
    labeler.page(page)
    assert labeler.actions == 2 + 1  # the page's class (a) and Submit, one click for the odd one
    assert _saved(store, page.item_ids, MC) == {i: lab.truth[i] for i in page.item_ids}
    assert labeler.labels == 4 and labeler.one_at_a_time == 0


def test_a_multilabel_page_toggles_each_tile_to_its_set(store):
    sets = [{0}, {0, 1}, set(), {0}]
    lab, ids, classes = _lab(store, ML, lambda k: sets[k % 4])
    labeler = ap.Labeler(lab)
    page = cluster_pages.GridPage(lab.project_id, ap.USER, tuple(ids[:4]), 4)
    assert queue.lease_many(store, lab.project_id, page.item_ids, ap.USER, lease_minutes=10)
    labeler.page(page)
    assert labeler.actions == 2 + 2  # class a and Submit; b ticked on one tile, a unticked on another
    assert _saved(store, page.item_ids, ML) == {i: lab.truth[i] for i in page.item_ids}


def test_one_image_by_hand_costs_one_click_and_one_a_class(store):
    lab, ids, classes = _lab(store, ML, lambda k: {0, 2})
    labeler = ap.Labeler(lab)
    labeler.item(ids[0])  # no model yet: nothing offered
    assert labeler.actions == 1 + 2 and _saved(store, [ids[0]], ML)[ids[0]] == lab.truth[ids[0]]


def test_a_shown_proposal_is_accepted_when_right_and_corrected_when_wrong(store):
    lab, ids, classes = _lab(store, MC, lambda k: {1})
    right, wrong = ids[0], ids[1]
    store.write(
        lambda cur: cur.executemany(
            "INSERT INTO predictions (item_id, project_id, payload, confidence, shown, class_ids)"
            " VALUES (?, ?, ?, 0.99, true, ?)",
            [
                (right, lab.project_id, json.dumps({"class_id": classes[1]}), [classes[1]]),
                (wrong, lab.project_id, json.dumps({"class_id": classes[2]}), [classes[2]]),
            ],
        )
    )
    labeler = ap.Labeler(lab)
    labeler.item(right)
    labeler.item(wrong)
    assert labeler.actions == 2 and labeler.met_proposals == 2 and labeler.met_right == 1
    got = dict(store.query("SELECT item_id, source FROM annotations WHERE project_id = ?", [lab.project_id]))
    assert got == {right: "prelabel", wrong: "human"}
    assert _saved(store, [right, wrong], MC) == {right: (classes[1],), wrong: (classes[1],)}
