"""`evaltool check`: is this machine ready to run an evaluation and render its report?

Each check says what it found, what the tool is for and, when it is missing, how to get it.
Required checks (Python, the declared dependencies, pandoc, Typst, DuckDB) stop a run when they
fail; optional ones (Quarto, the report font, Chromium, R with MatchIt and did) only lose a
feature, which the check names.

Examples
--------
>>> from evaltool.envcheck import check_environment
>>> checks = check_environment(include_r=False)
>>> [c.name for c in checks][:3]
['python', 'evaltool', 'dependencies']
>>> all(c.status in ("ok", "missing", "warn") for c in checks)
True
"""
from __future__ import annotations

import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from evaltool import DISTRIBUTION, __version__

__all__ = ["Check", "check_environment", "required_ok"]

MIN_PYTHON = (3, 10)


@dataclass(frozen=True)
class Check:
    """One line of ``evaltool check``."""

    name: str
    status: str  # "ok", "missing" (not found / not working) or "warn" (works with a caveat)
    found: str
    purpose: str
    required: bool
    fix: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def _run(cmd: list[str], timeout: float = 30) -> tuple[int, str]:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        return 1, str(err)
    return proc.returncode, (proc.stdout or proc.stderr).strip()


def _python() -> Check:
    v = sys.version_info
    ok = (v.major, v.minor) >= MIN_PYTHON
    return Check("python", "ok" if ok else "missing", f"{platform.python_version()} ({sys.executable})",
                 "runs evaltool", True, "" if ok else "install Python 3.10 or newer")


def _evaltool() -> Check:
    try:
        dist = metadata.version(DISTRIBUTION)
        found = f"{__version__} (installed as {DISTRIBUTION} {dist})"
        status = "ok" if dist == __version__ else "warn"
        fix = "" if status == "ok" else "the installed metadata and the code disagree: reinstall evaltool-care"
    except metadata.PackageNotFoundError:
        found, status, fix = f"{__version__} (running from source, not installed)", "warn", "pip install -e ."
    return Check("evaltool", status, found, "this package", True, fix)


