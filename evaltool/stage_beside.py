"""Stages computed beside the others, in a helper process.

The PROMs/PREMs summaries, the practice roll-out and the qualitative summaries need nothing that matching or
the matched effects produce, and matching keeps one core busy for a third of a run while the figure helpers
(:mod:`evaltool.figure_workers`) mostly wait. So the pipeline starts those stages in a helper before
matching (the roll-out's practice panel is first queried here, where the engine is) and collects each
at its usual place in the order of stages (the qualitative stage's joint display, which quotes the other
stages' numbers, is added here when it is collected):

- the results are the same wherever a stage is computed (the helpers run the same libraries with one
  BLAS thread, as this process does; checked on every table of the Southvale bundle);
- what the stage warned about there is warned again here, inside the stage's own capture, so the run
  log and the report say the same as when the stage runs here;
- a stage that fails in the helper is computed again here, where its error is raised and recorded with
  its own traceback (and a stage the helper could not run at all is computed here, a notice saying so);
- a stage that no helper has started when it is collected (the helpers still drawing figures queued
  before it) is computed here rather than waited for;
- with no helper running (``EVALTOOL_FIGURE_WORKERS=0``, one core) the stage is computed here when
  collected, exactly as before.

The stage's seconds in the run record are the time it took to compute (in the helper or here), not the
time spent waiting for it.
"""
from __future__ import annotations

import pickle
import time
import warnings
from collections.abc import Callable
from typing import Any

from evaltool import figure_workers
from evaltool.runlog import capture_warnings
from evaltool.stage import StageOutput

__all__ = ["Beside", "compute", "start_beside"]


def compute(fn: Callable[..., StageOutput], args: tuple, kwargs: dict, palette: tuple[str, ...] | None) -> bytes:
    """``fn(*args, **kwargs)`` under the report brand's chart colours, with its warnings recorded: the
    pickled ``(pickled output, [(category, message), ...], seconds, pngs)``. Runs in a helper (or here).

    In a helper the stage's figures are drawn there too, at once (``pngs``: name -> the bundle's PNG, the
    same bytes as drawing them later; a figure that fails is left out and drawn, and its error raised, in
    the main process): the helper would otherwise wait while the main process matches, and the figures be
    drawn later when every core is busy."""
    import cloudpickle  # a stage's figures are plotnine objects with closures in their scales

    from evaltool.plotting import use_palette
    from evaltool.stage import FigureSpec

    t0 = time.perf_counter()
    caught: list = []
    try:
        with capture_warnings() as caught, use_palette(palette):
            out = fn(*args, **kwargs)
    except BaseException:
        # Done here after failing there: its warnings reach the stage's own capture, then the error.
        for w in caught:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        raise
    said = [(w.category, str(w.message)) for w in caught]
    seconds = time.perf_counter() - t0
    # Pickled before its figures are drawn: a drawn ggplot holds its matplotlib figure, which would be sent
    # back too, and unpickling it would import most of matplotlib in the main process (0.5 s).
    out_bytes = cloudpickle.dumps(out)
    pngs: dict[str, bytes] = {}
    if figure_workers.in_helper():
        with use_palette(palette):
            for name, fig in getattr(out, "figures", {}).items():
                if isinstance(fig, FigureSpec):
                    try:
                        pngs[name] = figure_workers._render_here(fig.plot, float(fig.width), float(fig.height),
                                                                 figure_workers.DPI)
                    except Exception:  # noqa: BLE001 - drawn again in the main process, its error raised there
                        pass
    return cloudpickle.dumps((out_bytes, said, seconds, pngs))


