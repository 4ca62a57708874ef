"""Per labeler (and per day, and for the whole team): how much, how fast, and how well they label.

Everything is answered by a few grouped SQL queries (``GROUPING SETS``), never a Python loop over the
annotations, so it stays fast at 500,000 items. The figures and exactly what they count:

**Saves** (``saves``): the labeler's annotation versions in the project with ``source`` human or
prelabel, where ``author`` is the labeler. A prelabel save by a person is a model proposal the labeler
accepted (``ui.labeling.actions.accept_proposal``); it is their work and is counted (``accepted`` says how
many). Imported labels (``source`` import) and the assistant's own auto-accepted labels (author
``annota:auto-accept``) and the merged answers of consensus items (author ``consensus``) are no one's work
and are left out. A save that edits an item again counts again;
``items`` is the number of distinct items saved (all time only: per day it is None).

**Time per save** ``t``, from the labeler's saves in this project in order of ``created_at``:

1. ``duration_ms`` present (> 0): the time the image was open in the labeling screen (a cluster page's
   time is shared out over its images), capped at the break threshold ``break_s`` (default 300 s);
2. otherwise the gap since the labeler's previous save, when that gap is at most ``break_s``;
3. otherwise (the first save, or the first after a break, without a duration) the time is unknown.

**Active time** (``active_s``) is the sum of ``t``, where each unknown ``t`` is credited with the
labeler's median known ``t`` over all their saves in the project (0 when none is known): a break longer
than ``break_s`` never counts, and the save that ends it counts as a typical save. Gaps span saves in
other projects (a labeler who switches projects between two saves has the switch counted, up to
``break_s``). Consensus and gold answers and skips are not saves and take no active time here.

**Throughput** = saves per hour of active time. **Median time per save** (``median_s``) is the median of
the known ``t`` (``timed`` says how many were known).

**Rejection rate** = rejected / reviewed, over the labeler's versions that have a verdict: each
(item, version) in ``reviews`` counts once, by its latest verdict, and belongs to the author of that
annotation version (on the day that version was saved).

**Agreement**: the mean, over every pair (the labeler's consensus answer, another labeler's consensus
answer to the same item), of the pair's agreement, as ``core.quality.agreement.pair_agreement`` defines
it: exact class match for multi-class, Jaccard of the class sets for multi-label (both computed here in
SQL from the payloads, the same definitions), F1 of the shapes matched at IoU >= 0.5 for boxes and
polygons (computed by ``pair_agreement`` per pair, in Python: consensus answers are a small sample).
On the day of the labeler's answer.

**Gold accuracy**: the mean ``blind_answers.score`` of the labeler's gold answers (the gold helper scores
each answer 0..1 against the gold label); answers not scored yet are left out.

Days are UTC days (``created_at`` is stored in UTC); a save's time belongs to the day of the save.

**Review queue**: items with a current label (status labeled or reviewed) whose ``review_state`` is none
or ``fixed`` (the same rule as ``core.store.items``'s "awaiting" filter), per ``items.labeled_by``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from core import permissions
from core.domain import Role, TaskType, User
from core.permissions import Action
from core.store.db import Store

BREAK_S = 300.0  # a gap between two saves longer than this is a break
AUTO_ACCEPT_AUTHOR = "annota:auto-accept"  # as core.assist.classify_jobs writes it
MERGED_AUTHOR = "consensus"  # a consensus item's merged label (core.quality.consensus.MERGED_AUTHOR)
NOT_PEOPLE = (AUTO_ACCEPT_AUTHOR, MERGED_AUTHOR)


@dataclass(frozen=True)
class Figures:
    """One labeler's figures (``labeler`` None: the whole team) for one day (``day`` None: all time)."""

    labeler: str | None
    day: date | None
    saves: int = 0
    items: int | None = 0  # distinct items saved; None per day (not counted per day: it is costly)
    accepted: int = 0  # of the saves, model proposals accepted as they were
    active_s: float = 0.0
    median_s: float | None = None
    timed: int = 0  # saves whose time is known (the median's sample)
    reviewed: int = 0  # versions with a verdict
    rejected: int = 0
    agreement: float | None = None
    agreement_pairs: int = 0
    gold_accuracy: float | None = None
    gold_answers: int = 0

    @property
    def throughput(self) -> float | None:
        """Saves per hour of active time (None without active time)."""
        return self.saves * 3600.0 / self.active_s if self.active_s > 0 else None

    @property
    def rejection_rate(self) -> float | None:
        return self.rejected / self.reviewed if self.reviewed else None


