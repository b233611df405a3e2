"""Where a results bundle may be written, and how it replaces the previous one without losing anything.

Rules (docs/architecture.md, "Safe outputs"):

* Every bundle carries a marker file, ``.evaltool-bundle``. An existing folder at the bundle's path
  is replaced only if it carries the marker (or is an empty folder, or holds nothing but the files a
  bundle of an earlier evaltool would hold); otherwise the run stops before computing anything.
* The output root may not be ``/``, the home folder or one of its ancestors, or a file, and must be
  writable: checked before the run computes anything (:func:`prepare_output`).
* The new bundle is built in a hidden sibling ``.NAME.tmp-XXXX`` (marked as ours from its first
  instant) and exchanged with the old one in a single ``renameat2(RENAME_EXCHANGE)`` on Linux, so a
  complete bundle is at the final path at every instant. Where the exchange is not available, the
  old bundle is first renamed to ``.NAME.old-PID``; if the process dies between the two renames, the
  next run restores it and says so.
* Stale ``.NAME.tmp-*`` folders of interrupted runs are removed by the next run, but only those
  that carry our marker (or are empty); anything else is left alone and reported.

Examples
--------
>>> import tempfile, pathlib
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> plan = prepare_output(root / "reports" / "demo")
>>> with atomic_dir(plan.final) as tmp:
...     _ = (tmp / "results").mkdir()
>>> is_bundle_dir(root / "reports" / "demo")
True
"""
from __future__ import annotations

import ctypes
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from evaltool.errors import OutputError
from evaltool.runlog import display_path

__all__ = ["MARKER", "OutputPlan", "atomic_dir", "is_bundle_dir", "prepare_output", "write_marker"]

MARKER = ".evaltool-bundle"
#: What a bundle written by evaltool before the marker existed may hold (and nothing else).
_LEGACY_ENTRIES = re.compile(r"^(results|figures|report\.(html|pdf|docx)|report_tables\.xlsx|\.report-build-.*)$")


def write_marker(folder: Path, name: str) -> None:
    """Mark ``folder`` as an evaltool bundle (or a temporary one being built)."""
    (Path(folder) / MARKER).write_text(json.dumps({"evaltool_bundle": 1, "name": name}) + "\n", encoding="utf-8")


def _has_marker(folder: Path) -> bool:
    m = folder / MARKER
    try:
        return m.is_file() and not m.is_symlink() and json.loads(m.read_text(encoding="utf-8")).get(
            "evaltool_bundle") == 1
    except (OSError, ValueError, AttributeError):
        return False


