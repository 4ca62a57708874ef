"""Property tests: random boxes and polygons inside random image sizes survive every format."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from formats_check import FORMATS, assert_same_payload, roundtrip
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import domain
from core.domain import TaskType
from core.formats.records import CategorySet, ExportRecord

CATS = CategorySet.of([(4, "a"), (9, "b"), (2, "c")])
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def image(draw: st.DrawFn, task: TaskType) -> ExportRecord:
    w = draw(st.integers(1, 8000))
    h = draw(st.integers(1, 8000))
    coord = st.floats(0, 1, allow_nan=False)
    objs: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(0, 4))):
        cid = draw(st.sampled_from(CATS.ids))
        if task is TaskType.BOXES:
            x1, x2 = sorted(draw(st.tuples(coord, coord)))
            y1, y2 = sorted(draw(st.tuples(coord, coord)))
            objs.append(
                {
                    "class_id": cid,
                    "xywh": [x1 * w, y1 * h, max((x2 - x1) * w, 0.02), max((y2 - y1) * h, 0.02)],
                }
            )
        else:
            n = draw(st.integers(3, 12))
            objs.append({"class_id": cid, "points": [[draw(coord) * w, draw(coord) * h] for _ in range(n)]})
    key = "boxes" if task is TaskType.BOXES else "polygons"
    try:  # the store only ever holds validated (rounded, clipped) payloads
        payload = domain.validate_payload(task, {key: objs}, w, h, CATS.ids)
    except domain.ValidationError:
        payload = {key: []}  # a degenerate draw (zero-area polygon): an empty label
    name = draw(st.from_regex(r"[a-zA-Z0-9_-]{1,12}", fullmatch=True))
    return ExportRecord(f"{name}.jpg", w, h, payload, path=f"/x/{name}.jpg")


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("task", [TaskType.BOXES, TaskType.POLYGONS])
def test_random_geometry_roundtrips(fmt: str, task: TaskType) -> None:
    @SETTINGS
    @given(st.lists(image(task), min_size=1, max_size=4, unique_by=lambda r: r.file_name.lower()))
    def check(records: list[ExportRecord]) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            ds = roundtrip(fmt, Path(tmp), task, CATS, records)
            assert ds.issues == []
            got = ds.by_file_name()
            for rec in records:
                back = got[rec.file_name]
                assert (back.width, back.height) == (rec.width, rec.height)
                assert_same_payload(fmt, task, rec.payload, back.payload, rec.width, rec.height)

    check()
