"""Interval coverage of the whole-area designs on simulated panels with a known effect.

Run:  OMP_NUM_THREADS=1 nice -n 10 python benchmarks/area/coverage.py [--reps 200] [--rate-scale]
          [--out benchmarks/area/_out/coverage.csv] [--summary benchmarks/area/coverage_summary.csv]
      python benchmarks/area/coverage.py --from-csv benchmarks/area/_out/coverage.csv   (summarise a saved run)

The raw replications (``--out``, under the git-ignored ``_out/``) are written every 20 replications, so an
interrupted run can still be summarised with ``--from-csv``. The summary (``--summary``, committed) has one row
per scenario, method and measure: replications, coverage of the 95% interval and its Monte Carlo standard error,
bias and standard deviation of the estimate (on the log scale for ratios, per 1,000 person-years for
differences), and the mean and median interval width (in the measure's own units).

Scenario A (comparison areas; evaltool.datasets.area_sim): 20 donor areas, 48 months, go-live at month 30, rate
ratio 0.90, a common random-walk factor with area loadings, a slow common cycle, seasonality with area-specific
amplitude, AR(1) area shocks and Poisson counts; the treated area either above every donor (``edge``, outside
the donors' convex hull) or drawn like the donors (``interior``). Synthetic DiD, synthetic control and DiD as
the area stage runs them by default: on the log of the monthly rate, placebo variance over all 20 placebo
assignments, t intervals with 19 degrees of freedom (the normal interval is also scored). Truths: the rate ratio
0.90 (exact: the effect multiplies the treated area's rate every post month) and, for the difference per 1,000
person-years derived from it, the expected difference over the treated post-period months given the realised
latent factors (an average effect on the treated, conditional on the area's realised path, not on its counts).
``--rate-scale`` also runs the three designs on the rate per 1,000 person-years (the earlier default).

Scenario B (one series): the same generator without the random-walk factor and the slow cycle (trend, two
harmonics of seasonality, AR(1) log-scale shocks with rho 0.3 and sd 0.02, Poisson counts): the interrupted
time series with two Fourier pairs, the default error model (latent AR(1) rate, REML, Satterthwaite degrees of
freedom) for a level change and for the default level + slope model, and for comparison quasi-Poisson with
Newey-West errors (3 lags) and with model-based errors. Truths: level change 0.90, slope change 1.00 per year,
average post-period rate ratio 0.90.
"""
from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from evaltool.area.ascm import augmented_synthetic_control
from evaltool.area.its import interrupted_time_series
from evaltool.area.sdid import synthdid
from evaltool.datasets.area_sim import comparative_series, simulate_area_panel

TRUE_RR = 0.9


def _panel_a(rep: int, edge: bool) -> tuple[pd.DataFrame, object, float, float, str]:
    """Scenario A's panel with rates, go-live month, observed post rate, true difference and scenario name."""
    s = simulate_area_panel(n_donors=20, n_months=48, go_live_month=30, rate_ratio=TRUE_RR, edge=edge, seed=rep)
    p = s.panel.assign(rate=lambda d: 1000 * d["events"] / d["person_years"],
                       log_rate=lambda d: np.log(d["events"] / d["person_years"]))
    go = p["month"].sort_values().unique()[30]
    obs = float(p.loc[(p["area_id"] == "T") & (p["month"] >= go), "rate"].mean())
    return p, go, obs, s.truth["difference_per_1000py_mean"], "A-edge" if edge else "A-interior"


def _scenario_a(rep: int, edge: bool, rate_scale: bool) -> list[dict]:
    p, go, obs, truth_diff, scen = _panel_a(rep, edge)
    rows = []
    for m in ("sdid", "sc", "did"):
        r = synthdid(p, "log_rate", "area_id", "month", {"T": go}, method=m, interval="t")
        zc = stats.norm.ppf(0.975)
        for ci, crit in (("t19", stats.t.ppf(0.975, r.df)), ("normal", zc)):
            lo, hi = r.estimate - crit * r.std_error, r.estimate + crit * r.std_error
            d = (lambda t: obs * (1 - np.exp(-t)))
            rows.append({"scenario": scen, "rep": rep, "method": f"{m} log rate ({ci})", "measure": "rate ratio",
                         "truth": TRUE_RR, "estimate": np.exp(r.estimate), "ci_lower": np.exp(lo),
                         "ci_upper": np.exp(hi)})
            rows.append({"scenario": scen, "rep": rep, "method": f"{m} log rate ({ci})",
                         "measure": "difference per 1,000 py", "truth": truth_diff, "estimate": d(r.estimate),
                         "ci_lower": d(lo), "ci_upper": d(hi)})
        if rate_scale:
            r = synthdid(p, "rate", "area_id", "month", {"T": go}, method=m)
            rows.append({"scenario": scen, "rep": rep, "method": f"{m} rate (normal)",
                         "measure": "difference per 1,000 py", "truth": truth_diff, "estimate": r.estimate,
                         "ci_lower": r.ci_lower, "ci_upper": r.ci_upper})
    return rows


