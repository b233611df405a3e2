"""The PDF: Typst compiles pandoc's Typst output, and what it warns about reaches the reader of the run.

Typst never fails for a missing font: it takes the next family in the template's list
(the brand font, then Liberation Sans, Arial, DejaVu Sans) and, when none is installed, its own built-in
font, which changes the page layout. Those substitutions used to be silent. :func:`compile_pdf` returns
them as render warnings, said once per document set:

- none of the body fonts is installed: the PDF is set in Typst's built-in font;
- the brand's own font is missing and another is used (Arial -> Liberation Sans is not reported: the two
  are metric-compatible, so the layout is the same);
- any other Typst warning, as Typst words it.

Examples
--------
>>> font_warnings(["unknown font family: frutiger", "unknown font family: arial"], "Frutiger")
["the brand font 'Frutiger' is not installed on this machine: the PDF uses Liberation Sans instead"]
>>> font_warnings(["unknown font family: arial"], "Arial")
[]
"""
from __future__ import annotations

from pathlib import Path

from evaltool.errors import ReportError

__all__ = ["compile_pdf", "font_dirs", "font_warnings", "BODY_FONTS"]

#: The body font families the Typst template asks for after the brand's own (report.typst).
BODY_FONTS = ("Liberation Sans", "Arial", "DejaVu Sans")
#: Metric-compatible pairs: one standing in for the other keeps every line break.
_SAME_METRICS = {"arial": "liberation sans", "liberation sans": "arial"}
_UNKNOWN = "unknown font family: "


def font_dirs() -> list[Path]:
    """Debian's Liberation font folders that exist here (Typst also reads the system's fonts)."""
    return [p for p in (Path("/usr/share/fonts/truetype/liberation"), Path("/usr/share/fonts/truetype/liberation2"))
            if p.is_dir()]


def font_warnings(messages: list[str], brand_font: str | None) -> list[str]:
    """Typst's warnings for one document, as sentences for the run's warnings (see the module docstring)."""
    missing = {m[len(_UNKNOWN):].strip().lower() for m in messages if m.lower().startswith(_UNKNOWN)}
    wanted = ([brand_font] if brand_font else []) + [f for f in BODY_FONTS if f.lower() != (brand_font or "").lower()]
    present = [f for f in wanted if f.lower() not in missing]
    out: list[str] = []
    if not present:
        out.append(f"none of the fonts the PDF asks for ({', '.join(wanted)}) is installed on this machine: it is set "
                   "in Typst's built-in font, so its pages break differently (Debian/Ubuntu: install fonts-liberation)")
    elif brand_font and brand_font.lower() in missing and _SAME_METRICS.get(brand_font.lower()) != present[0].lower():
        out.append(f"the brand font '{brand_font}' is not installed on this machine: the PDF uses {present[0]} instead")
    out += [f"Typst: {m}" for m in messages if not m.lower().startswith(_UNKNOWN)]
    return out


def compile_pdf(typ: Path, out: Path, root: Path, epoch: int, brand_font: str | None) -> list[str]:
    """Compile ``typ`` to ``out``; returns the warnings (:func:`font_warnings`)."""
    import typst

    args = dict(output=str(out), root=str(root), timestamp=epoch, font_paths=[str(p) for p in font_dirs()])
    try:
        if hasattr(typst, "compile_with_warnings"):  # typst-py 0.13 and later
            _, warned = typst.compile_with_warnings(str(typ), **args)
        else:  # pragma: no cover - older typst-py: the same PDF, its warnings not available
            typst.compile(str(typ), **args)
            warned = []
    except RuntimeError as err:  # typst raises RuntimeError (TypstError) with the compiler diagnostics
        raise ReportError(f"Typst could not compile the PDF: {str(err).splitlines()[0]}") from err
    return font_warnings([str(w) for w in warned], brand_font)
