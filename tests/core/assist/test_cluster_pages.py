"""Cluster pages for labelers: leased pages, disjoint between labelers, submit saves the selected only."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.assist import cluster_pages, page_submit
from core.assist.embeddings import to_blob
from core.domain import ItemStatus, Source, TaskType, ValidationError
from core.permissions import SYSTEM
from core.store import items, labels, projects, queue
from core.store.items import NewItem
from core.store.labels import utcnow

MODEL = "test-backbone"


def _project(store, task=TaskType.MULTICLASS, n_clusters=4, per_cluster=9, featurised=True):
    p = projects.create_project(store, f"P-{task.value}", task, ["cat", "dog", "bird"], by=SYSTEM)
    store.execute(
        "UPDATE projects SET settings = ? WHERE id = ?", ['{"assist_audit_share": 0}', p.id]
    )  # no audit tiles
    n = n_clusters * per_cluster
    items.add_items(store, p.id, [NewItem(f"/nowhere/{i}.jpg", 64, 48, f"{i:040d}") for i in range(n)])
    ids = [r[0] for r in store.query("SELECT id FROM items WHERE project_id = ? ORDER BY id", [p.id])]
    if featurised:
        rng = np.random.default_rng(0)
        centres = rng.normal(size=(n_clusters, 1280))
        rows = []
        for k, iid in enumerate(ids):
            vec = centres[k % n_clusters] + 0.05 * rng.normal(size=1280)  # interleaved clusters
            rows.append((iid, p.id, MODEL, to_blob(vec), utcnow()))
        store.execute("SELECT 1")
        store.write(
            lambda cur: cur.executemany(
                "INSERT INTO embeddings (item_id, project_id, model, vec, created_at) VALUES (?, ?, ?, ?, ?)",
                rows,
            )
        )
    classes = projects.list_classes(store, p.id)
    return p, classes, ids, {iid: k % n_clusters for k, iid in enumerate(ids)}


def test_no_embeddings_no_grid(store):
    p, _, _, _ = _project(store, featurised=False)
    assert not cluster_pages.grid_available(store, p.id)
    assert cluster_pages.next_page(store, p.id, "ann", TaskType.MULTICLASS, 4) is None


@pytest.mark.parametrize("size", [4, 6, 9])
def test_a_page_holds_one_cluster_and_is_leased(store, size):
    p, _, _, cluster_of = _project(store)
    assert cluster_pages.grid_available(store, p.id, size)
    page = cluster_pages.next_page(store, p.id, "ann", TaskType.MULTICLASS, size)
    assert page is not None and len(page.item_ids) == size
    assert len({cluster_of[i] for i in page.item_ids}) == 1  # nearest neighbours only
    held = queue.leased_items(store, p.id)
    assert all(held[i] == "ann" for i in page.item_ids)
    # a rerun gets the same page back; the one-image queue hands out none of its items to others
    assert cluster_pages.next_page(store, p.id, "ann", TaskType.MULTICLASS, size) == page
    assert not any(queue.claim(store, p.id, i, "bob") for i in page.item_ids)


def test_two_labelers_get_disjoint_pages(store):
    p, _, _, _ = _project(store)
    a = cluster_pages.next_page(store, p.id, "ann", TaskType.MULTICLASS, 9)
    b = cluster_pages.next_page(store, p.id, "bob", TaskType.MULTICLASS, 9)
    c = cluster_pages.next_page(store, p.id, "cid", TaskType.MULTICLASS, 9)
    assert a and b and c
    assert not set(a.item_ids) & set(b.item_ids)
    assert not set(c.item_ids) & (set(a.item_ids) | set(b.item_ids))


def test_submit_labels_the_selected_and_returns_the_rest(store):
    p, classes, _, _ = _project(store)
    page = cluster_pages.next_page(store, p.id, "ann", TaskType.MULTICLASS, 6)
    odd = page.item_ids[2]
    res = page_submit.submit_page(
        store,
        page,
        [i for i in page.item_ids if i != odd],
        classes[1].id,
        TaskType.MULTICLASS,
        duration_ms=600,
        by=SYSTEM,
    )
    assert set(res.saved) == set(page.item_ids) - {odd} and res.returned == (odd,)
    for iid in res.saved:
        ann = labels.current_annotation(store, iid)
        assert ann.payload == {"class_id": classes[1].id}
        assert ann.source is Source.HUMAN and ann.author == "ann" and ann.version == 1
    vias = store.query(
        "SELECT DISTINCT via FROM annotations WHERE item_id IN (SELECT unnest(?))", [list(res.saved)]
    )
    assert vias == [("page",)]  # kept out of calibration
    # one transaction for the page: one save time, the page's time shared out over its five labels
    saves = store.query(
        "SELECT DISTINCT created_at, duration_ms FROM annotations WHERE item_id IN (SELECT unnest(?))",
        [list(res.saved)],
    )
    assert len(saves) == 1 and saves[0][1] == 120
    assert labels.current_annotation(store, odd) is None
    assert items.get_item(store, odd).status is ItemStatus.NEW
    assert odd not in queue.leased_items(store, p.id)  # back in the queue for anyone
    assert queue.leased_items(store, p.id) == {}
    nxt = cluster_pages.next_page(store, p.id, "ann", TaskType.MULTICLASS, 6)
    assert nxt is not None and odd not in nxt.item_ids  # not shown to the same labeler again at once
    assert not set(nxt.item_ids) & set(res.saved)


def test_odd_ones_get_their_own_class_in_place(store):
    """A tile given a class of its own is saved with it (not returned); the rest get the page's class."""
    p, classes, _, _ = _project(store)
    page = cluster_pages.next_page(store, p.id, "ann", TaskType.MULTICLASS, 6)
    odd, left_out = page.item_ids[1], page.item_ids[4]
    selected = [i for i in page.item_ids if i != left_out]
    res = page_submit.submit_page(
        store, page, selected, classes[0].id, TaskType.MULTICLASS, own={odd: classes[1].id}, by=SYSTEM
    )
    assert set(res.saved) == set(selected) and res.returned == (left_out,)
    for iid in selected:
        ann = labels.current_annotation(store, iid)
        want = classes[1].id if iid == odd else classes[0].id
        assert ann.payload == {"class_id": want} and ann.source is Source.HUMAN and ann.author == "ann"
    assert labels.current_annotation(store, left_out) is None
    vias = store.query("SELECT DISTINCT via FROM annotations WHERE project_id = ?", [p.id])
    assert vias == [("page",)]  # fixed tiles stay out of calibration too


