"""The Southvale evaluation run twice: from the contract-shaped tables and from the HES/ECDS/GP-shaped
extracts of the same people (analyses/southvale.yaml vs analyses/southvale_hes.yaml, roll-out and
PROMs left out). Counts the contract outcomes' effect rows that are byte-identical in ``effects.csv``
and prints the headline (under-65 emergency admissions, rate ratio and 95% CI) of each run.

Run (about 15 minutes at scale 1 on 2 busy cores):

    nice -n 10 python benchmarks/nhs/contract_vs_hes.py --scale 1 --out /tmp/contract_vs_hes

Writes ``results_scale<S>[_rollout].json`` beside this file (``--rollout``: the practice roll-out too).
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
CONTRACT_OUTCOMES = ("emergency_admission", "ae_attendance", "bed_days", "elective_admission",
                     "care_home_admission", "cost")


def _spec(name: str, data: dict, out: Path, rollout: bool) -> Path:
    spec = yaml.safe_load((ROOT / "analyses" / name).read_text())
    for k in ("proms", "qualitative", "economics", "area") + (() if rollout else ("rollout",)):
        spec.pop(k, None)
    spec["data"] = data
    spec["output_dir"] = str(out / "reports" / name.removesuffix(".yaml"))
    # No report here: keep the report section's disclosure settings only (its files are relative paths).
    spec["report"] = {"formats": ["html"], "disclosure": spec.get("report", {}).get("disclosure", {})}
    p = out / name
    p.write_text(yaml.safe_dump(spec, sort_keys=False))
    return p


def _rows(results: Path) -> dict[tuple[str, str, str, str], str]:
    text = (results / "effects.csv").read_text()
    lines = text.splitlines()
    out = {}
    for line, r in zip(lines[1:], csv.DictReader(io.StringIO(text))):
        if r["analysis"] == "matched_did" and r["outcome"] in CONTRACT_OUTCOMES:
            out[(r["analysis"], r["outcome"], r["subgroup"], r["scale"])] = line
    return out


def _headline(rows: dict, who: str = "under 65") -> str:
    line = rows[("matched_did", "emergency_admission", who, "rate_ratio")]
    r = next(csv.DictReader(io.StringIO("analysis,outcome,subgroup,estimate,std_error,ci_lower,ci_upper\n" + line)))
    return f"{float(r['estimate']):.4f} (95% CI {float(r['ci_lower']):.4f} to {float(r['ci_upper']):.4f})"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--rollout", action="store_true", help="also run and compare the practice roll-out")
    a = ap.parse_args()
    from evaltool.datasets import write_southvale
    from evaltool.datasets.southvale_nhs import write_southvale_extracts
    from evaltool.pipeline import run

    out = a.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    c = write_southvale(out / "contract", scale=a.scale)
    write_southvale_extracts(out / "nhs", scale=a.scale)
    t_gen = time.perf_counter() - t0
    hes = yaml.safe_load((ROOT / "analyses" / "southvale_hes.yaml").read_text())["data"]

    def repoint(e):
        if isinstance(e, list):
            return [repoint(x) for x in e]
        if isinstance(e, str):
            return str(out / "nhs" / Path(e).name)
        return {**e, "path": str(out / "nhs" / Path(e["path"]).name)}

    specs = {"contract": _spec("southvale.yaml", {k: str(c[k]) for k in ("population", "activity", "practices")}, out,
                                 a.rollout),
             "hes": _spec("southvale_hes.yaml", {k: repoint(v) for k, v in hes.items()}, out, a.rollout)}
    secs, rows, stages, dirs = {}, {}, {}, {}
    for k, p in specs.items():
        t = time.perf_counter()
        res = run(p, render=False)
        secs[k] = round(time.perf_counter() - t, 1)
        stages[k] = {s: v.get("seconds") for s, v in res.stages.items() if v.get("seconds") is not None}
        rows[k] = _rows(res.bundle_dir / "results")
        dirs[k] = res.bundle_dir / "results"
    same = [key for key in rows["contract"] if rows["hes"].get(key) == rows["contract"][key]]
    differ = sorted(set(rows["contract"]) - set(same))
    # Every results table both runs write, compared whole (flows differ by design: the HES run has more steps).
    both = sorted(p.name for p in dirs["contract"].glob("*.csv") if (dirs["hes"] / p.name).exists())
    tables = {n: (dirs["contract"] / n).read_bytes() == (dirs["hes"] / n).read_bytes() for n in both}
    result = {
        "scale": a.scale, "rollout": a.rollout, "generate_seconds": round(t_gen, 1), "run_seconds": secs, "stage_seconds": stages,
        "contract_rows": len(rows["contract"]), "identical_rows": len(same),
        "differing_rows": ["/".join(k) for k in differ],
        "headline_under_65": {k: _headline(rows[k]) for k in rows},
        "headline_everyone": {k: _headline(rows[k], "all") for k in rows},
        "tables_byte_identical": tables,
    }
    print(json.dumps(result, indent=2))
    (Path(__file__).parent / f"results_scale{a.scale:g}{'_rollout' if a.rollout else ''}.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
