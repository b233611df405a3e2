"""Wire the stages together: spec -> inputs -> cohort -> matching -> effects -> roll-out
-> PROMs/PREMs -> economics -> qualitative -> bundle -> report.

Each stage is a public function elsewhere; this module only calls them in order, records
what each did (status, seconds, reason when not run) and writes the results bundle.

Examples
--------
>>> from evaltool.pipeline import run
>>> result = run("analyses/southvale.yaml")  # doctest: +SKIP
>>> result.bundle_dir  # doctest: +SKIP
PosixPath('reports/southvale')
"""
from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evaltool import __version__, figure_workers
from evaltool import engine as engine_mod
from evaltool._memory import release_memory
from evaltool.blas import blas_threads
from evaltool.bundle import BundleWriter, atomic_write_text, draw_figure, dumps
from evaltool.cohort import build_cohort
from evaltool.cohort_stage import cohort_stage, extend_flow_with_matching, monthly_emergency_rate
from evaltool.errors import DataValidationError, EvaltoolError, SpecError
from evaltool.figure_workers import Drawing
from evaltool.inputs import ValidatedData, load_inputs
from evaltool.progress import StageStepFn, StepFn
from evaltool.runlog import Event, Listener, RunRecord, one_line
from evaltool.safe_output import atomic_dir, prepare_output
from evaltool.spec import Spec, load_spec
from evaltool.stage import FigureSpec, StageOutput, TableMeta
from evaltool.stage_attempt import attempt as run_attempt
from evaltool.stage_beside import start_beside

ProgressFn = Callable[[str, str, str], None]

# The run's own dependencies as the manifest and the appendix list them (evaltool's version is recorded on its own,
# as `evaltool_version`: its distribution is `evaltool-care`, and it may run from a source tree).
PACKAGES = ("numpy", "pandas", "scipy", "statsmodels", "plotnine", "duckdb",
            "ibis-framework", "pydantic", "pypandoc-binary", "typst", "pyarrow")

EFFECTS_COLUMNS = ["analysis", "outcome", "subgroup", "estimate", "std_error", "ci_lower", "ci_upper", "p_value",
                   "scale", "method", "n_units", "n_clusters"]


@dataclass
class RunResult:
    """What a run produced: where the bundle is, what each stage did, the outputs in memory."""

    spec: Spec
    bundle_dir: Path
    stages: dict[str, dict[str, Any]]
    outputs: dict[str, StageOutput] = field(default_factory=dict)
    report_files: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    record: RunRecord = field(default_factory=RunRecord)
    status: str = "complete"  #: "complete" or "partial" (a planned analysis or stage failed)
    allow_partial: bool = False
    report_error: str | None = None  #: one-line cause when rendering failed (the bundle is kept)

    @property
    def ok(self) -> bool:
        """True when the run is complete (or partial results were allowed) and the report rendered."""
        return (self.status == "complete" or self.allow_partial) and self.report_error is None


def _versions() -> dict[str, str]:
    out = {}
    for p in PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = "not installed"
    return out


def _score_covariates(spec: Spec, validated: Any, cohort: Any) -> Any:
    """Comorbidity scores named in ``matching.covariates`` (charlson, elixhauser, hfrs), from the spells'
    diagnoses of an APC extract; a population column of that name is used as it is instead."""
    from evaltool.nhs.comorbidity import SCORE_COVARIATES, ScoreCovariates

    wanted = [c for c in spec.matching.covariates if c in SCORE_COVARIATES and c not in cohort.population.columns]
    if not wanted:
        return None
    dx = (getattr(validated, "nhs", None) or {}).get("diagnoses")
    if dx is None:
        raise DataValidationError(
            f"matching covariate(s) {wanted} are comorbidity scores from prior diagnoses: give an admitted patient "
            "care extract with `preset: hes_apc` (or sus_apc) and its diagnosis columns, or a population column of "
            "that name")
    return ScoreCovariates(dx, wanted)


