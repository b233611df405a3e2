"""The `evaltool` command ends without tearing the interpreter down (evaltool.cli._exit_now): its exit
handlers still run, everything it printed still arrives through a pipe, and its exit status is Python's."""
from __future__ import annotations

import subprocess
import sys

from evaltool import __version__


def _py(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300, cwd=cwd)


def test_output_through_a_pipe_arrives_whole_and_the_status_is_kept(tmp_path):
    ok = _py("-m", "evaltool", "--version", cwd=tmp_path)
    assert ok.returncode == 0 and __version__ in ok.stdout
    bad = _py("-m", "evaltool", "validate", "no_such_spec.yaml", cwd=tmp_path)
    assert bad.returncode == 2
    assert "no_such_spec.yaml" in bad.stdout + bad.stderr


def test_exit_handlers_run_and_python_exit_values_are_kept(tmp_path):
    code = ("import atexit, sys\n"
            "atexit.register(lambda: print('handler ran'))\n"
            "from evaltool.cli import _exit_now\n"
            "print('printed before', end='')\n"
            "_exit_now({})\n")
    for value, status in (("None", 0), ("3", 3), ("'a message'", 1)):
        out = _py("-c", code.format(value), cwd=tmp_path)
        assert out.returncode == status
        assert out.stdout == "printed beforehandler ran\n"
        assert out.stderr == ("a message\n" if status == 1 else "")


def test_imports_are_frozen_only_in_the_commands_own_process(tmp_path):
    import gc

    from evaltool import cli

    before = gc.get_freeze_count()
    cli._freeze_imports()  # called in-process (as a test or a notebook would): nothing frozen
    assert gc.get_freeze_count() == before and cli._CONSOLE is False
    code = ("import gc\nfrom evaltool import cli\ncli._CONSOLE = True\ncli._freeze_imports()\n"
            "print(gc.get_freeze_count() > 10_000, gc.get_threshold()[0])\n")
    assert _py("-c", code, cwd=tmp_path).stdout.split() == ["True", "10000"]


def _processes_with(marker: str) -> list[int]:
    """Processes whose environment holds ``marker`` (the helpers inherit the command's environment)."""
    from pathlib import Path

    found = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if marker.encode() in (d / "environ").read_bytes():
                    found.append(int(d.name))
            except OSError:
                continue
    return found


def test_a_run_stopped_by_its_spec_does_not_wait_for_the_helpers_it_started(tmp_path):
    # The command starts its helper processes before importing the pipeline (their imports use the idle core);
    # an invalid spec stops the run before any work is given to them: the zygote, still importing, is killed
    # rather than waited for, and nothing of it is left behind.
    import os
    import time
    import uuid

    import pytest

    if not sys.platform.startswith("linux"):
        pytest.skip("helpers are forked from a zygote on Linux only")
    marker = f"EVALTOOL_TEST_MARKER={uuid.uuid4().hex}"
    (tmp_path / "bad.yaml").write_text("name: x\n", encoding="utf-8")
    env = dict(os.environ, EVALTOOL_FIGURE_WORKERS="2", **dict([marker.split("=")]))
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "evaltool", "run", "bad.yaml"], capture_output=True, text=True,
                         timeout=300, cwd=tmp_path, env=env)
    took = time.perf_counter() - t
    assert out.returncode == 2
    assert "title: required key is missing" in out.stdout + out.stderr
    deadline = time.time() + 5
    while _processes_with(marker) and time.time() < deadline:
        time.sleep(0.1)
    assert _processes_with(marker) == []
    assert not (tmp_path / "reports").exists()
    assert took < 60