@dataclass(frozen=True)
class LabelerStats:
    labelers: list[Figures]  # all time, one per labeler, most saves first
    per_day: list[Figures]  # per labeler and day, by day then labeler
    team: Figures  # all time, everyone together (only the one labeler when filtered)
    team_per_day: list[Figures]
    awaiting_review: dict[str, int] = field(default_factory=dict)  # per labeler (items.labeled_by)
    review_queue: int = 0  # items awaiting review in the whole project
    break_s: float = BREAK_S
    agreement_measure: str = ""

    def labeler(self, name: str) -> Figures | None:
        return next((f for f in self.labelers if f.labeler == name), None)


_Key = tuple[str | None, date | None]
_GROUPS = (
    "GROUPING SETS ((author, day), (author), (day), ()) HAVING count(*) > 0"  # () gives a row on no rows
)


def _key(row: tuple[Any, ...]) -> _Key:
    """(author, day) of a grouped row whose last two columns are grouping(author), grouping(day)."""
    return (None if row[-2] else row[0], None if row[-1] else row[1])


def _author_filter(labeler: str | None, column: str = "author") -> tuple[str, list[Any]]:
    return (f" AND {column} = ?", [labeler]) if labeler is not None else ("", [])


def _saves(store: Store, project_id: int, labeler: str | None, break_s: float) -> dict[_Key, dict[str, Any]]:
    cond, extra = _author_filter(labeler)
    cap_ms = int(break_s * 1000)
    aggs = (
        "count(*), count(DISTINCT item_id), count(*) FILTER (WHERE source = 'prelabel'), sum(known_ms),"
        " median(known_ms), count(known_ms)"
    )
    day_aggs = aggs.replace("count(DISTINCT item_id)", "NULL")  # a quarter of the query's time at 500k
    # one materialized pass (the window), then four plain groupings: at 500,000 saves this is several
    # times faster than GROUPING SETS with the holistic median and count(DISTINCT)
    rows = store.query(
        f"""
        WITH t AS MATERIALIZED (
            SELECT author, item_id, source, day,
                   CASE WHEN duration_ms > 0 THEN least(duration_ms, ?) WHEN gap_ms <= ? THEN gap_ms END AS known_ms
            FROM (
                SELECT author, item_id, source, duration_ms, CAST(created_at AS DATE) AS day,
                       date_diff('millisecond',
                                 lag(created_at) OVER (PARTITION BY author ORDER BY created_at, id),
                                 created_at) AS gap_ms
                FROM annotations
                WHERE project_id = ? AND source IN ('human', 'prelabel') AND author NOT IN (?, ?){cond}
            )
        )
        SELECT author, day, {day_aggs} FROM t GROUP BY author, day
        UNION ALL SELECT author, NULL, {aggs} FROM t GROUP BY author
        UNION ALL SELECT NULL, day, {day_aggs} FROM t GROUP BY day
        UNION ALL SELECT NULL, NULL, {aggs} FROM t HAVING count(*) > 0
        """,
        [cap_ms, cap_ms, project_id, *NOT_PEOPLE, *extra],
    )
    # an unknown time counts as the labeler's median known time (0 when none is known)
    median_ms = {r[0]: float(r[6] or 0) for r in rows if r[0] is not None and r[1] is None}
    unknown_ms: dict[date, float] = defaultdict(float)  # per day, over the labelers
    for r in rows:
        if r[0] is not None and r[1] is not None:
            unknown_ms[r[1]] += (r[2] - r[7]) * median_ms[r[0]]
    out = {}
    for r in rows:
        who, day = r[0], r[1]
        if who is not None:
            credit = (r[2] - r[7]) * median_ms[who]
        elif day is not None:
            credit = unknown_ms[day]
        else:
            credit = sum(unknown_ms.values())
        out[who, day] = {
            "saves": int(r[2]),
            "items": None if r[3] is None else int(r[3]),
            "accepted": int(r[4]),
            "active_s": (float(r[5] or 0) + credit) / 1000.0,
            "median_s": None if r[6] is None else float(r[6]) / 1000.0,
            "timed": int(r[7]),
        }
    return out