def run(spec: Spec | str | Path, *, formats: tuple[str, ...] | None = None, render: bool = True,
        output_dir: Path | str | None = None, progress: ProgressFn | None = None,
        record: RunRecord | None = None, allow_partial: bool | None = None,
        steps: StageStepFn | None = None, only: Sequence[str] | str | None = None,
        engine: Any = None) -> RunResult:
    """Run every stage of the evaluation described by ``spec`` and write the results bundle.

    The run computes once and renders separately: the results bundle (tables, figures,
    ``results/run_log.jsonl``, ``manifest.json``) is committed to ``<output_dir>/<name>/`` before
    the report is rendered into it, so a render failure never loses the results
    (``RunResult.report_error`` says why).

    Parameters
    ----------
    spec:
        A :class:`~evaltool.spec.Spec` or the path of a YAML spec.
    formats:
        Report formats (default: the spec's ``report.formats``); ``render=False`` skips the report.
    output_dir:
        Where ``<name>/`` is written (default: the spec's ``output_dir``, normally ``reports/``);
        relative paths are relative to the current working directory.
    progress:
        Called as ``progress(stage, status, detail)`` on stage starts and ends.
    only:
        Re-run only these stages (``matching``, ``effects``, ``rollout``, ``proms``, ``qual``) and reuse
        the others from the saved bundle, which must still be valid for this spec and these inputs
        (:mod:`evaltool.reuse`); ``effects`` re-runs ``matching`` too.
    steps:
        Called as ``steps(stage, done, total, what)`` inside long stages (matching: each enrolment
        month's risk set; effects: each outcome); the CLI draws progress bars with it.
    record:
        A :class:`~evaltool.runlog.RunRecord` to collect into (its listeners see every event as it
        happens); a new one by default. Returned as ``RunResult.record``.
    allow_partial:
        Whether missing planned results are acceptable (default: the spec's ``allow_partial``);
        recorded in the manifest. It never hides a failure, it only changes ``RunResult.ok``.

    Raises
    ------
    SpecError, DataValidationError, OutputError
        Before anything is written.
    engine:
        Where data preparation runs: an :class:`~evaltool.engine.Engine`, an Ibis connection, a
        ``SparkSession`` or a backend name (``"duckdb"``, ``"spark"``); default the spec's ``engine``.
    """
    t_start = time.perf_counter()
    if not isinstance(spec, Spec):
        spec = load_spec(spec)
    if isinstance(engine, str):
        spec = spec.model_copy(update={"engine": spec.engine.model_copy(update={"backend": engine})})
        engine = None
    eng = engine_mod.as_engine(engine) if engine is not None else engine_mod.connect(spec.engine)
    try:
        figure_workers.configured_workers()  # a bad EVALTOOL_FIGURE_WORKERS stops the run before anything is read
        # One BLAS thread unless EVALTOOL_BLAS_THREADS says otherwise (same numbers, far faster when shared).
        with blas_threads():
            return _run(spec, eng, formats=formats, render=render, output_dir=output_dir, progress=progress,
                        record=record, allow_partial=allow_partial, steps=steps, only=only, t_start=t_start)
    finally:
        if engine is None:
            eng.close()


