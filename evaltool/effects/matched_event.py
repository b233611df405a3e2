"""The event study of the matched DiD: an effect per month relative to the index date (reference month -1),
the joint pre-trend test and the size of any pre-period divergence (:mod:`evaltool.effects.pretrend`).

Small programmes: with a few dozen enrolled people some months have no event among them and a monthly
coefficient has no estimate (Poisson separation). The event study then falls back to quarters (months
-3..-1 the reference), says so in a warning, and still gives the pre-trend judgement; the headline DiD
never depends on the event study.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from evaltool import dist

from evaltool.effects.coded import CodedDesign
from evaltool.effects.compress import CellPanel
from evaltool.effects.matched_fit import events_label, fit_cells, wald
from evaltool.effects.pretrend import pretrend_assessment
from evaltool.errors import EstimationError

__all__ = ["event_design", "event_study"]


def event_design(fr: pd.DataFrame, width: int) -> tuple[CodedDesign, list[str], list[int], list[int]]:
    """Month dummies (the first month with events absorbed by the unit effects) and treated x bin dummies.

    Bins are ``width`` months wide and aligned on the index month (bin -1 = months -width..-1, the
    reference). Every column is a function of (month, arm) only, so X is kept as its distinct rows and a
    code per row (:class:`~evaltool.effects.coded.CodedDesign`). Returns X, names, the effect columns and
    their bins.

    Examples
    --------
    >>> fr = pd.DataFrame({"period": [-2, -1, 0, 1] * 2, "treated": [1] * 4 + [0] * 4})
    >>> event_design(fr, 1)[1]
    ['period[-1]', 'period[0]', 'period[1]', 'treated:period[-2]', 'treated:period[0]', 'treated:period[1]']
    """
    pc, pu = pd.factorize(fr["period"].to_numpy())
    tc, tu = pd.factorize(fr["treated"].to_numpy().astype(float))
    comb, codes = np.unique(pc.astype(np.int64) * len(tu) + tc, return_inverse=True)
    period = np.asarray(pu)[comb // len(tu)]
    treated = np.asarray(tu)[comb % len(tu)]
    months = np.unique(fr["period"].to_numpy())
    bins = np.floor_divide(period, width)
    cols: list[np.ndarray] = []
    names: list[str] = []
    # The month absorbed by the unit effects is the first month *with events*: were it empty, the other
    # month dummies would drift to +inf and Newton would not converge; an empty first month is then an
    # ordinary dummy, separated and dropped as fixest does.
    pos = fr["y"].to_numpy() > 0 if "y" in fr.columns else np.ones(len(fr), bool)
    absorbed = int(fr["period"].to_numpy()[pos].min()) if pos.any() else int(months[0])
    for p in months:
        if p == absorbed:
            continue
        cols.append((period == p).astype(float))
        names.append(f"period[{p}]")
    eff, eff_bins = [], []
    for b in np.unique(np.floor_divide(months, width)):
        if b == -1:
            continue
        eff.append(len(cols))
        eff_bins.append(int(b))
        cols.append(treated * (bins == b))
        names.append(f"treated:period[{b}]")
    return CodedDesign(codes.astype(np.int64).ravel(), np.column_stack(cols)), names, eff, eff_bins


def event_study(cp: CellPanel, outcome: str, model: str, cluster_col: str | None, *, alpha: float,
                post_months: int, effect: float,
                events: str | None = None) -> tuple[pd.DataFrame, dict[str, Any], list[str]]:
    """Fit the event study by month, or by quarter when months are too sparse.

    Returns the event-study table (``period`` in ``unit`` = month or quarter relative to the index),
    the pre-trend test and assessment (empty without pre-period bins), and warnings.
    """
    z = float(dist.norm_ppf(1 - alpha / 2))
    notes: list[str] = []
    fr = cp.frame
    for width, unit in ((1, "month"), (3, "quarter")):
        if model == "poisson":
            # A bin with no events among the enrolled has no estimate (Poisson separation).
            by_bin = fr[fr["treated"] == 1].groupby(np.floor_divide(fr.loc[fr["treated"] == 1, "period"], width))["y"].sum()
            empty = [int(b) for b, v in by_bin.items() if v <= 0 and b != -1]
            if empty:
                where = ", ".join(str(b) for b in empty[:12]) + (" ..." if len(empty) > 12 else "")
                msg = (f"no {events_label(outcome, events)} among enrolled people in {unit}{'s' if len(empty) > 1 else ''} "
                       f"{where} relative to the index date")
                if width == 1:
                    notes.append(f"event study by quarter: {msg}, so monthly estimates do not exist")
                    continue
                raise EstimationError(f"{msg}: the event study needs events in every {unit} (the pooled estimate "
                                      "does not)")
        X, names, idx, bins = event_design(fr, width)
        fit = fit_cells(cp, X, names, model, cluster_col)
        break
    b, se = fit.coef[idx], fit.std_error()[idx]
    es = pd.DataFrame({"outcome": outcome, "period": bins, "estimate": b, "std_error": se,
                       "ci_lower": b - z * se, "ci_upper": b + z * se, "p_value": 2 * dist.norm_sf(np.abs(b / se))})
    es = pd.concat([es, pd.DataFrame({"outcome": [outcome], "period": [-1], "estimate": [0.0], "std_error": [0.0],
                                      "ci_lower": [0.0], "ci_upper": [0.0], "p_value": [np.nan]})])
    es = es.sort_values("period").reset_index(drop=True)
    es["unit"] = unit
    es["scale"] = "log_rate_ratio" if model == "poisson" else "difference_per_1000py"
    if model == "poisson":
        es["rate_ratio"], es["rr_ci_lower"], es["rr_ci_upper"] = (np.exp(es[c]) for c in
                                                                  ("estimate", "ci_lower", "ci_upper"))
    else:
        es["rate_ratio"] = es["rr_ci_lower"] = es["rr_ci_upper"] = np.nan
    pre = [(i, bn) for i, bn in zip(idx, bins) if bn < -1]
    pre_test: dict[str, Any] = {}
    if pre:
        pi = [i for i, _ in pre]
        R = np.zeros((len(pi), len(fit.coef)))
        R[np.arange(len(pi)), pi] = 1
        st, df, p = wald(fit.coef, fit.vcov, R)
        pre_test = {"statistic": st, "df": float(df), "p_value": p, "unit": unit}
        # How large is the divergence, on the effect's scale (not only whether p is small)?
        pre_test.update(pretrend_assessment(fit.coef[pi], fit.vcov[np.ix_(pi, pi)], [bn for _, bn in pre],
                                            post_months=-(-post_months // width), effect=effect,
                                            log_scale=model == "poisson", alpha=alpha))
        if width > 1:
            pre_test["gap_months"] = pre_test["gap_months"] * width
            pre_test["slope"] = None if pre_test["slope"] is None else pre_test["slope"] / width
            pre_test["slope_se"] = None if pre_test["slope_se"] is None else pre_test["slope_se"] / width
    return es, pre_test, notes