def test_a_page_needs_its_class_unless_every_tile_has_its_own(store):
    p, classes, _, _ = _project(store)
    page = cluster_pages.next_page(store, p.id, "ann", TaskType.MULTICLASS, 4)
    first = page.item_ids[0]
    with pytest.raises(ValidationError, match="Choose the page's class first"):
        page_submit.submit_page(
            store, page, page.item_ids, None, TaskType.MULTICLASS, own={first: classes[1].id}, by=SYSTEM
        )
    assert all(labels.current_annotation(store, i) is None for i in page.item_ids)  # nothing half-saved
    own = {i: classes[k % 2].id for k, i in enumerate(page.item_ids)}
    res = page_submit.submit_page(store, page, page.item_ids, None, TaskType.MULTICLASS, own=own, by=SYSTEM)
    assert set(res.saved) == set(page.item_ids) and not res.returned
    assert {i: labels.current_annotation(store, i).payload["class_id"] for i in page.item_ids} == own


def test_multilabel_page_adds_the_class(store):
    p, classes, ids, _ = _project(store, TaskType.MULTILABEL)
    for iid in ids[::2]:  # half of them carry a class already and are back in the queue
        labels.save_label(store, iid, {"class_ids": [classes[0].id]}, author="bob", base_version=0, by=SYSTEM)
    store.execute("UPDATE items SET status = 'new' WHERE project_id = ?", [p.id])
    page = cluster_pages.next_page(store, p.id, "ann", TaskType.MULTILABEL, 4)
    res = page_submit.submit_page(store, page, page.item_ids, classes[2].id, TaskType.MULTILABEL, by=SYSTEM)
    assert len(res.saved) == 4
    for iid in page.item_ids:
        before = [classes[0].id] if iid in ids[::2] else []
        ann = labels.current_annotation(store, iid)
        assert ann.payload == {"class_ids": sorted([*before, classes[2].id])} and ann.author == "ann"