def _run(spec: Spec, eng: engine_mod.Engine, *, formats: tuple[str, ...] | None, render: bool,
         output_dir: Path | str | None, progress: ProgressFn | None, record: RunRecord | None,
         allow_partial: bool | None, steps: StageStepFn | None, only: Sequence[str] | str | None,
         t_start: float) -> RunResult:
    record = record if record is not None else RunRecord()
    if progress is not None:
        record.listen(_progress_adapter(progress))
    allow = bool(spec.allow_partial if allow_partial is None else allow_partial)
    seed = spec.seed
    stages: dict[str, dict[str, Any]] = {}
    outputs: dict[str, StageOutput] = {}
    drawings: dict[int, Drawing] = {}  # stage figures being drawn, by id() of their FigureSpec

    # ---- where the bundle goes: checked before anything is computed --------------------------
    out_root = Path(output_dir) if output_dir is not None else Path(spec.output_dir)
    plan = prepare_output(out_root / spec.name)
    final = plan.final
    for code, message in plan.notes:
        record.warning("bundle", code, message)

    record.info("inputs", "stage_started", f"reading and validating input files ({eng.backend})")
    t = time.perf_counter()
    validated = load_inputs(spec, engine=eng)
    validated.raise_for_errors()
    _record_input_problems(record, validated)
    area_in = _check_area_inputs(spec, validated)
    cohort = None
    if spec.data.person_level:
        cohort = build_cohort(validated, min_age=spec.cohort.min_age, max_age=spec.cohort.max_age)
        outputs["cohort"] = cohort_stage(validated, cohort, spec)
        stages["cohort"] = {"status": "ok", "seconds": round(time.perf_counter() - t, 2)}
        release_memory()
        record.info("inputs", "stage_finished",
                    f"{len(cohort.population):,} people, {int((cohort.population.treated == 1).sum()):,} enrolled",
                    counts={"people": len(cohort.population),
                            "enrolled": int((cohort.population.treated == 1).sum())})
    else:
        why = "no `data.population` or `data.activity` in the spec (an area-only evaluation from the area panel)"
        stages["cohort"] = {"status": "not_run", "reason": why}
        f = area_in.facts
        record.info("inputs", "stage_finished",
                    f"area panel: {f['n_areas']} areas, {f['n_months']} months, {f['n_donors']} comparison areas",
                    counts={"areas": f["n_areas"], "months": f["n_months"]})
        record.info("cohort", "stage_skipped", why)
    # Figures are drawn by helper processes while the stages compute (evaltool.figure_workers; the same PNGs
    # as drawing them here). The `run` command has started them already, before importing the pipeline (their
    # imports beside its own); called from Python, they start here, after the inputs, whose reading keeps both
    # cores busy (forked, on Linux, from one process that imports what the run's helper jobs use).
    from evaltool.helper_fork import PRELOAD

    figure_workers.start(preload=PRELOAD)
    # Keyed hashes of the input ids (results/identifiers.json, for `evaltool check-publish`): the ids are read
    # from the engine now, column by column, and hashed in a helper while the stages compute.
    from evaltool.identifiers import start_identifier_json

    ids_json = start_identifier_json(
        [t_ for t_ in (validated.population_table, *validated.extra.values()) if t_ is not None], seed, validated.files)
    _plan_analyses(record, spec)
    reuse = None
    if only:
        from evaltool.reuse import plan_reuse

        reuse = plan_reuse(only, final)
        reuse.check(json.loads(dumps(spec.to_json_dict())), validated.files)
        record.info("bundle", "stages_reused", f"re-running {', '.join(reuse.run)}; reusing "
                    f"{', '.join(reuse.reused) or 'nothing'} from the saved run of {reuse.manifest.get('created')}")

    palette = _brand_palette(spec)

    # PROMs/PREMs, the roll-out and the qualitative summaries need nothing from matching: started now in a
    # helper, collected in turn below.
    beside = start_beside(spec, validated, cohort, reuse, palette, seed) if cohort is not None else {}

    def attempt(name: str, enabled: bool, why_not: str, fn: Callable[[], StageOutput]) -> StageOutput | None:
        # Stage figures take the report brand's chart colours (the NHS palette by default).
        def branded() -> StageOutput:
            return _in_palette(palette, fn)

        if not spec.data.person_level and name in ("matching", "effects", "rollout", "proms", "economics"):
            why_not = f"no `{name}` section in the spec (an area-only evaluation: no person-level data)"

        took = beside[name].took if name in beside else None  # computed in a helper: its own seconds
        if reuse is None:
            out = run_attempt(record, stages, outputs, name, enabled, why_not, branded, seconds=took)
        else:
            out = run_attempt(record, stages, outputs, name, enabled, why_not, reuse.stage_fn(name, branded),
                              seconds=took)
            if enabled and name in reuse.reused:
                stages[name]["reused_from"] = str(reuse.manifest.get("created"))
        # The stage's figures start drawing now (in helper processes) while the next stage computes; a stage
        # computed in a helper has drawn its own there already.
        drawn = beside[name].pngs if name in beside else {}
        for key, fig in (out.figures.items() if out is not None else ()):
            if isinstance(fig, FigureSpec):
                drawings[id(fig)] = figure_workers.drawn(drawn[key]) if key in drawn else draw_figure(fig)
        return out

    window = dict(window_start=pd.Timestamp(spec.window.start), window_end=pd.Timestamp(spec.window.end))

    def _matching() -> StageOutput:
        from evaltool.matching.stage import run_stage

        return run_stage(cohort.population, cohort.activity_table, cohort.practices, spec.matching, seed=seed,
                         pre_months=spec.effects.pre_months if spec.effects is not None else None,
                         **window, progress=_stage_steps(steps, "matching"),
                         period_covariates=_score_covariates(spec, validated, cohort))

    m_out = attempt("matching", spec.matching is not None, "no `matching` section in the spec", _matching)
    if m_out is not None and "matching_summary" in m_out.tables:
        extend_flow_with_matching(outputs["cohort"], m_out.tables["matching_summary"])

    def _effects() -> StageOutput:
        from evaltool.effects.matched_stage import run_stage

        return run_stage(m_out.objects["matched_cohort"], cohort.population, cohort.activity_table, spec.effects,
                         seed=seed, **window, progress=_stage_steps(steps, "effects"))

    if spec.effects is not None and m_out is None and spec.matching is not None:
        record.fail_unfinished("effects", "matching did not run, so the matched-cohort effects could not be estimated")
    attempt("effects", spec.effects is not None and m_out is not None,
            "no `effects` section in the spec" if spec.effects is None else "matching did not run", _effects)

    has_rollout = cohort is not None and cohort.practices is not None and "go_live_date" in cohort.practices.columns

    def _rollout() -> StageOutput:
        from evaltool.effects.rollout_stage import run_stage

        if "rollout" in beside:
            return beside["rollout"].output()

        # Practice-level rates need everyone registered, not only the person-level cohort's eligible people.
        return run_stage(validated.population_table, validated.activity_table, validated.practices, spec.rollout,
                         seed=seed, **window)

    if spec.rollout is not None and not has_rollout:
        record.fail_unfinished("rollout", "no practices file with a `go_live_date` column was given")
    attempt("rollout", spec.rollout is not None and has_rollout,
            "no `rollout` section in the spec" if spec.rollout is None else "no practices file with go_live_date",
            _rollout)

    def _proms() -> StageOutput:
        from evaltool.proms.stage import run_stage

        if "proms" in beside:
            return beside["proms"].output()

        return run_stage(validated.extra.get("proms"), validated.extra.get("prems"), cohort.population, spec.proms,
                         seed=seed)

    has_proms_files = any(k in validated.extra for k in ("proms", "prems"))
    if spec.proms is not None and not has_proms_files:
        record.fail_unfinished("proms", "no PROM/PREM files were given (`data.proms`, `data.prems`)")
    attempt("proms", spec.proms is not None and has_proms_files,
            "no `proms` section in the spec" if spec.proms is None else "no PROM/PREM files given", _proms)

    def _economics() -> StageOutput:
        from evaltool.economics.stage import run_stage

        eff, prom = outputs["effects"], outputs.get("proms")
        return run_stage(cohort.population, cohort.activity_table, eff.objects.get("outcome_panel"), spec.economics,
                         seed=seed, **window, subgroups=spec.effects.subgroups, cluster=spec.effects.cluster,
                         proms=prom.objects.get("eq5d_scored") if prom is not None else None,
                         proms_timepoints=spec.proms.timepoints if spec.proms is not None else None,
                         min_age=spec.cohort.min_age,
                         context={"value_set_label": prom.facts.get("value_set_label") if prom is not None else None})

    attempt("economics", spec.economics is not None and "effects" in outputs,
            "no `economics` section in the spec" if spec.economics is None else "the matched effects did not run",
            _economics)

    def _qual() -> StageOutput:
        from evaltool.qual.stage import add_joint_display, run_stage

        facts = {k: v.facts for k, v in outputs.items()}
        if "qual" in beside:  # summarised in a helper; the joint display quotes the finished stages' numbers
            return add_joint_display(beside["qual"].output(), facts)
        return run_stage(None, None, spec.qualitative, seed=seed, effects_facts=facts)

    attempt("qual", spec.qualitative is not None and spec.qualitative.segments is not None,
            "no `qualitative` section in the spec" if spec.qualitative is None
            else "no coded segments file given (qualitative.segments)", _qual)

    def _area() -> StageOutput:
        from evaltool.area.stage import run_stage

        # whole-area series count everyone registered, as the roll-out stage does
        person = spec.data.person_level
        return run_stage(validated.population if person else None, validated.activity_table,
                         validated.practices if person else None,
                         validated.extra.get("area_panel"), spec.area, seed=seed,
                         file=spec.data.source("area_panel").describe() if spec.data.area_panel else "area_panel",
                         **window)

    attempt("area", spec.area is not None, "no `area` section in the spec", _area)

    # ---- bundle: results are committed before anything is rendered ---------------------------
    complete = record.complete and not any(st["status"] in ("failed", "partial") for st in stages.values())
    for a in record.failed_analyses():
        record.error(a.stage, "planned_analysis_missing" if a.status == "failed" else "planned_analysis_partial",
                     f"planned {a.analysis.replace('_', ' ')} for {a.outcome}"
                     + ("" if a.subgroup == "all" else f" by {a.subgroup}")
                     + (" was not produced" if a.status == "failed" else " is incomplete")
                     + (f": {a.reason}" if a.reason else ""),
                     outcome=a.outcome, subgroup=a.subgroup, analysis=a.analysis)
    run_status = "complete" if complete else "partial"
    record.info("bundle", "stage_started", str(final))
    fmts = tuple(formats or spec.report.formats)
    with atomic_dir(final, spec.name) as tmp:
        writer = BundleWriter(tmp, drawings)
        for out in outputs.values():
            writer.add_stage(out)
        for msg in figure_workers.take_notices():  # a helper's trouble costs time only, and is said
            record.warning("bundle", "figure_helper", msg)
        writer.add_table("effects", "effects", collect_effects(outputs), TableMeta(
            title="All headline effect estimates", caption="One row per estimate; see the methods appendix.",
            appendix=True, count_columns=("n_units", "n_clusters")))
        from evaltool.report.materials import copy_materials

        manifest = {
            "bundle_version": 1,
            "name": spec.name, "title": spec.title, "programme": spec.programme, "question": spec.question,
            "evaltool_version": __version__,
            "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "seed": seed, "spec": _portable_paths(spec.to_json_dict(), Path.cwd()),
            "window": {"start": str(spec.window.start), "end": str(spec.window.end)},
            "inputs": _portable_paths(validated.files, Path.cwd()), "packages": _versions(),
            "python": platform.python_version(),
            "stages": stages,
            "run": {"status": run_status, "allow_partial": allow, **record.summary()},
            "report": {
                "formats": list(fmts),
                "disclosure": spec.report.disclosure.model_dump(),
                "follow_up_months": _follow_up_months(spec, outputs),
                "deviations": [d.model_dump() for d in spec.report.deviations],
                "materials": copy_materials(spec.report, tmp),
            },
        }
        record.info("bundle", "stage_finished", str(final))
        writer.finish(manifest)
        atomic_write_text(tmp / "results" / "identifiers.json", ids_json.result())
        record.write_jsonl(tmp / "results" / "run_log.jsonl")
        atomic_write_text(tmp / "results" / "run_log.txt", _log_text(record, spec.name))
    report_files: dict[str, str] = {}
    report_error = None
    if render:
        report_files, report_error = _render(record, final, fmts, spec.report.engine)
        # The report's own outcome joins the log (the manifest, already committed, is not rewritten).
        atomic_write_text(final / "results" / "run_log.jsonl", record.to_jsonl())
        atomic_write_text(final / "results" / "run_log.txt", _log_text(record, spec.name))
    return RunResult(spec, final, stages, outputs, report_files, round(time.perf_counter() - t_start, 2),
                     record=record, status=run_status, allow_partial=allow, report_error=report_error)


