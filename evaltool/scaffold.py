"""`evaltool init`: a new evaluation project that starts at the NHS RAP community's Silver level.

A project is a git repository (with a first commit) holding a commented starter spec whose every
commented option is valid, a README whose install and run steps work as written, a pinned
``requirements.txt`` (the exact versions ``init`` ran with), a test that re-runs the evaluation on
synthetic data, a CI workflow that runs it, a QA/peer-review checklist and a run log. Patient-level
data and outputs are kept out of version control by ``.gitignore``.

The templates live in ``evaltool/data/project/`` and are filled with :class:`string.Template`
(``$name``, ``$version``, ``$python``): they run no code.
"""
from __future__ import annotations

import platform
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from importlib import metadata, resources
from pathlib import Path
from string import Template

from evaltool import DISTRIBUTION, __version__

__all__ = ["InitResult", "init_project", "pinned_requirements", "starter_spec_text"]

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")

#: template file -> path in the project ($name is replaced)
FILES = {
    "spec.yaml": "analyses/$name.yaml",
    "README.md": "README.md",
    "gitignore.txt": ".gitignore",
    "data_README.md": "data/README.md",
    "test_evaluation.py.txt": "tests/test_evaluation.py",
    "evaluation.yml": ".github/workflows/evaluation.yml",
    "QA_CHECKLIST.md": "QA_CHECKLIST.md",
    "RUN_LOG.md": "RUN_LOG.md",
    "pytest.ini": "pytest.ini",
}


@dataclass
class InitResult:
    """What ``init_project`` did: the files written, the first commit (if git was available), notes."""

    root: Path
    written: list[Path] = field(default_factory=list)
    commit: str | None = None
    notes: list[str] = field(default_factory=list)

    def __iter__(self):  # the files written, so ``for p in init_project(...)`` keeps working
        return iter(self.written)


def _template(name: str) -> str:
    return resources.files("evaltool").joinpath("data", "project", name).read_text(encoding="utf-8")


def _values(name: str) -> dict[str, str]:
    return {"name": name, "version": __version__, "python": ".".join(platform.python_version_tuple()[:2])}


def starter_spec_text(name: str) -> str:
    """The commented starter spec for an evaluation called ``name``.

    Examples
    --------
    >>> text = starter_spec_text("frailty_mdt")
    >>> text.splitlines()[5]
    'name: frailty_mdt'
    """
    return Template(_template("spec.yaml")).safe_substitute(_values(name))


def _walk_requirements(roots: list[str]) -> dict[str, str]:
    """Installed versions of ``roots`` and everything they require here (markers and extras honoured)."""
    from packaging.markers import default_environment
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    env = default_environment()
    pinned: dict[str, str] = {}
    todo: list[tuple[str, frozenset[str]]] = []
    for r in roots:
        req = Requirement(r)
        todo.append((req.name, frozenset(req.extras)))
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        name, extras = todo.pop()
        key = (canonicalize_name(name), extras)
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        pinned[canonicalize_name(dist.metadata["Name"])] = dist.version
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is not None and not any(
                    req.marker.evaluate({**env, "extra": e}) for e in (extras or {""})):
                continue
            todo.append((req.name, frozenset(req.extras)))
    return pinned


def pinned_requirements() -> str:
    """A ``requirements.txt`` pinning evaltool-care, pytest and all their dependencies as installed now.

    Examples
    --------
    >>> text = pinned_requirements()
    >>> "evaltool-care==" in text and "numpy==" in text
    True
    """
    pins = _walk_requirements([DISTRIBUTION, "pytest"])
    pins[DISTRIBUTION] = __version__  # the code running now, even from a source checkout
    lines = [
        f"# The exact versions this project was created with (evaltool init, Python {platform.python_version()}, "
        f"{platform.system()} {platform.machine()}).",
        "# Install with `pip install -r requirements.txt`; after an upgrade, re-run the tests and refresh",
        "# this file with `pip freeze > requirements.txt`.",
    ]
    if "pytest" not in pins:
        lines.append("# pytest was not installed when this file was written: pin it after the first install.")
        pins["pytest"] = ""
    lines += [f"{n}=={v}" if v else "pytest>=8" for n, v in sorted(pins.items())]
    return "\n".join(lines) + "\n"


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)


def _git_first_commit(root: Path, name: str) -> tuple[str | None, list[str]]:
    """``git init`` and a first commit; never touches an existing repository's history."""
    if shutil.which("git") is None:
        return None, ["git is not installed: run `git init` and commit these files yourself (RAP needs version control)"]
    inside = _git(root, "rev-parse", "--is-inside-work-tree")
    if inside.returncode == 0 and inside.stdout.strip() == "true":
        return None, ["already inside a git repository: the new files are not committed; review and commit them"]
    init = _git(root, "-c", "init.defaultBranch=main", "init", "-q")
    if init.returncode != 0:
        return None, [f"git init failed: {init.stderr.strip()}"]
    _git(root, "add", "-A")
    identity: list[str] = []
    notes: list[str] = []
    if not _git(root, "config", "user.email").stdout.strip():
        # No identity configured: commit as the tool, and say so (the user's later commits carry their name).
        identity = ["-c", "user.name=evaltool init", "-c", "user.email=evaltool-init@localhost"]
        notes.append("git has no user.name/user.email here: the first commit is by 'evaltool init'; "
                     "set yours with `git config --global user.name ...`")
    commit = _git(root, *identity, "commit", "-q", "-m", f"Start the {name} evaluation (evaltool init {__version__})")
    if commit.returncode != 0:
        return None, [*notes, f"git commit failed: {commit.stderr.strip()}"]
    return _git(root, "rev-parse", "--short", "HEAD").stdout.strip(), notes


def init_project(name: str, directory: Path | str | None = None, *, git: bool = True) -> InitResult:
    """Create a RAP Silver evaluation project called ``name`` in ``directory`` (default ``./name``).

    Existing files are never overwritten (the spec must not exist yet); ``git=False`` skips the
    repository.

    Examples
    --------
    >>> import tempfile
    >>> res = init_project("frailty_mdt", tempfile.mkdtemp(), git=False)
    >>> sorted(str(p.relative_to(res.root)) for p in res.written)[:4]
    ['.github/workflows/evaluation.yml', '.gitignore', 'QA_CHECKLIST.md', 'README.md']
    """
    from evaltool.errors import SpecError

    if not _NAME_RE.match(name):
        raise SpecError(f"`name`: expected letters, digits, '_' or '-' (starting with a letter or digit), "
                        f"got {name!r}")
    root = Path(directory) if directory is not None else Path(name)
    spec_path = root / "analyses" / f"{name}.yaml"
    if spec_path.exists():
        raise FileExistsError(f"{spec_path} already exists; choose another name or edit it")
    values = _values(name)
    res = InitResult(root)
    for d in ("analyses", "data", "reports", "tests", ".github/workflows"):
        (root / d).mkdir(parents=True, exist_ok=True)
    texts = {Template(dest).substitute(values): Template(_template(src)).safe_substitute(values)
             for src, dest in FILES.items()}
    from evaltool.schema import schema_text

    texts["spec.schema.json"] = schema_text()
    texts["requirements.txt"] = pinned_requirements()
    for rel, text in texts.items():
        p = root / rel
        if p.exists():
            res.notes.append(f"kept the existing {rel}")
            continue
        p.write_text(text, encoding="utf-8")
        res.written.append(p)
    if git:
        res.commit, notes = _git_first_commit(root, name)
        res.notes += notes
    return res