def test_multilabel_tiles_get_their_own_set_which_may_be_empty(store):
    p, classes, _, _ = _project(store, TaskType.MULTILABEL)
    page = cluster_pages.next_page(store, p.id, "ann", TaskType.MULTILABEL, 4)
    a, b, c, d = page.item_ids
    own = {a: [classes[0].id, classes[2].id], b: []}
    res = page_submit.submit_page(
        store, page, [a, b, c], classes[2].id, TaskType.MULTILABEL, own=own, by=SYSTEM
    )
    assert set(res.saved) == {a, b, c} and res.returned == (d,)
    assert labels.current_annotation(store, a).payload == {"class_ids": sorted(own[a])}
    assert labels.current_annotation(store, b).payload == {"class_ids": []}  # none of these classes
    assert labels.current_annotation(store, c).payload == {"class_ids": [classes[2].id]}


def test_a_one_class_tile_cannot_get_two_classes(store):
    p, classes, _, _ = _project(store)
    page = cluster_pages.next_page(store, p.id, "ann", TaskType.MULTICLASS, 4)
    with pytest.raises(ValidationError, match="exactly one class"):
        page_submit.submit_page(
            store,
            page,
            page.item_ids,
            classes[0].id,
            TaskType.MULTICLASS,
            own={page.item_ids[0]: [classes[0].id, classes[1].id]},
            by=SYSTEM,
        )
    assert all(labels.current_annotation(store, i) is None for i in page.item_ids)


def test_the_last_page_reopens_as_saved_and_saves_only_what_changed(store):
    p, classes, _, _ = _project(store)
    assert not cluster_pages.has_last(store, p.id, "ann")
    page = cluster_pages.next_page(store, p.id, "ann", TaskType.MULTICLASS, 4)
    left_out = page.item_ids[3]
    page_submit.submit_page(store, page, page.item_ids[:3], classes[0].id, TaskType.MULTICLASS, by=SYSTEM)
    following = cluster_pages.next_page(store, p.id, "ann", TaskType.MULTICLASS, 4)
    again = cluster_pages.reopen_last(store, p.id, "ann")
    assert again is not None and again.reopened and again.item_ids == page.item_ids[:3]
    assert not set(following.item_ids) & set(queue.leased_items(store, p.id))  # handed back unlabeled
    assert cluster_pages.next_page(store, p.id, "ann", TaskType.MULTICLASS, 9) == again  # any size keeps it
    a, b, c = again.item_ids
    labels.save_label(
        store, c, {"class_id": classes[2].id}, author="bob", base_version=1, by=SYSTEM
    )  # meanwhile
    own = {
        a: page_submit.saved_answer(TaskType.MULTICLASS, {"class_id": classes[0].id}),
        b: (classes[1].id,),  # corrected
        c: (classes[0].id,),  # as it was when reopened: bob's newer label must win
    }
    res = page_submit.submit_page(store, again, [], None, TaskType.MULTICLASS, own=own, by=SYSTEM)
    assert res.saved == (b,) and res.unchanged == (a,) and res.stale == (c,) and not res.returned
    assert labels.current_annotation(store, a).version == 1  # no new version for an unchanged tile
    assert labels.current_annotation(store, b).payload == {"class_id": classes[1].id}
    assert labels.current_annotation(store, c).author == "bob"
    assert labels.current_annotation(store, left_out) is None
    assert not queue.leased_items(store, p.id)