def _render(record: RunRecord, final: Path, fmts: tuple[str, ...], engine: str) -> tuple[dict[str, str], str | None]:
    """Render the report into the committed bundle; a failure is recorded, never raised."""
    from evaltool.report import render_report

    record.info("report", "stage_started", ", ".join(fmts))
    try:
        rep = render_report(final, formats=fmts, engine=engine)
    except EvaltoolError as err:
        msg = one_line(err)
        record.error("report", "report_failed", f"the report could not be rendered: {msg}",
                     detail=f"the results bundle in {final} is complete; re-render with `evaltool report {final}`")
        return {}, msg
    except Exception as err:  # noqa: BLE001 - a render crash must not lose the committed results
        record.exception("report", err, code="report_failed")
        return {}, f"{type(err).__name__}: {one_line(err)}"
    files = {k: str(final / Path(v).name) for k, v in getattr(rep, "paths", {}).items()}
    for w in getattr(rep, "warnings", ()):
        record.warning("report", "report_warning", str(w))
    record.info("report", "stage_finished", ", ".join(files))
    return files, None


def _check_area_inputs(spec: Spec, validated: ValidatedData) -> Any:
    """The `area` section's inputs, checked before anything is computed: a bad area panel stops the run here
    (nothing written) with the file, column and rows, as a bad population or activity file does."""
    from evaltool.area.design import check_area_inputs

    raw = validated.extra.get("area_panel")
    if spec.area is None and raw is None:
        return None
    return check_area_inputs(raw, spec.area, window=(spec.window.start, spec.window.end),
                             person_level=spec.data.person_level,
                             practices=validated.practices if spec.data.person_level else None,
                             file=spec.data.source("area_panel").describe() if spec.data.area_panel else "area_panel")


