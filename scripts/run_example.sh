#!/usr/bin/env bash
# Set up (./.venv) and run the Southvale example evaluation end to end:
# writes reports/southvale/ (results bundle + report.html, .pdf, .docx, report_tables.xlsx).
set -euo pipefail
. "$(dirname "$0")/_setup.sh"
evaltool validate analyses/southvale.yaml
evaltool run analyses/southvale.yaml "$@"
