"""User text on the screen as plain text: what people type (skip reasons, class, project, file and user
names) never renders as markdown, links, images, icons or colours in anyone's view.

``plain`` escapes every character Streamlit's markdown gives a meaning (CommonMark, GFM autolinks, tables
and strikethrough, ``:material/…:`` icons, ``:color[…]`` directives, ``$`` maths), and folds line breaks
into spaces, for ``st.markdown``, captions, widget labels and options. Only a project's instructions,
written by an administrator, render as markdown (``instructions_markdown``), with remote images off.
"""

from __future__ import annotations

import html
import re
import string

_INLINE = frozenset("\\`*{}[]()!<>~$|&^")  # meaningful anywhere in a line
_LINE_START = re.compile(r"^(\s*)([#>+=-]|\d+(?=[.)]))")  # block markers, only where a line starts
_JOIN = "\u2060"  # a word joiner: invisible, but it breaks the address patterns GFM turns into links
_AUTOLINK_STARTS = re.compile(r"(?i)(://|www(?=\.)|@)")


def _needs_escape(s: str, i: int) -> bool:
    ch = s[i]
    if ch in _INLINE:
        return True
    if ch == "_":  # emphasis only where it is not inside a word (img_001.png stays as it is)
        before, after = s[i - 1 : i], s[i + 1 : i + 2]
        return not (before.isalnum() and after.isalnum())
    if ch in ":/":  # :material/icon:, :emoji:, :directive[…]: both colons and the slash; "Note: x" stays
        after = s[i + 1 : i + 2]
        if ch == ":" and after and not after.isspace():
            return True
        word_start = max(s.rfind(" ", 0, i), s.rfind("\u2060", 0, i)) + 1
        return ":" in s[word_start:i]
    return False


def plain(text: object) -> str:
    """``text`` escaped for Streamlit markdown, so it shows as typed (line breaks become spaces).

    Backslash escapes stop markdown, but GFM's autolinks (``http://…``, ``www.…``, ``a@b.c``) are found in
    the text after parsing, so those get an invisible word joiner inside them. Characters that mean
    something only where a line starts (``#``, ``-``, ``1.``) are escaped there only, so everyday names
    such as ``traffic-light`` or ``v1.2`` stay as they are."""
    s = re.sub(r"[\r\n\t\v\f]+", " ", "" if text is None else str(text))
    s = _AUTOLINK_STARTS.sub(lambda m: m.group(1)[0] + _JOIN + m.group(1)[1:], s)
    s = "".join("\\" + ch if _needs_escape(s, i) else ch for i, ch in enumerate(s))
    m = _LINE_START.match(s)
    if m:
        lead, mark = m.group(1), m.group(2)
        # "1. " or "1) ": escape the dot or bracket after the number; else the marker itself
        s = lead + mark + "\\" + s[m.end() :] if mark.isdigit() else lead + "\\" + s[len(lead) :]
    return s


_IMAGE = re.compile(r"!\[([^\]]*)\]\((?:[^()\s]|\([^()\s]*\))*(?:\s+\"[^\"]*\")?\)")
_REF_IMAGE = re.compile(r"!\[([^\]]*)\]\[[^\]]*\]")


def instructions_markdown(text: str) -> str:
    """A project's instructions for ``st.markdown``: markdown kept, images (which would load from anywhere
    the author pointed) shown as their alt text. HTML is never allowed (``unsafe_allow_html`` stays off)."""
    text = _IMAGE.sub(lambda m: f"*[image: {plain(m.group(1)) or 'no description'}]*", text or "")
    return _REF_IMAGE.sub(lambda m: f"*[image: {plain(m.group(1)) or 'no description'}]*", text)


def chart_text(text: object) -> str:
    """User text for a plotly label or tick: plotly reads a few HTML tags in text (``<a href>``, ``<b>``,
    ``<br>``) and entities, so ``&``, ``<`` and ``>`` become entities and show as typed."""
    return html.escape("" if text is None else str(text), quote=False)


_HTML_MARKS = frozenset(string.punctuation)  # every ASCII mark, as an entity: markdown reads none of them


def html_text(text: object) -> str:
    """User text inside HTML given to ``st.markdown(..., unsafe_allow_html=True)`` (class chips, file names):
    markdown still parses the text between tags, so ``html.escape`` alone let ``**bold**`` turn bold. Every
    ASCII mark becomes a numeric entity (shown as typed, never read as markup), and an invisible word joiner
    after each colon and inside ``://``, ``www.`` and ``@`` keeps icons, emoji codes and autolinks, which
    are found in the decoded text, from forming. Line breaks become spaces."""
    s = re.sub(r"[\r\n\t\v\f]+", " ", "" if text is None else str(text))
    s = _AUTOLINK_STARTS.sub(lambda m: m.group(1)[0] + _JOIN + m.group(1)[1:], s)
    s = s.replace(":", ":" + _JOIN)
    return "".join(f"&#{ord(ch)};" if ch in _HTML_MARKS else ch for ch in s)
