"""Reading a saved results bundle (the report layer's only input).

A bundle is a closed world: every file the manifest names must resolve to a regular file inside
the bundle folder (no absolute paths, no ``..``, no symbolic links pointing out), and the manifest
must pass the schema of :mod:`evaltool.manifest`. A bundle received from someone else therefore
cannot make ``evaltool report`` publish files from elsewhere on this machine.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from evaltool.errors import BundleError
from evaltool.manifest import validate_manifest
from evaltool.runlog import AnalysisStatus, Event, read_jsonl

__all__ = ["SECTIONS", "Bundle", "FigureEntry", "TableEntry", "load_bundle"]

#: Report sections in order (docs/architecture.md).
SECTIONS = ("cohort", "matching", "effects", "rollout", "area", "spc", "proms", "qual", "joint_display")


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
            if status == "partial":  # results exist; what is missing is in analyses() / run_events()
                return ("ok", str(st.get("reason") or ""))
            return (status if status in ("ok", "failed") else "not_run", str(st.get("reason") or ""))
        has = any(t.section == section for t in self.tables.values()) or any(
            f.section == section for f in self.figures.values())
        return ("ok", "") if has else ("not_run", "the results bundle has no results for this part")


    @property
    def run_status(self) -> str:
        """``complete`` or ``partial`` (``manifest.run.status``; ``complete`` for older bundles)."""
        return str((self.manifest.get("run") or {}).get("status", "complete"))

    def analyses(self) -> list[AnalysisStatus]:
        """Every planned analysis with its status (``manifest.run.analyses``): the report's deviations."""
        return [AnalysisStatus(**a) for a in (self.manifest.get("run") or {}).get("analyses", [])]

    def run_events(self, min_severity: str = "warning") -> list[Event]:
        """The run's warnings and errors (``results/run_log.jsonl``; tracebacks removed)."""
        path = _inside(self.root, "results/run_log.jsonl", "the run log", required=False)
        if path is None:
            return []
        order = {"info": 0, "warning": 1, "error": 2}
        try:
            events = read_jsonl(path)
        except (ValueError, TypeError) as err:
            raise BundleError(f"`results/run_log.jsonl` is not a valid run log: {str(err)[:200]}") from None
        return [Event(**{**e.__dict__, "traceback": None}) for e in events
                if order[e.severity] >= order[min_severity]]


def _inside(root: Path, rel: str, what: str, required: bool = True) -> Path | None:
    """The file ``rel`` of the bundle at ``root``, checked to lie inside it (links resolved)."""
    p = Path(rel)
    if p.is_absolute() or rel.startswith(("/", "\\")) or ".." in p.parts or "\\" in rel:
        raise BundleError(f"{what}: path `{rel[:100]}` points outside the bundle (absolute paths and `..` are "
                          "refused); the bundle may have been edited or be hostile")
    full = root / p
    try:
        resolved = full.resolve(strict=True)
    except (FileNotFoundError, RuntimeError, OSError):
        if not required:
            return None
        raise BundleError(f"{what}: file `{rel[:100]}` listed in the manifest is missing from the bundle "
                          f"`{root}`") from None
    if not resolved.is_relative_to(root.resolve()):
        raise BundleError(f"{what}: `{rel[:100]}` is a link to a file outside the bundle; refused")
    if not resolved.is_file():
        raise BundleError(f"{what}: `{rel[:100]}` is not a regular file")
    return resolved


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BundleError(f"results bundle file `{path}` is missing; run `evaltool run` first") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise BundleError(f"`{path}` is not valid JSON: {str(err)[:200]}") from None


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
    root = Path(bundle_dir).absolute()
    if not root.is_dir():
        raise BundleError(f"`bundle_dir` {str(bundle_dir)[:200]!r} is not a directory")
    rel = "results/manifest.json"
    if not (root / rel).exists() and (root / "manifest.json").exists():
        rel = "manifest.json"
    mpath = _inside(root, rel, "manifest")
    manifest = _read_json(mpath)
    try:
        validate_manifest(manifest, source=rel)
    except ValueError as err:
        raise BundleError(str(err)) from None
    fpath = _inside(root, "results/facts.json", "facts", required=False)
    facts = _read_json(fpath) if fpath is not None else {}
    tables: dict[str, TableEntry] = {}
    for i, t in enumerate(manifest.get("tables") or []):
        name = str(t["name"])
        path = _inside(root, str(t["path"]), f"table {name!r} (`manifest.tables[{i}]`)")
        # Ids and codes stay text (leading zeros, practice codes like "001").
        try:
            data = pd.read_csv(path, keep_default_na=True, dtype=None)
        except (ValueError, UnicodeDecodeError) as err:
            raise BundleError(f"table {name!r}: `{t['path']}` cannot be read as CSV: {str(err)[:200]}") from None
        # A table named after a report section belongs there whichever stage wrote it (the qualitative
        # stage writes `joint_display`, which has its own section).
        section = name if name in SECTIONS else str(t.get("section", ""))
        tables[name] = TableEntry(
            name=name, section=section, title=str(t.get("title") or name),
            caption=str(t.get("caption") or ""), count_columns=tuple(t.get("count_columns") or ()),
            derived_columns=tuple(tuple(p) for p in (t.get("derived_columns") or ())),
            appendix=bool(t.get("appendix", False)), publish=bool(t.get("publish", True)), data=data)
    figures: dict[str, FigureEntry] = {}
    for i, f in enumerate(manifest.get("figures") or []):
        name = str(f["name"])
        path = _inside(root, str(f["path"]), f"figure {name!r} (`manifest.figures[{i}]`)")
        alt = str(f.get("alt") or "").strip()
        if not alt:
            raise BundleError(f"figure {name!r} has no alt text (`manifest.figures[{i}].alt`); every figure needs one")
        figures[name] = FigureEntry(name=name, section=str(f.get("section", "")), title=str(f.get("title") or name),
                                    alt=alt, appendix=bool(f.get("appendix", False)), path=path)
    return Bundle(root=root, manifest=manifest, facts=facts if isinstance(facts, dict) else {},
                  tables=tables, figures=figures)
