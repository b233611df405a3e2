"""Packaging facts users rely on: one version everywhere, a free distribution name, declared imports."""
from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest
import yaml

import evaltool

ROOT = Path(__file__).resolve().parents[1]

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = pytest.importorskip("tomli")


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_version_lives_in_one_place_and_citation_and_changelog_agree():
    py = _pyproject()
    assert "version" not in py["project"] and "version" in py["project"]["dynamic"]
    assert py["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "evaltool.__version__"}
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert str(cff["version"]) == evaltool.__version__
    head = re.search(r"^## (\S+)(?: \(([^)]*)\))?", (ROOT / "CHANGELOG.md").read_text(encoding="utf-8"), re.M)
    assert head is not None and head.group(1) == evaltool.__version__
    if head.group(2) == "unreleased":
        assert "date-released" not in cff
    else:  # a released version carries the same date in both
        assert str(cff["date-released"]) == head.group(2)


def test_distribution_name_is_ours_not_the_pypi_evaltool():
    py = _pyproject()
    assert py["project"]["name"] == evaltool.DISTRIBUTION == "evaltool-care"
    assert py["project"]["license"] == "MIT"  # SPDX string: no setuptools deprecation warning
    # Nothing tells users to install the unrelated "evaltool" distribution.
    pattern = re.compile(r"pip install[^\n`]*[ \t\"']evaltool(?:==|[ \t\n\"'`]|$)")
    offenders = [str(p.relative_to(ROOT)) for p in [ROOT / "README.md", *ROOT.glob("docs/**/*.md"),
                                                    *ROOT.glob("evaltool/**/*.py")]
                 if pattern.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


def _declared() -> set[str]:
    """pyproject's runtime dependencies, by distribution name (lower case, no extras or versions)."""
    return {re.split(r"[\[<>=!~ ]", d)[0].lower() for d in _pyproject()["project"]["dependencies"]}


def _imported_top_level_modules() -> set[str]:
    mods: set[str] = set()
    for path in (ROOT / "evaltool").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                mods.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                mods.add(node.module.split(".")[0])
    return mods


# import name -> distribution name, for the ones that differ
_DIST = {"yaml": "pyyaml", "ibis": "ibis-framework", "pypandoc": "pypandoc-binary", "pdfminer": "pdfminer.six"}


def test_every_imported_third_party_module_is_a_declared_dependency():
    # tabulate is optional (Summary.as_markdown falls back to plain text without it).
    stdlib = set(sys.stdlib_module_names) | {"evaltool", "__future__", "tabulate"}
    project = _pyproject()["project"]
    declared = {re.split(r"[\[<>=!~ ]", d)[0].lower() for d in project["dependencies"]}
    # An optional backend (pyspark) is imported only inside the function that needs it and is declared as an extra.
    optional = {re.split(r"[\[<>=!~ ]", d)[0].lower()
                for extra in ("spark",) for d in project["optional-dependencies"][extra]}
    missing = sorted(m for m in _imported_top_level_modules() - stdlib
                     if _DIST.get(m, m).lower() not in declared | optional)
    assert missing == []
    # ... and never at module level, so the base install imports every module.
    for path in (ROOT / "evaltool").rglob("*.py"):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.split(".")[0] in optional for n in names), (path, names)


def test_no_dependency_is_declared_but_unused():
    imported = {_DIST.get(m, m).lower() for m in _imported_top_level_modules()}
    assert "linearmodels" not in imported  # a test reference only (tests/test_linearmodels_reference.py)
    # Declared for a reason other than an import: the duckdb backend of ibis (extra), sqlglot (the upper bound).
    indirect = {"sqlglot", "ibis-framework"}
    declared = _declared()
    assert sorted(declared - imported - indirect) == []


def test_manifest_software_list_names_declared_dependencies_only():
    """The appendix's software table is read from the manifest: it must not say a dependency is 'not installed'
    when it is (evaltool's own distribution is evaltool-care; its version is recorded as `evaltool_version`)."""
    from evaltool.pipeline import PACKAGES, _versions

    declared = _declared()
    assert set(PACKAGES) <= declared
    assert "not installed" not in _versions().values()