def _brand_palette(spec: Spec) -> tuple[str, ...] | None:
    if spec.report.brand is None:
        return None
    from evaltool.errors import ReportError
    from evaltool.report.brand import load_brand

    try:
        return load_brand(spec.report.brand).chart
    except ReportError as err:
        raise SpecError(f"report.brand: {err}") from None


def _in_palette(palette: tuple[str, ...] | None, fn: Callable[[], StageOutput]) -> StageOutput:
    from evaltool.plotting import use_palette

    with use_palette(palette):
        return fn()


def _record_input_problems(record: RunRecord, validated: ValidatedData) -> None:
    """Every input problem that did not stop the run (exclusions, warnings) becomes an event."""
    for p in validated.problems:
        if p.action == "error":
            continue
        verb = {"exclude": "excluded", "warn": "flagged"}.get(p.action, p.action)
        record.warning("inputs", p.check, f"{p.file}: {p.n:,} row(s) {verb}: {p.message}",
                       file=p.file, column=p.column or None, rows=p.rows, counts={"rows": p.n})


def _plan_analyses(record: RunRecord, spec: Spec) -> None:
    """The spec is the analysis plan: declare every planned analysis before running anything."""
    from evaltool.effects.matched_stage import planned_analyses as effects_plan
    from evaltool.effects.rollout_stage import planned_analyses as rollout_plan

    if spec.effects is not None:
        for analysis, outcome, subgroup in effects_plan(spec.effects):
            record.plan("effects", analysis, outcome, subgroup)
    if spec.rollout is not None:
        for analysis, outcome, subgroup in rollout_plan(spec.rollout):
            record.plan("rollout", analysis, outcome, subgroup)
    if spec.matching is not None:
        record.plan("matching", "matching", "all")
    if spec.proms is not None:
        record.plan("proms", "proms_summary", "all")
    if spec.qualitative is not None and spec.qualitative.segments is not None:
        record.plan("qual", "qual_summary", "all")
    if spec.area is not None:
        from evaltool.area.stage import planned_analyses as area_plan

        for analysis, outcome, subgroup in area_plan(spec.area):
            record.plan("area", analysis, outcome, subgroup)
    if spec.economics is not None and spec.effects is not None:
        from evaltool.economics.stage import planned_analyses as economics_plan

        for analysis, outcome, subgroup in economics_plan(spec.economics, subgroups=spec.effects.subgroups,
                                                          proms=spec.proms is not None):
            record.plan("economics", analysis, outcome, subgroup)


