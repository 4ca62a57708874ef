"""Consensus and gold items: who gets which item (k distinct labelers, never twice, never seen by the
ordinary queue), blind answers, the k-th answer settling the item, gold turns and scores, the reads the
review page and the dashboard use; the settings' keys."""

from __future__ import annotations

import pytest

from core import auth
from core.domain import Role, TaskType, User, ValidationError
from core.permissions import SYSTEM, Forbidden, ProjectRole
from core.quality import consensus, gold
from core.settings import ProjectSettings
from core.store import Store, labels, queue
from core.store.items import NewItem, add_items
from core.store.labels import current_annotation
from core.store.projects import add_member, create_project, list_classes


def _team(store: Store, task=TaskType.MULTICLASS, n=6, names=("ann", "bob", "cy", "dee"), **settings):
    p = create_project(store, "Q", task, ["cat", "dog"], by=SYSTEM, settings=settings)
    add_items(store, p.id, [NewItem(f"/img/{i}.jpg", 100, 80, f"sha{i}") for i in range(n)])
    ids = [r[0] for r in store.query("SELECT id FROM items WHERE project_id = ? ORDER BY id", [p.id])]
    users = {}
    for name in names:
        u = auth.create_user(store, name, "secret-123", Role.LABELER, name, by=SYSTEM)
        add_member(store, p.id, u.id, role=ProjectRole.LABELER, by=SYSTEM)
        users[name] = u
    cat, dog = (c.id for c in list_classes(store, p.id))
    return p.id, ids, users, cat, dog


def test_settings_keys_are_cleaned() -> None:
    s = ProjectSettings.parse({})
    assert (s.consensus_share, s.consensus_k, s.agreement_threshold, s.gold_share) == (0.0, 2, 0.8, 0.05)
    s = ProjectSettings.parse(
        {"consensus_share": "0.3", "consensus_k": 9, "agreement_threshold": 2, "gold_share": "x"}
    )
    assert (s.consensus_share, s.consensus_k, s.agreement_threshold, s.gold_share) == (0.3, 5, 1.0, 0.05)
    s = ProjectSettings.parse({"consensus_share": -1, "consensus_k": "one", "gold_share": float("nan")})
    assert (s.consensus_share, s.consensus_k, s.gold_share) == (0.0, 2, 0.05)


def test_the_hash_picks_about_the_share_and_is_stable() -> None:
    picked = [i for i in range(1, 10001) if consensus.is_consensus_id(i, 0.2)]
    assert 1950 <= len(picked) <= 2050
    assert picked == [i for i in range(1, 10001) if consensus.is_consensus_id(i, 0.2)]
    assert not any(consensus.is_consensus_id(i, 0.0) for i in range(1, 1000))
    assert all(consensus.is_consensus_id(i, 1.0) for i in range(1, 1000))


def test_k_distinct_labelers_and_never_twice(store: Store) -> None:
    pid, ids, users, cat, dog = _team(store, n=3, consensus_share=1.0, consensus_k=3, gold_share=0)
    served: dict[int, list[str]] = {}
    # every labeler takes items in turn and answers each; nobody gets an item twice, each item gets 3
    for _ in range(4):
        for name in users:
            got = queue.next_item_id(store, pid, name)
            if got is None:
                continue
            assert consensus.held_kind(store, pid, got, name) == "consensus"
            assert name not in served.setdefault(got, [])
            served[got].append(name)
            consensus.save_blind_answer(store, got, {"class_id": cat}, kind="consensus", by=users[name])
    assert sorted(served) == ids and all(len(set(v)) == 3 == len(v) for v in served.values())
    assert all(queue.next_item_id(store, pid, name) is None for name in users)


