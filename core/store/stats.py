"""The counts a dashboard needs, answered from columns (never by parsing every label's JSON)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from core.store.db import Store
from core.store.items import status_counts


@dataclass(frozen=True)
class ProjectStats:
    total: int
    by_status: dict[str, int]
    by_class: dict[int, int]  # objects (boxes, polygons) or images (classification) per class
    images_by_class: dict[int, int]
    by_labeler: dict[str, int]  # items whose current label is theirs
    per_day: list[tuple[date, str, int]]  # (day, source, saves)

    @property
    def labeled(self) -> int:
        return self.by_status.get("labeled", 0) + self.by_status.get("reviewed", 0)

    @property
    def skipped(self) -> int:
        return self.by_status.get("skipped", 0)

    @property
    def remaining(self) -> int:
        return self.total - self.labeled - self.skipped

    @property
    def progress(self) -> float:
        return self.labeled / self.total if self.total else 0.0


def class_counts(store: Store, project_id: int) -> tuple[dict[int, int], dict[int, int]]:
    rows = store.query(
        "SELECT c, count(*), count(DISTINCT id) FROM (SELECT id, unnest(class_ids) AS c FROM items"
        " WHERE project_id = ? AND class_ids IS NOT NULL) GROUP BY c",
        [project_id],
    )
    return {int(r[0]): int(r[1]) for r in rows}, {int(r[0]): int(r[2]) for r in rows}


def labeler_counts(store: Store, project_id: int) -> dict[str, int]:
    rows = store.query(
        "SELECT labeled_by, count(*) FROM items WHERE project_id = ? AND labeled_by IS NOT NULL GROUP BY 1 ORDER BY 2 DESC",
        [project_id],
    )
    return {r[0]: int(r[1]) for r in rows}


def saves_per_day(store: Store, project_id: int) -> list[tuple[date, str, int]]:
    rows = store.query(
        "SELECT CAST(created_at AS DATE) AS d, source, count(*) FROM annotations WHERE project_id = ?"
        " GROUP BY ALL ORDER BY d, source",
        [project_id],
    )
    return [(r[0], r[1], int(r[2])) for r in rows]


def project_stats(store: Store, project_id: int) -> ProjectStats:
    by_status = status_counts(store, project_id)
    by_class, images_by_class = class_counts(store, project_id)
    return ProjectStats(
        total=sum(by_status.values()),
        by_status=by_status,
        by_class=by_class,
        images_by_class=images_by_class,
        by_labeler=labeler_counts(store, project_id),
        per_day=saves_per_day(store, project_id),
    )


def all_project_progress(store: Store) -> dict[int, tuple[int, int, int]]:
    """(total, labeled, skipped) per project, for the project list."""
    rows = store.query(
        "SELECT project_id, count(*), count(*) FILTER (WHERE status IN ('labeled', 'reviewed')),"
        " count(*) FILTER (WHERE status = 'skipped') FROM items GROUP BY project_id"
    )
    return {int(r[0]): (int(r[1]), int(r[2]), int(r[3])) for r in rows}