def _is_legacy_bundle(folder: Path) -> bool:
    """A bundle of an earlier evaltool: a manifest with ``bundle_version`` and nothing foreign beside it."""
    try:
        entries = [p.name for p in folder.iterdir()]
        manifest = json.loads((folder / "results" / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(manifest, dict) or "bundle_version" not in manifest:
        return False
    if not all(_LEGACY_ENTRIES.match(e) for e in entries):
        return False
    for sub, pat in (("results", r"^[A-Za-z0-9_.-]+\.(csv|json|jsonl)$"), ("figures", r"^[A-Za-z0-9_.-]+\.png$")):
        d = folder / sub
        if d.is_dir() and not all(re.match(pat, p.name) and p.is_file() for p in d.iterdir()):
            return False
    return True


def is_bundle_dir(folder: str | Path) -> bool:
    """True when ``folder`` is a results bundle evaltool may replace."""
    folder = Path(folder)
    if folder.is_symlink() or not folder.is_dir():
        return False
    return _has_marker(folder) or _is_legacy_bundle(folder)


def _forbidden_roots() -> list[Path]:
    home = Path.home().resolve()
    out = [Path("/").resolve(), home]
    out += [p for p in home.parents]
    return out


@dataclass
class OutputPlan:
    """A checked output location: where the bundle goes and what was tidied on the way."""

    final: Path
    replaces: bool = False
    notes: list[tuple[str, str]] = field(default_factory=list)  # (code, message) for the run record


def prepare_output(final: str | Path) -> OutputPlan:
    """Check that a bundle may be written at ``final`` (before any computing) and tidy leftovers.

    Raises :class:`~evaltool.errors.OutputError` naming the folder and what to do when the root
    is ``/`` or the home folder, is a file, is not writable, or when ``final`` exists and is not
    an evaltool bundle.
    """
    final = Path(os.path.abspath(final))
    root = final.parent
    plan = OutputPlan(final)
    resolved_root = root.resolve()
    if resolved_root in _forbidden_roots():
        raise OutputError(f"output folder `{display_path(root)}`: refusing to write bundles directly into "
                          f"{'the filesystem root' if resolved_root == Path('/') else 'your home folder or above'}; "
                          "choose a project folder such as `reports/` (`output_dir` in the spec or `--output-dir`)")
    for p in [root, *root.parents]:
        if p.exists() or p.is_symlink():
            if not p.is_dir():
                raise OutputError(f"output folder `{display_path(root)}`: `{display_path(p)}` is a file, not a "
                                  "folder; choose another `output_dir`/`--output-dir`")
            break
    if final.is_symlink() or (final.exists() and not final.is_dir()):
        raise OutputError(f"`{display_path(final)}` exists and is not a folder (a file or a link); evaltool will not replace it. "
                          "Move it away or choose another `output_dir`/`name`.")
    if final.is_dir():
        if not any(final.iterdir()):
            plan.replaces = True
        elif is_bundle_dir(final):
            plan.replaces = True
        else:
            shown = sorted(p.name for p in final.iterdir())[:5]
            raise OutputError(
                f"`{display_path(final)}` exists and is not an evaltool results bundle (it holds {', '.join(shown)}"
                f"{' ...' if len(shown) == 5 else ''}); evaltool replaces only folders it wrote itself. "
                "Move it away, or choose another `output_dir`/`--output-dir` or spec `name`.")
    # Probe the nearest existing folder: nothing is created before the run has computed its results.
    existing = next(p for p in [root, *root.parents] if p.exists())
    try:
        probe = Path(tempfile.mkdtemp(prefix=f".{final.name}.probe-", dir=existing))
        probe.rmdir()
    except OSError as err:
        raise OutputError(f"output folder `{display_path(root)}` is not writable ({err.strerror or err}); "
                          "choose another `output_dir`/`--output-dir`") from None
    if not root.exists():
        return plan
    _tidy_leftovers(final, plan)
    return plan


def _tidy_leftovers(final: Path, plan: OutputPlan) -> None:
    """Remove our stale temporary folders; restore a previous bundle stranded by an interrupted swap."""
    root, name = final.parent, final.name
    for p in sorted(root.glob(f".{glob_escape(name)}.old-*")):
        if not p.is_dir() or p.is_symlink() or not is_bundle_dir(p):
            continue
        if not final.exists():
            os.replace(p, final)
            plan.replaces = True
            plan.notes.append(("previous_bundle_restored",
                               f"an earlier run was interrupted while replacing `{display_path(final)}`; its previous bundle was "
                               "restored before this run"))
        else:
            shutil.rmtree(p, ignore_errors=True)
            plan.notes.append(("stale_folder_removed", f"removed `{p.name}`, left by an interrupted earlier run"))
    for p in sorted(root.glob(f".{glob_escape(name)}.tmp-*")):
        if not p.is_dir() or p.is_symlink():
            continue
        if _has_marker(p) or not any(p.iterdir()):
            shutil.rmtree(p, ignore_errors=True)
            plan.notes.append(("stale_folder_removed", f"removed `{p.name}`, left by an interrupted earlier run"))
        else:
            plan.notes.append(("stale_folder_kept", f"`{p.name}` looks like a temporary folder of an interrupted run "
                                                    "but is not marked as evaltool's; it was left alone"))


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux ``renameat2``); False when not supported here."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    rc = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return rc == 0


@contextmanager
def atomic_dir(final: Path, name: str | None = None) -> Iterator[Path]:
    """Yield a temporary, marked folder that replaces ``final`` only if the block succeeds.

    Call :func:`prepare_output` first: this function trusts that ``final`` may be replaced.
    A complete folder is at ``final`` at every instant where the platform can exchange two
    folders atomically (Linux); elsewhere see the module notes.
    """
    final = Path(os.path.abspath(final))
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        # mkdtemp makes the folder private (0700); a bundle gets the permissions of any folder the user makes.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)
        write_marker(tmp, name or final.name)
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if (final.exists() or final.is_symlink()) and not is_bundle_dir(final) and any(final.iterdir()):
        shutil.rmtree(tmp, ignore_errors=True)
        raise OutputError(f"`{display_path(final)}` appeared during the run and is not an evaltool bundle; it was left alone")
    if final.is_dir() and _exchange(tmp, final):
        shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the previous bundle
        return
    old = None
    if final.exists():
        old = final.parent / f".{final.name}.old-{os.getpid()}"
        os.replace(final, old)
    os.replace(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