def test_a_leased_item_counts_toward_k(store: Store) -> None:
    pid, ids, users, cat, dog = _team(store, n=1, consensus_share=1.0, consensus_k=2, gold_share=0)
    assert queue.next_item_id(store, pid, "ann") == ids[0]
    assert queue.next_item_id(store, pid, "bob") == ids[0]  # two holders at once: k = 2
    assert queue.next_item_id(store, pid, "cy") is None  # a third would make k + 1 answers
    assert queue.next_item_id(store, pid, "ann") == ids[0]  # her own lease comes back


def test_the_ordinary_queue_never_hands_out_a_consensus_item(store: Store) -> None:
    pid, ids, users, cat, dog = _team(store, n=40, consensus_share=0.5, consensus_k=2, gold_share=0)
    chosen = {i for i in ids if consensus.is_consensus_id(i, 0.5)}
    assert 0 < len(chosen) < len(ids)
    seen_blind, seen_plain = [], []
    for _ in range(len(ids)):
        got = queue.next_item_id(store, pid, "ann")
        if got is None:
            break
        if consensus.held_kind(store, pid, got, "ann"):
            seen_blind.append(got)
            consensus.save_blind_answer(store, got, {"class_id": cat}, kind="consensus", by=users["ann"])
        else:
            seen_plain.append(got)
            labels.save_label(store, got, {"class_id": cat}, by=users["ann"], base_version=0)
    assert set(seen_blind) == chosen and set(seen_plain) == set(ids) - chosen
    # the consensus items wait for a second answer: still unlabeled, and never in the ordinary queue
    assert all(current_annotation(store, i) is None for i in chosen)
    assert queue.next_item_id(store, pid, "ann") is None


def test_blind_answers_are_not_labels_and_the_kth_merges(store: Store) -> None:
    pid, ids, users, cat, dog = _team(store, n=1, consensus_share=1.0, consensus_k=3, gold_share=0)
    item = ids[0]
    for name, cls in (("ann", cat), ("bob", dog)):
        assert queue.next_item_id(store, pid, name) == item
        consensus.save_blind_answer(store, item, {"class_id": cls}, kind="consensus", by=users[name])
        assert current_annotation(store, item) is None
    st = consensus.state_of(store, item)
    assert st is not None and (st.k, st.state, st.agreement, st.answers) == (3, "open", None, 2)
    with pytest.raises(ValidationError, match="already answered"):
        consensus.save_blind_answer(store, item, {"class_id": cat}, kind="consensus", by=users["ann"])
    assert queue.next_item_id(store, pid, "ann") is None  # she never gets it again
    # the third: cat, dog, cat -> pairs 0, 1, 0 -> 1/3 < 0.8: review, no label
    consensus.save_blind_answer(store, item, {"class_id": cat}, kind="consensus", by=users["cy"])
    st = consensus.state_of(store, item)
    assert st is not None and st.state == "review" and st.agreement == pytest.approx(1 / 3)
    assert current_annotation(store, item) is None
    assert [s.item_id for s in consensus.items_in_review(store, pid)] == [item]
    with pytest.raises(ValidationError, match="all its answers"):
        consensus.save_blind_answer(store, item, {"class_id": cat}, kind="consensus", by=users["dee"])
    assert queue.next_item_id(store, pid, "dee") is None  # in review: not handed to anyone


def test_agreement_above_the_threshold_saves_the_merged_label(store: Store) -> None:
    pid, ids, users, cat, dog = _team(
        store, TaskType.BOXES, n=1, consensus_share=1.0, consensus_k=2, agreement_threshold=0.5, gold_share=0
    )
    item = ids[0]
    a = {"boxes": [{"class_id": cat, "xywh": [10, 10, 20, 20]}, {"class_id": dog, "xywh": [60, 40, 10, 10]}]}
    b = {"boxes": [{"class_id": cat, "xywh": [12, 10, 20, 20]}]}
    consensus.save_blind_answer(store, item, a, kind="consensus", by=users["ann"])
    consensus.save_blind_answer(store, item, b, kind="consensus", by=users["bob"])
    st = consensus.state_of(store, item)
    assert st is not None and st.state == "merged" and st.agreement == pytest.approx(2 / 3)  # F1 2*1/(2+1)
    ann = current_annotation(store, item)
    assert ann is not None and ann.author == "consensus"
    assert ann.payload == {"boxes": [{"class_id": cat, "xywh": [11.0, 10.0, 20.0, 20.0]}]}  # dog: 1 of 2


