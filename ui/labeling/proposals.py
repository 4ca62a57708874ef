"""The model's proposal for an item, when ``core.assist`` has stored one above its threshold."""

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


def shown_proposal(store: Store, item_id: int) -> Proposal | None:
    """The item's shown proposal (``core.assist.predictions.shown_prediction``), or ``None``.

    Proposals are help, never a reason to fail the screen: a read error shows no proposal.
    """
    try:
        found = predictions.shown_prediction(store, item_id)
    except Exception as exc:
        log.info("reading the proposal of item %s failed: %s", item_id, exc)
        return None
    if found is None:
        return None
    return Proposal(dict(found.payload), found.confidence, found.run_id)


def sure_classes(store: Store, item_id: int) -> list[int]:
    """Multi-label: the classes the model may pre-tick on an item whose whole set it does not propose
    (``core.assist.calibration.Calibration.sure``); empty when none or on a read error."""
    try:
        found = predictions.prediction(store, item_id)
    except Exception as exc:
        log.info("reading the prediction of item %s failed: %s", item_id, exc)
        return []
    if found is None or found.shown:
        return []
    return [int(c) for c in found.payload.get("sure_class_ids", [])]