def _scenario_a_ascm(rep: int, edge: bool, variants: tuple[str, ...] = ("fe",)) -> list[dict]:
    """Augmented synthetic control (ridge, placebo t interval) on the scenario-A panels: ``fe`` with area
    fixed effects (the area stage's default), ``nofe`` without (augsynth's default)."""
    p, go, obs, truth_diff, scen = _panel_a(rep, edge)
    rows = []
    for fe, label in [(v == "fe", {"fe": "ascm fixed effects (default)", "nofe": "ascm no fixed effects"}[v])
                      for v in variants]:
        r = augmented_synthetic_control(p, "log_rate", "area_id", "month", "T", go, fixed_effects=fe)
        d = (lambda t: obs * (1 - np.exp(-t)))
        m = f"{label} log rate (t19)"
        rows.append({"scenario": scen, "rep": rep, "method": m, "measure": "rate ratio", "truth": TRUE_RR,
                     "estimate": np.exp(r.estimate), "ci_lower": np.exp(r.ci_lower), "ci_upper": np.exp(r.ci_upper)})
        rows.append({"scenario": scen, "rep": rep, "method": m, "measure": "difference per 1,000 py",
                     "truth": truth_diff, "estimate": d(r.estimate), "ci_lower": d(r.ci_lower),
                     "ci_upper": d(r.ci_upper)})
    return rows


def _scenario_a_sdid(rep: int) -> list[dict]:
    """Synthetic DiD alone in A-interior (more replications to settle its coverage)."""
    p, go, _, _, _ = _panel_a(rep, False)
    r = synthdid(p, "log_rate", "area_id", "month", {"T": go}, method="sdid", interval="t")
    rows = []
    for ci, crit in (("t19", stats.t.ppf(0.975, r.df)), ("normal", stats.norm.ppf(0.975))):
        lo, hi = r.estimate - crit * r.std_error, r.estimate + crit * r.std_error
        rows.append({"scenario": "A-interior", "rep": rep, "method": f"sdid log rate ({ci})",
                     "measure": "rate ratio", "truth": TRUE_RR, "estimate": np.exp(r.estimate),
                     "ci_lower": np.exp(lo), "ci_upper": np.exp(hi)})
    return rows


def _scenario_c(rep: int) -> list[dict]:
    """Comparative ITS: the treated area against the total of the 20 donor areas (scenario A's generator,
    the treated area drawn like the donors), level and level + slope models, AR(1) and Newey-West errors."""
    s = simulate_area_panel(n_donors=20, n_months=48, go_live_month=30, rate_ratio=TRUE_RR, edge=False,
                            seed=20_000 + rep)
    d = comparative_series(s.panel, go_live_month=30)
    rows = []
    for err, lab in (("ar1", "AR(1) REML (default)"), ("newey_west", "Newey-West (Driscoll-Kraay)")):
        for imp in (("level",), ("level", "slope")):
            r = interrupted_time_series(d, group="series", errors=err, impact=imp)
            m = f"comparative its {lab}, {' + '.join(imp)}"
            for nm, measure in (("level_change", "level change"), ("average_post", "average post rate ratio")):
                if nm == "average_post" and imp == ("level",):
                    continue  # equal to the level change
                e = r.effect(nm)
                rows.append({"scenario": "C", "rep": rep, "method": m, "measure": measure, "truth": TRUE_RR,
                             "estimate": e["estimate"], "ci_lower": e["ci_lower"], "ci_upper": e["ci_upper"]})
    return rows


def _scenario_b(rep: int) -> list[dict]:
    s = simulate_area_panel(n_donors=1, n_months=48, go_live_month=30, rate_ratio=TRUE_RR, walk_sd=0.0, cycle=0.0,
                            seed=10_000 + rep)
    t = s.panel[s.panel.area_id == "T"].reset_index(drop=True)
    t["live"] = (np.arange(48) >= 30).astype(float)
    rows = []

    def add(method: str, measure: str, truth: float, e: dict) -> None:
        rows.append({"scenario": "B", "rep": rep, "method": method, "measure": measure, "truth": truth,
                     "estimate": e["estimate"], "ci_lower": e["ci_lower"], "ci_upper": e["ci_upper"]})

    r = interrupted_time_series(t, impact=("level",))  # default errors: latent AR(1), REML, Satterthwaite
    add("its AR(1) REML (default), level", "level change", TRUE_RR, r.effect("level_change"))
    r = interrupted_time_series(t)  # the stage's default model: level and slope
    add("its AR(1) REML (default), level + slope", "level change", TRUE_RR, r.effect("level_change"))
    add("its AR(1) REML (default), level + slope", "slope change per year", 1.0, r.effect("slope_change_per_year"))
    add("its AR(1) REML (default), level + slope", "average post rate ratio", TRUE_RR, r.effect("average_post"))
    r = interrupted_time_series(t, impact=("level",), errors="newey_west", hac_lags=3)
    add("its quasi-Poisson + Newey-West (3 lags), level", "level change", TRUE_RR, r.effect("level_change"))
    r = interrupted_time_series(t, impact=("level",), errors="model")
    add("its quasi-Poisson model-based, level", "level change", TRUE_RR, r.effect("level_change"))
    return rows


