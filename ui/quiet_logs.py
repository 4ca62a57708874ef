"""Keep secrets out of the server log: Streamlit's session manager logs the session ids of reconnecting
browsers (an id is enough to try to take over a session), so those records lose their arguments."""

from __future__ import annotations

import logging

LOGGERS = ("streamlit.runtime.websocket_session_manager", "streamlit.runtime.runtime")


class _Redact(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple("<redacted>" for _ in record.args)
        elif record.args:
            record.args = None
        return True


_FILTER = _Redact()


def install() -> None:
    """Add the filter (once; calling again changes nothing)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
