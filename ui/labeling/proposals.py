"""What the model offers on an item: its proposal above the calibrated threshold, or multi-label pre-ticks."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from core.assist import predictions
from core.store.db import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Proposal:
    payload: dict[str, Any]
    confidence: float
    run_id: int | None = None
    imported_from: str | None = None  # the file of an imported proposal (an outside model's), else None

    @property
    def title(self) -> str:
        """What the banner calls it: the project's model proposes, or an imported proposal."""
        return "Imported proposal" if self.imported_from else "Model proposes"


def model_help(store: Store, item_id: int) -> tuple[Proposal | None, list[int]]:
    """What the model offers on an item, from one read of its newest prediction: the shown proposal
    (``None`` below the calibrated threshold), else, multi-label, the classes it may pre-tick
    (``core.assist.calibration.Calibration.sure``).

    Proposals are help, never a reason to fail the screen: a read error offers nothing.
    """
    try:
        found = predictions.prediction(store, item_id)
    except Exception as exc:
        log.info("reading the prediction of item %s failed: %s", item_id, exc)
        return None, []
    if found is None:
        return None, []
    if found.shown:
        imported = found.payload.get("imported_from")
        return Proposal(
            dict(found.payload), found.confidence, found.run_id, str(imported) if imported else None
        ), []
    return None, [int(c) for c in found.payload.get("sure_class_ids", [])]
