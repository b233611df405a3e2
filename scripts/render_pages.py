#!/usr/bin/env python
"""Render a bundle's report to PNG pages so a person can look at them.

Usage::

    python scripts/render_pages.py reports/southvale [--out reports/southvale/pages] [--dpi 60]

* ``report.pdf``  -> ``pdf-page-01.png`` ... with ``pdftoppm`` (apt: poppler-utils);
* ``report.html`` -> ``html-page-01.png`` ... with headless Chromium (apt: chromium), printed to PDF
  at A4 and then split with pdftoppm, when a Chromium binary is on PATH (skipped with a note otherwise).
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def pdf_pages(pdf: Path, out: Path, prefix: str, dpi: int) -> list[Path]:
    if shutil.which("pdftoppm") is None:
        print("pdftoppm not found: apt-get install poppler-utils", file=sys.stderr)
        return []
    subprocess.run(["pdftoppm", "-png", "-r", str(dpi), str(pdf), str(out / prefix)], check=True)
    return sorted(out.glob(f"{prefix}-*.png"))


def html_pages(html: Path, out: Path, dpi: int) -> list[Path]:
    chrome = next((shutil.which(c) for c in ("chromium", "chromium-browser", "google-chrome", "chrome")
                   if shutil.which(c)), None)
    if chrome is None:
        print("no Chromium on PATH (apt-get install chromium): HTML pages skipped", file=sys.stderr)
        return []
    with tempfile.TemporaryDirectory() as tmp:
        pdf = Path(tmp) / "html.pdf"
        subprocess.run([chrome, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
                        f"--print-to-pdf={pdf}", html.resolve().as_uri()], check=True, capture_output=True)
        return pdf_pages(pdf, out, "html-page", dpi)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundle", type=Path)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--dpi", type=int, default=60)
    a = ap.parse_args(argv)
    out = a.out or a.bundle / "pages"
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*-page-*.png"):
        old.unlink()
    made: list[Path] = []
    if (a.bundle / "report.pdf").exists():
        made += pdf_pages(a.bundle / "report.pdf", out, "pdf-page", a.dpi)
    if (a.bundle / "report.html").exists():
        made += html_pages(a.bundle / "report.html", out, a.dpi)
    for p in made:
        print(p)
    return 0 if made else 1


if __name__ == "__main__":
    raise SystemExit(main())
