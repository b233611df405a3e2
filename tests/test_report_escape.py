"""User text (titles, site names, codes, quotes) appears as text in Markdown, HTML, Typst/PDF and Word."""
import html
import re
import subprocess
from pathlib import Path

import pytest

from evaltool.report.escape import escape_html, escape_markdown, escape_typst, typst_string

FIXTURE = Path(__file__).parent / "fixtures" / "bundle"

MALICIOUS = [
    "<script>alert(1)</script>",
    "<b>raw html</b>",
    "#set page(fill: red)",
    "{{< pagebreak >}}",
    "`rm -rf /`",
    "$x^2$",
    "*not bold* and _not italic_",
    "[click](http://evil.example)",
    "@fig-love-plot",
    "a | b",
]
TITLE = "Review " + " ".join(MALICIOUS[:5])
SITE = " ".join(MALICIOUS[5:])


def _pandoc(md: str, to: str) -> str:
    import pypandoc

    return subprocess.run([pypandoc.get_pandoc_path(), "-f", "markdown", "-t", to], input=md, text=True,
                          capture_output=True, check=True).stdout


@pytest.mark.parametrize("s", MALICIOUS)
def test_escape_markdown_reads_back_as_the_same_text(s):
    assert _pandoc(escape_markdown(s), "plain").strip() == s
    out_html = _pandoc(escape_markdown(s), "html")
    assert "<script" not in out_html and "<b>" not in out_html and "<a " not in out_html and "<code" not in out_html
    assert html.unescape(re.sub("<[^>]+>", "", out_html)).strip() == s
    # No Quarto shortcode opener survives in the Markdown source.
    assert "{{<" not in escape_markdown(s)


def test_escape_helpers():
    assert escape_html('<a href="x">') == "&lt;a href=&quot;x&quot;&gt;"
    assert escape_typst("#exit()") == "\\#exit()"
    assert typst_string('a"b') == '"a\\"b"'
    assert escape_markdown("line one\n# heading") == "line one \\# heading"
