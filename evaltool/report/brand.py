"""Brand: organisation name, logo, colours and fonts from a Quarto ``_brand.yml``.

The NHS identity is the default brand (``templates/brand/_brand.yml`` in the package), not a
hard-coded style: a spec's ``report.brand`` points at another ``_brand.yml`` (councils,
universities and charities run evaluations too). evaltool reads the parts of Quarto's brand
schema it uses -- ``meta.name``, ``logo``, ``color`` (``palette``, ``primary``, ``secondary``,
``foreground``, ``background``), ``typography`` (``base``, ``headings``) -- plus
``defaults.evaltool.chart-palette`` (series colours in order). The same file travels with the
kept ``report.qmd``, so ``quarto render`` applies it natively too.

Accessibility is enforced, not hoped for: text colours must reach 4.5:1 against the background
and chart colours 3:1 (WCAG 2.2, 1.4.3 and 1.4.11). A brand colour that falls short is darkened
until it passes, and the report's render warnings say so.

Examples
--------
>>> b = load_brand(None)
>>> b.name, b.primary, round(contrast(b.primary, b.background), 1)
('', '#005EB8', 6.4)
>>> all(contrast(c, "#FFFFFF") >= 3 for c in b.chart)
True
"""
from __future__ import annotations

import colorsys
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from evaltool.errors import ReportError

__all__ = ["Brand", "DEFAULT_BRAND", "contrast", "load_brand", "simulate_cvd"]

DEFAULT_BRAND = Path(__file__).parent / "templates" / "brand" / "_brand.yml"
_HEX = re.compile(r"^#?[0-9A-Fa-f]{6}$")


def _rgb(h: str) -> tuple[float, float, float]:
    h = h.lstrip("#")
    return tuple(int(h[i:i + 2], 16) / 255 for i in (0, 2, 4))  # type: ignore[return-value]


def _hex(rgb: tuple[float, float, float]) -> str:
    return "#" + "".join(f"{max(0, min(255, round(c * 255))):02X}" for c in rgb)


def _lin(c: float) -> float:
    return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4


