"""Figures drawn by helper processes (evaltool.figure_workers): the same PNG bytes as drawing them here,
and every way a helper can fail ends in the figure drawn here (or its own error raised here)."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from concurrent import futures
from pathlib import Path

import pandas as pd
import pytest
from plotnine import aes, geom_point, ggplot, labs, scale_color_manual

from evaltool import figure_workers as fw
from evaltool.errors import SpecError


def _plot(n: int = 5):
    df = pd.DataFrame({"x": range(n), "y": [v * v for v in range(n)], "g": ["a", "b"] * (n // 2) + ["a"] * (n % 2)})
    # a closure in a scale (as plotnine's manual scales hold): plain pickle cannot send it
    shade = {"a": "#005EB8", "b": "#ED8B00"}
    return (ggplot(df, aes("x", "y", color="g")) + geom_point() + scale_color_manual(values=shade)
            + labs(title="squares", x="x", y="y"))


def _by_helper(d: fw.Drawing) -> fw.Drawing:
    """Wait until a helper has taken and finished (or failed) the drawing: asked for at once, a figure still
    queued is drawn by this thread instead."""
    futures.wait([d._future])
    return d


@pytest.fixture
def helpers():
    fw.shutdown()
    assert fw.start(1) == 1
    yield fw._POOL
    fw.shutdown()


def test_helper_png_is_byte_identical_to_drawing_here(helpers):
    here = fw._render_here(_plot(), 4.0, 3.0, 150)
    d = fw.draw(_plot(), width=4, height=3)
    assert d._future is not None  # it went to the helper
    assert _by_helper(d).bytes() == here
    assert d.bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_no_helpers_draws_here(monkeypatch):
    fw.shutdown()
    monkeypatch.setenv(fw.ENV, "0")
    assert fw.start() == 0
    d = fw.draw(_plot(), width=4, height=3)
    assert d._future is None
    assert d.bytes() == fw._render_here(_plot(), 4.0, 3.0, 150)


def test_a_figure_that_cannot_be_sent_is_drawn_here(helpers):
    class Unsendable:  # a stand-in for a ggplot holding something no pickler takes
        __module__ = "plotnine.fake"

        def __reduce__(self):
            raise TypeError("cannot pickle this")

        def save(self, buf, **_):
            buf.write(b"drawn here")

    fw.take_notices()
    d = fw.draw(Unsendable(), width=1, height=1)
    assert d._future is None
    assert d.bytes() == b"drawn here"
    (notice,) = fw.take_notices()  # said, once, and then no more
    assert "could not be sent to a helper process (TypeError)" in notice and "drawn in the main process" in notice
    assert fw.take_notices() == []
    assert fw._title(_plot()) == "'squares'"  # a notice names the figure by its title when it has one


def test_a_dead_helper_costs_only_time_and_is_said(helpers):
    fw.take_notices()
    helpers.helpers[0].proc.kill()
    helpers.helpers[0].proc.wait()
    here = fw._render_here(_plot(6), 4.0, 3.0, 150)
    assert _by_helper(fw.draw(_plot(6), width=4, height=3)).bytes() == here
    assert _by_helper(fw.draw(_plot(7), width=4, height=3)).bytes() == fw._render_here(_plot(7), 4.0, 3.0, 150)
    notices = fw.take_notices()
    assert notices == ["figure helper process 1 stopped (exit code -9); the figures it had not drawn were drawn "
                       "in the main process (same images, more time)"]


def test_a_drawing_error_is_raised_here_with_its_own_type(helpers):
    fw.take_notices()
    bad = ggplot(pd.DataFrame({"x": [1, 2]}), aes("x", "no_such_column")) + geom_point()
    d = _by_helper(fw.draw(bad, width=3, height=2))
    with pytest.raises(Exception) as err:
        d.bytes()
    with pytest.raises(type(err.value)):
        fw._render_here(bad, 3.0, 2.0, 150)
    assert fw.take_notices() == []  # the error itself is raised: no extra notice
    # the helper is still there for the next figure
    assert _by_helper(fw.draw(_plot(), width=4, height=3)).bytes() == fw._render_here(_plot(), 4.0, 3.0, 150)


def test_figures_still_queued_are_drawn_by_the_waiting_main_thread(helpers):
    """The main thread about to wait for figures draws those no helper has started, from the back, with the
    palette in force when they were asked for; the same images either way."""
    from evaltool.plotting import use_palette

    busy = fw.call(time.sleep, 1.5, what="a long job")  # the one helper is busy with it
    with use_palette(("#330072", "#AE2573")):
        queued = [fw.draw(_plot(k), width=4, height=3) for k in (4, 5, 6)]
    assert all(d.queued() for d in queued)
    fw.draw_queued(queued)
    assert all(d._future is None and not d.queued() for d in queued)  # taken back, drawn here
    with use_palette(("#330072", "#AE2573")):
        assert [d.bytes() for d in queued] == [fw._render_here(_plot(k), 4.0, 3.0, 150) for k in (4, 5, 6)]
    busy.result()
    assert fw.take_notices() == []


def test_a_script_without_a_main_guard_runs_once(tmp_path):
    # multiprocessing's spawn would re-run this script in each helper; evaltool's helpers do not.
    script = tmp_path / "user_script.py"
    script.write_text(textwrap.dedent("""
        import pandas as pd
        from plotnine import aes, geom_point, ggplot
        from evaltool import figure_workers as fw
        print("script body ran", flush=True)
        fw.start(2)
        p = ggplot(pd.DataFrame({"x": [1, 2], "y": [2, 1]}), aes("x", "y")) + geom_point()
        assert fw.draw(p, width=2, height=2).bytes()[:4] == b"\\x89PNG"
    """))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                         cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.count("script body ran") == 1


def test_configured_workers_reads_the_environment():
    assert fw.configured_workers({fw.ENV: "0"}) == 0
    assert fw.configured_workers({fw.ENV: " 2 "}) == 2
    for bad in ("many", "-1", "1.5"):
        with pytest.raises(SpecError, match=rf"`EVALTOOL_FIGURE_WORKERS` must be a whole number .* found '{bad}'"):
            fw.configured_workers({fw.ENV: bad})


def test_a_bad_setting_stops_the_run_before_anything_is_written(tmp_path, monkeypatch):
    from evaltool import run

    monkeypatch.setenv(fw.ENV, "two")
    with pytest.raises(SpecError, match="EVALTOOL_FIGURE_WORKERS"):
        run(Path(__file__).resolve().parent.parent / "analyses" / "southvale.yaml", output_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_helper_lost_during_a_run_is_in_its_log(tmp_path):
    import json

    from evaltool import run
    from _tiny_project import write_tiny_project

    spec = write_tiny_project(tmp_path / "project", rollout=True)
    fw.shutdown()
    assert fw.start(1) == 1  # the run reuses this helper, which is dead before the first figure
    fw._POOL.helpers[0].proc.kill()
    fw._POOL.helpers[0].proc.wait()
    try:
        res = run(spec, output_dir=tmp_path / "out", render=False)
    finally:
        fw.shutdown()
    log = [json.loads(line) for line in (res.bundle_dir / "results" / "run_log.jsonl").read_text().splitlines()]
    helper = [e for e in log if e.get("code") == "figure_helper"]
    assert len(helper) == 1 and helper[0]["severity"] == "warning"
    assert "figure helper process 1 stopped" in helper[0]["message"]
    assert (res.bundle_dir / "figures" / "rollout_event_study.png").read_bytes()[:4] == b"\x89PNG"


def test_a_call_in_a_helper_gives_the_value_computed_here(helpers):
    import math

    job = fw.call(math.comb, 60, 30, what="a binomial coefficient")
    assert job._future is not None
    assert job.result() == math.comb(60, 30)


@pytest.mark.skipif(not hasattr(os, "nice"), reason="no process niceness on this system")
def test_a_helper_runs_at_a_lower_priority_than_the_main_process(helpers):
    here = os.nice(0)
    there = fw.call(os.nice, 0, what="the helper's niceness")
    assert there._future is not None
    assert there.result() == min(19, here + fw.HELPER_NICE)
    assert os.nice(0) == here  # the main process keeps its own priority


def test_a_call_that_fails_there_raises_here_and_a_lost_helper_computes_here(helpers):
    import math

    fw.take_notices()
    with pytest.raises(ValueError):
        fw.call(math.comb, -1, 2, what="a bad call").result()
    assert fw.take_notices() == []  # the error is raised: no extra notice
    fw.take_notices()
    job = fw.call(lambda: 1, what="a lambda")  # plain pickle cannot send it
    assert job._future is None and job.result() == 1
    (notice,) = fw.take_notices()  # the pickling error's type differs between Python versions
    assert notice.startswith("a lambda could not be sent to a helper process (")
    assert notice.endswith("); it was done in the main process (same result, more time)")
    helpers.helpers[0].proc.kill()
    helpers.helpers[0].proc.wait()
    assert fw.call(math.comb, 10, 3, what="after the helper stopped").result() == 120


def test_identifiers_hashed_in_a_helper_equal_the_ones_hashed_here(helpers):
    from evaltool.identifiers import identifier_json, start_identifier_json

    frames = [pd.DataFrame({"person_id": [f"P{i:05d}" for i in range(3000)] + [None, " P00001 "]}),
              pd.DataFrame({"respondent_id": ["R1", "R2"], "person_id": ["P00002", "Q9"]})]
    here = identifier_json(frames, 11, {"population": {"sha256": "ab"}})
    job = start_identifier_json(frames, 11, {"population": {"sha256": "ab"}})
    assert job._future is not None and job.result() == here
    big = start_identifier_json(frames, 11, {"population": {"sha256": "ab"}}, limit=100)  # too many: here
    assert big._future is None and big.result() == here


def test_work_the_main_process_waits_for_goes_before_queued_figures(helpers):
    # A batch shared with the main process (shared_map) is waited for now; figures only when the report is
    # written: a helper busy with one job takes the urgent call next, then the figure queued before it.
    import time

    done: list[str] = []
    busy = fw.call(time.sleep, 1.0, what="a long job")
    figure = fw.draw(_plot(), width=3, height=2)
    urgent = fw.call(abs, -3, what="a call waited for", urgent=True)
    figure._future.add_done_callback(lambda f: done.append("figure"))
    urgent._future.add_done_callback(lambda f: done.append("urgent"))
    assert urgent.result() == 3 and figure.bytes()[:4] == b"\x89PNG" and busy.result() is None
    assert done == ["urgent", "figure"]