def test_a_reopened_multilabel_tile_can_lose_a_class(store):
    p, classes, _, _ = _project(store, TaskType.MULTILABEL)
    page = cluster_pages.next_page(store, p.id, "ann", TaskType.MULTILABEL, 4)
    first = page.item_ids[0]
    page_submit.submit_page(
        store,
        page,
        page.item_ids,
        classes[0].id,
        TaskType.MULTILABEL,
        own={first: [classes[0].id, classes[1].id]},
        by=SYSTEM,
    )
    again = cluster_pages.reopen_last(store, p.id, "ann")
    res = page_submit.submit_page(
        store, again, [first], None, TaskType.MULTILABEL, own={first: [classes[1].id]}, by=SYSTEM
    )
    assert res.saved == (first,) and set(res.unchanged) == set(page.item_ids[1:])
    assert labels.current_annotation(store, first).payload == {"class_ids": [classes[1].id]}  # replaced


def test_a_page_someone_else_saved_meanwhile_keeps_theirs(store):
    p, classes, _, _ = _project(store)
    page = cluster_pages.next_page(store, p.id, "ann", TaskType.MULTICLASS, 4)
    labels.save_label(
        store, page.item_ids[0], {"class_id": classes[0].id}, author="bob", base_version=0, by=SYSTEM
    )
    store.execute("UPDATE items SET status = 'new' WHERE id = ?", [page.item_ids[0]])
    res = page_submit.submit_page(store, page, page.item_ids, classes[1].id, TaskType.MULTICLASS, by=SYSTEM)
    assert res.stale == (page.item_ids[0],) and len(res.saved) == 3
    assert labels.current_annotation(store, page.item_ids[0]).author == "bob"


def test_changing_the_size_hands_the_old_page_back(store):
    p, _, _, _ = _project(store)
    a = cluster_pages.next_page(store, p.id, "ann", TaskType.MULTICLASS, 9)
    b = cluster_pages.next_page(store, p.id, "ann", TaskType.MULTICLASS, 4)
    assert len(b.item_ids) == 4
    held = set(queue.leased_items(store, p.id))
    assert held == set(b.item_ids) and not (set(a.item_ids) - set(b.item_ids)) & held


def test_shown_proposals_make_pages_with_a_suggested_class(store):
    p, classes, ids, _ = _project(store)
    rows = [
        (iid, p.id, f'{{"class_id": {classes[k % 2].id}}}', 0.9 + (k % 5) / 100, True)
        for k, iid in enumerate(ids)
    ]
    store.write(
        lambda cur: cur.executemany(
            "INSERT INTO predictions (item_id, project_id, payload, confidence, shown, class_ids)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [(*r, [json.loads(r[2])["class_id"]]) for r in rows],  # class_ids as the inference writes them
        )
    )
    page = cluster_pages.next_page(store, p.id, "ann", TaskType.MULTICLASS, 6)
    assert page.suggested_class in (classes[0].id, classes[1].id)
    assert page.reason == "same proposed class"
    keep, change = page.item_ids[:3], page.item_ids[3:]
    page_submit.submit_page(store, page, keep, page.suggested_class, TaskType.MULTICLASS, by=SYSTEM)
    other = cluster_pages.next_page(store, p.id, "ann", TaskType.MULTICLASS, 6)
    wrong = next(c.id for c in classes if c.id != other.suggested_class)
    page_submit.submit_page(
        store, other, other.item_ids, wrong, TaskType.MULTICLASS, by=SYSTEM
    )  # another class
    third = cluster_pages.next_page(store, p.id, "ann", TaskType.MULTICLASS, 4)
    fixed = third.item_ids[0]
    elsewhere = next(c.id for c in classes if c.id != third.suggested_class)
    page_submit.submit_page(
        store,
        third,
        third.item_ids,
        third.suggested_class,
        TaskType.MULTICLASS,
        own={fixed: elsewhere},
        by=SYSTEM,
    )
    kept = dict(store.query("SELECT item_id, proposal_kept FROM annotations WHERE project_id = ?", [p.id]))
    assert all(kept[i] is True for i in keep) and not set(change) & set(kept) - set(other.item_ids)
    assert all(kept[i] is False for i in other.item_ids)
    assert kept[fixed] is False and all(kept[i] is True for i in third.item_ids[1:])  # one tile corrected


