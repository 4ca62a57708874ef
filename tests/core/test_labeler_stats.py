"""Per-labeler figures (core.quality.labeler_stats) on a real DuckDB file, with hand-computed answers.

The rows are written with SQL as fixtures of migration 8's schema (annotations, reviews, blind_answers,
items.review_state), so these tests do not depend on how the review, consensus and gold code writes them.
"""

from __future__ import annotations

from datetime import date, datetime

import pytest

from core import auth
from core.domain import Role
from core.permissions import SYSTEM, Forbidden
from core.quality.labeler_stats import labeler_stats, sees_everyone, stats_for
from core.store import projects


@pytest.fixture
def pid(store) -> int:  # type: ignore[no-untyped-def]
    return projects.create_project(store, "p", "multiclass", ["cat", "dog"], by=SYSTEM).id


_ids = iter(range(1, 1_000_000))


def save(store, pid, item, author, at, *, source="human", duration_ms=None, version=1):  # type: ignore[no-untyped-def]
    """An annotation row as save_label writes it (only the columns the figures read matter)."""
    store.execute(
        "INSERT INTO annotations (id, project_id, item_id, version, author, source, payload, duration_ms, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, '{}', ?, ?)",
        [next(_ids), pid, item, version, author, source, duration_ms, datetime.fromisoformat(at)],
    )


def verdict(store, pid, item, version, verdict_, reviewer="rita"):  # type: ignore[no-untyped-def]
    store.execute(
        "INSERT INTO reviews (project_id, item_id, version, reviewer, verdict) VALUES (?, ?, ?, ?, ?)",
        [pid, item, version, reviewer, verdict_],
    )


def answer(store, pid, item, author, kind, payload="{}", score=None, at="2026-01-05 09:00:00"):  # type: ignore[no-untyped-def]
    store.execute(
        "INSERT INTO blind_answers (project_id, item_id, author, kind, payload, score, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [pid, item, author, kind, payload, score, datetime.fromisoformat(at)],
    )


def test_active_time_with_a_break_and_the_median(store, pid):  # type: ignore[no-untyped-def]
    for i, at in enumerate(["10:00:00", "10:01:00", "10:03:00", "10:20:00", "10:20:40"]):
        save(store, pid, i + 1, "ann", f"2026-01-05 {at}")
    f = labeler_stats(store, pid).labeler("ann")
    assert f is not None
    # known gaps 60, 120, 40 s (the 17 min gap is a break); the first save and the one after the break
    # are unknown and count as the median of the known ones, 60 s: 60 + 120 + 40 + 60 + 60 = 340 s
    assert f.saves == 5 and f.items == 5 and f.timed == 3
    assert f.median_s == pytest.approx(60.0)
    assert f.active_s == pytest.approx(340.0)
    assert f.throughput == pytest.approx(5 * 3600 / 340)
    # a threshold above the 17 min gap counts it: known 60, 120, 1020, 40 (median 90) + one unknown 90
    g = labeler_stats(store, pid, break_s=1200).labeler("ann")
    assert g is not None and g.timed == 4
    assert g.median_s == pytest.approx(90.0) and g.active_s == pytest.approx(60 + 120 + 1020 + 40 + 90)


def test_durations_come_first_and_are_capped(store, pid):  # type: ignore[no-untyped-def]
    save(store, pid, 1, "ann", "2026-01-05 10:00:00", duration_ms=10_000)
    save(store, pid, 2, "ann", "2026-01-05 10:30:00", duration_ms=900_000)  # a tab left open: 300 s
    save(store, pid, 3, "ann", "2026-01-05 10:30:20")  # no duration: the 20 s gap
    f = labeler_stats(store, pid).labeler("ann")
    assert f is not None and f.timed == 3
    assert f.active_s == pytest.approx(10 + 300 + 20)
    assert f.median_s == pytest.approx(20.0)


def test_a_labeler_without_any_known_time_has_no_throughput(store, pid):  # type: ignore[no-untyped-def]
    save(store, pid, 1, "ann", "2026-01-05 10:00:00")
    save(store, pid, 2, "ann", "2026-01-05 12:00:00")
    f = labeler_stats(store, pid).labeler("ann")
    assert f is not None and f.saves == 2 and f.timed == 0
    assert f.active_s == 0 and f.median_s is None and f.throughput is None


