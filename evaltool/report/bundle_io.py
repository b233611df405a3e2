"""Reading a saved results bundle (the report layer's only input)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from evaltool.errors import ReportError

__all__ = ["SECTIONS", "Bundle", "FigureEntry", "TableEntry", "load_bundle"]

#: Report sections in order (docs/architecture.md).
SECTIONS = ("cohort", "matching", "effects", "rollout", "spc", "proms", "qual", "joint_display")


@dataclass(frozen=True)
class TableEntry:
    """One table listed in ``manifest.tables``, with its data."""

    name: str
    section: str
    title: str
    caption: str
    count_columns: tuple[str, ...]
    derived_columns: tuple[tuple[str, str], ...]
    appendix: bool
    publish: bool
    data: pd.DataFrame
    rule: str | None = None


@dataclass(frozen=True)
class FigureEntry:
    """One figure listed in ``manifest.figures``."""

    name: str
    section: str
    title: str
    alt: str
    appendix: bool
    path: Path


@dataclass(frozen=True)
class Bundle:
    """A loaded results bundle: manifest, facts, tables and figures."""

    root: Path
    manifest: dict[str, Any]
    facts: dict[str, Any]
    tables: dict[str, TableEntry] = field(default_factory=dict)
    figures: dict[str, FigureEntry] = field(default_factory=dict)

    def table(self, name: str) -> pd.DataFrame | None:
        t = self.tables.get(name)
        return None if t is None else t.data

    def stage_status(self, section: str) -> tuple[str, str]:
        """(status, reason) of a section: ``ok``, ``not_run`` or ``failed``.

        A section missing from ``manifest.stages`` is ``ok`` when the bundle holds any of its
        tables or figures, otherwise ``not_run``.
        """
        st = (self.manifest.get("stages") or {}).get(section)
        if isinstance(st, dict) and st.get("status"):
            status = str(st["status"])
            return (status if status in ("ok", "failed") else "not_run", str(st.get("reason") or ""))
        has = any(t.section == section for t in self.tables.values()) or any(
            f.section == section for f in self.figures.values())
        return ("ok", "") if has else ("not_run", "the results bundle has no results for this part")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise ReportError(f"results bundle file `{path}` is missing; run `evaltool run` first") from err
    except json.JSONDecodeError as err:
        raise ReportError(f"`{path}` is not valid JSON: {err}") from err


def load_bundle(bundle_dir: str | Path) -> Bundle:
    """Load a saved results bundle directory.

    Parameters
    ----------
    bundle_dir : path
        Holds ``results/manifest.json`` (or ``manifest.json``), ``results/*.csv`` and ``figures/``.

    Returns
    -------
    Bundle

    Examples
    --------
    >>> from pathlib import Path
    >>> b = load_bundle(Path("tests/fixtures/bundle"))  # doctest: +SKIP
    >>> b.manifest["name"]  # doctest: +SKIP
    'fixture'
    """
    root = Path(bundle_dir)
    if not root.is_dir():
        raise ReportError(f"`bundle_dir` {str(root)!r} is not a directory")
    mpath = root / "results" / "manifest.json"
    if not mpath.exists() and (root / "manifest.json").exists():
        mpath = root / "manifest.json"
    manifest = _read_json(mpath)
    if not isinstance(manifest, dict):
        raise ReportError(f"`{mpath}` must hold a JSON object, found {type(manifest).__name__}")
    missing = [k for k in ("name", "title", "created") if k not in manifest]
    if missing:
        raise ReportError(f"`{mpath}` lacks required keys {missing}")
    fpath = root / "results" / "facts.json"
    facts = _read_json(fpath) if fpath.exists() else {}
    tables: dict[str, TableEntry] = {}
    for i, t in enumerate(manifest.get("tables") or []):
        try:
            name, path = str(t["name"]), root / str(t["path"])
        except (KeyError, TypeError) as err:
            raise ReportError(f"`manifest.tables[{i}]` needs `name` and `path`, found {t!r}") from err
        if not path.exists():
            raise ReportError(f"table {name!r}: file `{path}` listed in the manifest is missing")
        # Ids and codes stay text (leading zeros, practice codes like "001").
        data = pd.read_csv(path, keep_default_na=True, dtype=None)
        # A table named after a report section belongs there whichever stage wrote it (the qualitative
        # stage writes `joint_display`, which has its own section).
        section = name if name in SECTIONS else str(t.get("section", ""))
        tables[name] = TableEntry(
            name=name, section=section, title=str(t.get("title") or name),
            caption=str(t.get("caption") or ""), count_columns=tuple(t.get("count_columns") or ()),
            derived_columns=tuple(tuple(p) for p in (t.get("derived_columns") or ())),
            appendix=bool(t.get("appendix", False)), publish=bool(t.get("publish", True)), data=data,
            rule=str(t["rule"]) if t.get("rule") else None)
    figures: dict[str, FigureEntry] = {}
    for i, f in enumerate(manifest.get("figures") or []):
        if isinstance(f, dict) and f.get("data"):
            # A count figure drawn by the report from a published table (evaltool.report.publish).
            if str(f["data"]) not in tables:
                raise ReportError(f"figure {f.get('name')!r}: its data table {f['data']!r} is not in the manifest")
            if not str(f.get("alt") or "").strip():
                raise ReportError(f"figure {f.get('name')!r} has no alt text (`manifest.figures[{i}].alt`)")
            continue
        try:
            name, path = str(f["name"]), root / str(f["path"])
        except (KeyError, TypeError) as err:
            raise ReportError(f"`manifest.figures[{i}]` needs `name` and `path`, found {f!r}") from err
        if not path.exists():
            raise ReportError(f"figure {name!r}: file `{path}` listed in the manifest is missing")
        alt = str(f.get("alt") or "").strip()
        if not alt:
            raise ReportError(f"figure {name!r} has no alt text (`manifest.figures[{i}].alt`); every figure needs one")
        figures[name] = FigureEntry(name=name, section=str(f.get("section", "")), title=str(f.get("title") or name),
                                    alt=alt, appendix=bool(f.get("appendix", False)), path=path)
    return Bundle(root=root, manifest=manifest, facts=facts if isinstance(facts, dict) else {},
                  tables=tables, figures=figures)