def _reviews(store: Store, project_id: int, labeler: str | None) -> dict[_Key, dict[str, Any]]:
    cond, extra = _author_filter(labeler, "a.author")
    rows = store.query(
        f"""
        WITH v AS (
            SELECT item_id, version, arg_max(verdict, id) AS verdict
            FROM reviews WHERE project_id = ? GROUP BY item_id, version
        ), r AS (
            SELECT a.author AS author, CAST(a.created_at AS DATE) AS day, v.verdict
            FROM v JOIN annotations a ON a.item_id = v.item_id AND a.version = v.version
            WHERE a.project_id = ? AND a.source IN ('human', 'prelabel') AND a.author NOT IN (?, ?){cond}
        )
        SELECT author, day, count(*), count(*) FILTER (WHERE verdict = 'rejected'), grouping(author), grouping(day)
        FROM r GROUP BY {_GROUPS}
        """,
        [project_id, project_id, *NOT_PEOPLE, *extra],
    )
    return {_key(r): {"reviewed": int(r[2]), "rejected": int(r[3])} for r in rows}


def _gold(store: Store, project_id: int, labeler: str | None) -> dict[_Key, dict[str, Any]]:
    cond, extra = _author_filter(labeler)
    rows = store.query(
        f"""
        SELECT author, CAST(created_at AS DATE) AS day, avg(score), count(*), grouping(author), grouping(day)
        FROM blind_answers WHERE project_id = ? AND kind = 'gold' AND score IS NOT NULL{cond}
        GROUP BY {_GROUPS}
        """,
        [project_id, *extra],
    )
    return {_key(r): {"gold_accuracy": float(r[2]), "gold_answers": int(r[3])} for r in rows}


# SQL versions of core.quality.agreement.exact_match / jaccard, on the payloads
_PAIR_SQL = {
    TaskType.MULTICLASS: "CASE WHEN a.payload->>'class_id' IS NOT NULL"
    " AND a.payload->>'class_id' = b.payload->>'class_id' THEN 1.0 ELSE 0.0 END",
    TaskType.MULTILABEL: """CASE WHEN len(list_distinct(list_concat(a.cs, b.cs))) = 0 THEN 1.0
        ELSE len(list_intersect(list_distinct(a.cs), list_distinct(b.cs)))
             / len(list_distinct(list_concat(a.cs, b.cs))) END""",
}
_MEASURE = {
    TaskType.MULTICLASS: "exact class match",
    TaskType.MULTILABEL: "class-set overlap (Jaccard)",
    TaskType.BOXES: "shape F1 at IoU 0.5",
    TaskType.POLYGONS: "shape F1 at IoU 0.5",
}
_ANSWERS = """
    SELECT id, item_id, author, created_at, payload,
           coalesce(TRY_CAST(json_extract(payload, '$.class_ids') AS INTEGER[]), []) AS cs
    FROM blind_answers WHERE project_id = ? AND kind = 'consensus'
"""


