"""The audit sample: a small uniformly random share of the items, labeled by people, that calibration trusts.

Labels from the queue are a biased sample of the pool: uncertainty sampling picks the hard items (their
held-out precision understates the proposals'), grid pages pick easy look-alikes (it would overstate
it). The audit is the unbiased part:

* **Flag.** Every item has a fixed audit key, a seeded hash of (project, item) mapped to [0, 1); the
  item is an audit item when its key is below the audit ``rate``. The flag never depends on the model
  or on the images, so the audit items are a uniform random sample of the project's items.
* **Order.** Audit items are labeled in key order (``audit_sequence``); the queue and the grid take the
  next ones at a fixed share of places (``interleave``, ``cluster_pages``). A label given by any route
  counts (the truth is the truth), but calibration uses only the **prefix** of the sequence that is
  complete (``audit_prefix``): an audit item a grid page took early because it looked easy is used
  only once every audit item before it is labeled too, so the used set stays a uniform sample whatever
  the routes chose. A skipped audit item counts as a wrong answer for any proposal (conservative).
* **Estimate** (``calibrate_on_audit``). The audit items' probabilities come from heads that did not
  see them (cross-fitting), and the threshold is the lowest one whose lower bound on the rest's
  precision reaches the target, tested from the most confident down (``rest_bounds``: the audit
  weighted to the rest, and the pool bound). ``confidence_bin`` is the stratum an audit label is
  remembered with (the model's confidence when it was labeled, ``audit_labels``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from core.assist.calibration import (
    Calibration,
    calibrate_from_heldout,
    proposal_confidence,
    proposal_correct,
    with_choice,
)
from core.assist.clustering import ClusterPage
from core.assist.heads import HeadConfig, LabelSpace, train_head
from core.assist.rest_bounds import pool_choice, reweighted_choice, stricter
from core.assist.thresholds import (
    choose_threshold,
    min_shown_for,
)
from core.settings import DEFAULT_AUDIT_SHARE, DEFAULT_CONFIDENCE_LEVEL, GRID_AUDIT_SHARE
from core.store.db import Store

DEFAULT_RATE = 0.25  # the share of items flagged for the audit
DEFAULT_SHARE = (
    DEFAULT_AUDIT_SHARE  # the share of the labels the audit takes (setting ``assist_audit_share``)
)
BIN_EDGES = (0.5, 0.7, 0.8, 0.9, 0.95, 0.99)  # confidence strata: bin b holds [edge b-1, edge b)
AUDIT_FOLDS = 5


def audit_key(project_id: int, item_id: int) -> float:
    """The item's fixed audit key in [0, 1): a seeded hash, independent of the image and the model."""
    digest = hashlib.blake2b(f"annota-audit:{project_id}:{item_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def audit_keys(project_id: int, item_ids: Iterable[int]) -> np.ndarray:
    return np.array([audit_key(project_id, int(i)) for i in item_ids], dtype=np.float64)


def audit_flags(project_id: int, item_ids: Sequence[int], rate: float = DEFAULT_RATE) -> np.ndarray:
    """Whether each item is an audit item (key below ``rate``)."""
    return audit_keys(project_id, item_ids) < rate


def audit_sequence(project_id: int, item_ids: Sequence[int], rate: float = DEFAULT_RATE) -> np.ndarray:
    """The audit items among ``item_ids``, in the order they are to be labeled (by key)."""
    ids = np.asarray(item_ids, dtype=np.int64)
    keys = audit_keys(project_id, ids.tolist())
    sel = keys < rate
    return ids[sel][np.argsort(keys[sel], kind="stable")]


def audit_prefix(sequence: Sequence[int] | np.ndarray, answered: Iterable[int]) -> np.ndarray:
    """The longest head of ``sequence`` whose items are all answered (labeled, or skipped)."""
    done = set(int(i) for i in answered)
    seq = np.asarray(sequence, dtype=np.int64)
    for k, item in enumerate(seq.tolist()):
        if item not in done:
            return seq[:k]
    return seq


def drawn_in_turn(prefix: Sequence[int] | np.ndarray, labeled_at: dict[int, int]) -> np.ndarray:
    """The prefix items labeled once the audit reached them: at or after every item before them in the
    sequence (``labeled_at``: an increasing label order per item, e.g. its first annotation's id; an item
    with none, a skipped one, counts and moves nothing). An audit item another route labeled earlier
    (a grid page took it because it looked easy) was no longer in the rest when its turn came, so it is
    left out: what is kept is a uniform draw from the unlabeled items at each turn."""
    out: list[int] = []
    reach = -1
    for item in (int(i) for i in prefix):
        at = labeled_at.get(item)
        if at is None or at >= reach:
            out.append(item)
        if at is not None:
            reach = max(reach, at)
    return np.array(out, dtype=np.int64)


def interleave(
    order: Sequence[int],
    audit_pending: Sequence[int],
    share: float = DEFAULT_SHARE,
    *,
    done: int = 0,
    done_audit: int = 0,
) -> np.ndarray:
    """``order`` (item ids, first first) with the pending audit items (in audit order) placed so that the
    audit keeps ``share`` of all labels: of the ``done`` labels given so far ``done_audit`` were audit
    ones, and place ``j`` goes to the audit when ``floor((done + j + 1) * share)`` exceeds the audit
    labels given or placed before it (a queue ranked again every few labels keeps the share)."""
    pending = [int(i) for i in audit_pending]
    pend = set(pending)
    rest = [int(i) for i in order if int(i) not in pend]
    if share <= 0:
        return np.array(rest + pending, dtype=np.int64)
    out: list[int] = []
    a = r = 0
    while a < len(pending) or r < len(rest):
        j = len(out)
        due = int((done + j + 1) * share) > done_audit + a
        if a < len(pending) and (due or r >= len(rest)):
            out.append(pending[a])
            a += 1
        else:
            out.append(rest[r])
            r += 1
    return np.array(out, dtype=np.int64)


def confidence_bin(confidence: np.ndarray | float) -> np.ndarray:
    """The stratum of a confidence: 0 below 0.5, then one per ``BIN_EDGES`` interval."""
    return np.searchsorted(np.asarray(BIN_EDGES), np.asarray(confidence, dtype=np.float64), side="right")


# ---------------------------------------------------------------- calibration


def cross_fit_proba(
    space: LabelSpace,
    x: np.ndarray,
    y: np.ndarray,
    audit: np.ndarray,
    folds: int = AUDIT_FOLDS,
    config: HeadConfig | None = None,
    center: np.ndarray | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Probabilities of the audit rows (``audit`` a bool mask over the labeled rows), each from a head
    trained on every label but its fold of the audit rows, ``(n_audit, C)`` in row order."""
    rows = np.flatnonzero(np.asarray(audit, dtype=bool))
    out = np.full((len(rows), space.n_classes), np.nan, dtype=np.float32)
    if len(rows) == 0:
        return out
    k = max(2, min(folds, len(rows)))
    fold = np.random.default_rng(seed).permutation(len(rows)) % k
    for f in range(k):
        test = rows[fold == f]
        train = np.ones(len(x), dtype=bool)
        train[test] = False
        if not train.any():
            continue
        head = train_head(space, x[train], y[train], config, center)
        out[fold == f] = head.predict_proba(x[test])
    return out


@dataclass(frozen=True)
class PoolEvidence:
    """What the pool bound needs besides the labels: which labeled rows are in the audit's complete prefix
    (any route, in turn or not), the project's item count, and the rest's size (its confidences may be a
    sample)."""

    in_prefix: np.ndarray
    n_pool: int
    n_rest: int | None = None


@dataclass(frozen=True)
class AuditCalibration:
    """A calibration on the audit prefix and what it rests on."""

    calibration: Calibration
    n_audit: int  # audit labels used (the complete prefix)
    n_skipped: int  # of them, skipped audit items counted as wrong
    rows: np.ndarray  # the labeled rows whose cross-fitted probabilities it rests on
    proba: np.ndarray  # those probabilities, ``(len(rows), C)``


def calibrate_on_audit(
    space: LabelSpace,
    x: np.ndarray,
    y: np.ndarray,
    audit: np.ndarray,
    target: float = 0.95,
    confidence_level: float = DEFAULT_CONFIDENCE_LEVEL,
    config: HeadConfig | None = None,
    center: np.ndarray | None = None,
    n_skipped: int = 0,
    rest_confidence: np.ndarray | None = None,
    pool: PoolEvidence | None = None,
    max_coverage: float = 1.0,
) -> AuditCalibration:
    """Thresholds from the audit rows' cross-fitted probabilities (multi-label: per class and pooled claims,
    as ``calibrate_from_heldout``). ``n_skipped``: audit items of the prefix that people skipped; each
    counts as a wrong proposal above every threshold (conservative). ``rest_confidence``: the current
    head's confidences on the unlabeled items; given, the whole proposal's threshold is
    ``reweighted_choice`` (the audit weighted to the rest). ``pool`` given (with ``rest_confidence``):
    every labeled row is cross-fitted, and the threshold must also pass the pool bound
    (``rest_bounds.pool_choice``, which holds whatever route labeled the other rows): the stricter wins.
    ``max_coverage``: the most of the rest a threshold may show (both bounds test no lower)."""
    mask = np.asarray(audit, dtype=bool)
    if pool is not None and rest_confidence is not None:
        every = cross_fit_proba(space, x, y, np.ones(len(mask), dtype=bool), config=config, center=center)
        proba = every[mask]
    else:
        every = None
        proba = cross_fit_proba(space, x, y, audit, config=config, center=center)
    ya = np.asarray(y)[mask]
    held = ~np.isnan(proba).any(axis=1)
    cal = calibrate_from_heldout(space, proba[held], ya[held], target, confidence_level)
    if n_skipped > 0 or rest_confidence is not None:
        conf = np.r_[cal.heldout_confidence, np.full(n_skipped, np.inf)]
        correct = np.r_[cal.heldout_correct, np.zeros(n_skipped, dtype=bool)]
        choice = (
            choose_threshold(conf, correct, target, confidence_level)
            if rest_confidence is None
            else reweighted_choice(
                conf, correct, rest_confidence, target, confidence_level, max_coverage=max_coverage
            )
        )
        cal = with_choice(cal, choice, proba[held], ya[held], conf, correct)
    if every is not None and pool is not None and rest_confidence is not None:
        ok_rows = ~np.isnan(every).any(axis=1)
        classes, conf_all = proposal_confidence(space, every[ok_rows])
        correct_all = proposal_correct(space, classes, np.asarray(y)[ok_rows])
        by_pool = pool_choice(
            conf_all, correct_all, np.asarray(pool.in_prefix, dtype=bool)[ok_rows], n_skipped, pool.n_pool,
            rest_confidence, pool.n_rest, target, confidence_level, max_coverage,
        )  # fmt: skip
        cal = with_choice(cal, stricter(cal.choice, by_pool), proba[held], ya[held])
    rows = np.flatnonzero(mask)[held]
    return AuditCalibration(cal, int(held.sum()) + n_skipped, n_skipped, rows, proba[held])


def enough_audit(n_audit: int, target: float, confidence_level: float) -> bool:
    """Whether an audit prefix can certify anything at all (all correct)."""
    return n_audit >= min_shown_for(target, confidence_level)


def most_sure(
    confidence: np.ndarray, correct: np.ndarray, target: float, confidence_level: float
) -> list[int]:
    """``[n, right]``: of the audit answers the model is most sure of, as many as the smallest set that
    could certify ``target`` (``min_shown_for``; fewer where the audit holds fewer), how many its proposal
    got right (a skipped audit image counts as sure and wrong, as the bounds count it). Every threshold
    the weighted bound tests shows at least these, so one wrong here is what holds proposals back early
    on: the figure the Assist page gives when the audit certifies nothing."""
    conf = np.asarray(confidence, dtype=np.float64)
    ok = np.asarray(correct, dtype=bool)
    top = np.argsort(-conf, kind="stable")[: min_shown_for(target, confidence_level)]
    return [len(top), int(ok[top].sum())]


# ---------------------------------------------------------------- the project's audit, from the store

AUTO_ACCEPT_AUTHOR = "annota:auto-accept"  # as core.assist.classify_jobs writes it: not a person's answer


@dataclass(frozen=True)
class AuditState:
    """Where a project's audit stands."""

    sequence: np.ndarray  # the audit items, in audit order
    prefix: np.ndarray  # the complete prefix: every item answered (labeled by a person, or skipped)
    skipped: np.ndarray  # the prefix items that were skipped (no label: counted wrong)
    pending: list[int]  # audit items not answered yet, in audit order
    n_labels: int  # the project's items labeled by a person
    n_audit_labeled: int  # audit items labeled by a person (any place in the sequence)
    drawn: np.ndarray = field(
        default_factory=lambda: np.zeros(0, dtype=np.int64)
    )  # prefix items labeled in their turn
    n_items: int = 0  # the project's items: the population the audit keys are drawn over


def _sequence(store: Store, project_id: int, rate: float) -> np.ndarray:
    """The project's audit sequence, cached while its items do not change."""
    n, top = store.query_one("SELECT count(*), max(id) FROM items WHERE project_id = ?", [project_id]) or (
        0,
        0,
    )
    key = f"audit_sequence:{project_id}:{n}:{top}:{rate}"
    with store.lock:
        hit = store.caches.get(key)
    if hit is not None:
        return np.asarray(hit)
    ids = [int(r[0]) for r in store.query("SELECT id FROM items WHERE project_id = ?", [project_id])]
    seq = audit_sequence(project_id, ids, rate)
    with store.lock:
        store.caches[key] = seq
    return seq


def audit_state(store: Store, project_id: int, rate: float = DEFAULT_RATE) -> AuditState:
    seq = _sequence(store, project_id, rate)
    # columns, not rows: a grid page reads this at every page, and at 500,000 items a quarter million
    # Python tuples and sets cost about half a second; numpy's set tests give the same answer in a few ms
    got = store.query_columns(
        "SELECT i.id, i.status = 'skipped' AS skipped FROM items i LEFT JOIN annotations a"
        " ON a.id = i.annotation_id WHERE i.project_id = ? AND (i.status = 'skipped'"
        " OR (i.status IN ('labeled', 'reviewed') AND coalesce(a.author, '') <> ?))",
        [project_id, AUTO_ACCEPT_AUTHOR],
    )
    ids = np.asarray(got["id"], dtype=np.int64)
    is_skipped = np.asarray(got["skipped"], dtype=bool)
    labeled, skipped = ids[~is_skipped], ids[is_skipped]
    seq = np.asarray(seq, dtype=np.int64)
    answered = np.isin(seq, ids)  # labeled by a person, or skipped
    first_open = int(np.argmin(answered)) if len(seq) and not answered.all() else len(seq)
    prefix = seq[:first_open]
    done = prefix[~np.isin(prefix, skipped)]
    order = (
        {
            int(r[0]): int(r[1])
            for r in store.query(
                "SELECT item_id, min(id) FROM annotations WHERE item_id IN (SELECT unnest(?)) AND author <> ?"
                " GROUP BY item_id",
                [done.tolist(), AUTO_ACCEPT_AUTHOR],
            )
        }
        if len(done)
        else {}
    )
    return AuditState(
        sequence=seq,
        prefix=prefix,
        skipped=prefix[np.isin(prefix, skipped)],
        pending=seq[~answered].tolist(),
        n_labels=len(labeled),
        n_audit_labeled=int(np.isin(seq, labeled).sum()),
        drawn=drawn_in_turn(prefix, order),
        n_items=int(store.scalar("SELECT count(*) FROM items WHERE project_id = ?", [project_id]) or 0),
    )


def due_tiles(
    state: AuditState, page_size: int, available: set[int], share: float = GRID_AUDIT_SHARE
) -> list[int]:
    """The audit items a new grid page of ``page_size`` carries so the complete audit prefix keeps up with
    ``share`` of the labels: the next pending ones (in audit order) among ``available`` (unlabeled, nobody
    else holds them). Audit items other pages took by chance do not count until the prefix reaches them."""
    due = int((state.n_labels + page_size) * share) - len(state.prefix)
    if due <= 0:
        return []
    return [i for i in state.pending if i in available][: min(due, page_size)]


def record_audit_labels(store: Store, project_id: int, prefix: Sequence[int]) -> int:
    """Remember the prefix's audit items not yet remembered, with the confidence of the proposal stored for
    each before its label (the ``predictions`` row of the latest inference that saw it unlabeled) and its
    bin; returns how many were added."""
    if not len(prefix):
        return 0
    known = {
        int(r[0]) for r in store.query("SELECT item_id FROM audit_labels WHERE project_id = ?", [project_id])
    }
    new = [int(i) for i in prefix if int(i) not in known]
    if not new:
        return 0
    conf = {
        int(r[0]): (None if r[1] is None else int(r[1]), float(r[2]))
        for r in store.query(
            "SELECT item_id, run_id, confidence FROM predictions WHERE item_id IN (SELECT unnest(?))", [new]
        )
    }
    rows = []
    for i in new:
        run, c = conf.get(i, (None, None))
        rows.append((i, project_id, run, c, None if c is None else int(confidence_bin(c))))

    def tx(cur: Any) -> None:
        cur.executemany(
            "INSERT INTO audit_labels (item_id, project_id, run_id, confidence, bin) VALUES (?, ?, ?, ?, ?)",
            rows,
        )

    store.write(tx)
    return len(rows)


def with_tiles(pages: list[ClusterPage], tiles: Sequence[int], page_size: int) -> list[ClusterPage]:
    """Grid pages with the audit's ``tiles`` in place of their last tiles (the labeler gives each its own
    class if it is an odd one out); a page left too short is dropped."""
    if not tiles:
        return pages
    mine = set(int(t) for t in tiles)
    out = []
    for page in pages:
        kept = [i for i in page.item_ids if int(i) not in mine][: page_size - len(mine)]
        if len(kept) + len(mine) == page_size:
            out.append(replace(page, item_ids=tuple(kept) + tuple(int(t) for t in tiles)))
    return out
