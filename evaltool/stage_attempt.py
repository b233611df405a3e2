"""Run one stage of an evaluation and record whatever happens to it.

A stage that cannot run is reported in the bundle, the run log and the report, never left silently blank:
:func:`attempt` runs it with Python's warnings captured, turns an error into a ``stage_failed`` event (the
traceback in the run log), forwards the stage's own events and analysis statuses to the run record, and
marks every planned result the stage did not produce. Only an interrupt escapes.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from evaltool._memory import release_memory
from evaltool.errors import EvaltoolError, EvaltoolWarning
from evaltool.runlog import RunRecord, capture_warnings, one_line
from evaltool.stage import StageOutput

__all__ = ["attempt"]


def attempt(record: RunRecord, stages: dict[str, dict[str, Any]], outputs: dict[str, StageOutput], name: str,
            enabled: bool, why_not: str, fn: Callable[[], StageOutput],
            seconds: Callable[[], float] | None = None) -> StageOutput | None:
    """Run one stage; whatever happens is recorded, and only an interrupt escapes.

    ``seconds`` (optional) gives the stage's own computing time once ``fn`` has returned, for a stage
    computed beside the others (:mod:`evaltool.stage_beside`); by default the time ``fn`` took."""
    if not enabled:
        stages[name] = {"status": "not_run", "reason": why_not}
        record.info(name, "stage_skipped", why_not)
        return None
    record.info(name, "stage_started", "")
    t0 = time.perf_counter()
    out: StageOutput | None = None
    failure: str | None = None
    with capture_warnings() as caught:
        try:
            out = fn()
        except EvaltoolError as err:
            # A stage that cannot run is reported in the bundle and the report, never silently blank.
            failure = f"{type(err).__name__}: {err}"
            record.error(name, "stage_failed", one_line(err), detail=_rest(err))
        except (MemoryError, RecursionError) as err:
            failure = f"{type(err).__name__}: the stage ran out of resources"
            record.exception(name, err, code="stage_failed")
        except Exception as err:  # noqa: BLE001 - an unexpected error fails this stage, not the run
            failure = f"{type(err).__name__}: {one_line(err)} (traceback in results/run_log.jsonl)"
            record.exception(name, err, code="stage_failed")
    release_memory()  # the stage's freed arrays back to the system before the next stage's peak
    _record_warnings(record, name, caught, out)
    took = round(time.perf_counter() - t0 if seconds is None else seconds(), 2)
    if out is None:
        stages[name] = {"status": "failed", "reason": failure or "the stage returned nothing", "seconds": took}
        record.fail_unfinished(name, f"the {name} stage failed: {one_line(failure or '')}")
        return None
    for ev in out.events:
        record.emit(ev)
    for st in out.analyses:
        record.add_status(st)
    record.fail_unfinished(name, "the stage finished without producing this result")
    status = record.stage_status(name)
    stages[name] = {"status": status, "seconds": took}
    if status != "ok":
        bad = [a for a in record.analyses() if a.stage == name and a.status != "ok"]
        stages[name]["reason"] = f"{len(bad)} planned result(s) missing or incomplete: " + "; ".join(
            f"{a.analysis} {a.outcome}" + ("" if a.subgroup == "all" else f" by {a.subgroup}") for a in bad[:5])
    outputs[name] = out
    if status == "ok":
        record.info(name, "stage_finished", f"{took} s")
    else:
        record.warning(name, "stage_partial", stages[name]["reason"])
    return out


def _rest(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return "\n".join(lines[1:])[:4000]


def _record_warnings(record: RunRecord, stage: str, caught: list, out: StageOutput | None) -> None:
    """Python warnings a stage did not record itself become events (evaltool's) or log lines (libraries')."""
    seen = {e.message for e in (out.events if out is not None else [])}
    for w in caught:
        msg = one_line(str(w.message), limit=500)
        if msg in seen:
            continue
        seen.add(msg)
        if issubclass(w.category, EvaltoolWarning):
            record.warning(stage, "stage_warning", msg)
        else:
            record.info(stage, "library_warning", f"{w.category.__name__}: {msg}")