def _head_run(store, project_id, page_threshold):
    metrics = f'{{"head_path": "/nowhere/head.npz", "page_threshold": {page_threshold}}}'
    store.execute(
        "INSERT INTO model_runs (project_id, kind, state, metrics) VALUES (?, 'train', 'done', ?)",
        [project_id, metrics],
    )


def _predictions(store, rows):
    store.write(
        lambda cur: cur.executemany(
            "INSERT INTO predictions (item_id, project_id, payload, confidence, shown, class_ids)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [(*r, [json.loads(r[2])["class_id"]]) for r in rows],  # class_ids as the inference writes them
        )
    )


def test_unshown_predictions_above_the_page_threshold_make_pages_without_a_class(store):
    p, classes, ids, _ = _project(store)
    # the head predicts dog for every item; only the 12 most confident clear the page threshold
    _predictions(
        store,
        [(iid, p.id, f'{{"class_id": {classes[1].id}}}', 0.5 + k / 100, False) for k, iid in enumerate(ids)],
    )
    _head_run(store, p.id, 0.5 + (len(ids) - 12) / 100)
    page = cluster_pages.next_page(store, p.id, "ann", TaskType.MULTICLASS, 9)
    assert page is not None and page.reason == "same predicted class"
    assert page.suggested_class is None  # below the proposal threshold: the labeler gives the class
    assert set(page.item_ids) <= set(ids[-12:])  # only items at or above the page threshold
    # the 3 left above the threshold cannot fill another page, and the neighbour pages are not
    # used once a head exists: the other labeler is sent to one-image labeling
    assert cluster_pages.next_page(store, p.id, "bob", TaskType.MULTICLASS, 9) is None


