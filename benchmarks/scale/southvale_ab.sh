#!/bin/bash
# Southvale at its own size, end to end from the CLI (all four formats), two codes alternating, N pairs.
#
#   A_DIR, A_BIN: the first code's checkout (its analyses/ and example_data/) and its `evaltool` command
#   B_DIR, B_BIN: the same for the second code (e.g. this checkout and a venv with its built wheel installed)
#   N (3), PAUSE (15 s before each run)
#
# Bytecode caching is switched on for both (a run from a source tree under PYTHONDONTWRITEBYTECODE=1 compiles
# every module again in each process, which an installed package never does). Prints wall and user CPU seconds.
set -euo pipefail
: "${A_DIR:?}" "${A_BIN:?}" "${B_DIR:?}" "${B_BIN:?}"
N=${N:-3}
PAUSE=${PAUSE:-15}
out=$(mktemp -d)
for i in $(seq 1 "$N"); do
  for v in A B; do
    dir_var="${v}_DIR"; bin_var="${v}_BIN"
    sleep "$PAUSE"
    /usr/bin/time -f "$v %e wall %U user %S sys" -o "$out/time" \
      env -u PYTHONDONTWRITEBYTECODE bash -c "cd '${!dir_var}' && '${!bin_var}' run analyses/southvale.yaml --output-dir '$out/$v$i' > '$out/$v$i.log' 2>&1" \
      || { echo "$v run $i failed: see $out/$v$i.log"; exit 1; }
    echo "$(date -u +%T) $(cat "$out/time") load $(cut -d' ' -f1 /proc/loadavg)"
  done
done
echo "outputs in $out"
