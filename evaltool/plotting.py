"""Shared plot styling: NHS identity colours, a colour-blind-safe palette, horizontal gridlines only."""
from __future__ import annotations

from plotnine import element_blank, element_line, element_text, theme, theme_minimal

# NHS identity colours (NHS England identity guidelines, colour section).
NHS_BLUE = "#005EB8"
NHS_DARK_BLUE = "#003087"
NHS_BRIGHT_BLUE = "#0072CE"
NHS_LIGHT_BLUE = "#41B6E6"
NHS_AQUA_GREEN = "#00A499"
NHS_DARK_GREY = "#425563"
NHS_MID_GREY = "#768692"
NHS_PALE_GREY = "#E8EDEE"
NHS_WARM_YELLOW = "#FFB81C"
NHS_ORANGE = "#ED8B00"
NHS_DARK_RED = "#8A1538"
NHS_PURPLE = "#330072"

#: Categorical palette in chart order, at most five series (NHS England chart guidance);
#: blue/orange/aqua/dark-grey/light-blue stay distinguishable under common colour-vision deficiencies.
PALETTE = (NHS_BLUE, NHS_ORANGE, NHS_AQUA_GREEN, NHS_DARK_GREY, NHS_LIGHT_BLUE)

FONT_FAMILY = "Liberation Sans"


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
