"""Copy the spec's report materials (narrative, brand, logo, Word reference document) into a bundle.

The report reads only the bundle, so a run copies what ``report:`` names into
``<bundle>/report_inputs/`` and records the relative paths in ``manifest.report.materials``.
Only regular files are copied (never a folder or a symlink), with size limits; nothing outside the
listed files is read.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from evaltool.errors import SpecError

__all__ = ["MATERIALS_DIR", "copy_materials"]

MATERIALS_DIR = "report_inputs"
MAX_BYTES = 20_000_000


def _copy(src: Path, dest_dir: Path, name: str, what: str) -> str:
    p = Path(src)
    if p.is_symlink() or not p.is_file():
        raise SpecError(f"report.{what}: `{p}` is not a regular file")
    if p.stat().st_size > MAX_BYTES:
        raise SpecError(f"report.{what}: `{p.name}` is larger than {MAX_BYTES // 1_000_000} MB")
    dest_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(p, dest_dir / name)
    return f"{MATERIALS_DIR}/{name}"


def copy_materials(report: Any, bundle_root: Path) -> dict[str, Any]:
    """Copy ``report.narrative``, ``report.brand`` (with its logo), ``report.logic_model`` and
    ``report.reference_docx`` into ``bundle_root/report_inputs``; return the manifest entry."""
    out: dict[str, Any] = {}
    dest = Path(bundle_root) / MATERIALS_DIR
    narrative = getattr(report, "narrative", None)
    if narrative is not None:
        files = {}
        for key, path in narrative.model_dump().items():
            if path:
                files[key] = _copy(Path(path), dest, f"{key}.md", f"narrative.{key}")
        if files:
            out["narrative"] = files
    lm = getattr(report, "logic_model", None)
    if lm:
        out["logic_model"] = _copy(Path(lm), dest, "logic_model" + Path(lm).suffix.lower(), "logic_model")
    ref = getattr(report, "reference_docx", None)
    if ref:
        out["reference_docx"] = _copy(Path(ref), dest, "reference.docx", "reference_docx")
    brand = getattr(report, "brand", None)
    if brand:
        import yaml

        from evaltool.report.brand import load_brand

        try:
            b = load_brand(brand)
        except Exception as err:  # a ReportError from the brand reader: the spec is at fault
            raise SpecError(f"report.brand: {err}") from None
        bdir = dest / "brand"
        out["brand"] = _copy(Path(brand), bdir, "_brand.yml", "brand").replace(MATERIALS_DIR + "/", MATERIALS_DIR + "/brand/", 1)
        if b.logo is not None:
            raw = yaml.safe_load(Path(brand).read_text(encoding="utf-8")) or {}
            logo = raw.get("logo")
            rel = logo if isinstance(logo, str) else None
            if isinstance(logo, dict):
                rel = logo.get("medium") or logo.get("large") or logo.get("small")
                rel = rel.get("path") if isinstance(rel, dict) else rel
            target = bdir / Path(str(rel))
            if Path(str(rel)).is_absolute() or ".." in Path(str(rel)).parts:
                raise SpecError("report.brand: the logo must be a file beside the brand file (a relative path without ..)")
            target.parent.mkdir(parents=True, exist_ok=True)
            _copy(b.logo, target.parent, target.name, "brand logo")
    return out