def test_whose_saves_count(store, pid):  # type: ignore[no-untyped-def]
    save(store, pid, 1, "ann", "2026-01-05 10:00:00", duration_ms=4000)
    save(store, pid, 1, "ann", "2026-01-05 10:00:30", duration_ms=6000, version=2)  # the same item again
    save(store, pid, 2, "ann", "2026-01-05 10:01:00", duration_ms=2000, source="prelabel")  # accepted
    save(store, pid, 3, "admin", "2026-01-05 10:00:10", source="import")
    save(store, pid, 4, "annota:auto-accept", "2026-01-05 10:00:20", source="prelabel")
    save(store, pid, 5, "consensus", "2026-01-05 10:00:25")  # a consensus item's merged label: no one's work
    s = labeler_stats(store, pid)
    assert [f.labeler for f in s.labelers] == ["ann"]
    ann = s.labelers[0]
    assert (ann.saves, ann.items, ann.accepted) == (3, 2, 1)
    assert ann.active_s == pytest.approx(12.0) and ann.median_s == pytest.approx(4.0)
    assert s.team.saves == 3


def test_per_day_and_team(store, pid):  # type: ignore[no-untyped-def]
    save(store, pid, 1, "ann", "2026-01-05 23:59:00", duration_ms=30_000)
    save(store, pid, 2, "ann", "2026-01-06 00:00:40")  # the 100 s gap belongs to the day it ends
    save(store, pid, 3, "bob", "2026-01-06 09:00:00", duration_ms=50_000)
    s = labeler_stats(store, pid)
    days = {(f.labeler, f.day): f for f in s.per_day}
    assert set(days) == {("ann", date(2026, 1, 5)), ("ann", date(2026, 1, 6)), ("bob", date(2026, 1, 6))}
    assert days["ann", date(2026, 1, 5)].active_s == pytest.approx(30.0)
    assert days["ann", date(2026, 1, 6)].active_s == pytest.approx(100.0)
    team_days = {f.day: f for f in s.team_per_day}
    assert team_days[date(2026, 1, 6)].saves == 2
    assert team_days[date(2026, 1, 6)].active_s == pytest.approx(150.0)
    assert s.team.saves == 3 and s.team.active_s == pytest.approx(180.0)
    assert s.team.items == 3 and days["ann", date(2026, 1, 5)].items is None  # distinct items: all time only
    assert s.team.median_s == pytest.approx(50.0)  # of 30, 100, 50
    assert [f.labeler for f in s.labelers] == ["ann", "bob"]  # most saves first


def test_rejection_rate_counts_each_version_once_by_its_latest_verdict(store, pid):  # type: ignore[no-untyped-def]
    save(store, pid, 1, "ann", "2026-01-05 10:00:00")
    save(store, pid, 2, "ann", "2026-01-05 10:01:00")
    save(store, pid, 3, "ann", "2026-01-05 10:02:00")
    save(store, pid, 2, "ann", "2026-01-06 10:00:00", version=2)  # fixed after the rejection
    save(store, pid, 5, "ann", "2026-01-06 10:01:00")  # not reviewed
    save(store, pid, 4, "bob", "2026-01-05 10:00:00")
    verdict(store, pid, 1, 1, "rejected")
    verdict(store, pid, 1, 1, "approved", reviewer="owen")  # a second look: approved in the end
    verdict(store, pid, 2, 1, "rejected")
    verdict(store, pid, 3, 1, "approved")
    verdict(store, pid, 2, 2, "approved")
    verdict(store, pid, 4, 1, "rejected")
    s = labeler_stats(store, pid)
    ann, bob = s.labeler("ann"), s.labeler("bob")
    assert ann is not None and bob is not None
    assert (ann.reviewed, ann.rejected, ann.rejection_rate) == (4, 1, 0.25)
    assert (bob.reviewed, bob.rejected, bob.rejection_rate) == (1, 1, 1.0)
    assert (s.team.reviewed, s.team.rejected) == (5, 2)
    day5 = next(f for f in s.per_day if f.labeler == "ann" and f.day == date(2026, 1, 5))
    assert (day5.reviewed, day5.rejected) == (3, 1)  # on the day the reviewed version was saved
    assert labeler_stats(store, pid).labeler("ann").rejection_rate == 0.25  # type: ignore[union-attr]


def test_no_reviews_no_rate(store, pid):  # type: ignore[no-untyped-def]
    save(store, pid, 1, "ann", "2026-01-05 10:00:00")
    f = labeler_stats(store, pid).labeler("ann")
    assert f is not None and f.reviewed == 0 and f.rejection_rate is None


