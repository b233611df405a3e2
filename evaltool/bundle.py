"""The results bundle: tidy aggregate tables, figures, facts and a manifest.

Layout (stable; documented in README.md and docs/architecture.md)::

    <bundle>/results/manifest.json   provenance + table/figure metadata (the only timestamp)
    <bundle>/results/facts.json      {section: {key: value}}
    <bundle>/results/<table>.csv     aggregate tables (cohort_flow.csv, effects.csv, ...)
    <bundle>/figures/<name>.png

The same spec, data and seed give byte-identical CSVs and facts.json: floats are written with
10 significant digits, keys sorted, no timestamps outside ``manifest.json``.
A bundle is built in a temporary sibling directory and swapped into place atomically, so an
interrupted run never leaves a half-written bundle that looks complete, and only folders evaltool
wrote itself are ever replaced (:mod:`evaltool.safe_output`).

CSV cells are written exactly as computed (no spreadsheet-formula neutralising: these are data for
analysts and must round-trip). A text cell starting with ``=``, ``+``, ``-``, ``@``, tab or CR may be
run as a formula by a spreadsheet that opens the CSV directly; open bundle CSVs with an import
step, or use ``report_tables.xlsx``, which stores every text cell as text.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evaltool.figure_workers import Drawing, draw, draw_queued
from evaltool.manifest import validate_manifest
from evaltool.safe_output import atomic_dir  # noqa: F401 - re-exported (the pipeline's swap)
from evaltool.stage import DataFigure, FigureSpec, StageOutput, TableMeta

FLOAT_FORMAT = "%.10g"


def _clean(value: Any) -> Any:
    """JSON-safe, stable representation (numpy scalars, NaN -> null, floats to 10 s.f.)."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if math.isnan(v) or math.isinf(v):
            return None
        return float(f"{v:.10g}")
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, (pd.Timestamp,)):
        return None if pd.isna(value) else value.strftime("%Y-%m-%d")
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def dumps(obj: Any) -> str:
    """Stable JSON text (sorted keys, 2-space indent, trailing newline)."""
    return json.dumps(_clean(obj), sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def write_csv(df: pd.DataFrame, path: Path) -> None:
    """Write a table deterministically (fixed float format, ISO dates, LF line ends)."""
    out = df.copy()
    for c in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[c]):
            out[c] = out[c].dt.strftime("%Y-%m-%d")
    out.to_csv(path, index=False, float_format=FLOAT_FORMAT, lineterminator="\n", encoding="utf-8")


def atomic_write_text(path: Path, text: str) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def draw_figure(fig: FigureSpec) -> Drawing:
    """Start drawing a stage figure as the bundle's PNG (150 dpi), in a helper process when one runs."""
    return draw(fig.plot, width=fig.width, height=fig.height, dpi=150)


class BundleWriter:
    """Collects stage outputs into a bundle directory (normally a temporary one)."""

    def __init__(self, root: Path, drawings: dict[int, Drawing] | None = None):
        # drawings: figures already being drawn (evaltool.figure_workers), by id() of their FigureSpec
        self.root = Path(root)
        self.drawings = drawings if drawings is not None else {}
        (self.root / "results").mkdir(parents=True, exist_ok=True)
        (self.root / "figures").mkdir(parents=True, exist_ok=True)
        self.tables: list[dict[str, Any]] = []
        self.figures: list[dict[str, Any]] = []
        self.facts: dict[str, dict[str, Any]] = {}
        self._unwritten: list[tuple[Drawing, Path]] = []  # figures still being drawn, written by finish()

    def add_table(self, section: str, name: str, df: pd.DataFrame, meta: TableMeta | None = None) -> None:
        if any(t["name"] == name for t in self.tables):
            raise ValueError(f"table {name!r} written twice")
        meta = meta or TableMeta(title=name.replace("_", " ").capitalize())
        path = f"results/{name}.csv"
        write_csv(df, self.root / path)
        self.tables.append({
            "name": name, "path": path, "section": meta.section or section, "title": meta.title, "caption": meta.caption,
            "count_columns": list(meta.count_columns), "derived_columns": [list(x) for x in meta.derived_columns],
            "appendix": meta.appendix, "publish": meta.publish, "rows": int(len(df)),
            **({"rule": meta.rule} if meta.rule else {}),
        })

    def add_figure(self, section: str, name: str, fig: FigureSpec | DataFigure) -> None:
        if isinstance(fig, DataFigure):
            # Drawn by the report from the published (disclosure-controlled) data table: no PNG here.
            self.figures.append({"name": name, "section": section, "title": fig.title, "alt": fig.alt,
                                 "appendix": fig.appendix, "data": fig.table,
                                 "encoding": {**fig.encoding, "width": fig.width, "height": fig.height}})
            return
        path = f"figures/{name}.png"
        # Written when the bundle is finished: the tables of every stage are written meanwhile, while the
        # helpers finish the last stages' figures.
        self._unwritten.append((self.drawings.pop(id(fig), None) or draw_figure(fig), self.root / path))
        self.figures.append({"name": name, "path": path, "section": section, "title": fig.title,
                             "alt": fig.alt, "appendix": fig.appendix})

    def add_stage(self, out: StageOutput) -> None:
        for name, df in out.tables.items():
            self.add_table(out.section, name, df, out.table_meta.get(name))
        for name, fig in out.figures.items():
            self.add_figure(out.section, name, fig)
        if out.facts:
            self.facts.setdefault(out.section, {}).update(out.facts)

    def finish(self, manifest: dict[str, Any]) -> dict[str, Any]:
        draw_queued([drawing for drawing, _ in self._unwritten])
        for drawing, dest in self._unwritten:
            drawing.write(dest)
        self._unwritten.clear()
        manifest = dict(manifest)
        manifest["tables"] = self.tables
        manifest["figures"] = self.figures
        validate_manifest(_clean(manifest))  # the reader checks the same schema: never write what it refuses
        atomic_write_text(self.root / "results" / "facts.json", dumps(self.facts))
        atomic_write_text(self.root / "results" / "manifest.json", dumps(manifest))
        return manifest


def read_bundle_table(bundle: Path, name: str) -> pd.DataFrame:
    """Read one table of a saved bundle."""
    return pd.read_csv(Path(bundle) / "results" / f"{name}.csv")
