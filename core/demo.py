"""A demo project on a few real photos that ship inside a registry package (scikit-image's sample data).

``python -m core.demo`` creates it once (idempotent) in the data directory; ``make run`` calls it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from core import auth
from core.config import Paths, default_paths
from core.permissions import SYSTEM
from core.store import Store, projects
from core.store.projects import ClassSpec

DEMO_NAME = "Demo: sample photos"
DEMO_PHOTOS = (
    "astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png", "hubble_deep_field.jpg",
    "camera.png", "coins.png", "brick.png", "grass.png", "gravel.png", "horse.png", "moon.png", "retina.jpg",
    "page.png", "text.png", "cell.png", "ihc.png", "clock_motion.png", "color.png",
)  # fmt: skip
DEMO_INSTRUCTIONS = """Give each photo the **one** class that fits best.

* **Living** — people, animals, cells
* **Object** — things made by people: cups, rockets, motorbikes, coins
* **Texture** — surfaces that fill the frame: brick, grass, gravel
* **Space** — sky and astronomy

Press the class's number key, or click it. Unsure? Press **S** to skip; you can come back later."""


def sample_folder() -> Path:
    import skimage

    return Path(skimage.__file__).parent / "data"


def demo_folder(paths: Paths) -> Path:
    """The demo photos, linked (or copied) into one folder of the data directory."""
    folder = paths.root / "demo-photos"
    folder.mkdir(parents=True, exist_ok=True)
    src = sample_folder()
    for name in DEMO_PHOTOS:
        target = folder / name
        if target.exists() or not (src / name).exists():
            continue
        try:
            target.hardlink_to(src / name)
        except OSError:
            target.write_bytes((src / name).read_bytes())
    return folder


def ensure_demo(store: Store, paths: Paths) -> int | None:
    """Create the demo project and import its photos; returns its id (None when it already exists)."""
    from core.images import sources

    if any(p.name == DEMO_NAME for p in projects.list_projects(store)):
        return None
    project = projects.create_project(
        store,
        DEMO_NAME,
        "multiclass",
        [ClassSpec("Living"), ClassSpec("Object"), ClassSpec("Texture"), ClassSpec("Space")],
        description="Twenty sample photos from scikit-image, to try annota in a minute.",
        instructions=DEMO_INSTRUCTIONS,
        created_by="admin",
        by=SYSTEM,
    )
    sources.import_folder(store, project.id, demo_folder(paths), watch=False, by=SYSTEM)
    return project.id


def main() -> int:
    paths = default_paths()
    store = Store(paths.db)
    try:
        admin = auth.ensure_admin(store)
        if admin:
            from core.runtime import _announce_admin

            _announce_admin(paths, *admin)
        pid = ensure_demo(store, paths)
        print(f"annota: demo project {'created' if pid else 'already there'} in {paths.root}")
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