def _agreement(
    store: Store, project_id: int, task: TaskType, labeler: str | None
) -> dict[_Key, dict[str, Any]]:
    cond, extra = _author_filter(labeler, "a.author")
    pairs_from = (
        f"FROM ({_ANSWERS}) a JOIN ({_ANSWERS}) b ON b.item_id = a.item_id AND b.author <> a.author"
        f" WHERE true{cond}"
    )
    if task in _PAIR_SQL:
        rows = store.query(
            f"""
            SELECT author, day, avg(agree), count(*), grouping(author), grouping(day) FROM (
                SELECT a.author AS author, CAST(a.created_at AS DATE) AS day, {_PAIR_SQL[task]} AS agree
                {pairs_from}
            ) GROUP BY {_GROUPS}
            """,
            [project_id, project_id, *extra],
        )
        return {_key(r): {"agreement": float(r[2]), "agreement_pairs": int(r[3])} for r in rows}
    from core.quality.agreement import pair_agreement  # shapes: Hungarian matching per pair

    pairs = store.query(
        f"SELECT a.author, CAST(a.created_at AS DATE), a.payload, b.payload {pairs_from}",
        [project_id, project_id, *extra],
    )
    sums: dict[_Key, list[float]] = defaultdict(lambda: [0.0, 0])
    for author, day, pa, pb in pairs:
        score = pair_agreement(task, json.loads(pa), json.loads(pb))
        for key in ((author, day), (author, None), (None, day), (None, None)):
            sums[key][0] += score
            sums[key][1] += 1
    return {k: {"agreement": s / n, "agreement_pairs": int(n)} for k, (s, n) in sums.items()}


def _queue(store: Store, project_id: int) -> dict[str, int]:
    rows = store.query(
        "SELECT coalesce(labeled_by, ''), count(*) FROM items WHERE project_id = ? AND annotation_id IS NOT NULL"
        " AND status IN ('labeled', 'reviewed') AND coalesce(review_state, '') IN ('', 'fixed') GROUP BY 1",
        [project_id],
    )
    return {r[0]: int(r[1]) for r in rows}


def _merge(parts: Iterable[dict[_Key, dict[str, Any]]]) -> dict[_Key, Figures]:
    out: dict[_Key, Figures] = {}
    for part in parts:
        for key, values in part.items():
            out[key] = replace(out.get(key) or Figures(key[0], key[1]), **values)
    return out


def labeler_stats(
    store: Store, project_id: int, *, labeler: str | None = None, break_s: float = BREAK_S
) -> LabelerStats:
    """The figures of every labeler of the project (or only ``labeler``'s), all time and per day.

    No permission check: pages call ``stats_for`` with the signed-in user.
    """
    if break_s <= 0:
        raise ValueError("The break threshold must be a positive number of seconds.")
    task = TaskType(store.scalar("SELECT task_type FROM projects WHERE id = ?", [project_id]) or "multiclass")
    merged = _merge(
        (
            _saves(store, project_id, labeler, break_s),
            _reviews(store, project_id, labeler),
            _agreement(store, project_id, task, labeler),
            _gold(store, project_id, labeler),
        )
    )
    queue = _queue(store, project_id)
    mine = {k: v for k, v in queue.items() if k} if labeler is None else {labeler: queue.get(labeler, 0)}
    people = [f for (who, day), f in merged.items() if who is not None and day is None]
    return LabelerStats(
        labelers=sorted(people, key=lambda f: (-f.saves, f.labeler or "")),
        per_day=sorted(
            (f for (who, day), f in merged.items() if who is not None and day is not None),
            key=lambda f: (f.day or date.min, f.labeler or ""),
        ),
        team=merged.get((None, None)) or Figures(None, None),
        team_per_day=sorted(
            (f for (who, day), f in merged.items() if who is None and day is not None),
            key=lambda f: f.day or date.min,
        ),
        awaiting_review=mine,
        review_queue=sum(queue.values()),
        break_s=break_s,
        agreement_measure=_MEASURE[task],
    )


def sees_everyone(store: Store, user: User, project_id: int) -> bool:
    """Whether ``user`` sees every labeler's figures (admins, owners, reviewers: those who may review;
    an archived project still shows them theirs); a labeler sees only their own."""
    if user.role == Role.ADMIN:
        return True
    role = permissions.project_role(store, user, project_id)
    return permissions.allows(role, Action.REVIEW)


def stats_for(store: Store, user: User, project_id: int, *, break_s: float = BREAK_S) -> LabelerStats:
    """``labeler_stats`` as ``user`` may see them: everyone's, or only their own. Raises ``Forbidden``
    when the user may not open the project."""
    permissions.require(store, user, Action.VIEW, project_id)
    only = None if sees_everyone(store, user, project_id) else user.username
    return labeler_stats(store, project_id, labeler=only, break_s=break_s)
