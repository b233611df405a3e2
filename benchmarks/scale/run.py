"""Time a whole evaluation from the CLI: per-stage seconds (manifest), wall time, peak RSS, load.

``evaltool run SPEC`` runs in a child process under ``/usr/bin/time -v`` (peak resident memory of the
process and everything it started, i.e. DuckDB and the report renderers too). The manifest gives
each stage's seconds; ``report`` is the wall time left after the stages (rendering and the bundle).

Run::

    nice python benchmarks/scale/run.py /data/national/national.yaml --label 10M
    nice python benchmarks/scale/run.py analyses/southvale.yaml --label southvale   # all report formats
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run(spec: Path, label: str, extra: list[str]) -> dict:
    out = Path(tempfile.mkdtemp(prefix="evaltool_scale_"))
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    r = subprocess.run(["/usr/bin/time", "-v", "evaltool", "run", str(spec), "-o", str(out), *extra],
                       capture_output=True, text=True, cwd=tempfile.gettempdir())
    wall = time.perf_counter() - t0
    load1 = os.getloadavg()
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr)
    res: dict = {"label": label, "spec": str(spec), "exit": r.returncode, "wall_seconds": round(wall, 1),
                 "peak_rss_gb": round(int(rss.group(1)) / 1024**2, 2) if rss else None,
                 "load_before": [round(x, 1) for x in load0], "load_after": [round(x, 1) for x in load1]}
    manifests = list(out.glob("*/results/manifest.json"))
    if manifests:
        m = json.loads(manifests[0].read_text())
        st = {k: v.get("seconds") for k, v in m["stages"].items() if v.get("seconds") is not None}
        res["stages"] = st
        res["status"] = {k: v.get("status") for k, v in m["stages"].items()}
        res["report_and_bundle_seconds"] = round(wall - sum(v or 0 for v in st.values()), 1)
        res["inputs"] = {k: v.get("rows") for k, v in m["inputs"].items()}
    if r.returncode:
        res["stderr_tail"] = r.stderr[-2000:]
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("spec", type=Path)
    ap.add_argument("--label", required=True)
    ap.add_argument("--results", type=Path, default=HERE / "results.jsonl")
    a, extra = ap.parse_known_args()
    res = run(a.spec.resolve(), a.label, [x for x in extra if x != "--"])
    print(json.dumps(res))
    with a.results.open("a") as fh:
        fh.write(json.dumps(res) + "\n")


if __name__ == "__main__":
    main()
