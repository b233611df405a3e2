"""Shared plot styling: a colour-blind-safe palette that meets WCAG 2.2 contrast, horizontal gridlines only.

The default colours are the NHS identity's, adjusted for accessibility (every series at least
3:1 against white, WCAG 2.2 success criterion 1.4.11; the five series stay distinguishable under
simulated protanopia, deuteranopia and tritanopia). The report's brand (``_brand.yml``) can
replace them: :func:`use_palette` sets the series colours for figures drawn afterwards.
"""
from __future__ import annotations

from contextlib import contextmanager

from plotnine import element_blank, element_line, element_text, theme, theme_minimal

# NHS identity colours (NHS England identity guidelines, colour section).
NHS_BLUE = "#005EB8"
NHS_DARK_BLUE = "#003087"
NHS_BRIGHT_BLUE = "#0072CE"
NHS_LIGHT_BLUE = "#41B6E6"      # 2.3:1 on white: backgrounds only, never a chart series
NHS_AQUA_GREEN = "#00A499"      # 3.1:1
NHS_DARK_GREY = "#425563"
NHS_MID_GREY = "#768692"        # 3.8:1
NHS_PALE_GREY = "#E8EDEE"
NHS_WARM_YELLOW = "#FFB81C"     # 1.7:1: backgrounds only
NHS_ORANGE = "#C25E00"          # NHS Orange #ED8B00 darkened to 4.3:1 (the original is 2.5:1)
NHS_DARK_RED = "#8A1538"
NHS_PURPLE = "#330072"
NHS_DARK_PINK = "#7C2855"
NHS_LIGHT_BLUE_ACCESSIBLE = "#1C9ED3"  # NHS Light Blue darkened to 3.0:1

#: Categorical palette in chart order, at most five series (NHS England chart guidance).
DEFAULT_PALETTE = (NHS_BLUE, NHS_ORANGE, NHS_DARK_PINK, NHS_LIGHT_BLUE_ACCESSIBLE, NHS_PURPLE)
PALETTE = DEFAULT_PALETTE

FONT_FAMILY = "Liberation Sans"


@contextmanager
def use_palette(colours):
    """Use ``colours`` (checked by the caller for contrast) as :data:`PALETTE` inside the block."""
    global PALETTE
    old = PALETTE
    PALETTE = tuple(colours) if colours else DEFAULT_PALETTE
    try:
        yield PALETTE
    finally:
        PALETTE = old


def _font_available() -> bool:
    try:
        from matplotlib import font_manager

        return any(f.name == FONT_FAMILY for f in font_manager.fontManager.ttflist)
    except Exception:  # pragma: no cover - matplotlib always present with plotnine
        return False


def theme_evaltool(base_size: float = 10):
    """The evaltool plotnine theme: minimal, horizontal gridlines only, an installed font."""
    family = FONT_FAMILY if _font_available() else "DejaVu Sans"
    return theme_minimal(base_size=base_size) + theme(
        text=element_text(family=family),
        panel_grid_major_x=element_blank(),
        panel_grid_minor_x=element_blank(),
        panel_grid_minor_y=element_blank(),
        panel_grid_major_y=element_line(color=NHS_PALE_GREY),
        legend_position="bottom",
    )