def _dependencies() -> Check:
    """Every declared dependency is installed at a version the package accepts."""
    from packaging.requirements import Requirement

    try:
        reqs = metadata.requires(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:
        return Check("dependencies", "warn", "not checked (evaltool-care is not installed)",
                     "the libraries evaltool imports", True, "pip install -e .")
    bad = []
    n = 0
    for line in reqs:
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue  # an optional extra (test, docs, ...)
        n += 1
        try:
            have = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            bad.append(f"{req.name} not installed (needs {req.specifier or 'any version'})")
            continue
        if req.specifier and not req.specifier.contains(have, prereleases=True):
            bad.append(f"{req.name} {have} (needs {req.specifier})")
    if bad:
        return Check("dependencies", "missing", "; ".join(bad), "the libraries evaltool imports", True,
                     f"pip install --upgrade {DISTRIBUTION}")
    return Check("dependencies", "ok", f"{n} declared dependencies at accepted versions",
                 "the libraries evaltool imports", True)


def _pandoc() -> Check:
    purpose = "renders the report (HTML, Word, and the Typst source of the PDF)"
    try:
        import pypandoc

        path = pypandoc.get_pandoc_path()
        code, text = _run([path, "--version"])
    except (ImportError, OSError) as err:
        return Check("pandoc", "missing", str(err), purpose, True, f"pip install --upgrade {DISTRIBUTION}")
    if code != 0:
        return Check("pandoc", "missing", text[:200], purpose, True, "pip install --force-reinstall pypandoc-binary")
    return Check("pandoc", "ok", text.splitlines()[0], purpose, True)


def _typst() -> Check:
    purpose = "typesets the PDF report"
    try:
        import typst

        typst.compile(b"= evaltool check\nok", format="pdf")
        version = metadata.version("typst")
    except Exception as err:  # noqa: BLE001 - report any failure of the compiler as the check's finding
        return Check("typst", "missing", f"{type(err).__name__}: {err}"[:200], purpose, True,
                     "pip install --force-reinstall typst")
    return Check("typst", "ok", f"typst (Python) {version}: compiled a test page", purpose, True)


def _duckdb() -> Check:
    purpose = "prepares panels and covariates (the SQL engine)"
    try:
        import duckdb

        con = duckdb.connect()
        one = con.execute("select 1").fetchone()[0]
        con.close()
    except Exception as err:  # noqa: BLE001
        return Check("duckdb", "missing", f"{type(err).__name__}: {err}"[:200], purpose, True,
                     "pip install --force-reinstall duckdb")
    return Check("duckdb", "ok" if one == 1 else "missing", f"duckdb {duckdb.__version__}", purpose, True)


def _quarto() -> Check:
    purpose = "optional: renders the report with Quarto instead of pandoc + Typst"
    path = shutil.which("quarto")
    if path is None:
        return Check("quarto", "missing", "not on PATH (pandoc + Typst are used instead)", purpose, False,
                     "install Quarto from quarto.org if your organisation's template needs it")
    code, text = _run([path, "--version"])
    return Check("quarto", "ok" if code == 0 else "missing", f"{text.splitlines()[0] if text else ''} ({path})",
                 purpose, False)


def _fonts() -> Check:
    from evaltool.plotting import FONT_FAMILY

    purpose = f"the figures' font ({FONT_FAMILY}); DejaVu Sans is used without it"
    try:
        from matplotlib import font_manager

        found = [f.fname for f in font_manager.fontManager.ttflist if f.name == FONT_FAMILY]
    except Exception as err:  # noqa: BLE001
        return Check("fonts", "missing", f"matplotlib: {err}"[:200], purpose, False)
    if found:
        return Check("fonts", "ok", f"{FONT_FAMILY}: {len(found)} file(s)", purpose, False)
    import matplotlib

    on_disk = [f for f in font_manager.findSystemFonts() if FONT_FAMILY.replace(" ", "") in Path(f).name]
    if on_disk:
        # Installed after matplotlib cached its font list: the cache hides it until it is rebuilt.
        return Check("fonts", "warn", f"{FONT_FAMILY} is installed ({len(on_disk)} files) but matplotlib's font "
                     "cache predates it", purpose, False,
                     f"delete {matplotlib.get_cachedir()}/fontlist-*.json (matplotlib rebuilds it)")
    return Check("fonts", "warn", f"{FONT_FAMILY} not found", purpose, False,
                 "Debian/Ubuntu: apt-get install fonts-liberation")


def _chromium() -> Check:
    purpose = "optional: screenshots of the HTML report in layout tests"
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            code, text = _run([path, "--version"])
            if code == 0:
                return Check("chromium", "ok", text.splitlines()[0] if text else path, purpose, False)
    return Check("chromium", "missing", "no chromium or chrome on PATH", purpose, False,
                 "Debian/Ubuntu: apt-get install chromium")


def _r() -> Check:
    purpose = "optional: live comparison with R's MatchIt and did (stored reference output is used otherwise)"
    path = shutil.which("Rscript")
    if path is None:
        return Check("R", "missing", "Rscript not on PATH", purpose, False,
                     "Debian/Ubuntu: apt-get install r-base-core r-cran-matchit")
    script = ("for (p in c('MatchIt', 'did')) cat(p, if (requireNamespace(p, quietly = TRUE)) "
              "as.character(packageVersion(p)) else '-', '\\n')")
    code, text = _run([path, "--vanilla", "-e", script], timeout=60)
    if code != 0:
        return Check("R", "missing", text[:200], purpose, False)
    pkgs = dict(line.split()[:2] for line in text.splitlines() if len(line.split()) >= 2)
    found = ", ".join(f"{k} {'not installed' if v == '-' else v}" for k, v in pkgs.items())
    missing = [k for k, v in pkgs.items() if v == "-"]
    return Check("R", "warn" if missing else "ok", found, purpose, False,
                 f"install the R package(s) {', '.join(missing)}" if missing else "")


def check_environment(*, include_r: bool = True) -> list[Check]:
    """Run every check (R's takes a second or two; ``include_r=False`` leaves it out)."""
    checks = [_python(), _evaltool(), _dependencies(), _duckdb(), _pandoc(), _typst(), _quarto(), _fonts(),
              _chromium()]
    if include_r:
        checks.append(_r())
    return checks


def required_ok(checks: list[Check]) -> bool:
    """True when every required check passed (warnings allowed)."""
    return all(c.status != "missing" for c in checks if c.required)
