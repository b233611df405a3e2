"""Brand: contrast (WCAG 2.2), colour-blind-safe default palette, custom brands, safe narrative Markdown."""
import pytest

from evaltool.errors import ReportError
from evaltool.plotting import DEFAULT_PALETTE
from evaltool.report.brand import accessible, contrast, load_brand, min_distance
from evaltool.report.narrative import safe_markdown


def test_default_palette_meets_contrast_and_is_colour_blind_safe():
    b = load_brand(None)
    assert b.chart == DEFAULT_PALETTE
    assert all(contrast(c, "#FFFFFF") >= 3.0 for c in b.chart)  # WCAG 2.2 1.4.11 (chart elements)
    for c in (b.foreground, b.primary, b.heading, b.muted):
        assert contrast(c, b.background) >= 4.5  # 1.4.3 (text)
    # The five series stay apart (CIE76 > 20) under simulated colour-vision deficiencies (Machado et al. 2009).
    for kind in ("normal", "protanopia", "deuteranopia", "tritanopia"):
        assert min_distance(list(b.chart), kind) > 20, kind
    # The old NHS orange and light blue were 2.5:1 and 2.3:1: too pale for chart elements.
    assert contrast("#ED8B00", "#FFFFFF") < 3 and contrast("#41B6E6", "#FFFFFF") < 3


def test_known_contrast_values():
    assert contrast("#000000", "#FFFFFF") == pytest.approx(21.0)
    assert contrast("#005EB8", "#FFFFFF") == pytest.approx(6.38, abs=0.01)
    fixed = accessible("#FFB81C", "#FFFFFF", 3.0)
    assert contrast(fixed, "#FFFFFF") >= 3.0 and fixed != "#FFB81C"


def test_custom_brand_and_automatic_darkening(tmp_path):
    (tmp_path / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (tmp_path / "_brand.yml").write_text(
        "meta: {name: Riverside University}\nlogo: logo.png\ncolor:\n  palette: {gold: '#FFC20E', navy: '#002147'}\n"
        "  primary: navy\ntypography: {base: 'Evil\"Font; #set'}\ndefaults:\n  evaltool:\n    chart-palette: [navy, gold]\n")
    b = load_brand(tmp_path / "_brand.yml")
    assert b.name == "Riverside University" and b.primary == "#002147" and b.logo == tmp_path / "logo.png"
    assert b.chart[0] == "#002147" and b.chart[1] != "#FFC20E" and contrast(b.chart[1], "#FFFFFF") >= 3
    assert any("gold" in w or "#FFC20E" in w for w in b.warnings)
    assert b.font == "EvilFont set"  # nothing that could break out of CSS or Typst


def test_bad_brand_files(tmp_path):
    with pytest.raises(ReportError, match="not found"):
        load_brand(tmp_path / "missing.yml")
    (tmp_path / "b.yml").write_text("color: {primary: 'not a colour'}\n")
    with pytest.raises(ReportError, match="color.primary"):
        load_brand(tmp_path / "b.yml")
    (tmp_path / "c.yml").write_text("logo: ../../etc/passwd.png\n")
    with pytest.raises(ReportError, match="logo"):
        load_brand(tmp_path / "c.yml")


def test_narrative_markdown_is_text_only():
    md = safe_markdown("# Context\n\n<script>x</script> {{< include /etc/passwd >}} ![x](/etc/passwd)\n"
                       "```{python}\nimport os\n```\n::: {.callout}\n$x$ @cite *kept*", level=1)
    assert md.startswith("## Context")
    import json
    import subprocess

    import pypandoc

    ast = subprocess.run([pypandoc.get_pandoc_path(), "-f", "markdown", "-t", "json"], input=md, text=True,
                         capture_output=True, check=True).stdout
    kinds = set()

    def walk(x):
        if isinstance(x, dict):
            if "t" in x:
                kinds.add(x["t"])
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)
    walk(json.loads(ast)["blocks"])
    # Structure kept (heading, emphasis); nothing raw, executable, embedded or cited.
    assert {"Header", "Emph"} <= kinds
    assert not kinds & {"RawBlock", "RawInline", "Image", "CodeBlock", "Code", "Div", "Math", "Cite", "Figure"}
    text = subprocess.run([pypandoc.get_pandoc_path(), "-f", "markdown", "-t", "plain"], input=md, text=True,
                          capture_output=True, check=True).stdout
    assert "<script>x</script>" in text and "{{< include /etc/passwd >}}" in text
