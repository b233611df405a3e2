#!/usr/bin/env bash
# Set up (./.venv) and run the test suite. Extra arguments go to pytest, e.g. `-m slow` for the long checks.
set -euo pipefail
. "$(dirname "$0")/_setup.sh"
python -m pytest "$@"
