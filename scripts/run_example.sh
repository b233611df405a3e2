#!/usr/bin/env bash
# Set up (./.venv) and run the Southvale example evaluation end to end:
# writes reports/southvale/ (results bundle + report.html, .pdf, .docx, report_tables.xlsx).
set -euo pipefail
. "$(dirname "$0")/_setup.sh"
evaltool validate analyses/southvale.yaml
# --allow-partial: the plan's age-band subgroup estimate for care-home admissions cannot be identified
# (no care-home admissions among comparison people under 65 after enrolment). The run prints and records
# that (results/run_log.jsonl, manifest.json `run.analyses`, the report) and would otherwise exit 3.
evaltool run analyses/southvale.yaml --allow-partial "$@"
