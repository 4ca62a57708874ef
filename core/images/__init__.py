"""Images: probing, import (folders and uploads), folder watching, renditions.

Importing this package registers the job kind ``import_folder`` with ``core.jobs``.
"""

from core.images.importer import ImportReport, import_paths, import_uploads
from core.images.probe import (
    IMAGE_EXTENSIONS,
    MAX_PIXELS,
    MAX_UPLOAD_BYTES,
    Probe,
    ProbeError,
    probe_bytes,
    probe_file,
)
from core.images.renditions import (
    ImageUnavailable,
    display_path,
    load_display,
    load_thumbnail,
    prefetch,
    rendition_scale,
    thumbnail_path,
)
from core.images.sources import (
    FolderWatcher,
    SourceInfo,
    add_folder,
    get_source,
    import_folder,
    list_sources,
    rescan,
    scan_folder,
    set_watch,
)

__all__ = [
    "IMAGE_EXTENSIONS",
    "MAX_PIXELS",
    "MAX_UPLOAD_BYTES",
    "FolderWatcher",
    "ImageUnavailable",
    "ImportReport",
    "Probe",
    "ProbeError",
    "SourceInfo",
    "add_folder",
    "display_path",
    "get_source",
    "import_folder",
    "import_paths",
    "import_uploads",
    "list_sources",
    "load_display",
    "load_thumbnail",
    "prefetch",
    "probe_bytes",
    "probe_file",
    "rendition_scale",
    "rescan",
    "scan_folder",
    "set_watch",
    "thumbnail_path",
]
