"""Label: the labeling screen for every task type (the work is in ``ui.labeling``)."""

from __future__ import annotations

from ui import session, widgets
from ui.labeling import screen

with widgets.error_boundary("the labeling screen"):
    user = session.require_user()
    project = session.require_project()
    screen.render(project, user)