def test_gold_accuracy(store, pid):  # type: ignore[no-untyped-def]
    answer(store, pid, 1, "ann", "gold", score=1.0)
    answer(store, pid, 2, "ann", "gold", score=0.5)
    answer(store, pid, 3, "ann", "gold", score=None)  # not scored yet: left out
    answer(store, pid, 1, "bob", "gold", score=0.0)
    answer(store, pid, 4, "ann", "consensus", score=0.0)  # not a gold answer
    s = labeler_stats(store, pid)
    ann, bob = s.labeler("ann"), s.labeler("bob")
    assert ann is not None and bob is not None
    assert ann.gold_accuracy == pytest.approx(0.75) and ann.gold_answers == 2
    assert bob.gold_accuracy == 0.0 and bob.gold_answers == 1
    assert s.team.gold_accuracy == pytest.approx(0.5)
    assert ann.saves == 0  # answers are not saves


def test_agreement_multiclass_exact_match(store, pid):  # type: ignore[no-untyped-def]
    cat, dog = (c.id for c in projects.list_classes(store, pid))
    answer(store, pid, 10, "ann", "consensus", f'{{"class_id": {cat}}}')
    answer(store, pid, 10, "bob", "consensus", f'{{"class_id": {cat}}}')
    answer(store, pid, 10, "cy", "consensus", f'{{"class_id": {dog}}}')
    answer(store, pid, 11, "ann", "consensus", f'{{"class_id": {dog}}}')
    answer(store, pid, 11, "bob", "consensus", f'{{"class_id": {dog}}}')
    answer(store, pid, 12, "ann", "consensus", f'{{"class_id": {dog}}}')  # nobody else answered yet
    s = labeler_stats(store, pid)
    # ann: item 10 with bob 1, with cy 0; item 11 with bob 1 -> 2/3
    assert s.labeler("ann").agreement == pytest.approx(2 / 3)  # type: ignore[union-attr]
    assert s.labeler("ann").agreement_pairs == 3  # type: ignore[union-attr]
    assert s.labeler("bob").agreement == pytest.approx(2 / 3)  # type: ignore[union-attr]
    assert s.labeler("cy").agreement == 0.0  # type: ignore[union-attr]
    assert s.team.agreement == pytest.approx(4 / 8) and s.agreement_measure == "exact class match"


def test_agreement_multilabel_jaccard(store):  # type: ignore[no-untyped-def]
    p = projects.create_project(store, "tags", "multilabel", ["a", "b", "c"], by=SYSTEM)
    a, b, _ = (c.id for c in projects.list_classes(store, p.id))
    answer(store, p.id, 1, "ann", "consensus", f'{{"class_ids": [{a}, {b}]}}')
    answer(store, p.id, 1, "bob", "consensus", f'{{"class_ids": [{a}]}}')
    answer(store, p.id, 2, "ann", "consensus", '{"class_ids": []}')
    answer(store, p.id, 2, "bob", "consensus", '{"class_ids": []}')  # both empty: they agree
    s = labeler_stats(store, p.id)
    assert s.labeler("ann").agreement == pytest.approx((0.5 + 1.0) / 2)  # type: ignore[union-attr]
    assert s.agreement_measure.startswith("class-set overlap")


def test_review_queue(store, pid):  # type: ignore[no-untyped-def]
    rows = [  # (id, status, review_state, labeled_by, has a label)
        (1, "labeled", None, "ann", True),
        (2, "labeled", "fixed", "bob", True),
        (3, "labeled", None, "ann", True),
        (4, "labeled", "approved", "ann", True),
        (5, "labeled", "rejected", "ann", True),
        (6, "new", None, None, False),
        (7, "skipped", None, None, False),
        (8, "prelabeled", None, "annota:auto-accept", True),
    ]
    for i, status, state, by, labeled in rows:
        store.execute(
            "INSERT INTO items (id, project_id, path, width, height, sha1, status, review_state, labeled_by,"
            " annotation_id) VALUES (?, ?, ?, 10, 10, ?, ?, ?, ?, ?)",
            [i, pid, f"/x/{i}.jpg", f"h{i}", status, state, by, 100 + i if labeled else None],
        )
    s = labeler_stats(store, pid)
    assert s.review_queue == 3 and s.awaiting_review == {"ann": 2, "bob": 1}
    mine = labeler_stats(store, pid, labeler="bob")
    assert mine.review_queue == 3 and mine.awaiting_review == {"bob": 1}


def test_empty_project(store, pid):  # type: ignore[no-untyped-def]
    s = labeler_stats(store, pid)
    assert s.labelers == [] and s.per_day == [] and s.team_per_day == []
    assert s.team.saves == 0 and s.team.throughput is None and s.review_queue == 0


def test_bad_break_threshold_is_refused_in_words(store, pid):  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="break threshold"):
        labeler_stats(store, pid, break_s=0)


