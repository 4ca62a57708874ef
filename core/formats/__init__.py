"""Export and load back annotations: COCO, JSON lines, CSV, YOLO and Pascal VOC.

Each format is an adapter module with a streaming writer class and a symmetric ``save_*``/``load_*``
pair over ``ExportRecord``s (see ``records``). ``export`` reads a project from the store in chunks and
drives a writer; importing ``core.formats`` registers it as the ``export`` job. The choices per
format are in ``docs/formats.md``.
"""

from core.formats import export
from core.formats.export import FORMATS, ExportResult, export_project
from core.formats.records import (
    Category,
    CategorySet,
    Dataset,
    ExportRecord,
    Issue,
    RecordProblem,
    SaveSummary,
)

__all__ = [
    "FORMATS",
    "Category",
    "CategorySet",
    "Dataset",
    "ExportRecord",
    "ExportResult",
    "Issue",
    "RecordProblem",
    "SaveSummary",
    "export",
    "export_project",
]