def test_others_answers_are_never_shown_through_the_item(store: Store) -> None:
    pid, ids, users, cat, dog = _team(store, n=1, consensus_share=1.0, consensus_k=2, gold_share=0)
    consensus.save_blind_answer(store, ids[0], {"class_id": cat}, kind="consensus", by=users["ann"])
    assert queue.next_item_id(store, pid, "bob") == ids[0]
    assert current_annotation(store, ids[0]) is None  # the label page has nothing of Ann's to show
    assert store.scalar("SELECT status FROM items WHERE id = ?", [ids[0]]) == "new"


def test_only_members_answer(store: Store) -> None:
    pid, ids, users, cat, dog = _team(store, n=1, consensus_share=1.0, gold_share=0)
    outsider = auth.create_user(store, "zed", "secret-123", Role.LABELER, "Zed", by=SYSTEM)
    with pytest.raises(Forbidden):
        consensus.save_blind_answer(store, ids[0], {"class_id": cat}, kind="consensus", by=outsider)
    assert not consensus.answers_of(store, ids[0])


def _make_gold(store: Store, item_id: int, payload: dict, by: User) -> None:
    labels.save_label(store, item_id, payload, by=by, base_version=0)
    store.write(
        lambda cur: cur.execute(
            "UPDATE items SET gold = true, review_state = 'approved' WHERE id = ?", [item_id]
        )
    )


def test_gold_turns_come_at_the_share_and_are_scored(store: Store) -> None:
    pid, ids, users, cat, dog = _team(store, n=14, gold_share=0.25, names=("ann", "bob", "rev"))
    golds = ids[:2]
    for g in golds:
        _make_gold(store, g, {"class_id": cat}, users["rev"])
    assert (
        gold.gold_every(0.25) == 4
        and [gold.is_gold_turn(p, 0.25) for p in range(8)] == [False, False, False, True] * 2
    )
    kinds = []
    for _ in range(10):
        got = queue.next_item_id(store, pid, "ann")
        assert got is not None
        kind = consensus.held_kind(store, pid, got, "ann")
        kinds.append(kind)
        if kind == "gold":
            assert got in golds
            # Ann's first gold answer is wrong (dog), the second right (cat)
            cls = dog if kinds.count("gold") == 1 else cat
            consensus.save_blind_answer(store, got, {"class_id": cls}, kind="gold", by=users["ann"])
            assert current_annotation(store, got).payload == {"class_id": cat}  # type: ignore[union-attr]
        else:
            labels.save_label(store, got, {"class_id": cat}, by=users["ann"], base_version=0)
    assert kinds == [
        None,
        None,
        None,
        "gold",
        None,
        None,
        None,
        "gold",
        None,
        None,
    ]  # 2 gold left: none at 12
    scores = sorted(a.score for g in golds for a in consensus.answers_of(store, g))
    assert scores == [0.0, 1.0]
    acc = gold.accuracy_by_labeler(store, pid)
    assert [(a.user, a.answers, a.accuracy) for a in acc] == [("ann", 2, 0.5)]


def test_gold_is_not_handed_to_its_own_labeler(store: Store) -> None:
    pid, ids, users, cat, dog = _team(store, n=3, gold_share=1.0, names=("ann", "rev"))
    _make_gold(store, ids[0], {"class_id": cat}, users["rev"])
    assert queue.next_item_id(store, pid, "rev") != ids[0]
    assert queue.next_item_id(store, pid, "ann") == ids[0]


