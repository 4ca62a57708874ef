"""User text on the screen as plain text: what people type (skip reasons, class, project, file and user
names) never renders as markdown, links, images, icons or colours in anyone's view.

``plain`` escapes every character Streamlit's markdown gives a meaning (CommonMark, GFM autolinks, tables
and strikethrough, ``:material/…:`` icons, ``:color[…]`` directives, ``$`` maths), and folds line breaks
into spaces, for ``st.markdown``, captions, widget labels and options. Only a project's instructions,
written by an administrator, render as markdown (``instructions_markdown``), with remote images off.
"""

from __future__ import annotations

import re

_SPECIAL = frozenset("\\`*_{}[]()#+-.!|<>~:$=^&%@/")
_JOIN = "\u2060"  # a word joiner: invisible, but it breaks the address patterns GFM turns into links
_AUTOLINK_STARTS = re.compile(r"(?i)(://|www(?=\.)|@)")


def plain(text: object) -> str:
    """``text`` escaped for Streamlit markdown, so it shows as typed (line breaks become spaces).

    Backslash escapes stop markdown, but GFM's autolinks (``http://…``, ``www.…``, ``a@b.c``) are found in
    the text after parsing, so those get an invisible word joiner inside them."""
    s = re.sub(r"[\r\n\t\v\f]+", " ", "" if text is None else str(text))
    s = _AUTOLINK_STARTS.sub(lambda m: m.group(1)[0] + _JOIN + m.group(1)[1:], s)
    return "".join("\\" + ch if ch in _SPECIAL else ch for ch in s)


_IMAGE = re.compile(r"!\[([^\]]*)\]\((?:[^()\s]|\([^()\s]*\))*(?:\s+\"[^\"]*\")?\)")
_REF_IMAGE = re.compile(r"!\[([^\]]*)\]\[[^\]]*\]")


def instructions_markdown(text: str) -> str:
    """A project's instructions for ``st.markdown``: markdown kept, images (which would load from anywhere
    the author pointed) shown as their alt text. HTML is never allowed (``unsafe_allow_html`` stays off)."""
    text = _IMAGE.sub(lambda m: f"*[image: {plain(m.group(1)) or 'no description'}]*", text or "")
    return _REF_IMAGE.sub(lambda m: f"*[image: {plain(m.group(1)) or 'no description'}]*", text)
