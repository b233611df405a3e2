"""Wire the stages together: spec -> inputs -> cohort -> matching -> effects -> roll-out
-> PROMs/PREMs -> qualitative -> bundle -> report.

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

import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evaltool import __version__
from evaltool.bundle import BundleWriter, atomic_dir
from evaltool.cohort import Cohort, build_cohort
from evaltool.errors import EvaltoolError
from evaltool.inputs import ValidatedData, load_inputs
from evaltool.spec import Spec, load_spec
from evaltool.stage import FigureSpec, StageOutput, TableMeta

ProgressFn = Callable[[str, str, str], None]

PACKAGES = ("evaltool", "numpy", "pandas", "scipy", "statsmodels", "linearmodels", "plotnine", "duckdb",
            "ibis-framework", "pydantic", "pypandoc-binary", "typst", "jinja2", "pyarrow")

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


def _versions() -> dict[str, str]:
    out = {}
    for p in PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = "not installed"
    return out


def cohort_stage(validated: ValidatedData, cohort: Cohort, spec: Spec) -> StageOutput:
    """Tables of the cohort flow, input problems and the monthly series for the SPC chart."""
    out = StageOutput(section="cohort")
    flow = cohort.flow_frame()
    out.tables["cohort_flow"] = flow
    out.table_meta["cohort_flow"] = TableMeta(
        title="Cohort flow: who was analysed and who was excluded, with reasons",
        caption="Each row removes people for the reason given; the last rows give the analysed numbers.",
        count_columns=("n_remaining", "n_excluded"),
    )
    afl = pd.DataFrame([f.__dict__ for f in cohort.activity_flow])
    out.tables["activity_flow"] = afl
    out.table_meta["activity_flow"] = TableMeta(
        title="Activity records: exclusions with reasons", count_columns=("n_remaining", "n_excluded"), appendix=True)
    probs = validated.problems_frame().drop(columns=["example_rows"])
    out.tables["input_problems"] = probs
    out.table_meta["input_problems"] = TableMeta(
        title="Problems found in the input data and the action taken", appendix=True, publish=True)
    out.tables["spc_monthly"] = monthly_emergency_rate(cohort.population, cohort.activity, spec)
    out.table_meta["spc_monthly"] = TableMeta(
        title="Monthly emergency admissions per 1,000 registered population",
        count_columns=("admissions",), derived_columns=(("rate_per_1000", "admissions"),), appendix=True)
    pop = cohort.population
    out.facts = {
        "n_people": int(len(pop)),
        "n_enrolled": int((pop.treated == 1).sum()),
        "n_candidates": int((pop.treated == 0).sum()),
        "n_excluded": int(flow["n_excluded"].sum()),
        "n_activity_rows": int(len(cohort.activity)),
        "window_start": str(spec.window.start),
        "window_end": str(spec.window.end),
        "first_index_date": str(pop.loc[pop.treated == 1, "index_date"].min().date()),
        "last_index_date": str(pop.loc[pop.treated == 1, "index_date"].max().date()),
    }
    return out


def extend_flow_with_matching(cohort_out: StageOutput, summary: pd.DataFrame) -> None:
    """Carry matching's exclusions into the cohort flow, so one table goes from start n to analysed n."""
    flow = cohort_out.tables["cohort_flow"]
    items = dict(zip(summary["item"], summary["value"]))
    n = int(flow.loc[flow.step == "analysed_enrolled", "n_remaining"].iloc[0])
    rows = []
    for item, desc, value in summary.itertuples(index=False):
        if str(item).startswith(("n_unmatched_", "n_excluded_")) and int(value) > 0:
            n -= int(value)
            step = str(item).replace("n_unmatched_", "unmatched_").replace("n_excluded_", "excluded_before_matching_")
            text = str(desc).strip()
            text = text[:1].upper() + text[1:]
            rows.append({"step": step, "description": text, "n_remaining": n, "n_excluded": int(value),
                         "reason": text})
    rows.append({"step": "analysed_matched", "description": "Enrolled people matched and analysed",
                 "n_remaining": int(items.get("n_matched", n)), "n_excluded": 0, "reason": ""})
    rows.append({"step": "analysed_controls", "description": "Matched controls (distinct people)",
                 "n_remaining": int(items.get("n_controls", 0)), "n_excluded": 0, "reason": ""})
    cohort_out.tables["cohort_flow"] = pd.concat([flow, pd.DataFrame(rows)], ignore_index=True)