def luminance(h: str) -> float:
    """WCAG relative luminance of a ``#RRGGBB`` colour."""
    r, g, b = (_lin(c) for c in _rgb(h))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio between two colours (1 to 21).

    Examples
    --------
    >>> round(contrast("#ED8B00", "#FFFFFF"), 2)
    2.53
    """
    la, lb = luminance(a), luminance(b)
    return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)


def accessible(colour: str, background: str, target: float) -> str:
    """``colour`` darkened (or lightened on a dark background) until it reaches ``target`` contrast."""
    if contrast(colour, background) >= target:
        return colour.upper()
    hue, light, sat = colorsys.rgb_to_hls(*_rgb(colour))
    darker = luminance(background) > 0.2
    for _ in range(100):
        light = max(0.0, light - 0.01) if darker else min(1.0, light + 0.01)
        c = _hex(colorsys.hls_to_rgb(hue, light, sat))
        if contrast(c, background) >= target:
            return c
    return "#000000" if darker else "#FFFFFF"


# Machado, Oliveira & Fernandes (2009) simulation matrices (severity 1), on linear RGB.
_CVD = {
    "protanopia": ((0.152286, 1.052583, -0.204868), (0.114503, 0.786281, 0.099216), (-0.003882, -0.048116, 1.051998)),
    "deuteranopia": ((0.367322, 0.860646, -0.227968), (0.280085, 0.672501, 0.047413), (-0.011820, 0.042940, 0.968881)),
    "tritanopia": ((1.255528, -0.076749, -0.178779), (-0.078411, 0.930809, 0.147602), (0.004733, 0.691367, 0.303900)),
}


def _lab(rgb_lin: tuple[float, float, float]) -> tuple[float, float, float]:
    r, g, b = rgb_lin
    x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883

    def f(t: float) -> float:
        return t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116
    return 116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))


def simulate_cvd(h: str, kind: str) -> tuple[float, float, float]:
    """CIELAB coordinates of ``h`` as seen with a colour-vision deficiency (``normal`` for none)."""
    lin = tuple(_lin(c) for c in _rgb(h))
    if kind != "normal":
        m = _CVD[kind]
        lin = tuple(max(0.0, min(1.0, sum(m[i][j] * lin[j] for j in range(3)))) for i in range(3))
    return _lab(lin)  # type: ignore[arg-type]


def min_distance(colours: list[str], kind: str) -> float:
    """Smallest CIE76 distance between any two of ``colours`` under ``kind`` of colour vision."""
    labs = [simulate_cvd(c, kind) for c in colours]
    best = float("inf")
    for i in range(len(labs)):
        for j in range(i + 1, len(labs)):
            best = min(best, sum((a - b) ** 2 for a, b in zip(labs[i], labs[j])) ** 0.5)
    return best


@dataclass(frozen=True)
class Brand:
    """Resolved brand settings (colours as ``#RRGGBB``, every one checked for contrast)."""

    name: str = ""
    logo: Path | None = None
    logo_alt: str = ""
    primary: str = "#005EB8"
    heading: str = "#003087"
    foreground: str = "#212B32"
    background: str = "#FFFFFF"
    muted: str = "#425563"
    pale: str = "#E8EDEE"
    font: str = "Arial"
    chart: tuple[str, ...] = ()
    source: Path | None = None
    warnings: tuple[str, ...] = field(default=())

    def css(self) -> str:
        """CSS custom properties for the HTML report."""
        font = self.font.replace('"', "")
        return (":root { "
                f"--brand-primary: {self.primary}; --brand-heading: {self.heading}; --brand-text: {self.foreground}; "
                f"--brand-bg: {self.background}; --brand-muted: {self.muted}; --brand-pale: {self.pale}; "
                f'--brand-font: "{font}"; }}\n')

    def typst_vars(self) -> dict[str, str]:
        return {"brand-primary": self.primary, "brand-heading": self.heading, "brand-text": self.foreground,
                "brand-muted": self.muted, "brand-pale": self.pale, "brand-font": self.font,
                "brand-name": self.name}


def _colour(value: Any, palette: dict[str, str], where: str) -> str:
    v = str(value).strip()
    v = palette.get(v, v)
    if not _HEX.match(v):
        raise ReportError(f"brand `{where}`: expected a colour like #005EB8 or a palette name, found {str(value)[:40]!r}")
    return "#" + v.lstrip("#").upper()


def load_brand(path: str | Path | None) -> Brand:
    """Read a ``_brand.yml`` (``None``: the NHS default) into a :class:`Brand`.

    Raises
    ------
    ReportError
        When the file is missing, not YAML, or names a colour that is not ``#RRGGBB`` or a palette entry.
    """
    p = Path(path) if path is not None else DEFAULT_BRAND
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except FileNotFoundError as err:
        raise ReportError(f"brand file `{p}` not found") from err
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ReportError(f"brand file `{p}` is not valid YAML: {str(err).splitlines()[0]}") from err
    if not isinstance(raw, dict):
        raise ReportError(f"brand file `{p}` must hold a YAML mapping")
    meta = raw.get("meta") or {}
    name = meta.get("name", "") if isinstance(meta, dict) else ""
    if isinstance(name, dict):
        name = name.get("full") or name.get("short") or ""
    colour = raw.get("color") or {}
    palette = {str(k): str(v) for k, v in (colour.get("palette") or {}).items()} if isinstance(colour, dict) else {}
    default = Brand()
    warns: list[str] = []

    def pick(key: str, fallback: str) -> str:
        v = colour.get(key) if isinstance(colour, dict) else None
        return _colour(v, palette, f"color.{key}") if v else fallback

    bg = pick("background", default.background)
    fg = pick("foreground", default.foreground)
    primary = pick("primary", default.primary)
    heading = primary
    typo = raw.get("typography") or {}
    font = default.font
    if isinstance(typo, dict):
        base = typo.get("base")
        font = str(base.get("family") if isinstance(base, dict) else base or font)
        head = typo.get("headings")
        if isinstance(head, dict) and head.get("color"):
            heading = _colour(head["color"], palette, "typography.headings.color")
    # The font name reaches CSS and the Typst template: letters, digits, spaces and hyphens only.
    font = re.sub(r"[^A-Za-z0-9 \-]", "", font).strip()[:60] or default.font
    muted = pick("secondary", default.muted)
    tool = ((raw.get("defaults") or {}).get("evaltool") or {}) if isinstance(raw.get("defaults"), dict) else {}
    chart_raw = tool.get("chart-palette") or tool.get("chart_palette") or []
    chart = [_colour(c, palette, "defaults.evaltool.chart-palette") for c in chart_raw] or [primary, muted]
    fixed = []
    for role, c, target in (("foreground", fg, 4.5), ("primary", primary, 4.5), ("headings", heading, 4.5),
                            ("secondary", muted, 4.5)):
        ok = accessible(c, bg, target)
        if ok != c:
            warns.append(f"brand colour {role} {c} has contrast {contrast(c, bg):.1f}:1 on {bg} (text needs 4.5:1); "
                         f"{ok} is used instead")
        fixed.append(ok)
    fg, primary, heading, muted = fixed
    chart_ok = []
    for c in chart:
        ok = accessible(c, bg, 3.0)
        if ok != c:
            warns.append(f"chart colour {c} has contrast {contrast(c, bg):.1f}:1 on {bg} (chart elements need 3:1); "
                         f"{ok} is used instead")
        chart_ok.append(ok)
    logo = None
    logo_raw = raw.get("logo")
    if isinstance(logo_raw, dict):
        logo_raw = logo_raw.get("medium") or logo_raw.get("large") or logo_raw.get("small")
        if isinstance(logo_raw, dict):
            logo_raw = logo_raw.get("path")
    if logo_raw:
        lp = Path(str(logo_raw))
        logo = lp if lp.is_absolute() else p.parent / lp
        if not logo.is_file():
            raise ReportError(f"brand file `{p}`: logo `{logo_raw}` not found next to it")
        if logo.suffix.lower() not in (".png", ".jpg", ".jpeg", ".svg"):
            raise ReportError(f"brand logo `{logo.name}` must be PNG, JPEG or SVG")
    pale = pick("light", default.pale) if isinstance(colour, dict) and colour.get("light") else default.pale
    return Brand(name=str(name or ""), logo=logo, logo_alt=str(tool.get("logo-alt") or (f"{name} logo" if name else "Logo")),
                 primary=primary, heading=heading, foreground=fg, background=bg, muted=muted, pale=pale, font=font,
                 chart=tuple(chart_ok), source=p, warnings=tuple(warns))
