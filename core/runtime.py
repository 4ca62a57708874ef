"""The server-side runtime: one store, one job runner and one folder watcher per process."""

from __future__ import annotations

import importlib
import logging
import os
from dataclasses import dataclass, field
from typing import Any

from core.config import Paths, default_paths
from core.jobs import JobRunner
from core.store import Store

log = logging.getLogger(__name__)

# Modules whose import registers job handlers (``@core.jobs.register``).
HANDLER_MODULES = (
    "core.images.sources",
    "core.formats.export",
    "core.assist.classify_jobs",
    "core.assist.detect_jobs",
)


def load_handlers() -> list[str]:
    loaded = []
    for name in HANDLER_MODULES:
        try:
            importlib.import_module(name)
            loaded.append(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            log.warning("job handlers %s are not available", name)
    return loaded


@dataclass
class Runtime:
    paths: Paths
    store: Store
    runner: JobRunner
    watcher: Any = None
    scheduler: Any = None  # core.assist.scheduler.AssistScheduler, when assistance runs by itself
    admin_created: tuple[str, str] | None = None
    handler_modules: list[str] = field(default_factory=list)

    def stop(self) -> None:
        if self.scheduler is not None:
            self.scheduler.stop()
        if self.watcher is not None:
            self.watcher.stop()
        self.runner.stop()
        self.store.close()


def assist_scheduler_wanted() -> bool:
    """``$ANNOTA_ASSIST_SCHEDULER`` (1/0) decides; unset, it runs except under the test suite
    (``ANNOTA_TEST=1``), whose many small projects should not start model jobs behind the tests' backs."""
    raw = os.environ.get("ANNOTA_ASSIST_SCHEDULER")
    if raw is not None:
        return raw.strip().lower() in ("1", "true", "yes", "on")
    return os.environ.get("ANNOTA_TEST") != "1"


def open_runtime(
    paths: Paths | None = None, *, workers: int = 2, watch: bool = True, assist: bool | None = None
) -> Runtime:
    """Open the store (migrating it), start the job runner (resuming jobs a stop interrupted), the
    folder watcher and the assist scheduler (``assist``; ``None``: see ``assist_scheduler_wanted``).
    The UI keeps the result in ``st.cache_resource``."""
    from core import auth

    paths = (paths or default_paths()).ensure()
    store = Store(paths.db)
    store.caches["paths"] = paths
    admin = auth.ensure_admin(store)
    if admin:
        _announce_admin(paths, *admin)
    modules = load_handlers()
    _remove_export_leftovers(paths)
    runner = JobRunner(store, workers=workers).start()
    runtime = Runtime(paths=paths, store=store, runner=runner, admin_created=admin, handler_modules=modules)
    if watch:
        try:
            from core.images.sources import FolderWatcher

            runtime.watcher = FolderWatcher(store).start()
        except ModuleNotFoundError:
            log.warning("folder watching is not available")
    if assist if assist is not None else assist_scheduler_wanted():
        from core.assist.scheduler import AssistScheduler

        runtime.scheduler = AssistScheduler(store, runner).start()
    return runtime


def _remove_export_leftovers(paths: Paths) -> None:
    """The ``.part`` files and spool folders of exports a stop killed (no job runs yet: all are junk)."""
    try:
        from core.formats.leftovers import remove_leftovers
    except ModuleNotFoundError:
        return
    removed = remove_leftovers(paths.exports)
    if removed:
        log.info("removed %d leftover(s) of stopped exports", len(removed))


def _announce_admin(paths: Paths, user: str, password: str) -> None:
    note = paths.root / "FIRST-SIGN-IN.txt"
    note.write_text(f"annota: sign in as {user!r} with password {password!r}, then change it.\n")
    note.chmod(0o600)
    print(
        f"\n  annota: first start. Sign in as '{user}' with password '{password}'\n  (also written to {note})\n",
        flush=True,
    )