def monthly_emergency_rate(population: pd.DataFrame, activity: pd.DataFrame, spec: Spec) -> pd.DataFrame:
    """Emergency admissions per 1,000 people registered and alive mid-month, for the whole population."""
    months = pd.period_range(pd.Timestamp(spec.window.start), pd.Timestamp(spec.window.end), freq="M")
    mid = months.to_timestamp() + pd.Timedelta(days=14)
    start = population["registration_start"].fillna(pd.Timestamp.min).to_numpy()
    end = np.minimum(population["registration_end"].fillna(pd.Timestamp.max).to_numpy(),
                     population["death_date"].fillna(pd.Timestamp.max).to_numpy())
    s_sorted, e_sorted = np.sort(start), np.sort(end)
    m = mid.to_numpy()
    registered = np.searchsorted(s_sorted, m, side="right") - np.searchsorted(e_sorted, m, side="left")
    em = activity.loc[activity["setting"] == "emergency_admission", "date"].dt.to_period("M")
    counts = em.value_counts().reindex(months, fill_value=0).to_numpy()
    return pd.DataFrame({
        "month": months.to_timestamp(),
        "admissions": counts.astype(int),
        "registered": registered.astype(int),
        "rate_per_1000": np.where(registered > 0, 1000 * counts / np.maximum(registered, 1), np.nan),
    })


