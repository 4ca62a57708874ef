"""The model's proposal for an item, when ``core.assist`` has stored one above its threshold."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from core.store.db import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Proposal:
    payload: dict[str, Any]
    confidence: float


def shown_proposal(store: Store, item_id: int) -> Proposal | None:
    """The newest shown proposal of the item (``predictions.shown``), or ``None``.

    Uses ``core.assist``'s reader when it offers one; otherwise reads the ``predictions`` table,
    whose shape the store's migrations define.
    """
    try:
        from core.assist import predictions as core_predictions  # type: ignore[attr-defined]

        reader = getattr(core_predictions, "shown_prediction", None)
    except ImportError:
        reader = None
    if reader is not None:
        try:
            found = reader(store, item_id)
        except Exception as exc:  # proposals are help, never a reason to fail the screen
            log.info("reading the proposal of item %s failed: %s", item_id, exc)
            return None
        if found is None:
            return None
        return Proposal(dict(found.payload), float(found.confidence))
    try:
        row = store.query_one(
            "SELECT payload, confidence FROM predictions WHERE item_id = ? AND shown"
            " ORDER BY created_at DESC LIMIT 1",
            [item_id],
        )
    except Exception as exc:
        log.info("reading the proposal of item %s failed: %s", item_id, exc)
        return None
    if row is None:
        return None
    payload = json.loads(row[0]) if isinstance(row[0], str) else row[0]
    return Proposal(payload or {}, float(row[1]))
