"""Consensus and gold answers: blind items handed out by the queue, and their answers.

A consensus item is labeled independently by k labelers (``consensus_k``) who never see each other's
answers. Which items are consensus items is decided by a hash of the item id: an item is one when
``fib_fraction(id) < consensus_share`` (Fibonacci hashing: stable, independent of the queue order, and
spread evenly over ids), as long as it waits for a label; it is recorded in ``consensus_items`` with its k
when first handed out, and stays a consensus item from then on. The ordinary queue never hands such items
out (``queue_filter``); ``next_blind_item`` does, to labelers who have not answered them, while fewer than
k answers are in and fewer than k labelers hold them (several labelers hold one item at once, so blind
leases are kept in a lease book of their own beside the queue's).

Answers go to ``blind_answers`` (``save_blind_answer``) and never touch the item's label. Once k answers
are in, the item's agreement (``core.quality.agreement.item_agreement``) is stored; when it reaches the
project's ``agreement_threshold`` and the answers merge (``core.quality.merge``) the merged answer is
saved as the item's label by the author ``consensus`` (state ``merged``); otherwise the item waits for a
reviewer (state ``review``) and the ordinary queue still never hands it out.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import duckdb

from core import domain, permissions
from core.domain import NotFound, TaskType, User, ValidationError
from core.permissions import Action
from core.quality import agreement, consensus_reads, gold, merge
from core.quality.consensus_reads import BlindAnswer
from core.settings import ProjectSettings
from core.store.db import Store, dumps, loads

# the reads for review and the dashboard live in ``consensus_reads``; here too, where callers look
ConsensusState = consensus_reads.ConsensusState
PairAgreement = consensus_reads.PairAgreement
ProjectAgreement = consensus_reads.ProjectAgreement
answers_of = consensus_reads.answers_of
items_in_review = consensus_reads.items_in_review
pair_agreements = consensus_reads.pair_agreements
project_agreement = consensus_reads.project_agreement
state_of = consensus_reads.state_of

CONSENSUS, GOLD = "consensus", "gold"
KINDS = (CONSENSUS, GOLD)
MERGED_AUTHOR = "consensus"
_FIB, _SPAN = 2654435761, 2**32  # Knuth's multiplicative hash of an id onto 0 .. 2**32
_CANDIDATES = 256  # open consensus items looked at per call (others may hold the first ones)


def fib_fraction(item_id: int) -> float:
    """The item id hashed onto [0, 1)."""
    return ((int(item_id) * _FIB) % _SPAN) / _SPAN


def _cut(share: float) -> int:
    return int(min(1.0, max(0.0, share)) * _SPAN)


def is_consensus_id(item_id: int, share: float) -> bool:
    """Whether the share's hash rule picks ``item_id`` (before it is recorded)."""
    return (int(item_id) * _FIB) % _SPAN < _cut(share)


def _hash_sql(col: str) -> str:
    # UBIGINT: the low 32 bits times _FIB stays below 2**64 (HUGEINT arithmetic was ~50x slower)
    return f"((({col})::UBIGINT & {_SPAN - 1}) * {_FIB}) & {_SPAN - 1} < ?"


def prefs(store: Store, project_id: int) -> ProjectSettings:
    raw = store.scalar("SELECT settings FROM projects WHERE id = ?", [project_id])
    return ProjectSettings.parse(loads(raw) if raw else {})


def queue_filter(store: Store, project_id: int) -> tuple[str, list[Any]]:
    """An ``AND ...`` clause (and its parameters) that keeps consensus items out of the ordinary queue's
    read of ``items`` (column ``id``)."""
    cut = _cut(prefs(store, project_id).consensus_share)
    sql = " AND id NOT IN (SELECT item_id FROM consensus_items WHERE project_id = ?)"
    if cut <= 0:
        return sql, [project_id]
    return sql + f" AND NOT {_hash_sql('id')}", [project_id, cut]


# ---------------------------------------------------------------- the blind lease book


