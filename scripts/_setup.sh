# Sourced by scripts/*.sh: create the virtual environment if needed and install evaltool with its test extras.
# Environment: PYTHON (interpreter, default python3), VENV (directory, default .venv),
# EXTRAS (pip extras, default test).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PYTHON:-python3}
VENV=${VENV:-.venv}
EXTRAS=${EXTRAS:-test}
if [ ! -x "$VENV/bin/python" ]; then
  echo "Creating virtual environment $VENV ($("$PY" --version 2>&1))"
  "$PY" -m venv "$VENV"
fi
# shellcheck disable=SC1091
. "$VENV/bin/activate"
python -m pip install -q --upgrade pip
python -m pip install -q -e ".[$EXTRAS]"