def test_multilabel_pages_group_items_predicted_to_hold_one_class(store):
    """Multi-label: items the head gives exactly one class, above the page threshold, share a page (no
    class shown); items predicted to hold two classes are not grouped; when none are left, look-alikes."""
    p, classes, ids, _ = _project(store, TaskType.MULTILABEL)
    cat, dog = classes[0].id, classes[1].id
    rows = []
    for k, iid in enumerate(ids):
        sets = [dog] if k % 3 else [cat, dog]  # every third item is predicted to hold two classes
        payload = json.dumps({"class_ids": sets})
        rows.append((iid, p.id, payload, 0.6 + k / 100, False, sets))
    store.write(
        lambda cur: cur.executemany(
            "INSERT INTO predictions (item_id, project_id, payload, confidence, shown, class_ids)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )
    )
    _head_run(store, p.id, 0.6)
    page = cluster_pages.next_page(store, p.id, "ann", TaskType.MULTILABEL, 9)
    assert page is not None and page.reason == "same predicted class" and page.suggested_class is None
    two = {iid for k, iid in enumerate(ids) if k % 3 == 0}
    assert not set(page.item_ids) & two
    res = page_submit.submit_page(store, page, page.item_ids, dog, TaskType.MULTILABEL, by=SYSTEM)
    assert len(res.saved) == 9
    # the one-class items left (24 - 9 = 15) make one more page, then the look-alike pages take over
    second = cluster_pages.next_page(store, p.id, "ann", TaskType.MULTILABEL, 9)
    assert second is not None and second.reason == "same predicted class"
    page_submit.submit_page(store, second, second.item_ids, dog, TaskType.MULTILABEL, by=SYSTEM)
    third = cluster_pages.next_page(store, p.id, "ann", TaskType.MULTILABEL, 9)
    assert third is not None and third.reason == "nearest neighbours"


def test_no_grouping_pages_when_the_head_has_no_page_threshold(store):
    p, classes, ids, _ = _project(store)
    _predictions(store, [(iid, p.id, f'{{"class_id": {classes[0].id}}}', 0.99, False) for iid in ids])
    _head_run(store, p.id, "null")  # e.g. a multi-label head: no grouping by prediction
    assert cluster_pages.next_page(store, p.id, "ann", TaskType.MULTICLASS, 4) is None


def test_consensus_images_never_land_on_a_page(store):
    # consensus images are answered blind by k labelers (core.quality.consensus): a page would let one
    # person label them; half the images here are consensus images by the share's hash rule
    from core.quality import consensus

    p, _, ids, _ = _project(store, n_clusters=4, per_cluster=9)
    store.execute(
        "UPDATE projects SET settings = ? WHERE id = ?",
        ['{"assist_audit_share": 0, "consensus_share": 0.5, "consensus_k": 2}', p.id],
    )
    chosen = {i for i in ids if consensus.is_consensus_id(i, 0.5)}
    assert 0 < len(chosen) < len(ids)
    assert cluster_pages.consensus_ids(store, p.id) == chosen
    seen: set[int] = set()
    for user in ("ann", "bob", "cy"):
        page = cluster_pages.next_page(store, p.id, user, TaskType.MULTICLASS, 4)
        assert page is not None
        seen.update(page.item_ids)
    assert seen and not seen & chosen
    # with the share turned off later, an image recorded as a consensus image stays one
    first = min(chosen)
    store.execute("INSERT INTO consensus_items (item_id, project_id, k) VALUES (?, ?, 2)", [first, p.id])
    store.execute("UPDATE projects SET settings = ? WHERE id = ?", ['{"assist_audit_share": 0}', p.id])
    assert cluster_pages.consensus_ids(store, p.id) == {first}


def test_auto_accept_leaves_consensus_images_to_their_labelers(store):
    from core.assist import classify_jobs
    from core.quality import consensus

    p, classes, ids, _ = _project(store, n_clusters=2, per_cluster=6, featurised=False)
    store.execute(
        "UPDATE projects SET settings = ? WHERE id = ?",
        ['{"assist_auto_accept": true, "consensus_share": 0.5}', p.id],
    )
    info = classify_jobs.project_info(store, p.id)
    rows = [(None, None, None, json.dumps({"class_id": classes[0].id}))] * len(ids)
    n = classify_jobs._auto_accept(
        store, info, np.array(ids), rows, np.full(len(ids), 0.99), np.ones(len(ids), bool), 0.9
    )
    chosen = {i for i in ids if consensus.is_consensus_id(i, 0.5)}
    labeled = {
        int(r[0]) for r in store.query("SELECT id FROM items WHERE project_id = ? AND version > 0", [p.id])
    }
    assert 0 < len(chosen) < len(ids)
    assert labeled == set(ids) - chosen and n == len(labeled)


def test_audit_tiles_go_first_to_a_page_of_their_guessed_class(store):
    """Among candidate pages, the one whose images the model puts in the class it guesses for the audit
    tiles comes first (the tiles then cost no click of their own when the guess is right); without a
    guess the order stays."""
    from core.assist.clustering import ClusterPage

    p, classes, ids, _ = _project(store)
    cat, dog = classes[0].id, classes[1].id
    guess = {i: (cat if i in ids[:9] else dog) for i in ids[:18]}
    guess[ids[30]] = dog  # the audit tile: the model guesses dog
    store.write(
        lambda cur: cur.executemany(
            "INSERT INTO predictions (item_id, project_id, payload, confidence, class_ids) VALUES (?, ?, '{}', 0.7, ?)",
            [(i, p.id, [c]) for i, c in guess.items()],
        )
    )
    cats = ClusterPage((*ids[:8], ids[30]), 0.9)
    dogs = ClusterPage((*ids[9:17], ids[30]), 0.8)
    assert cluster_pages._matching_first(store, [cats, dogs], [ids[30]]) == [dogs, cats]
    assert cluster_pages._matching_first(store, [cats, dogs], [ids[31]]) == [
        cats,
        dogs,
    ]  # no guess: as they were
    assert cluster_pages._matching_first(store, [dogs, cats], [ids[30]]) == [dogs, cats]