def summarise(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    df["covered"] = (df["ci_lower"] <= df["truth"]) & (df["truth"] <= df["ci_upper"])
    ratio = df["measure"] != "difference per 1,000 py"
    df["err"] = df["estimate"] - df["truth"]
    df.loc[ratio, "err"] = np.log(df.loc[ratio, "estimate"]) - np.log(df.loc[ratio, "truth"])
    df["width"] = df["ci_upper"] - df["ci_lower"]
    summ = df.groupby(["scenario", "method", "measure"], sort=False).agg(
        reps=("rep", "count"), coverage=("covered", "mean"), bias=("err", "mean"), sd=("err", "std"),
        mean_width=("width", "mean"), median_width=("width", "median")).reset_index()
    summ["mc_se"] = np.sqrt(summ["coverage"] * (1 - summ["coverage"]) / summ["reps"])
    return summ[["scenario", "method", "measure", "reps", "coverage", "mc_se", "bias", "sd", "mean_width",
                 "median_width"]]


def _report(df: pd.DataFrame, summary_path: str, merge: bool = False) -> None:
    summ = summarise(df)
    Path(summary_path).parent.mkdir(parents=True, exist_ok=True)
    if merge and Path(summary_path).exists():
        # replace the rows measured again in place, keep the others, append the new ones
        key = ["scenario", "method", "measure"]
        old = pd.read_csv(summary_path).set_index(key)
        new = summ.set_index(key)
        summ = pd.concat([new.loc[[k]] if k in new.index else old.loc[[k]] for k in old.index]
                         + [new.loc[[k]] for k in new.index if k not in old.index]).reset_index()
    tmp = Path(str(summary_path) + ".tmp")
    summ.round(5).to_csv(tmp, index=False)
    tmp.replace(summary_path)
    with pd.option_context("display.width", 220, "display.max_colwidth", 60):
        print(summ.round(4).to_string(index=False))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--rate-scale", action="store_true")
    ap.add_argument("--out", default=str(Path(__file__).parent / "_out" / "coverage.csv"))
    ap.add_argument("--summary", default=str(Path(__file__).parent / "coverage_summary.csv"))
    ap.add_argument("--from-csv", nargs="+", help="summarise saved raw file(s) instead of simulating")
    ap.add_argument("--first-rep", type=int, default=0, help="first replication (seed); to split a run")
    ap.add_argument("--scenarios", default="A,B",
                    help="comma-separated: A (SDID, SC, DiD), B (ITS), ascm (A-edge and A-interior), sdid-interior"
                         " (A-interior SDID alone), C (comparative ITS)")
    ap.add_argument("--ascm-variants", default="fe",
                    help="ascm: comma-separated fe (area fixed effects, the stage's default) and/or nofe")
    ap.add_argument("--merge", action="store_true",
                    help="update the summary's rows for what was measured, keeping its other rows")
    a = ap.parse_args()
    if a.from_csv:
        _report(pd.concat([pd.read_csv(f) for f in a.from_csv], ignore_index=True), a.summary, a.merge)
        return
    scen = set(a.scenarios.split(","))
    unknown = scen - {"A", "B", "ascm", "sdid-interior", "C"}
    if unknown:
        ap.error(f"unknown scenario(s) {sorted(unknown)}")
    warnings.simplefilter("ignore")
    rows: list[dict] = []
    t0, c0 = time.time(), time.process_time()
    for rep in range(a.first_rep, a.first_rep + a.reps):
        if "A" in scen:
            for edge in (True, False):
                rows += _scenario_a(rep, edge, a.rate_scale)
        if "ascm" in scen:
            for edge in (True, False):
                rows += _scenario_a_ascm(rep, edge, tuple(a.ascm_variants.split(",")))
        if "sdid-interior" in scen:
            rows += _scenario_a_sdid(rep)
        if "B" in scen:
            rows += _scenario_b(rep)
        if "C" in scen:
            rows += _scenario_c(rep)
        if rep % 20 == 19:
            print(f"{rep + 1} reps, {time.time() - t0:.0f} s", flush=True)
            Path(a.out).parent.mkdir(parents=True, exist_ok=True)
            pd.DataFrame(rows).to_csv(a.out, index=False)
    df = pd.DataFrame(rows)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(a.out, index=False)
    _report(df, a.summary, a.merge)
    print(f"total {time.time() - t0:.0f} s wall, {time.process_time() - c0:.0f} s CPU")


if __name__ == "__main__":
    main()
