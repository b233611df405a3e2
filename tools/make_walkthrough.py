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
Set the environment variable `EVALTOOL_NOTEBOOK_SCALE` (e.g. `0.05`) to run on a smaller,
regenerated Southvale (the test suite does this).""")
code("""import json, os, tempfile
from pathlib import Path

import pandas as pd
import yaml

import evaltool
from evaltool.spec import parse_spec

HERE = Path.cwd() if (Path.cwd() / "southvale.yaml").exists() else Path.cwd() / "analyses"
SCALE = float(os.environ.get("EVALTOOL_NOTEBOOK_SCALE", "0") or 0)
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
code("""cohort = evaltool.build_cohort(data, min_age=spec.cohort.min_age)
cohort.summary()""")
md("""## 3. Matched controls at each enrolment date
Risk-set matching: for each enrolment month, candidates are alive, registered and not yet enrolled;
covariates (including recent hospital use) are measured over the months before that date.""")
code("""from evaltool.matching import risk_set_match

m = spec.matching
matched = risk_set_match(
    cohort.population, cohort.activity,
    window_start=spec.window.start, window_end=spec.window.end,
    covariates=m.covariates, lookback_months=m.lookback_months, followup=m.followup,
    ratio=m.ratio, caliper=m.caliper, exact=m.exact, seed=spec.seed,
)
matched.summary()""")
code("""matched.plot()""")
md("""## 4. What happened to emergency admissions?
Difference-in-differences on the matched cohort: Poisson with person-time exposure, effects by age band.
The naive before/after change for the enrolled is shown beside it: that is regression to the mean.""")
code("""from evaltool.effects import matched_did

cohort_m = matched.matched_data()
did = matched_did(cohort_m, cohort.activity, cohort.population, "emergency_admission",
                  subgroups=["age_band"],
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
`evaltool.run` performs the stages above, writes the results bundle and renders the report.""")
code("""res = evaltool.run(spec, formats=("html",), output_dir=tempfile.mkdtemp())
res.stages""")

nb = nbf.v4.new_notebook(cells=cells, metadata={
    "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
    "language_info": {"name": "python"},
})
out = Path(__file__).resolve().parents[1] / "analyses" / "southvale_walkthrough.ipynb"
nbf.write(nb, out)
print(out)
