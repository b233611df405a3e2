"""Build analyses/southvale_walkthrough.ipynb (kept as code so the notebook diff stays readable)."""
from pathlib import Path

import nbformat as nbf

cells = []
md = lambda s: cells.append(nbf.v4.new_markdown_cell(s))  # noqa: E731
code = lambda s: cells.append(nbf.v4.new_code_cell(s))  # noqa: E731

md("""# Southvale, stage by stage

The same evaluation that `evaltool run analyses/southvale.yaml` performs, one public function at a
time, so that you can inspect, swap or extend any step. Every stage returns a result object with
`.summary()`, `.to_frame()`, `.plot()` and `.to_dict()`.

Southvale is fictional: the true effects are known (`example_data/southvale/truth.json`).
Every call below takes its settings from the spec, so the numbers are the ones `evaltool run`
reports; the last cell checks that they are.
Set the environment variable `EVALTOOL_NOTEBOOK_SCALE` (e.g. `0.08`) to run on a smaller,
regenerated Southvale (the test suite does this, and compares the numbers with the CLI's).""")
code("""import json, os, tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

import evaltool
from evaltool.spec import parse_spec

HERE = Path.cwd() if (Path.cwd() / "southvale.yaml").exists() else Path.cwd() / "analyses"
SCALE = float(os.environ.get("EVALTOOL_NOTEBOOK_SCALE", "0") or 0)
OUT = Path(os.environ.get("EVALTOOL_NOTEBOOK_OUT") or tempfile.mkdtemp())  # where section 8 writes its bundle
raw = yaml.safe_load((HERE / "southvale.yaml").read_text())
if SCALE:
    from evaltool.datasets.example import write_example_data
    data_dir = Path(tempfile.mkdtemp()) / "southvale"
    write_example_data(data_dir, seed=11, scale=SCALE)
    for key in ("population", "activity", "practices", "proms", "prems"):
        raw["data"][key] = str(data_dir / Path(raw["data"][key]).name)
    for key in ("codebook", "segments", "participants", "analyst_summaries"):
        raw["qualitative"][key] = str(data_dir / "qual" / Path(raw["qualitative"][key]).name)
    raw["rollout"]["bootstrap_reps"] = 199
else:
    data_dir = HERE.parent / "example_data" / "southvale"
spec = parse_spec(raw, base_dir=HERE, source="southvale.yaml")
truth = json.loads((data_dir / "truth.json").read_text())
spec.name, spec.window""")
md("## 1. Load and validate the inputs\nEvery problem names the file, the column and the rows; exclusions are counted.")
code("""data = evaltool.load_inputs(spec)
data.raise_for_errors()
print(f"{len(data.problems)} problem(s) found")
data.flow_frame()""")
md("## 2. The cohort\nEligibility rules applied to the enrolled; potential controls are everyone never enrolled.")
code("""cohort = evaltool.build_cohort(data, min_age=spec.cohort.min_age, max_age=spec.cohort.max_age)
cohort.summary()""")
md("""## 3. Matched controls at each enrolment date
Risk-set matching: for each enrolment month, candidates are alive, registered and not yet enrolled;
covariates (including recent hospital use) are measured over the months before that date.""")
code("""from evaltool.matching import risk_set_match
from evaltool.matching.stage import trajectory_settings

m = spec.matching  # every matching setting of the plan, spelt out
matched = risk_set_match(
    cohort.population, cohort.activity,
    window_start=spec.window.start, window_end=spec.window.end,
    covariates=list(m.covariates), lookback_months=m.lookback_months, period=m.period, followup=m.followup,
    method=m.method, distance=m.distance, ratio=m.ratio, replace=m.replace,
    caliper=m.caliper, std_caliper=m.std_caliper, exact=list(m.exact), order=m.order,
    min_age=m.min_age, missing=m.missing, seed=spec.seed, candidates_per_treated=m.candidates_per_treated,
    # prior use matched as a monthly profile over the DiD's pre-period (the plan's default)
    **trajectory_settings(m, pre_months=spec.effects.pre_months),
)
matched.summary()""")
code("""matched.plot()""")
md("""## 4. What happened to emergency admissions?
Difference-in-differences on the matched cohort: Poisson with person-time exposure, effects by age band.
The naive before/after change for the enrolled is shown beside it: that is regression to the mean.""")
code("""from evaltool.effects import matched_did

e = spec.effects
cohort_m = matched.matched_data()
did = matched_did(cohort_m, cohort.activity, cohort.population, "emergency_admission",
                  model=e.model, pre_months=e.pre_months, post_months=e.post_months,
                  subgroups=list(e.subgroups), cluster=e.cluster, event_study=e.event_study, alpha=e.alpha,
                  window_start=spec.window.start, window_end=spec.window.end)
did.to_frame()""")
code("""print("true rate ratios:", truth["true_rate_ratios"]["emergency_admission"])
did.plot()""")
md("## 5. The practice-level roll-out\nStaggered go-live dates, 25 practices: Callaway & Sant'Anna and the imputation estimator, wild cluster bootstrap.")
code("""from evaltool.effects.rollout_stage import run_stage as rollout_stage

roll = rollout_stage(cohort.population, cohort.activity, cohort.practices, spec.rollout,
                     window_start=spec.window.start, window_end=spec.window.end, seed=spec.seed)
roll.tables["rollout_effects"]""")
md("## 6. Patient-reported outcomes and experience")
code("""from evaltool.proms.stage import run_stage as proms_stage

pr = proms_stage(data.extra["proms"], data.extra["prems"], cohort.population, spec.proms, seed=spec.seed)
pr.tables["eq5d_change"]""")
md("## 7. What staff, patients and carers said")
code("""from evaltool.qual.stage import run_stage as qual_stage

q = qual_stage(None, None, spec.qualitative, seed=spec.seed)
q.tables["qual_agreement"].head(10)""")
md("""## 8. All of it, with the report
`evaltool.run` (what the `evaltool run` command calls) performs the stages above, writes the results
bundle and renders the report. Its matched difference-in-differences estimates are the ones above.""")
code("""res = evaltool.run(spec, formats=("html",), output_dir=OUT)
res.stages""")
code("""bundle = pd.read_csv(res.bundle_dir / "results" / "effects.csv")
cols = ["outcome", "subgroup", "scale", "estimate", "ci_lower", "ci_upper"]
ours = did.to_frame().query("analysis == 'matched_did'")[cols].reset_index(drop=True)
theirs = bundle.query("analysis == 'matched_did' and outcome == 'emergency_admission'")[cols].reset_index(drop=True)
# The bundle stores 10 significant digits, hence a relative tolerance.
same = ours.shape == theirs.shape and all(
    np.allclose(ours[c], theirs[c], rtol=1e-8, atol=0) if pd.api.types.is_numeric_dtype(ours[c])
    else (ours[c].astype(str) == theirs[c].astype(str)).all() for c in cols)
print("stage-by-stage estimates equal evaltool run's:", same)
ours""")

nb = nbf.v4.new_notebook(cells=cells, metadata={
    "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
    "language_info": {"name": "python"},
})
out = Path(__file__).resolve().parents[1] / "analyses" / "southvale_walkthrough.ipynb"
nbf.write(nb, out)
print(out)
