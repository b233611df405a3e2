"""Every code example in README.md and docs/ runs as written (CI: `python -m pytest -m docs`).

Conventions (docs/developers/docs.md): ``python`` blocks run in one namespace per page, from the
scratch repository's root; ``bash`` blocks run in a shell whose working directory carries over
between a page's blocks; ``yaml``
blocks are validated as analysis specs; a block preceded by ``<!-- ci: SCRIPT -->`` is run by that
script (the test checks each of its lines appears there); ``text`` and other blocks are not run.
The scratch directory holds a small Southvale, so the examples' paths work as written.
"""
from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"(?:<!-- ci: (?P<ci>\S+) -->\n)?```(?P<lang>[\w-]*)[^\n]*\n(?P<code>.*?)^```", re.S | re.M)
RUN = {"python", "bash", "yaml"}

pytestmark = pytest.mark.docs


def blocks(page: Path) -> list[dict[str, str]]:
    text = page.read_text(encoding="utf-8")
    return [m.groupdict() for m in FENCE.finditer(text)]


@pytest.fixture(scope="session")
def workspace(tmp_path_factory) -> Path:
    """A directory laid out like the repository, with Southvale at a small scale."""
    from evaltool.datasets.example import write_example_data

    ws = tmp_path_factory.mktemp("docs")
    (ws / "analyses").mkdir()
    shutil.copytree(ROOT / "templates", ws / "templates")  # the Southvale spec's narrative files
    shutil.copy(ROOT / "analyses" / "southvale.yaml", ws / "analyses" / "southvale.yaml")
    write_example_data(ws / "example_data" / "southvale", seed=11, scale=0.05)
    shutil.copy(ROOT / "analyses" / "area_only.yaml", ws / "analyses" / "area_only.yaml")  # an area panel only
    shutil.copytree(ROOT / "example_data" / "area_only", ws / "example_data" / "area_only")
    (ws / "tests" / "data").mkdir(parents=True)
    for name in ("mpdta.csv", "lalonde.csv"):
        shutil.copy(ROOT / "tests" / "data" / name, ws / "tests" / "data" / name)
    return ws


def _page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


def test_every_block_has_a_known_language():
    unknown = [(_page_id(p), b["lang"]) for p in PAGES for b in blocks(p)
               if b["lang"] not in RUN | {"text", "json", "toml"}]
    assert unknown == [], "give each code block a language: python, bash, yaml (validated), or text"


@pytest.mark.parametrize("page", [p for p in PAGES if any(b["ci"] for b in blocks(p))], ids=_page_id)
def test_blocks_run_by_a_ci_script_are_in_that_script(page):
    for b in blocks(page):
        if not b["ci"]:
            continue
        script = (ROOT / b["ci"]).read_text(encoding="utf-8")
        for line in b["code"].splitlines():
            line = line.split("#")[0].strip()
            assert not line or line in script, f"{_page_id(page)}: `{line}` is not run by {b['ci']}"


def _validate_yaml(code: str, ws: Path) -> None:
    """A spec, or a fragment of one merged into the Southvale spec, must validate."""
    from evaltool.spec import Spec, parse_spec

    raw = yaml.safe_load(code)
    assert isinstance(raw, dict) and set(raw) <= set(Spec.model_fields), f"not a spec or spec fragment: {list(raw)}"
    base = yaml.safe_load((ws / "analyses" / "southvale.yaml").read_text())
    if "data" in raw:  # the example's paths name files a reader has; validate the rest as written
        raw["data"] = base["data"]
    merged = {**base, **raw}
    parse_spec(merged, base_dir=ws / "analyses", source="docs example")


@pytest.mark.parametrize("page", [p for p in PAGES if any(b["lang"] in RUN and not b["ci"] for b in blocks(p))],
                         ids=_page_id)
def test_page_examples_run(page, workspace, tmp_path, monkeypatch):
    ws = tmp_path / "ws"
    shutil.copytree(workspace, ws)
    cwd = ws
    namespace: dict = {"__name__": "__docs__"}
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
               COLUMNS="100")
    for i, b in enumerate(blocks(page)):
        if b["ci"] or b["lang"] not in RUN:
            continue
        where = f"{_page_id(page)}, block {i + 1} ({b['lang']})"
        if b["lang"] == "yaml":
            _validate_yaml(b["code"], ws)
        elif b["lang"] == "python":
            monkeypatch.chdir(ws)
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                try:
                    exec(compile(b["code"], where, "exec"), namespace)  # noqa: S102 - our own docs
                except Exception as err:  # pragma: no cover - the message is the point
                    pytest.fail(f"{where} raised {type(err).__name__}: {err}")
        else:
            state = tmp_path / "cwd.txt"
            script = f"set -euo pipefail\ncd {str(cwd)!r}\n{b['code']}\npwd > {str(state)!r}\n"
            proc = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, check=False)
            assert proc.returncode == 0, f"{where} failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
            cwd = Path(state.read_text().strip())
