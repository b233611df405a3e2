"""What every report section is given: the published bundle, the run record, brand and narrative.

A section is a function ``build(ctx) -> Section | None`` (``evaltool/report/sections/``). It
reads numbers only through ``ctx.pub`` (the publication gate), failures only through
``ctx.record``, and writes tables and figures only through :meth:`ReportContext.table` and
:meth:`ReportContext.figure`, which label, fit, number and register them for the workbook.
"""
from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from evaltool.report.brand import Brand
from evaltool.report.bundle_io import Bundle
from evaltool.report.evidence import Evidence
from evaltool.report.markdown import humanise, ident, md_figure, md_table
from evaltool.report.run_record import RunRecord

__all__ = ["ReportContext", "Section"]


@dataclass
class Section:
    """One report section: heading, anchor and Markdown body (already escaped where it holds user text)."""

    key: str
    heading: str
    body: str
    unnumbered: bool = False


# Charts are a pure function of their data and brand: re-rendering in one process reuses the PNG.
_PNG_CACHE: dict[str, Any] = {}  # key -> evaltool.figure_workers.Drawing


@dataclass
class ReportContext:
    bundle: Bundle
    pub: Any
    record: RunRecord
    evidence: Evidence
    brand: Brand
    workdir: Path
    narrative: dict[str, str] = field(default_factory=dict)
    logic_model: Path | None = None
    workbook: list[tuple[str, str, pd.DataFrame, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    document: str = "report"
    used_figures: set[str] = field(default_factory=set)
    used_tables: set[str] = field(default_factory=set)
    _pending: list[tuple[Path, str]] = field(default_factory=list, repr=False)

    @property
    def manifest(self) -> dict[str, Any]:
        return self.bundle.manifest

    def status(self, stage: str) -> tuple[str, str]:
        return self.bundle.stage_status(stage)

    @property
    def area_only(self) -> bool:
        """True for an area-only evaluation: the spec gave an area panel and no person-level tables."""
        data = (self.manifest.get("spec") or {}).get("data") or {}
        return bool(data) and data.get("population") is None and data.get("area_panel") is not None

    def unplanned(self, stage: str) -> bool:
        """True when ``stage`` did not run because the spec never asked for it (an area-only spec asks for
        no person-level part): its section is left out rather than reported as not run."""
        status, reason = self.status(stage)
        return status == "not_run" and reason.startswith("no `")

    # -- tables -------------------------------------------------------------------------------
    def table(self, df: pd.DataFrame, caption: str, name: str, *, labelled: bool = False, key_columns: int = 1,
              notes: str = "", workbook: bool = True, sheet_df: pd.DataFrame | None = None) -> str:
        """A published table: fitted Markdown for the document, and a sheet in the workbook.

        ``df`` holds published values only (from ``ctx.pub``). ``sheet_df`` (default ``df``) is what the
        workbook gets: the same values, unrounded by display, with numbers as numbers.
        """
        sheet = name[:31]
        if workbook:
            book = sheet_df if sheet_df is not None else df
            self.workbook.append((name, caption, book if labelled else humanise(book), notes))
        return md_table(df, caption, ident("tbl", name), labelled=labelled, key_columns=key_columns, notes=notes,
                        workbook_sheet=sheet)

    # -- figures ------------------------------------------------------------------------------
    def figure(self, draw: Callable[[], Any], name: str, title: str, alt: str, *, data: Any = None,
               width: float = 7.0, height: float = 4.0) -> str:
        """Draw a plotnine figure with the brand's palette (cached by data) and return its Markdown.

        The PNG is drawn in a helper process when one runs (:mod:`evaltool.figure_workers`) and is
        written into the build folder by :meth:`finish_figures`.
        """
        from evaltool.figure_workers import draw as draw_png
        from evaltool.plotting import use_palette

        dest = self.workdir / "figures" / f"{name}.png"
        dest.parent.mkdir(exist_ok=True)
        h = hashlib.sha256()
        h.update(repr((name, width, height, self.brand.chart)).encode())
        h.update((data.to_csv(index=False) if isinstance(data, pd.DataFrame) else repr(data)).encode())
        key = h.hexdigest()
        if key not in _PNG_CACHE:
            with use_palette(self.brand.chart):
                # drawn by a helper process while the sections go on; written by finish_figures()
                _PNG_CACHE[key] = draw_png(draw(), width=width, height=height, dpi=150)
        self._pending.append((dest, key))
        return md_figure(f"figures/{dest.name}", title, alt, ident("fig", name))

    def take_figures(self) -> list[tuple[Path, Any]]:
        """The figures drawn since the last call, as ``(destination, drawing)``, for :func:`write_figures`
        (the report's own, written while the appendix is still being written)."""
        pending, self._pending = self._pending, []
        return [(dest, _PNG_CACHE[key]) for dest, key in pending]

    def finish_figures(self) -> None:
        """Write every figure drawn so far into the build folder (waiting for the helpers)."""
        write_figures(self.take_figures())
        if len(_PNG_CACHE) > 64:
            _PNG_CACHE.clear()

    def all_figures(self) -> dict[str, Any]:
        """Name -> figure entry (``.section``, ``.title``, ``.alt``, ``.appendix``): the bundle's images and,
        once the publication gate provides them, its data figures (drawn here from published values)."""
        figs: dict[str, Any] = dict(self.bundle.figures)
        pf = getattr(self.pub, "figures", None)
        if isinstance(pf, dict):
            figs.update(pf)
        return figs

    def stage_figure(self, name: str, title: str | None = None) -> str:
        """A figure of the bundle: a stage's image (no counts in it) copied into the build, or a data
        figure drawn from its published table (suppressed values not drawn, said in words)."""
        pf = getattr(self.pub, "figures", None)
        g = pf.get(name) if isinstance(pf, dict) else None
        if g is not None and getattr(g, "kind", "image") == "data":
            from evaltool.report.escape import escape_markdown
            from evaltool.report.figure_data import draw

            self.used_figures.add(name)
            plot = draw(g)
            if plot is None:
                note = g.note or "This figure's values are suppressed to protect confidentiality, so it is not drawn."
                return f"**{escape_markdown(g.title)}.** {escape_markdown(note)}"
            enc = dict(g.encoding)
            return self.figure(lambda: plot, f"data-{ident('f', name)[2:]}", g.title + (f". {g.note}" if g.note else ""),
                               g.alt, data=(g.data.values.to_csv(), g.data.hidden.to_csv(), sorted(enc.items())),
                               width=float(enc.get("width", 7.0)), height=float(enc.get("height", 4.5)))
        f = self.bundle.figures[name]
        self.used_figures.add(name)
        dest = self.workdir / "figures" / f"stage-{ident('f', name)[2:]}.png"
        dest.parent.mkdir(exist_ok=True)
        shutil.copyfile(f.path, dest)
        return md_figure(f"figures/{dest.name}", title or f.title, f.alt, ident("fig", name))


def write_figures(taken: list[tuple[Path, Any]]) -> None:
    """Write figures taken by :meth:`ReportContext.take_figures` (waiting for the helpers drawing them)."""
    from evaltool.figure_workers import draw_queued

    draw_queued([drawing for _, drawing in taken])
    for dest, drawing in taken:
        dest.write_bytes(drawing.bytes())