class Beside:
    """A stage started in a helper; :meth:`output` (called inside the stage's attempt) gives its output.

    ``prepare`` (optional) runs here and now, before the stage is sent: the part that needs the engine
    (e.g. the roll-out's practice panel). Its value is passed to ``fn`` as the keyword ``prepared``; an
    error in it is raised, and its warnings warned, when the output is asked for, in the stage's place.
    """

    def __init__(self, fn: Callable[..., StageOutput], args: tuple, kwargs: dict, palette: tuple[str, ...] | None,
                 what: str, prepare: Callable[[], Any] | None = None) -> None:
        self.seconds = 0.0
        self.pngs: dict[str, bytes] = {}  # the stage's figures, drawn where it was computed (a helper)
        self._error: BaseException | None = None
        self._said: list = []
        self._call = None
        if prepare is not None:
            t0 = time.perf_counter()
            with capture_warnings() as caught:
                try:
                    kwargs = {**kwargs, "prepared": prepare()}
                except Exception as err:  # noqa: BLE001 - raised in the stage's place, where it is recorded
                    self._error = err
            self._said = list(caught)
            self.seconds = time.perf_counter() - t0
        if self._error is None:
            if figure_workers.frames_nbytes(args, kwargs) > figure_workers.SEND_LIMIT:
                # Too much to copy into a helper: computed here when collected, as it always was.
                self._call = figure_workers.Call(compute, (fn, args, kwargs, palette), None, what)
            else:
                self._call = figure_workers.call(compute, fn, args, kwargs, palette, what=what)

    def took(self) -> float:
        """Seconds spent computing the stage (its preparation here and its computation wherever it ran)."""
        return self.seconds

    def output(self) -> StageOutput:
        for w in self._said:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        if self._error is not None:
            raise self._error
        # Still queued behind figures (no helper has started it): computed here rather than waited for.
        self._call.take_back()
        out_bytes, said, seconds, self.pngs = pickle.loads(self._call.result())
        out = pickle.loads(out_bytes)
        self.seconds += seconds
        for category, message in said:
            warnings.warn(message, category, stacklevel=2)
        return out


def start_beside(spec: Any, validated: Any, cohort: Any, reuse: Any, palette: tuple[str, ...] | None,
                 seed: int) -> dict[str, Beside]:
    """Start the PROMs and roll-out stages of a run in a helper, when they are to run and a helper is running
    (``reuse``: the stages ``--only`` does not re-run are not started); by stage name."""
    import pandas as pd

    if not figure_workers.running():
        return {}  # computed in turn, as always

    def runs(name: str) -> bool:
        return reuse is None or name not in reuse.reused

    window = {"window_start": pd.Timestamp(spec.window.start), "window_end": pd.Timestamp(spec.window.end)}
    out: dict[str, Beside] = {}
    if spec.proms is not None and any(k in validated.extra for k in ("proms", "prems")) and runs("proms"):
        from evaltool.proms.stage import POPULATION_COLUMNS
        from evaltool.proms.stage import run_stage as proms_stage

        # Only the population columns the stage reads: the rest would cost a pickle of every column of every
        # person (0.7 s of this process's time at Southvale's size).
        pop = cohort.population
        pop = pop[[c for c in POPULATION_COLUMNS if c in pop.columns]]
        out["proms"] = Beside(proms_stage, (validated.extra.get("proms"), validated.extra.get("prems"), pop, spec.proms),
                              {"seed": seed}, palette, "the PROMs stage")
    if (spec.rollout is not None and cohort.practices is not None and "go_live_date" in cohort.practices.columns
            and runs("rollout")):
        from evaltool.effects.rollout_stage import practice_panel
        from evaltool.effects.rollout_stage import run_stage as rollout_stage

        out["rollout"] = Beside(
            rollout_stage, (None, None, validated.practices, spec.rollout), {"seed": seed, **window}, palette,
            "the roll-out stage", prepare=lambda: practice_panel(validated.population_table, validated.activity_table,
                                                                 validated.practices, spec.rollout, **window))
    q = spec.qualitative
    if q is not None and q.segments is not None and runs("qual"):
        from evaltool.qual.stage import summarise

        # All but the joint display, which needs the other stages' facts: completed when collected
        # (evaltool.qual.stage.add_joint_display).
        out["qual"] = Beside(summarise, (None, None, q), {"seed": seed}, palette, "the qualitative stage")
    return out
