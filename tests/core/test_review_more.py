"""Review transitions beyond the plain path: a verdict changed without a new version, a verdict on a version
some other path saved (a class reassigned), an admin who is no member, a removed item, an archived project."""

from __future__ import annotations

import pytest

from core import auth
from core.domain import NotFound, Role, TaskType
from core.permissions import SYSTEM, Forbidden, ProjectRole
from core.quality import review
from core.store import Store, labels
from core.store.items import NewItem, add_items
from core.store.projects import add_member, create_project, list_classes


@pytest.fixture
def labeled(store: Store):
    p = create_project(store, "Pets", TaskType.MULTICLASS, ["cat", "dog", "bird"], by=SYSTEM)
    cat, dog, bird = (c.id for c in list_classes(store, p.id))
    add_items(store, p.id, [NewItem(f"/photos/{k}.jpg", 64, 48, f"sha{k}") for k in range(2)])
    ids = [r[0] for r in store.query("SELECT id FROM items WHERE project_id = ? ORDER BY id", [p.id])]
    lena = auth.create_user(store, "lena", "secret-123", Role.LABELER, "Lena", by=SYSTEM)
    rita = auth.create_user(store, "rita", "secret-123", Role.LABELER, "Rita", by=SYSTEM)
    add_member(store, p.id, lena.id, role=ProjectRole.LABELER, by=SYSTEM)
    add_member(store, p.id, rita.id, role=ProjectRole.REVIEWER, by=SYSTEM)
    for iid in ids:
        labels.save_label(store, iid, {"class_id": cat}, base_version=0, by=lena)
    return store, p.id, ids, (cat, dog, bird), lena, rita


def test_a_verdict_can_be_changed_on_the_same_version(labeled):
    store, pid, ids, _, lena, rita = labeled
    a = ids[0]
    review.reject(store, a, version=1, reason="blurry", by=rita)
    review.approve(store, a, version=1, by=rita)  # the reviewer changed their mind: no fix needed
    assert review.review_state(store, a) == review.APPROVED
    assert review.rejection(store, a) is None
    review.reject(store, a, version=1, reason="looked again: a dog", by=rita)  # an approval taken back
    assert review.review_state(store, a) == review.REJECTED
    assert [r.verdict for r in review.review_history(store, a)] == ["rejected", "approved", "rejected"]


def test_any_new_version_of_an_approved_item_waits_for_review_again(labeled):
    """A class reassigned (a class deleted or merged) saves new versions: the approval was of the old one."""
    store, pid, ids, (cat, dog, bird), lena, rita = labeled
    a, b = ids
    review.approve(store, a, version=1, by=rita)
    labels.reassign_class(store, pid, cat, bird, by=SYSTEM)
    assert review.review_state(store, a) == review.FIXED
    assert review.review_state(store, b) == review.AWAITING  # never reviewed: stays as it was
    with pytest.raises(review.StaleReview):
        review.approve(store, a, version=1, by=rita)
    review.approve(store, a, version=2, by=rita)
    assert review.review_state(store, a) == review.APPROVED


def test_an_admin_reviews_without_being_a_member_and_others_are_refused(labeled):
    store, pid, ids, _, lena, rita = labeled
    boss = auth.create_user(store, "boss", "secret-123", Role.ADMIN, "Boss", by=SYSTEM)
    stranger = auth.create_user(store, "sam", "secret-123", Role.LABELER, "Sam", by=SYSTEM)
    review.approve(store, ids[0], version=1, by=boss)
    assert review.review_history(store, ids[0])[0].reviewer == "boss"
    with pytest.raises(Forbidden, match="sam may not review"):
        review.approve(store, ids[1], version=1, by=stranger)


def test_a_missing_item_and_an_archived_project_are_refused_in_words(labeled):
    store, pid, ids, _, lena, rita = labeled
    with pytest.raises(NotFound, match="does not exist"):
        review.approve(store, 999_999, version=1, by=rita)
    store.write(lambda cur: cur.execute("UPDATE projects SET archived_at = now() WHERE id = ?", [pid]))
    with pytest.raises(Forbidden, match="archived"):
        review.reject(store, ids[0], version=1, reason="late", by=rita)
    assert review.review_history(store, ids[0]) == []