def test_reads_for_the_dashboard(store: Store) -> None:
    pid, ids, users, cat, dog = _team(store, n=2, consensus_share=1.0, consensus_k=3, gold_share=0)
    answers = {ids[0]: {"ann": cat, "bob": cat, "cy": dog}, ids[1]: {"ann": cat, "bob": dog, "cy": dog}}
    for item, by_user in answers.items():
        for name, cls in by_user.items():
            consensus.save_blind_answer(store, item, {"class_id": cls}, kind="consensus", by=users[name])
    pairs = {(p.a, p.b): (p.items, p.agreement) for p in consensus.pair_agreements(store, pid)}
    assert pairs == {("ann", "bob"): (2, 0.5), ("ann", "cy"): (2, 0.0), ("bob", "cy"): (2, 0.5)}
    fig = consensus.project_agreement(store, pid)
    assert fig.items == 2 and fig.mean_item_agreement == pytest.approx(1 / 3) and fig.mean_matched_iou is None
    # alpha by hand: values (c,c,d), (c,d,d): n = 6, o_cd = o_dc = 2 (1/2 per ordered pair, 4 per unit)
    # n_c = n_d = 3: alpha = 1 - 5 * 4 / (36 - 18) = -1/9
    assert fig.alpha == pytest.approx(-1 / 9)


def test_the_sql_hash_picks_what_python_picks(store: Store) -> None:
    ids = [*range(1, 3000), 2**32 - 1, 2**32, 2**32 + 17, 3 * 2**40 + 5, 2**62 + 1]
    cut = consensus._cut(0.3)
    got = {
        r[0]
        for r in store.query(
            f"SELECT id FROM (SELECT unnest(?::BIGINT[]) AS id) WHERE {consensus._hash_sql('id')}", [ids, cut]
        )
    }
    assert got == {i for i in ids if consensus.is_consensus_id(i, 0.3)}
    assert 800 <= len(got) <= 1000


def test_an_answer_to_an_image_that_is_not_blind_is_refused(store: Store) -> None:
    pid, ids, users, cat, dog = _team(store, n=2, consensus_share=0.0, gold_share=0)
    with pytest.raises(ValidationError, match="not a consensus image"):
        consensus.save_blind_answer(store, ids[0], {"class_id": cat}, kind="consensus", by=users["ann"])
    with pytest.raises(ValidationError, match="not a gold image"):
        consensus.save_blind_answer(store, ids[0], {"class_id": cat}, kind="gold", by=users["ann"])
    with pytest.raises(ValidationError):  # a class that is not the project's
        consensus.save_blind_answer(store, ids[0], {"class_id": 999}, kind="gold", by=users["ann"])
    assert not consensus.answers_of(store, ids[0])


def test_answers_given_at_the_same_moment_settle_each_image_once(store: Store) -> None:
    import threading

    pid, ids, users, cat, dog = _team(store, n=6, consensus_share=1.0, consensus_k=2, gold_share=0)
    errors: list[BaseException] = []
    for item in ids:
        gate = threading.Barrier(3)  # two answers, one for the same person twice

        def answer(name: str, gate: threading.Barrier = gate, item: int = item) -> None:
            gate.wait()
            try:
                consensus.save_blind_answer(store, item, {"class_id": cat}, kind="consensus", by=users[name])
            except BaseException as exc:  # Ann's second answer, and anything unexpected
                errors.append(exc)

        threads = [threading.Thread(target=answer, args=(n,)) for n in ("ann", "bob", "ann")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    # Ann's second answer is refused: before Bob's (she answered) or after it (the image is settled)
    assert len(errors) == len(ids), errors
    assert all(isinstance(e, ValidationError) and ("already" in str(e)) for e in errors), errors
    for item in ids:
        st = consensus.state_of(store, item)
        assert st is not None and (st.answers, st.state, st.agreement) == (2, "merged", 1.0)
        ann = current_annotation(store, item)
        assert ann is not None and ann.author == "consensus" and ann.version == 1
