"""Stages computed in a helper beside the run (evaltool.stage_beside): their output, warnings and errors reach
the stage's place in the run as if the stage had run there."""
from __future__ import annotations

import math
import warnings

import pytest
from test_figure_workers import helpers  # noqa: F401 - the fixture: one helper process, stopped afterwards

from evaltool import figure_workers as fw
from evaltool.stage_beside import Beside


def test_a_stage_computed_there_warns_here_what_it_warned_there(helpers):  # noqa: F811
    job = Beside(warnings.warn, ("the stage's own warning", UserWarning), {}, None, "a warning stage")
    assert job._call._future is not None  # sent to the helper
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert job.output() is None
    assert [(w.category, str(w.message)) for w in caught] == [(UserWarning, "the stage's own warning")]
    assert job.took() >= 0


def test_a_stage_that_fails_there_fails_here_with_its_own_error(helpers):  # noqa: F811
    fw.take_notices()
    job = Beside(math.comb, (-1, 2), {}, None, "a failing stage")
    with pytest.raises(ValueError):
        job.output()
    assert fw.take_notices() == []  # the error itself is raised (and recorded by the stage's attempt)


def test_an_error_in_the_preparation_is_raised_in_the_stage_place_with_its_warnings(helpers):  # noqa: F811
    def prepare():
        warnings.warn("while preparing", UserWarning, stacklevel=1)
        return 1 / 0

    job = Beside(math.comb, (4,), {}, None, "a stage whose preparation fails", prepare=prepare)  # nothing raised yet
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ZeroDivisionError):
            job.output()
    assert [str(w.message) for w in caught] == ["while preparing"]


def test_without_helpers_the_stage_is_computed_when_collected():
    fw.shutdown()
    job = Beside(math.comb, (6, 3), {}, None, "a stage")
    assert job._call._future is None
    assert job.output() == 20


def test_large_frames_are_not_copied_into_a_helper(helpers, monkeypatch):  # noqa: F811
    import pandas as pd

    frame = pd.DataFrame({"a": range(10)})
    monkeypatch.setattr(fw, "SEND_LIMIT", 10)  # bytes: this frame is "too large"
    job = Beside(len, (frame,), {}, None, "a stage with a large input")
    assert job._call._future is None and job.output() == 10  # computed here, when collected
    assert fw.shared_map(len, [(frame,), (frame,)], what="a batch") == [10, 10]
    monkeypatch.setattr(fw, "SEND_LIMIT", 2**30)
    job = Beside(len, (frame,), {}, None, "a stage with a small input")
    assert job._call._future is not None and job.output() == 10


@pytest.mark.parametrize("value_set", ["england_5l_2018", "dsu_5l_to_3l_2023"])
def test_the_proms_stage_reads_only_the_population_columns_sent_to_the_helper(value_set):
    # start_beside sends the PROMs stage these columns of the population only; every table must be the same as
    # from the whole population (the DSU mapping needs age and sex, so they travel too).
    import pandas as pd

    from evaltool.datasets.southvale_proms import generate_proms, toy_population
    from evaltool.proms.config import PromsConfig
    from evaltool.proms.stage import POPULATION_COLUMNS as PROMS_POPULATION_COLUMNS
    from evaltool.proms.stage import run_stage

    pop = toy_population(800, seed=4)
    pop["extra"] = "x"
    data, _ = generate_proms(pop, seed=4)
    cfg = PromsConfig(value_set=value_set)
    whole = run_stage(data["proms"], data["prems"], pop, cfg, seed=1)
    slim = run_stage(data["proms"], data["prems"], pop[[c for c in PROMS_POPULATION_COLUMNS if c in pop.columns]],
                     cfg, seed=1)
    assert sorted(whole.tables) == sorted(slim.tables) and len(whole.tables) > 5
    for name, table in whole.tables.items():
        pd.testing.assert_frame_equal(table, slim.tables[name])
    assert whole.facts == slim.facts


def test_a_stage_no_helper_has_started_is_computed_here_when_collected(helpers):  # noqa: F811
    import time

    busy = fw.call(time.sleep, 4.0, what="a long call")  # the one helper is busy with this
    job = Beside(math.comb, (6, 3), {}, None, "a queued stage")
    assert job.output() == 20
    assert job._call._future is None  # taken back from the queue and computed here
    assert not busy._future.done()  # not waited for: the helper is still busy with the long call
    busy.result()


@pytest.fixture
def helper_importing_tests(monkeypatch):
    import os
    from pathlib import Path

    fw.shutdown()
    here = str(Path(__file__).resolve().parent)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([here, *filter(None, [os.environ.get("PYTHONPATH")])]))
    assert fw.start(1) == 1
    yield
    fw.shutdown()


def test_a_stage_computed_there_draws_its_figures_there(helper_importing_tests):
    from _beside_stage import stage_with_figures

    job = Beside(stage_with_figures, (12,), {}, None, "a stage with figures")
    assert job._call._future is not None
    raw = job._call._future.result()  # done there (collected at once, it would be taken back and computed here)
    # The output comes back as it was before its figures were drawn: a drawn ggplot holds its matplotlib figure
    # (20 times the bytes, and most of matplotlib imported here to unpickle it).
    assert b"matplotlib.figure" not in raw
    out = job.output()
    assert list(out.tables["t"]["x"]) == list(range(12))
    good = out.figures["good"]
    # drawn there, the same bytes as drawing it here; the figure whose drawing fails is left to be drawn here
    assert set(job.pngs) == {"good"}
    assert job.pngs["good"] == fw._render_here(good.plot, 3.0, 2.0, fw.DPI)
    assert fw.drawn(job.pngs["good"]).bytes() == job.pngs["good"]


def test_a_stage_computed_here_leaves_its_figures_to_the_helpers(monkeypatch):
    from _beside_stage import stage_with_figures

    fw.shutdown()
    monkeypatch.setenv(fw.ENV, "0")
    assert fw.start() == 0
    job = Beside(stage_with_figures, (5,), {}, None, "a stage with figures")
    assert job.output().figures["good"].title == "Good" and job.pngs == {}