@dataclass
class _Book:
    leases: dict[int, dict[str, float]] = field(default_factory=dict)  # item -> user -> monotonic expiry
    by_user: dict[str, tuple[int, str]] = field(default_factory=dict)  # user -> (item, kind)
    declined: dict[str, set[int]] = field(default_factory=dict)  # user -> items they passed on (skip)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def holders(self, item_id: int, now: float) -> set[str]:
        users = self.leases.get(item_id, {})
        for u in [u for u, exp in users.items() if exp < now]:
            self.drop(u)
        return set(self.leases.get(item_id, {}))

    def grant(self, item_id: int, kind: str, user: str, minutes: float, now: float) -> None:
        self.drop(user)
        self.leases.setdefault(item_id, {})[user] = now + minutes * 60
        self.by_user[user] = (item_id, kind)

    def drop(self, user: str) -> None:
        held = self.by_user.pop(user, None)
        if held is not None:
            users = self.leases.get(held[0], {})
            users.pop(user, None)
            if not users:
                self.leases.pop(held[0], None)

    def current(self, user: str, now: float) -> tuple[int, str] | None:
        held = self.by_user.get(user)
        if held is None:
            return None
        if self.leases.get(held[0], {}).get(user, 0) < now:
            self.drop(user)
            return None
        return held


def _book(store: Store, project_id: int) -> _Book:
    with store.lock:
        books: dict[int, _Book] = store.caches.setdefault("blind_leases", {})
        return books.setdefault(project_id, _Book())


def release(store: Store, project_id: int, user: str) -> None:
    """End ``user``'s blind lease (after their answer)."""
    book = _book(store, project_id)
    with book.lock:
        book.drop(user)


def decline(store: Store, item_id: int, user: str) -> None:
    """``user`` passes a blind item on (a skip): their lease ends and, in this process, they are not
    handed it again; it stays open for the others (never marked skipped for everyone)."""
    project_id = store.scalar("SELECT project_id FROM items WHERE id = ?", [item_id])
    if project_id is None:
        return
    book = _book(store, int(project_id))
    with book.lock:
        book.declined.setdefault(user, set()).add(item_id)
        if book.by_user.get(user, (None,))[0] == item_id:
            book.drop(user)


def held_kind(store: Store, project_id: int, item_id: int, user: str) -> str | None:
    """``consensus`` or ``gold`` when ``user`` answers ``item_id`` blind now, else None."""
    book = _book(store, project_id)
    with book.lock:
        held = book.current(user, time.monotonic())
    if held is not None and held[0] == item_id:
        return held[1]
    return CONSENSUS if is_open_consensus(store, project_id, item_id) else None


# ---------------------------------------------------------------- handing out


def is_open_consensus(store: Store, project_id: int, item_id: int) -> bool:
    """An item that waits for consensus answers (recorded open, or picked by the hash and unlabeled)."""
    row = store.query_one(
        "SELECT i.status, c.state FROM items i LEFT JOIN consensus_items c ON c.item_id = i.id"
        " WHERE i.id = ? AND i.project_id = ?",
        [item_id, project_id],
    )
    if row is None:
        return False
    status, state = row
    if state is not None:
        return str(state) == "open"
    return status == "new" and is_consensus_id(item_id, prefs(store, project_id).consensus_share)


def _answered(store: Store, item_id: int, user: str) -> bool:
    return bool(
        store.scalar("SELECT count(*) FROM blind_answers WHERE item_id = ? AND author = ?", [item_id, user])
    )


def _candidates(
    store: Store, project_id: int, user: str, p: ProjectSettings, exclude: Iterable[int]
) -> list[tuple[int, int, int, bool]]:
    """(item, k, answers in, recorded) of open consensus items ``user`` has not answered, begun ones first."""
    rows = store.query(
        "WITH answered AS (SELECT item_id, count(*) AS n, bool_or(author = ?) AS mine FROM blind_answers"
        "  WHERE project_id = ? AND kind = 'consensus' GROUP BY item_id)"
        " SELECT i.id, coalesce(c.k, ?) AS k, coalesce(a.n, 0) AS n, c.item_id IS NOT NULL"
        " FROM items i LEFT JOIN consensus_items c ON c.item_id = i.id LEFT JOIN answered a ON a.item_id = i.id"
        " WHERE i.project_id = ? AND i.status = 'new'"
        f"  AND (c.state = 'open' OR (c.item_id IS NULL AND {_hash_sql('i.id')}))"
        "  AND NOT coalesce(a.mine, false) AND coalesce(a.n, 0) < coalesce(c.k, ?)"
        "  AND i.id NOT IN (SELECT unnest(?))"
        " ORDER BY c.item_id IS NULL, i.queue_rank NULLS LAST, i.id LIMIT ?",
        [
            user,
            project_id,
            p.consensus_k,
            project_id,
            _cut(p.consensus_share),
            p.consensus_k,
            sorted(set(exclude)),
            _CANDIDATES,
        ],
    )
    return [(int(i), int(k), int(n), bool(r)) for i, k, n, r in rows]