def run(spec: Spec | str | Path, *, formats: tuple[str, ...] | None = None, render: bool = True,
        output_dir: Path | str | None = None, progress: ProgressFn | None = None) -> RunResult:
    """Run every stage of the evaluation described by ``spec`` and write the results bundle.

    Parameters
    ----------
    spec:
        A :class:`~evaltool.spec.Spec` or the path of a YAML spec.
    formats:
        Report formats (default: the spec's ``report.formats``); ``render=False`` skips the report.
    output_dir:
        Where ``<name>/`` is written (default: the spec's ``output_dir``, normally ``reports/``).
    progress:
        Called as ``progress(stage, status, detail)``; the CLI uses it for its display.
    """
    t_start = time.perf_counter()
    if not isinstance(spec, Spec):
        spec = load_spec(spec)
    say = progress or (lambda stage, status, detail: None)
    seed = spec.seed
    stages: dict[str, dict[str, Any]] = {}
    outputs: dict[str, StageOutput] = {}

    say("inputs", "start", "reading and validating input files")
    t = time.perf_counter()
    validated = load_inputs(spec)
    validated.raise_for_errors()
    cohort = build_cohort(validated, min_age=spec.cohort.min_age, max_age=spec.cohort.max_age)
    outputs["cohort"] = cohort_stage(validated, cohort, spec)
    stages["cohort"] = {"status": "ok", "seconds": round(time.perf_counter() - t, 2)}
    say("inputs", "ok", f"{len(cohort.population):,} people, {int((cohort.population.treated == 1).sum()):,} enrolled")

    def attempt(name: str, enabled: bool, why_not: str, fn: Callable[[], StageOutput]) -> StageOutput | None:
        if not enabled:
            stages[name] = {"status": "not_run", "reason": why_not}
            say(name, "skipped", why_not)
            return None
        say(name, "start", "")
        t0 = time.perf_counter()
        try:
            out = fn()
        except EvaltoolError as err:
            # A stage that cannot run is reported in the bundle and the report, never silently blank.
            stages[name] = {"status": "failed", "reason": f"{type(err).__name__}: {err}",
                            "seconds": round(time.perf_counter() - t0, 2)}
            say(name, "failed", str(err).splitlines()[0])
            return None
        stages[name] = {"status": "ok", "seconds": round(time.perf_counter() - t0, 2)}
        outputs[name] = out
        say(name, "ok", f"{stages[name]['seconds']} s")
        return out

    window = dict(window_start=pd.Timestamp(spec.window.start), window_end=pd.Timestamp(spec.window.end))

    def _matching() -> StageOutput:
        from evaltool.matching.stage import run_stage

        return run_stage(cohort.population, cohort.activity, cohort.practices, spec.matching, seed=seed,
                         pre_months=spec.effects.pre_months if spec.effects is not None else None, **window)

    m_out = attempt("matching", spec.matching is not None, "no `matching` section in the spec", _matching)
    if m_out is not None and "matching_summary" in m_out.tables:
        extend_flow_with_matching(outputs["cohort"], m_out.tables["matching_summary"])

    def _effects() -> StageOutput:
        from evaltool.effects.matched_stage import run_stage

        return run_stage(m_out.objects["matched_cohort"], cohort.population, cohort.activity, spec.effects, seed=seed,
                         **window)

    attempt("effects", spec.effects is not None and m_out is not None,
            "no `effects` section in the spec" if spec.effects is None else "matching did not run", _effects)

    has_rollout = cohort.practices is not None and "go_live_date" in cohort.practices.columns

    def _rollout() -> StageOutput:
        from evaltool.effects.rollout_stage import run_stage

        # Practice-level rates need everyone registered, not only the person-level cohort's eligible people.
        return run_stage(validated.population, validated.activity, validated.practices, spec.rollout, seed=seed,
                         **window)

    attempt("rollout", spec.rollout is not None and has_rollout,
            "no `rollout` section in the spec" if spec.rollout is None else "no practices file with go_live_date",
            _rollout)

    def _proms() -> StageOutput:
        from evaltool.proms.stage import run_stage

        return run_stage(validated.extra.get("proms"), validated.extra.get("prems"), cohort.population, spec.proms,
                         seed=seed)

    attempt("proms", spec.proms is not None and bool(validated.extra),
            "no `proms` section in the spec" if spec.proms is None else "no PROM/PREM files given", _proms)

    def _qual() -> StageOutput:
        from evaltool.qual.stage import run_stage

        facts = {k: v.facts for k, v in outputs.items()}
        return run_stage(None, None, spec.qualitative, seed=seed, effects_facts=facts)

    attempt("qual", spec.qualitative is not None and spec.qualitative.segments is not None,
            "no `qualitative` section in the spec" if spec.qualitative is None
            else "no coded segments file given (qualitative.segments)", _qual)

    # ---- bundle ---------------------------------------------------------------------------
    out_root = Path(output_dir) if output_dir is not None else Path(spec.output_dir)
    final = out_root / spec.name
    say("bundle", "start", str(final))
    report_files: dict[str, str] = {}
    with atomic_dir(final) as tmp:
        writer = BundleWriter(tmp)
        for out in outputs.values():
            writer.add_stage(out)
        writer.add_table("effects", "effects", collect_effects(outputs), TableMeta(
            title="All headline effect estimates", caption="One row per estimate; see the methods appendix.",
            appendix=True))
        manifest = {
            "bundle_version": 1,
            "name": spec.name, "title": spec.title, "programme": spec.programme, "question": spec.question,
            "evaltool_version": __version__,
            "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "seed": seed, "spec": _portable_paths(spec.to_json_dict(), Path.cwd()),
            "window": {"start": str(spec.window.start), "end": str(spec.window.end)},
            "inputs": validated.files, "packages": _versions(), "python": platform.python_version(),
            "stages": stages,
            "report": {
                "formats": list(formats or spec.report.formats),
                "disclosure": spec.report.disclosure.model_dump(),
                "follow_up_months": _follow_up_months(spec, outputs),
                "deviations": [d.model_dump() for d in spec.report.deviations],
            },
        }
        writer.finish(manifest)
        if render:
            say("report", "start", ", ".join(formats or spec.report.formats))
            from evaltool.report import render_report

            rep = render_report(tmp, formats=tuple(formats or spec.report.formats), engine=spec.report.engine)
            report_files = {k: str(final / Path(v).name) for k, v in getattr(rep, "paths", {}).items()}
            say("report", "ok", ", ".join(report_files))
    say("bundle", "ok", str(final))
    return RunResult(spec, final, stages, outputs, report_files, round(time.perf_counter() - t_start, 2))


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
        for name in ("effects_matched", "effects_rollout", "effects_naive"):
            if name in out.tables:
                parts.append(out.tables[name])
    if not parts:
        return pd.DataFrame(columns=EFFECTS_COLUMNS)
    df = pd.concat(parts, ignore_index=True)
    for c in EFFECTS_COLUMNS:
        if c not in df.columns:
            df[c] = np.nan
    return df[EFFECTS_COLUMNS + [c for c in df.columns if c not in EFFECTS_COLUMNS]]


__all__ = ["run", "RunResult", "cohort_stage", "collect_effects", "monthly_emergency_rate", "FigureSpec"]
