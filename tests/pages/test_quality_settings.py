"""The quality settings form on the Projects page (consensus and gold), through AppTest on a real store."""

from __future__ import annotations

from core.store import projects
from tests.pages.helpers import page

PAGE = "pages/projects.py"


def test_quality_settings_are_saved_and_read_back(runtime, admin, project):
    at = page(PAGE, admin, project.id).run()
    assert not at.exception, at.exception
    by_label = {s.label: s for s in at.slider}
    by_label["Consensus images"].set_value(40)
    by_label["Agreement threshold"].set_value(70)
    by_label["Gold images in each labeler's queue"].set_value(10)
    next(n for n in at.number_input if n.label == "Labelers per consensus image").set_value(3)
    next(b for b in at.button if b.label == "Save quality settings").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    prefs = projects.get_project(runtime.store, project.id).prefs
    assert (prefs.consensus_share, prefs.consensus_k, prefs.agreement_threshold, prefs.gold_share) == (
        0.4,
        3,
        0.7,
        0.1,
    )
    shown = {s.label: s.value for s in at.slider}  # the form shows the stored values after the rerun
    assert shown["Consensus images"] == 40 and shown["Gold images in each labeler's queue"] == 10
