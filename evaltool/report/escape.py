"""Escaping of user-supplied text (titles, practice and site names, codes, quotes).

Text from specs and data must appear in the report *as text*, never as markup or
code. The report source is Pandoc Markdown (a Quarto document), so every string is
first escaped for Markdown with :func:`escape_markdown`; Pandoc's writers then
escape it again for HTML, Typst and Word. :func:`escape_html` and
:func:`escape_typst` are for the few places where text goes straight into HTML or
Typst without passing through Pandoc.
"""
from __future__ import annotations

import html
import json
import re
import string

__all__ = ["escape_html", "escape_markdown", "escape_typst", "typst_string", "yaml_markdown_string"]

_PUNCT = frozenset(string.punctuation)
# C0 control characters (except tab/newline, which become spaces) have no place in a report.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACE = re.compile(r"\s+")


def _clean(text: object) -> str:
    s = "" if text is None else str(text)
    s = _CONTROL.sub("", s)
    # Newlines would let text start a new Markdown block (a heading, a list, a fenced div).
    return _SPACE.sub(" ", s).strip()


def escape_markdown(text: object) -> str:
    r"""Escape ``text`` so Pandoc Markdown (and Quarto) reads it as literal text.

    Every ASCII punctuation character is backslash-escaped (Pandoc allows this for all
    of them), so ``<script>``, ``*``, ``#``, ``|`` (table cells), ``@`` (citations),
    backticks and Quarto shortcodes ``{{< >}}`` lose their meaning. Whitespace,
    including newlines, collapses to single spaces so text cannot open a new block.

    Parameters
    ----------
    text : object
        Anything; ``None`` becomes the empty string.

    Returns
    -------
    str

    Examples
    --------
    >>> escape_markdown("A&E <b>#1</b>")
    'A\\&E \\<b\\>\\#1\\<\\/b\\>'
    """
    return "".join("\\" + c if c in _PUNCT else c for c in _clean(text))


def escape_html(text: object) -> str:
    """Escape ``text`` for HTML element content and attribute values.

    Examples
    --------
    >>> escape_html('<script>alert("x")</script>')
    '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;'
    """
    return html.escape(_clean(text), quote=True)


# Characters with a meaning in Typst markup; a backslash makes any of them literal.
_TYPST_SPECIAL = frozenset("\\#$*_`<>@[]=-+/~'\"")


def escape_typst(text: object) -> str:
    r"""Escape ``text`` for Typst *markup* (content between ``[`` and ``]``).

    Examples
    --------
    >>> escape_typst("#exit() $x$")
    '\\#exit() \\$x\\$'
    """
    return "".join("\\" + c if c in _TYPST_SPECIAL else c for c in _clean(text))


def typst_string(text: object) -> str:
    """Quote ``text`` as a Typst string literal (``"..."``), for code contexts.

    Examples
    --------
    >>> typst_string('say "hi"')
    '"say \\\\"hi\\\\""'
    """
    # JSON string escapes (\\, \", \n, \uXXXX) are all valid Typst string escapes except
    # \uXXXX, which Typst writes \u{XXXX}: ensure_ascii=False avoids them.
    return json.dumps(_clean(text), ensure_ascii=False)


def yaml_markdown_string(text: object) -> str:
    r"""A YAML double-quoted scalar holding Markdown-escaped ``text`` (for front matter).

    Pandoc parses metadata strings as Markdown, so the text is Markdown-escaped first
    and then quoted for YAML (a JSON string is a valid YAML double-quoted scalar).

    Examples
    --------
    >>> yaml_markdown_string("A: b")
    '"A\\\\: b"'
    """
    return json.dumps(escape_markdown(text), ensure_ascii=False)
