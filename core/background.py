"""A daemon thread that does one step every few seconds until it is stopped (the folder watcher and
the assist scheduler are two). A failing step is logged and kept as ``last_error``; the thread
carries on, since the store may be closing or a folder may be gone for a moment."""

from __future__ import annotations

import logging
import threading
from typing import Self

log = logging.getLogger(__name__)


class Periodic:
    thread_name = "annota-periodic"
    step_first = True  # step at once on start, or wait one interval first

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def step(self) -> object:
        raise NotImplementedError

    def start(self) -> Self:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name=self.thread_name, daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _loop(self) -> None:
        if not self.step_first and self._stop.wait(self.interval_s):
            return
        while not self._stop.is_set():
            try:
                self.step()
                self.last_error = None
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("%s: %s", self.thread_name, self.last_error)
            self._stop.wait(self.interval_s)
