"""Safe outputs: only marked bundles are replaced; a complete bundle is at the final path at every instant."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from evaltool.errors import OutputError
from evaltool.safe_output import MARKER, atomic_dir, is_bundle_dir, prepare_output, write_marker


def _bundle(path: Path, text: str = "old") -> Path:
    (path / "results").mkdir(parents=True)
    write_marker(path, path.name)
    (path / "results" / "facts.json").write_text(text)
    return path


def test_thesis_folder_is_never_replaced(tmp_path):
    target = tmp_path / "reports" / "southvale"
    target.mkdir(parents=True)
    (target / "thesis.docx").write_bytes(b"years of work")
    with pytest.raises(OutputError, match=r"southvale` exists and is not an evaltool results bundle \(it holds "
                                          r"thesis.docx\)"):
        prepare_output(target)
    assert (target / "thesis.docx").read_bytes() == b"years of work"
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == ["southvale"]


def test_marked_bundle_is_replaced_atomically(tmp_path):
    target = _bundle(tmp_path / "reports" / "demo")
    plan = prepare_output(target)
    assert plan.replaces
    with atomic_dir(plan.final) as tmp:
        assert (tmp / MARKER).is_file()  # marked from its first instant
        (tmp / "results").mkdir()
        (tmp / "results" / "facts.json").write_text("new")
        assert (target / "results" / "facts.json").read_text() == "old"  # old one intact meanwhile
    assert (target / "results" / "facts.json").read_text() == "new"
    assert is_bundle_dir(target)
    assert sorted(p.name for p in target.parent.iterdir()) == ["demo"]  # nothing left behind


def test_failure_inside_keeps_previous_bundle(tmp_path):
    target = _bundle(tmp_path / "demo")
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as tmp:
            (tmp / "half").write_text("x")
            raise RuntimeError("boom")
    assert (target / "results" / "facts.json").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["demo"]


def test_legacy_bundle_without_marker_is_accepted_but_not_with_foreign_files(tmp_path):
    legacy = tmp_path / "legacy"
    (legacy / "results").mkdir(parents=True)
    (legacy / "figures").mkdir()
    (legacy / "results" / "manifest.json").write_text(json.dumps({"bundle_version": 1, "name": "legacy"}))
    (legacy / "results" / "effects.csv").write_text("a\n1\n")
    (legacy / "report.html").write_text("<html>")
    assert is_bundle_dir(legacy)
    (legacy / "notes.txt").write_text("mine")
    assert not is_bundle_dir(legacy)
    with pytest.raises(OutputError, match="notes.txt"):
        prepare_output(legacy)


@pytest.mark.parametrize("where", ["root", "home"])
def test_root_and_home_refused(where, monkeypatch, tmp_path):
    if where == "home":
        monkeypatch.setenv("HOME", str(tmp_path))
        target = tmp_path / "southvale"
    else:
        target = Path("/southvale")
    with pytest.raises(OutputError, match="refusing to write bundles directly into"):
        prepare_output(target)
    assert not target.exists()


def test_output_root_is_a_file(tmp_path):
    f = tmp_path / "reports"
    f.write_text("not a folder")
    with pytest.raises(OutputError, match="is a file, not a folder"):
        prepare_output(f / "southvale")
    assert f.read_text() == "not a folder"


def test_target_is_a_file_or_link(tmp_path):
    (tmp_path / "southvale").write_text("x")
    with pytest.raises(OutputError, match="exists and is not a folder"):
        prepare_output(tmp_path / "southvale")
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    with pytest.raises(OutputError, match="not a folder"):
        prepare_output(tmp_path / "link")


def test_read_only_root(tmp_path, monkeypatch):
    """CI runs as root, which ignores permissions: simulate the failure of the write probe."""
    import tempfile

    def refuse(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkdtemp", refuse)
    with pytest.raises(OutputError, match=r"is not writable \(Permission denied\)"):
        prepare_output(tmp_path / "out" / "southvale")


def test_stale_temporary_folders_are_tidied_only_if_ours(tmp_path):
    target = _bundle(tmp_path / "demo")
    ours = tmp_path / ".demo.tmp-abc123"
    ours.mkdir()
    write_marker(ours, "demo")
    (ours / "partial.csv").write_text("x")
    empty = tmp_path / ".demo.tmp-empty"
    empty.mkdir()
    foreign = tmp_path / ".demo.tmp-notours"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("someone else's")
    plan = prepare_output(target)
    assert not ours.exists() and not empty.exists()
    assert (foreign / "keep.txt").read_text() == "someone else's"
    codes = [c for c, _ in plan.notes]
    assert codes.count("stale_folder_removed") == 2 and codes.count("stale_folder_kept") == 1


def test_interrupted_swap_is_recovered(tmp_path):
    """A death between the two renames of the fallback swap: the next run restores the previous bundle."""
    old = _bundle(tmp_path / ".demo.old-4242", "previous")
    plan = prepare_output(tmp_path / "demo")
    assert not old.exists()
    assert (tmp_path / "demo" / "results" / "facts.json").read_text() == "previous"
    assert plan.notes[0][0] == "previous_bundle_restored"


def test_fallback_swap_without_exchange(tmp_path, monkeypatch):
    import evaltool.safe_output as so

    monkeypatch.setattr(so, "_exchange", lambda a, b: False)
    target = _bundle(tmp_path / "demo")
    with atomic_dir(target) as tmp:
        (tmp / "new.txt").write_text("new")
    assert (target / "new.txt").is_file() and not (target / "results").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]


def test_bundle_has_ordinary_folder_permissions(tmp_path):
    import os

    umask = os.umask(0o022)
    try:
        with atomic_dir(tmp_path / "demo") as tmp:
            (tmp / "x").write_text("x")
    finally:
        os.umask(umask)
    assert (tmp_path / "demo").stat().st_mode & 0o777 == 0o755  # not mkdtemp's private 0700
