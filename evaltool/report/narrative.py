"""Evaluators' own words: narrative Markdown files (programme, logic model, conclusions, recommendations).

A spec's ``report.narrative`` names Markdown files the evaluators write; the run copies them
into the bundle (``report_inputs/``) and the report places them in their sections. The text is
Markdown -- paragraphs, headings, lists, emphasis, links and pipe tables work -- but nothing in
it can act as code or pull in files: raw HTML, Typst/LaTeX, Quarto shortcodes and code cells,
attributes, citations, maths and images are shown as text (:func:`safe_markdown`). Headings are
moved down to sit inside the report section that holds them.

Examples
--------
>>> print(safe_markdown("# Aims\\n\\nWe *aim* <b>high</b> {{< include x >}} $x$", level=2))
### Aims
<BLANKLINE>
We *aim* \\<b\\>high\\</b\\> \\{\\{\\< include x \\>\\}\\} \\$x\\$
"""
from __future__ import annotations

import re
from pathlib import Path

from evaltool.errors import ReportError

__all__ = ["NARRATIVE_KEYS", "read_narrative", "safe_markdown"]

#: Narrative files a spec may name, and where they appear.
NARRATIVE_KEYS = ("summary", "programme", "logic_model", "context", "conclusions", "recommendations")
MAX_BYTES = 200_000
# Characters that open raw or executable constructs in Pandoc/Quarto Markdown.
_ESCAPE = set("<>{}$@`\\!^~=")
_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_FENCE = re.compile(r"^\s*(```|~~~|:::)")


def _escape_inline(line: str) -> str:
    out = []
    for ch in line:
        out.append("\\" + ch if ch in _ESCAPE else ch)
    return "".join(out)


def safe_markdown(text: str, level: int = 1) -> str:
    """Markdown that can only be text: structure kept, every raw/executable construct escaped.

    Parameters
    ----------
    text : str
        The evaluators' Markdown.
    level : int
        Level of the report section that holds it: a ``#`` heading becomes level ``level + 1``.
    """
    lines = []
    for raw in str(text).replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", "", raw)
        m = _HEADING.match(line)
        if m:
            depth = min(6, len(m.group(1)) + level)
            lines.append("#" * depth + " " + _escape_inline(m.group(2)))
            continue
        esc = _escape_inline(line)
        if _FENCE.match(line):
            # Fenced divs become plain text (code fences already lost their backticks' meaning).
            esc = re.sub(r"^(\s*):", r"\1\\:", esc)
        lines.append(esc)
    return "\n".join(lines).strip("\n")


def read_narrative(path: str | Path, level: int = 1) -> str:
    """Read one narrative file (UTF-8 Markdown, at most 200 KB) as safe Markdown."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as err:
        raise ReportError(f"narrative file `{p.name}` cannot be read: {err.strerror}") from err
    if len(data) > MAX_BYTES:
        raise ReportError(f"narrative file `{p.name}` is {len(data):,} bytes; at most {MAX_BYTES:,} are allowed")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ReportError(f"narrative file `{p.name}` is not UTF-8 text (byte {err.start})") from err
    return safe_markdown(text, level)
