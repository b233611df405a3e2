"""Helpers forked from one process that imported their modules once (evaltool.helper_fork), and the same
helpers started one interpreter each where there is no fork: the same results either way."""
from __future__ import annotations

import os
import subprocess

import pandas as pd
import pytest
from plotnine import aes, geom_point, ggplot

from evaltool import figure_workers as fw
from evaltool import helper_fork as hf


def _plot():
    return ggplot(pd.DataFrame({"x": [1, 2, 3], "y": [3, 1, 2]}), aes("x", "y")) + geom_point()


@pytest.fixture
def fresh():
    fw.shutdown()
    yield
    fw.shutdown()


@pytest.mark.skipif(not hf.available(), reason="helpers are forked on Linux only")
def test_forked_helpers_start_with_the_preloaded_modules(fresh):
    assert fw.start(2, preload=hf.PRELOAD) == 2
    pool = fw._POOL
    assert pool.zygote is not None
    # forked (not a fresh interpreter after exec): what the zygote imported is there before any job asked for it
    answers = [fw.call(hf.imported, "evaltool.proms.stage", what="preloaded?") for _ in range(4)]
    assert all(a._future is not None for a in answers) and [a.result() for a in answers] == [True] * 4
    # each helper is a child of the zygote, never of this process
    parents = {fw.call(os.getppid, what="parent").result() for _ in range(4)}
    assert parents == {pool.zygote.proc.pid}
    assert {h.proc.pid for h in pool.helpers} & {os.getpid(), pool.zygote.proc.pid} == set()
    assert fw.draw(_plot(), width=3, height=2).bytes() == fw._render_here(_plot(), 3.0, 2.0, 150)


@pytest.mark.skipif(not hf.available(), reason="helpers are forked on Linux only")
def test_stopping_the_helpers_ends_the_zygote_and_reports_their_exit(fresh):
    assert fw.start(1) == 1
    pool = fw._POOL
    assert fw.call(hf.imported, "evaltool.proms.stage", what="not preloaded").result() is False
    fw.shutdown()
    assert pool.zygote.proc.poll() == 0
    assert pool.helpers[0].proc.poll() == 0  # the helper ended on its own when its jobs ended


def test_without_fork_each_helper_is_its_own_interpreter(fresh, monkeypatch):
    monkeypatch.setattr(hf, "available", lambda: False)
    assert fw.start(1) == 1
    pool = fw._POOL
    assert pool.zygote is None and isinstance(pool.helpers[0].proc, subprocess.Popen)
    assert fw.draw(_plot(), width=3, height=2).bytes() == fw._render_here(_plot(), 3.0, 2.0, 150)
    assert fw.call(os.getppid, what="parent").result() == os.getpid()