def _record(store: Store, project_id: int, item_id: int, k: int) -> None:
    with contextlib.suppress(duckdb.ConstraintException):  # recorded by a concurrent first serve
        store.write(
            lambda cur: cur.execute(
                "INSERT INTO consensus_items (item_id, project_id, k) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                [item_id, project_id, k],
            )
        )


def _still_wanted(store: Store, project_id: int, item_id: int, kind: str, user: str) -> bool:
    if _answered(store, item_id, user):
        return False
    if kind == GOLD:
        return bool(store.scalar("SELECT gold FROM items WHERE id = ?", [item_id]))
    return is_open_consensus(store, project_id, item_id)


def next_blind_item(
    store: Store,
    project_id: int,
    user: str,
    *,
    lease_minutes: float = 10.0,
    exclude: Iterable[int] | None = None,
) -> tuple[int, str] | None:
    """The blind item ``user`` should answer next, leased to them, as ``(item id, kind)``; None: none
    now (the ordinary queue goes on). Their held blind item first, then a gold item on a gold turn, then
    an open consensus item."""
    skip = set(exclude or ())
    book = _book(store, project_id)
    with book.lock:
        held = book.current(user, time.monotonic())
        skip |= book.declined.get(user, set())
    if held is not None:
        if held[0] not in skip and _still_wanted(store, project_id, held[0], held[1], user):
            return held
        release(store, project_id, user)
    p = prefs(store, project_id)
    place = gold.gold_position(store, project_id, user) if p.gold_share > 0 else None
    if place is not None and gold.is_gold_turn(place, p.gold_share):
        gid = gold.pick_gold(store, project_id, user, skip)
        if gid is not None:
            with book.lock:
                book.grant(gid, GOLD, user, lease_minutes, time.monotonic())
            return gid, GOLD
    if p.consensus_share <= 0 and not store.scalar(
        "SELECT count(*) FROM consensus_items WHERE project_id = ? AND state = 'open'", [project_id]
    ):
        return None
    for item_id, k, n, recorded in _candidates(store, project_id, user, p, skip):
        with book.lock:
            now = time.monotonic()
            others = book.holders(item_id, now) - {user}
            if n + len(others) >= k:
                continue
            book.grant(item_id, CONSENSUS, user, lease_minutes, now)
        if not recorded:
            _record(store, project_id, item_id, k)
        return item_id, CONSENSUS
    return None


# ---------------------------------------------------------------- answers


def _task(store: Store, project_id: int) -> TaskType:
    return TaskType(store.scalar("SELECT task_type FROM projects WHERE id = ?", [project_id]))