def _progress_adapter(progress: ProgressFn) -> Listener:
    status = {"stage_started": "start", "stage_finished": "ok", "stage_skipped": "skipped", "stage_failed": "failed",
              "stage_partial": "partial"}

    def listener(ev: Event) -> None:
        if ev.code in status:
            progress(ev.stage, status[ev.code], ev.message)

    return listener


def _log_text(record: RunRecord, name: str) -> str:
    """``results/run_log.txt``: the same events as ``run_log.jsonl``, for people to read."""
    from evaltool.run_log_text import format_run_log

    return format_run_log(record.events, name=name, analyses=[a.to_dict() for a in record.analyses()]) + "\n"


def _stage_steps(steps: StageStepFn | None, stage: str) -> StepFn | None:
    """One stage's ``progress(done, total, what)``, forwarding to the pipeline's ``steps``."""
    if steps is None:
        return None
    return lambda done, total, what: steps(stage, done, total, what)


def _portable_paths(obj: Any, base: Path) -> Any:
    """Spec paths relative to the working directory where possible (no machine paths in reports)."""
    if isinstance(obj, dict):
        return {k: _portable_paths(v, base) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_portable_paths(v, base) for v in obj]
    if isinstance(obj, str) and obj.startswith("/") and Path(obj).exists():
        try:
            return os.path.relpath(Path(obj).resolve(), base.resolve())
        except ValueError:
            return obj
    return obj


