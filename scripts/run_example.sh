#!/usr/bin/env bash
# Set up (./.venv) and run the Southvale example evaluation end to end:
# writes reports/southvale/ (results bundle + report.html, .pdf, .docx, report_tables.xlsx).
set -euo pipefail
. "$(dirname "$0")/_setup.sh"
evaltool validate analyses/southvale.yaml
# --allow-partial: a planned analysis that cannot be estimated (e.g. the under-65 care-home subgroup at
# smaller scales, where comparison people have no care-home admissions) is printed and recorded
# (results/run_log.jsonl, manifest.json `run.analyses`, the report) instead of failing the example (exit 3).
evaltool run analyses/southvale.yaml --allow-partial "$@"