def test_who_sees_whom(store, pid):  # type: ignore[no-untyped-def]
    lena = auth.create_user(store, "lena", "secret-123", Role.LABELER, "Lena", by=SYSTEM)
    rita = auth.create_user(store, "rita", "secret-123", Role.LABELER, "Rita", by=SYSTEM)
    olga = auth.create_user(store, "olga", "secret-123", Role.LABELER, "Olga", by=SYSTEM)
    projects.add_member(store, pid, lena.id, "labeler", by=SYSTEM)
    projects.add_member(store, pid, rita.id, "reviewer", by=SYSTEM)
    save(store, pid, 1, "lena", "2026-01-05 10:00:00", duration_ms=5000)
    save(store, pid, 2, "bob", "2026-01-05 10:00:00", duration_ms=5000)
    assert [f.labeler for f in stats_for(store, lena, pid).labelers] == ["lena"]
    assert stats_for(store, lena, pid).team.saves == 1
    assert {f.labeler for f in stats_for(store, rita, pid).labelers} == {"lena", "bob"}
    assert {f.labeler for f in stats_for(store, SYSTEM, pid).labelers} == {"lena", "bob"}
    assert not sees_everyone(store, lena, pid) and sees_everyone(store, rita, pid)
    with pytest.raises(Forbidden):
        stats_for(store, olga, pid)  # not a member
    store.execute("UPDATE projects SET archived_at = now() WHERE id = ?", [pid])  # as archiving does
    assert sees_everyone(store, rita, pid)  # an archived project still shows a reviewer everyone


def test_agreement_boxes_uses_the_shape_f1(store):  # type: ignore[no-untyped-def]
    p = projects.create_project(store, "boxes", "boxes", ["car", "bus"], by=SYSTEM)
    car = projects.list_classes(store, p.id)[0].id
    box = f'{{"boxes": [{{"class_id": {car}, "xywh": [0, 0, 10, 10]}}]}}'
    near = f'{{"boxes": [{{"class_id": {car}, "xywh": [1, 0, 10, 10]}}]}}'  # IoU 90/110 = 0.82: a match
    answer(store, p.id, 1, "ann", "consensus", box)
    answer(store, p.id, 1, "bob", "consensus", near)
    answer(store, p.id, 1, "cy", "consensus", '{"boxes": []}')  # F1 0 against one box
    s = labeler_stats(store, p.id)
    assert s.labeler("ann").agreement == pytest.approx(0.5)  # type: ignore[union-attr]
    assert s.labeler("cy").agreement == 0.0 and s.labeler("cy").agreement_pairs == 2  # type: ignore[union-attr]
    assert s.team.agreement == pytest.approx(2 / 6) and s.agreement_measure == "shape F1 at IoU 0.5"


def test_same_figures_as_the_review_gold_and_consensus_modules(store, pid):  # type: ignore[no-untyped-def]
    """The queue, gold accuracy and agreement here are computed in grouped SQL for speed; they must agree
    with the modules that own those rules (review.queue_count, gold.accuracy_by_labeler,
    consensus.pair_agreements over agreement.pair_agreement)."""
    from core.quality import consensus, gold, review

    cat, dog = (c.id for c in projects.list_classes(store, pid))
    for i, (status, state, by) in enumerate(
        [
            ("labeled", None, "ann"),
            ("labeled", "fixed", "bob"),
            ("labeled", "approved", "ann"),
            ("new", None, None),
        ]
    ):
        store.execute(
            "INSERT INTO items (id, project_id, path, width, height, sha1, status, review_state, labeled_by,"
            " annotation_id) VALUES (?, ?, ?, 10, 10, ?, ?, ?, ?, ?)",
            [i + 1, pid, f"/x/{i}.jpg", f"h{i}", status, state, by, None if by is None else 50 + i],
        )
    for item, who, cls in [(7, "ann", cat), (7, "bob", cat), (7, "cy", dog), (8, "ann", dog), (8, "cy", dog)]:
        answer(store, pid, item, who, "consensus", f'{{"class_id": {cls}}}')
    for who, score in [("ann", 1.0), ("ann", 0.25), ("bob", 0.5)]:
        answer(store, pid, 9, who, "gold", score=score)
    s = labeler_stats(store, pid)
    assert s.review_queue == review.queue_count(store, pid) == 2
    assert {g.user: (g.answers, g.accuracy) for g in gold.accuracy_by_labeler(store, pid)} == {
        f.labeler: (f.gold_answers, f.gold_accuracy) for f in s.labelers if f.gold_answers
    }
    pairs = consensus.pair_agreements(store, pid)
    for f in s.labelers:
        mine = [(p.items, p.agreement) for p in pairs if f.labeler in (p.a, p.b)]
        if mine:
            n = sum(k for k, _ in mine)
            assert f.agreement_pairs == n
            assert f.agreement == pytest.approx(sum(k * a for k, a in mine) / n)