def _follow_up_months(spec: Spec, outputs: dict[str, StageOutput]) -> float | None:
    eff = outputs.get("effects")
    if eff is not None and "follow_up_months" in eff.facts:
        return eff.facts["follow_up_months"]
    if spec.effects is not None:
        return float(spec.effects.post_months)
    return None


def collect_effects(outputs: dict[str, StageOutput]) -> pd.DataFrame:
    """Every headline estimate in one tidy table (``results/effects.csv``)."""
    parts = []
    for out in outputs.values():
        for name in ("effects_matched", "effects_rollout", "effects_area", "effects_naive"):
            if name in out.tables:
                parts.append(out.tables[name])
    if not parts:
        return pd.DataFrame(columns=EFFECTS_COLUMNS)
    df = pd.concat(parts, ignore_index=True)
    for c in EFFECTS_COLUMNS:
        if c not in df.columns:
            df[c] = np.nan
    area = (df["analysis"] == "whole_area").to_numpy()
    if area.any():
        # Whole-area rows count areas, not people: they are not small counts for disclosure control.
        df["n_areas"] = np.where(area, df["n_units"], np.nan)
        df.loc[area, "n_units"] = np.nan
    return df[EFFECTS_COLUMNS + [c for c in df.columns if c not in EFFECTS_COLUMNS]]


__all__ = ["FigureSpec", "RunResult", "cohort_stage", "collect_effects", "monthly_emergency_rate", "run"]