def save_blind_answer(
    store: Store,
    item_id: int,
    payload: dict[str, Any],
    *,
    kind: str,
    by: User,
    duration_ms: int | None = None,
) -> BlindAnswer:
    """Store ``by``'s blind answer to ``item_id`` (the item's label is not touched). Raises
    ``ValidationError`` for a bad payload, an item that is not (or no longer) blind, or a second answer.

    Gold: the answer's score against the gold label is stored with it. Consensus: the k-th answer settles
    the item (agreement stored; merged label saved or the item sent to review)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    row = store.query_one("SELECT project_id, width, height FROM items WHERE id = ?", [item_id])
    if row is None:
        raise NotFound(f"Item {item_id} does not exist (it may have been removed).")
    project_id, width, height = row
    permissions.require(store, by, Action.LABEL, project_id)
    task = _task(store, project_id)
    class_ids = [r[0] for r in store.query("SELECT id FROM label_classes WHERE project_id = ?", [project_id])]
    clean = domain.validate_payload(task, payload, width, height, class_ids)
    p = prefs(store, project_id)

    def tx(cur: duckdb.DuckDBPyConnection) -> tuple[BlindAnswer, list[dict[str, Any]]]:
        score: float | None = None
        k: int | None = None
        if kind == GOLD:
            g = cur.execute(
                "SELECT a.payload FROM items i JOIN annotations a ON a.id = i.annotation_id WHERE i.id = ? AND i.gold",
                [item_id],
            ).fetchone()
            if g is None:
                raise ValidationError(f"Image {item_id} is not a gold image (any more).")
            cur.execute("UPDATE items SET gold = gold WHERE id = ?", [item_id])  # one answer at a time
            score = agreement.pair_agreement(task, clean, loads(g[0]))
        else:
            c = cur.execute("SELECT k, state FROM consensus_items WHERE item_id = ?", [item_id]).fetchone()
            if c is None:
                status = cur.execute("SELECT status FROM items WHERE id = ?", [item_id]).fetchone()
                if not (status and status[0] == "new" and is_consensus_id(item_id, p.consensus_share)):
                    raise ValidationError(f"Image {item_id} is not a consensus image.")
                cur.execute(
                    "INSERT INTO consensus_items (item_id, project_id, k) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                    [item_id, project_id, p.consensus_k],
                )
                c = cur.execute(
                    "SELECT k, state FROM consensus_items WHERE item_id = ?", [item_id]
                ).fetchone()
                assert c is not None
            k, state = int(c[0]), str(c[1])
            # a write to the item's row first: two k-th answers at once conflict and one is retried
            cur.execute("UPDATE consensus_items SET state = state WHERE item_id = ?", [item_id])
            if state != "open":
                raise ValidationError(f"Image {item_id} already has all its answers.")
        if cur.execute(
            "SELECT count(*) FROM blind_answers WHERE item_id = ? AND author = ?", [item_id, by.username]
        ).fetchone()[0]:  # type: ignore[index]
            raise ValidationError(f"You already answered image {item_id}; each person answers it once.")
        new_id = cur.execute("SELECT nextval('seq_answers')").fetchone()[0]  # type: ignore[index]
        cur.execute(
            "INSERT INTO blind_answers (id, project_id, item_id, author, kind, payload, class_ids, duration_ms, score)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                new_id,
                project_id,
                item_id,
                by.username,
                kind,
                dumps(clean),
                domain.payload_class_ids(task, clean),
                duration_ms,
                score,
            ],
        )
        answers: list[dict[str, Any]] = []
        if kind == CONSENSUS:
            answers = [
                loads(r[0])
                for r in cur.execute(
                    "SELECT payload FROM blind_answers WHERE item_id = ? AND kind = 'consensus' ORDER BY id",
                    [item_id],
                ).fetchall()
            ]
            if len(answers) >= (k or 0):
                value = agreement.item_agreement(task, answers)
                merged = merge.merge(task, answers)
                settled = (
                    "merged" if merged is not None and (value or 0) >= p.agreement_threshold else "review"
                )
                cur.execute(
                    "UPDATE consensus_items SET agreement = ?, state = ? WHERE item_id = ?",
                    [value, settled, item_id],
                )
                if settled != "merged":
                    answers = []
            else:
                answers = []
        return BlindAnswer(int(new_id), item_id, by.username, kind, clean, score), answers

    for attempt in range(3):
        try:
            saved, answers = store.write(tx)
            break
        except duckdb.ConstraintException:  # two first answers recorded the item at once: read it again
            if attempt == 2:
                raise
    release(store, project_id, by.username)
    if answers:
        _save_merged(store, item_id, task, answers)
    return saved


def _save_merged(store: Store, item_id: int, task: TaskType, answers: list[dict[str, Any]]) -> None:
    from core.store import labels  # here: core.store.labels -> queue -> this module

    merged = merge.merge(task, answers)
    version = store.scalar("SELECT version FROM items WHERE id = ?", [item_id])
    if merged is None or version is None:
        return
    labels.save_label(
        store, item_id, merged, by=permissions.SYSTEM, author=MERGED_AUTHOR, base_version=int(version)
    )
