"""User text as plain text (ui.text), instructions without remote images, and no session ids in the log."""

from __future__ import annotations

import logging

import pytest

from ui import quiet_logs
from ui.text import html_text, instructions_markdown, plain


@pytest.mark.parametrize(
    "typed",
    [
        "[click](http://example.com) ![x](http://example.com/x.png)",
        ":material/home: :red[red] :smile: $x^2$",
        "**bold** _it_ ~~s~~ `code` <b>hi</b> &amp; | a | b |",
        "# head",
    ],
)
def test_every_inline_markdown_character_is_escaped(typed):
    shown = plain(typed)
    for i, ch in enumerate(shown):
        if ch in "`*_{}[]()!<>~:$|&^":
            assert shown[i - 1] == "\\", (typed, shown, i)


@pytest.mark.parametrize(
    ("typed", "shown"),
    [("# head", "\\# head"), ("- item", "\\- item"), ("1. one", "1\\. one"), ("> q", "\\> q")],
)
def test_line_start_markers_are_escaped_there(typed, shown):
    assert plain(typed) == shown


def test_everyday_names_stay_as_typed():
    typed = "traffic-light v1.2 50% a/b #3 img_001.png 1 box: 1 × dog"
    assert plain(typed) == typed


def test_autolinks_are_broken_by_an_invisible_joiner_and_lines_folded():
    shown = plain("see http://example.com or www.example.com, a@b.com\nnext line")
    assert "://" not in shown.replace("\\", "") and "www." not in shown.replace("\\", "")
    assert "@\u2060" in shown and "\n" not in shown
    assert shown.replace("\\", "").replace("\u2060", "") == (
        "see http://example.com or www.example.com, a@b.com next line"
    )


@pytest.mark.parametrize("value", [None, "", 42])
def test_plain_takes_anything(value):
    assert plain(value) == ("" if value in (None, "") else "42")


def test_instructions_keep_markdown_but_not_remote_images():
    text = 'Box **every** car. ![tracker](http://evil.example/p.png "t") See [the guide](https://x.org).'
    shown = instructions_markdown(text)
    assert "**every**" in shown and "[the guide](https://x.org)" in shown
    assert "evil.example" not in shown and "![" not in shown
    assert "image: tracker" in shown


def test_reconnect_log_lines_lose_the_session_id(caplog):
    quiet_logs.install()
    quiet_logs.install()  # twice changes nothing
    logger = logging.getLogger("streamlit.runtime.websocket_session_manager")
    assert logger.filters.count(quiet_logs._FILTER) == 1
    record = logger.makeRecord(
        logger.name,
        logging.WARNING,
        __file__,
        1,
        "Session with id %s is already connected!",
        ("abc-123",),
        None,
    )
    for f in logger.filters:
        f.filter(record)
    assert "abc-123" not in record.getMessage() and "<redacted>" in record.getMessage()


def test_chart_labels_show_user_names_as_typed():
    from core.domain import LabelClass
    from ui import charts
    from ui.text import chart_text

    evil = '<a href="http://example.com">cat</a> & co'
    assert chart_text(evil) == '&lt;a href="http://example.com"&gt;cat&lt;/a&gt; &amp; co'
    fig = charts.class_bars([LabelClass(1, 1, evil, "#ff0000", None, 0)], {1: 3})
    assert list(fig.data[0].y) == [chart_text(evil)]
    fig = charts.labeler_bars({"lena": 2}, {"lena": "<b>Lena</b>"})
    assert list(fig.data[0].y) == ["&lt;b&gt;Lena&lt;/b&gt;"]


@pytest.mark.parametrize(
    "typed",
    ["**bold** _it_ `c` <b>x</b> &amp;", ":material/home: :smile: $x$", "http://e.org www.e.org a@b.c"],
)
def test_html_text_leaves_no_markdown_mark_and_reads_back_as_typed(typed):
    import html

    shown = html_text(typed)
    assert not any(ch in shown for ch in "*_`<>$[]()!~|"), shown  # each one an entity
    assert html.unescape(shown).replace("\u2060", "") == typed  # a browser shows it as typed


def test_class_chips_and_file_names_show_user_text_as_typed():
    from core.domain import LabelClass
    from ui import widgets

    chip = widgets.class_chips([LabelClass(1, 1, "**bold**", "#ff0000", "1", 0)])
    assert "**bold**" not in chip and "&#42;&#42;bold&#42;&#42;" in chip
    assert "&#42;&#42;md&#42;&#42; name" in widgets.one_line_name("/x/**md** name.png")
