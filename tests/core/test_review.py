"""Review: verdicts and their states, stale versions, permissions, the review queue's filters, rejected items
first in the labeler's queue, fixed after a save, and exports limited to approved items (every format)."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import date, timedelta
from pathlib import Path

import pytest

from core import auth
from core.domain import Role, TaskType, ValidationError
from core.formats.export import FORMATS, export_project
from core.permissions import SYSTEM, Forbidden, ProjectRole
from core.quality import review
from core.store import Store, labels, queue
from core.store.items import ItemFilter, NewItem, add_items, count_items, list_items
from core.store.label_batch import LabelWrite, save_labels
from core.store.projects import add_member, create_project, list_classes
from core.store.review_nav import cursor_for, step

POLY = [[10, 10], [50, 12], [40, 40]]
NAMES = ["approvedpic", "rejectedpic", "fixedpic", "unreviewedpic", "unlabeledpic"]


@pytest.fixture
def team(store: Store):
    """A polygons project (every export format carries polygons), 5 items, a labeler and a reviewer."""
    p = create_project(store, "Pets", TaskType.POLYGONS, ["cat", "dog"], by=SYSTEM)
    cat, dog = (c.id for c in list_classes(store, p.id))
    add_items(
        store,
        p.id,
        [NewItem(f"/photos/{name}.jpg", 64, 48, f"sha{k}") for k, name in enumerate(NAMES)],
    )
    ids = [r[0] for r in store.query("SELECT id FROM items WHERE project_id = ? ORDER BY id", [p.id])]
    lena = auth.create_user(store, "lena", "secret-123", Role.LABELER, "Lena", by=SYSTEM)
    rita = auth.create_user(store, "rita", "secret-123", Role.LABELER, "Rita", by=SYSTEM)
    add_member(store, p.id, lena.id, role=ProjectRole.LABELER, by=SYSTEM)
    add_member(store, p.id, rita.id, role=ProjectRole.REVIEWER, by=SYSTEM)
    return store, p.id, ids, (cat, dog), lena, rita


def _label(store: Store, item_id: int, class_id: int, author: str = "lena") -> int:
    version = store.scalar("SELECT version FROM items WHERE id = ?", [item_id])
    ann = labels.save_label(
        store,
        item_id,
        {"polygons": [{"class_id": class_id, "points": POLY}]},
        author=author,
        base_version=version,
        by=SYSTEM,
    )
    return ann.version


def test_states_and_transitions(team):
    store, pid, ids, (cat, dog), lena, rita = team
    a = ids[0]
    assert review.review_state(store, a) is None  # no label yet
    v1 = _label(store, a, cat)
    assert review.review_state(store, a) == review.AWAITING
    assert a in [i.id for i in list_items(store, pid, review.queue_filter())]
    rej = review.reject(store, a, version=v1, reason="  the tail is a dog's ", by=rita)
    assert (rej.verdict, rej.reason, rej.reviewer, rej.version) == (
        "rejected",
        "the tail is a dog's",
        "rita",
        v1,
    )
    assert review.review_state(store, a) == review.REJECTED
    assert review.rejection(store, a) == rej
    assert a not in [i.id for i in list_items(store, pid, review.queue_filter())]  # shown under "rejected"
    assert [i.id for i in list_items(store, pid, ItemFilter(review_state="rejected"))] == [a]
    v2 = _label(store, a, dog)  # the fix: a new version
    assert v2 == v1 + 1
    assert review.review_state(store, a) == review.FIXED
    assert review.rejection(store, a) is None
    assert [i.id for i in list_items(store, pid, review.queue_filter())] == [a]  # back in the queue
    review.approve(store, a, version=v2, by=rita)
    assert review.review_state(store, a) == review.APPROVED
    assert review.queue_count(store, pid) == 0
    history = review.review_history(store, a)
    assert [(h.verdict, h.version) for h in history] == [("approved", v2), ("rejected", v1)]
    rows = store.query("SELECT verdict, version, reviewer FROM reviews WHERE item_id = ? ORDER BY id", [a])
    assert rows == [("rejected", v1, "rita"), ("approved", v2, "rita")]


def test_a_stale_version_is_refused_and_nothing_is_written(team):
    store, pid, ids, (cat, dog), lena, rita = team
    a = ids[0]
    v1 = _label(store, a, cat)
    _label(store, a, dog)  # saved again after the reviewer looked at v1
    with pytest.raises(labels.StaleEdit, match="changed since you looked at it"):
        review.approve(store, a, version=v1, by=rita)
    with pytest.raises(review.StaleReview):
        review.reject(store, a, version=v1, reason="wrong", by=rita)
    assert review.review_state(store, a) == review.AWAITING
    assert review.review_history(store, a) == []


def test_a_labeler_may_not_review_and_a_reason_is_required(team):
    store, pid, ids, (cat, dog), lena, rita = team
    a = ids[0]
    v1 = _label(store, a, cat)
    with pytest.raises(Forbidden, match="lena may not review"):
        review.approve(store, a, version=v1, by=lena)
    with pytest.raises(Forbidden):
        review.reject(store, a, version=v1, reason="no", by=lena)
    with pytest.raises(ValidationError, match="Say why"):
        review.reject(store, a, version=v1, reason="   ", by=rita)
    with pytest.raises(ValidationError, match="no label yet"):
        review.approve(store, ids[1], version=0, by=rita)
    assert review.review_history(store, a) == [] and review.review_state(store, a) == review.AWAITING


def test_rejected_items_come_first_for_their_labeler_with_the_reason(team):
    store, pid, ids, (cat, dog), lena, rita = team
    a, b = ids[0], ids[1]
    va = _label(store, a, cat)
    vb = _label(store, b, cat)
    assert queue.next_item_id(store, pid, "lena") == ids[2]  # nothing rejected: the queue's next new item
    review.reject(store, b, version=vb, reason="b is a dog", by=rita)
    review.reject(store, a, version=va, reason="a is a dog", by=rita)
    assert queue.next_item_id(store, pid, "lena") == b  # rejected first, the oldest rejection first
    assert review.rejection(store, b).reason == "b is a dog"  # type: ignore[union-attr]
    assert queue.next_item_id(store, pid, "lena", exclude={b}) == a  # "Next" passes it by
    assert queue.next_item_id(store, pid, "rita") not in (a, b)  # only its labeler gets it back
    _label(store, b, dog)  # fixed
    assert queue.next_item_id(store, pid, "lena") == a
    labels.skip_item(store, a, author="lena", reason="unsure", by=SYSTEM)  # put aside: not handed out again
    assert queue.next_item_id(store, pid, "lena") not in (a, b)


def test_a_batch_save_marks_rejected_items_fixed(team):
    store, pid, ids, (cat, dog), lena, rita = team
    a, b = ids[0], ids[1]
    va = _label(store, a, cat)
    _label(store, b, cat)
    review.reject(store, a, version=va, reason="dog", by=rita)
    out = save_labels(
        store,
        pid,
        [LabelWrite(a, {"polygons": [{"class_id": dog, "points": POLY}]}, va)],
        author="import",
        by=SYSTEM,
    )
    assert out.saved == {a: va + 1}
    assert review.review_state(store, a) == review.FIXED
    assert review.review_state(store, b) == review.AWAITING  # untouched: no verdict yet


def test_queue_filters_labeler_class_disagreement_agreement_date(team):
    store, pid, ids, (cat, dog), lena, rita = team
    a, b, c = ids[0], ids[1], ids[2]
    _label(store, a, cat, "lena")
    _label(store, b, dog, "rita")
    _label(store, c, cat, "lena")
    awaiting = review.queue_filter()

    def listed(**kw):
        f = review.queue_filter(ItemFilter(**kw))
        return sorted(i.id for i in list_items(store, pid, f, limit=100))

    assert listed() == [a, b, c] and count_items(store, pid, awaiting) == 3
    assert listed(labeled_by="lena") == [a, c]
    assert listed(class_id=dog) == [b]
    # model disagreement: the newest stored prediction's classes differ from the label's
    for item, classes, t in [(a, [dog], "2026-01-01"), (a, [cat], "2026-01-02"), (b, [cat], "2026-01-01")]:
        store.write(
            lambda cur, item=item, classes=classes, t=t: cur.execute(
                "INSERT INTO predictions (item_id, project_id, payload, confidence, class_ids, created_at)"
                " VALUES (?, ?, '{}', 0.9, ?, ?)",
                [item, pid, classes, t],
            )
        )
    assert listed(disagrees=True) == [b]  # a's newest prediction agrees; c has none
    store.write(
        lambda cur: cur.execute(
            "INSERT INTO consensus_items (item_id, project_id, k, state, agreement) VALUES (?, ?, 3, 'review', 0.4),"
            " (?, ?, 3, 'merged', 0.9)",
            [a, pid, c, pid],
        )
    )
    assert listed(agreement_below=0.5) == [a]
    assert listed(agreement_below=0.95) == [a, c]
    store.write(lambda cur: cur.execute("UPDATE items SET labeled_at = '2026-03-05 10:00' WHERE id = ?", [c]))
    assert listed(labeled_from=date(2026, 3, 5), labeled_to=date(2026, 3, 5)) == [c]
    assert listed(labeled_to=date(2026, 3, 4)) == []
    assert c not in listed(labeled_from=date(2026, 3, 6))
    assert listed(labeled_from=date.today() - timedelta(days=1)) == [a, b]
    with pytest.raises(ValueError, match="review state must be one of"):
        count_items(store, pid, ItemFilter(review_state="maybe"))


def test_previous_next_follow_the_review_filters(team):
    store, pid, ids, (cat, dog), lena, rita = team
    for i in ids[:4]:
        _label(store, i, cat)
    review.approve(store, ids[1], version=1, by=rita)
    f = review.queue_filter()
    order = [i.id for i in list_items(store, pid, f)]
    assert ids[1] not in order and len(order) == 3
    cur = cursor_for(store, order[0])
    seen = [cur.item_id]
    while (cur := step(store, pid, f, cur, +1)) is not None:  # type: ignore[assignment]
        seen.append(cur.item_id)
    assert seen == order


def test_mark_gold_takes_approved_items_only(team):
    store, pid, ids, (cat, dog), lena, rita = team
    a, b = ids[0], ids[1]
    review.approve(store, a, version=_label(store, a, cat), by=rita)
    _label(store, b, cat)
    with pytest.raises(ValidationError, match=f"not approved: image\\(s\\) {b}"):
        review.mark_gold(store, [a, b], True, by=rita)
    assert not store.scalar("SELECT gold FROM items WHERE id = ?", [a])  # refused whole
    with pytest.raises(Forbidden):
        review.mark_gold(store, [a], True, by=lena)
    assert review.mark_gold(store, [a], True, by=rita) == 1
    assert store.scalar("SELECT gold FROM items WHERE id = ?", [a]) is True
    assert review.mark_gold(store, [a], False, by=rita) == 1


def _export_text(path: Path) -> str:
    """Everything an export holds as text: a zip's member names and contents, or the file."""
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as z:
            parts = []
            for name in z.namelist():
                parts.append(name)
                data = z.read(name)
                if not name.endswith(".png"):
                    parts.append(data.decode("utf-8", "replace"))
            return "\n".join(parts)
    return path.read_text(encoding="utf-8")


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_an_approved_only_export_leaves_the_others_out(team, tmp_path, fmt):
    store, pid, ids, (cat, dog), lena, rita = team
    a, b, c, d = ids[:4]  # approved, rejected, fixed (not approved again), never reviewed (and one unlabeled)
    review.approve(store, a, version=_label(store, a, cat), by=rita)
    review.reject(store, b, version=_label(store, b, cat), reason="no", by=rita)
    review.reject(store, c, version=_label(store, c, cat), reason="no", by=rita)
    _label(store, c, dog)
    _label(store, d, cat)
    out = tmp_path / f"x{FORMATS[fmt].suffix}"
    result = export_project(store, pid, fmt, out_path=out, approved_only=True, by=SYSTEM)
    assert result.images == 1 and result.as_dict()["approved_only"] is True
    text = _export_text(out)
    assert NAMES[0] in text
    for other in NAMES[1:]:
        assert other not in text, (fmt, other)
    everything = export_project(store, pid, fmt, out_path=tmp_path / f"all{FORMATS[fmt].suffix}", by=SYSTEM)
    assert everything.images == 4  # without the option: every labeled item


def test_the_cli_exports_approved_only(team, tmp_path, monkeypatch):
    from core import cli

    store, pid, ids, (cat, dog), lena, rita = team
    review.approve(store, ids[0], version=_label(store, ids[0], cat), by=rita)
    _label(store, ids[1], cat)
    monkeypatch.setenv("ANNOTA_DATA_DIR", str(Path(store.path).parent))
    monkeypatch.setenv("ANNOTA_ASSIST_SCHEDULER", "0")
    store.close()
    out = tmp_path / "out.jsonl"
    assert cli.main(["export", "Pets", "--format", "jsonl", "--out", str(out), "--approved-only"]) == 0
    rows = [json.loads(line) for line in io.StringIO(out.read_text())]
    assert len(rows) == 1 and NAMES[0] in json.dumps(rows[0])
    everything = tmp_path / "all.jsonl"
    assert cli.main(["export", "Pets", "--format", "jsonl", "--out", str(everything)]) == 0
    assert len(everything.read_text().splitlines()) == 2
