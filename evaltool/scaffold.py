"""`evaltool init`: a new evaluation project that starts at NHS RAP Silver.

Writes a commented starter spec, a README stating how to reproduce the analysis, a
.gitignore that keeps patient-level data and outputs out of version control, and the folders
the spec points at.
"""
from __future__ import annotations

import re
from pathlib import Path

from evaltool import __version__

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")

STARTER_SPEC = """\
# Analysis plan for {name}: the pre-agreed plan, validated by `evaltool validate analyses/{name}.yaml`.
# Every key is documented in evaltool's README; unknown keys are errors.
name: {name}
title: "{name}: evaluation of an integrated care programme"
programme: "Describe the programme: who is enrolled, by whom, from when."
question: "Did the programme reduce emergency admissions compared with what would have happened anyway?"
seed: 20261122                     # same spec + data + seed -> identical results tables

window:                            # the study window; every date is read against it
  start: 2021-04-01
  end: 2025-03-31

data:                              # CSV, Parquet or Excel; paths relative to this file
  population: ../data/population.parquet   # person_id, practice_id, sex, birth_date|age, treated, index_date, ...
  activity: ../data/activity.parquet       # person_id, date, setting[, bed_days, cost]
  practices: ../data/practices.parquet     # practice_id[, neighbourhood, go_live_date, list_size]
  # proms: ../data/proms.parquet
  # prems: ../data/prems.parquet
  # codebook: ../data/qual/codebook.yaml
  # segments: ../data/qual/segments.csv

validation:
  actions:                         # per check: error (stop) or exclude (drop and count in the cohort flow)
    activity_after_death: exclude
    activity_outside_registration: exclude

cohort:
  min_age: 18
  # enrolment_end: 2024-09-30     # last index date accepted, to leave follow-up time

matching: {{}}                       # risk-set matching at each enrolment date (defaults: 1:1, caliper 0.2 SD of the
                                    # logit propensity score, exact on sex, prior use matched month by month)
effects: {{}}                        # matched-cohort difference-in-differences (defaults: Poisson, 12 months pre/post)
# rollout: {{}}                      # practice-level staggered roll-out (needs practices.go_live_date)
# proms: {{}}
# qualitative: {{}}

report:
  formats: [html, pdf, docx, xlsx]
  disclosure: {{enabled: true, min_count: 8, round_to: 5}}
"""

GITIGNORE = """\
# Patient-level data never goes into version control.
data/
*.parquet
*.csv
!reference/*.csv
# Outputs are rebuilt by `evaltool run`.
reports/
.venv/
__pycache__/
"""

README = """\
# {name}

An evaluation built with evaltool {version}.

Reproduce it:

```bash
python -m venv .venv && . .venv/bin/activate && pip install "evaltool=={version}"
evaltool validate analyses/{name}.yaml
evaltool run analyses/{name}.yaml
```

The spec in `analyses/{name}.yaml` is the analysis plan; record any deviation from it under
`report.deviations` so the report lists it. Patient-level data live in `data/` (not committed).
"""


def init_project(name: str, directory: Path | str = ".") -> list[Path]:
    """Create ``analyses/<name>.yaml`` and a project skeleton in ``directory``.

    Examples
    --------
    >>> import tempfile
    >>> paths = init_project("frailty_mdt", tempfile.mkdtemp())
    >>> sorted(p.name for p in paths)
    ['.gitignore', 'README.md', 'frailty_mdt.yaml']
    """
    if not _NAME_RE.match(name):
        raise ValueError(f"`name`: expected letters, digits, '_' or '-' (starting with a letter or digit), got {name!r}")
    root = Path(directory)
    spec_path = root / "analyses" / f"{name}.yaml"
    if spec_path.exists():
        raise FileExistsError(f"{spec_path} already exists; choose another name or edit it")
    for d in ("analyses", "data", "reports"):
        (root / d).mkdir(parents=True, exist_ok=True)
    written = [spec_path]
    spec_path.write_text(STARTER_SPEC.format(name=name), encoding="utf-8")
    for fname, text in ((".gitignore", GITIGNORE), ("README.md", README.format(name=name, version=__version__))):
        p = root / fname
        if not p.exists():
            p.write_text(text, encoding="utf-8")
            written.append(p)
    return written
