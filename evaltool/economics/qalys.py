"""QALYs from EQ-5D index values: area under the curve with baseline adjustment (Manca et al. 2005).

Each respondent's QALYs over the horizon are the area under their utility profile (trapezoids
between time points; a missing intermediate time point is bridged by the straight line between
its neighbours; baseline and the last time point are required), each segment discounted at the
effects rate by the year its midpoint falls in.

Designs
-------
``matched``
    Enrolled respondents against respondents among their matched controls. The incremental
    QALY is the coefficient of ``treated`` in the weighted regression
    ``QALY = a + b treated + c baseline utility`` (Manca, Hawkins & Sculpher, *Health Econ*
    2005;14:487-496): the groups' baseline utilities differ, and because baseline utility is
    carried into every segment of the area, a raw difference in mean QALYs would count that
    imbalance as an effect.
``before_after``
    Enrolled respondents only: QALYs above the baseline utility carried forward over the
    horizon. Its weakness: it assumes health would have stayed at its baseline level without
    the programme. People enrolled after a crisis tend to recover anyway (regression to the
    mean, overstating the gain), while an older, frail group tends to decline (understating it).

The regression is kept as per-set cross-products (``X'WX``, ``X'Wy``), so the bootstrap over
matched sets solves it per replicate without touching person-level rows.

Examples
--------
>>> timepoint_years(["baseline", "6m", "12m"])
{'baseline': 0.0, '6m': 0.5, '12m': 1.0}
>>> import pandas as pd
>>> s = pd.DataFrame({"person_id": ["a"] * 3, "timepoint": ["baseline", "6m", "12m"],
...                   "eq5d_index": [0.5, 0.7, 0.7]})
>>> round(float(person_qalys(s, {"baseline": 0, "6m": 0.5, "12m": 1.0})["qaly"].iloc[0]), 6)
0.65
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from evaltool.errors import DataValidationError

__all__ = ["QALY_NAMES", "incremental_qalys", "person_qalys", "qaly_set_statistics", "timepoint_years"]

_TP = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(d|w|m|y|days?|weeks?|months?|years?|mo)\s*$", re.IGNORECASE)
_PER_YEAR = {"d": 365.25, "w": 365.25 / 7, "m": 12.0, "y": 1.0}


def timepoint_years(labels: Sequence[str], override: Mapping[str, float] | None = None) -> dict[str, float]:
    """Years from baseline of each time point label (``baseline`` = 0, ``6m`` = 0.5, ``2y`` = 2).

    Raises
    ------
    DataValidationError
        A label that is neither parseable nor in ``override``.
    """
    out: dict[str, float] = {}
    for lab in labels:
        if override and lab in override:
            out[lab] = float(override[lab])
            continue
        if str(lab).strip().lower() in ("baseline", "base", "0", "0m", "t0"):
            out[lab] = 0.0
            continue
        m = _TP.match(str(lab))
        if not m:
            raise DataValidationError(
                f"time point {lab!r}: cannot tell how long after baseline it is; give "
                "`economics.qalys.timepoints_years` (e.g. {baseline: 0, 6m: 0.5, 12m: 1})")
        out[lab] = float(m.group(1)) / _PER_YEAR[m.group(2)[0].lower()]
    return out


def person_qalys(scored: pd.DataFrame, times: Mapping[str, float], rate: float = 0.0,
                 value: str = "eq5d_index") -> pd.DataFrame:
    """Each respondent's QALYs over the horizon (area under the utility curve).

    Parameters
    ----------
    scored:
        Long table ``person_id, timepoint, <value>`` (one row per person and time point).
    times:
        Time point label -> years from baseline; the horizon is the largest.
    rate:
        Yearly discount rate for health effects.

    Returns
    -------
    DataFrame
        ``person_id, u0`` (baseline utility), ``qaly``, ``qaly_baseline`` (baseline utility held
        over the horizon, discounted alike) and ``n_timepoints``, for respondents with a baseline
        and a last-time-point value.
    """
    miss = [c for c in ("person_id", "timepoint", value) if c not in scored.columns]
    if miss:
        raise DataValidationError(f"PROM scores lack columns {miss}")
    order = sorted(times, key=lambda k: times[k])
    base, last = order[0], order[-1]
    d = scored[scored["timepoint"].astype(str).isin(order)].dropna(subset=[value])
    w = d.drop_duplicates(["person_id", "timepoint"]).pivot(index="person_id", columns="timepoint", values=value)
    w = w.reindex(columns=order)
    w = w[w[base].notna() & w[last].notna()]
    t = np.array([times[k] for k in order], dtype=float)
    U = w.to_numpy(dtype=float)
    q = np.zeros(len(w))
    qb = np.zeros(len(w))
    # Bridge missing intermediate points: each segment runs from the last observed point.
    prev_t = np.full(len(w), t[0])
    prev_u = U[:, 0].copy()
    for j in range(1, len(t)):
        have = ~np.isnan(U[:, j])
        mid = (prev_t + t[j]) / 2
        f = (1.0 + rate) ** -np.floor(mid + 1e-12)
        q += np.where(have, (t[j] - prev_t) * (prev_u + np.nan_to_num(U[:, j])) / 2 * f, 0.0)
        qb += np.where(have, (t[j] - prev_t) * U[:, 0] * f, 0.0)
        prev_t = np.where(have, t[j], prev_t)
        prev_u = np.where(have, U[:, j], prev_u)
    return pd.DataFrame({"person_id": w.index.astype(str), "u0": U[:, 0], "qaly": q, "qaly_baseline": qb,
                         "n_timepoints": (~np.isnan(U)).sum(axis=1)}).reset_index(drop=True)


#: Column names of the per-set QALY statistics (see :func:`qaly_set_statistics`).
QALY_NAMES = tuple(("qaly", k) for k in ("w", "wt", "wu", "wtu", "wuu", "wq", "wtq", "wuq", "n_t", "n_c",
                                          "wg_t", "wu_c", "wq_c"))


def qaly_set_statistics(units: pd.DataFrame, qalys: pd.DataFrame, set_ids: np.ndarray,
                        cluster: str | None = "subclass", enrolled: set[str] | None = None,
                        ) -> tuple[tuple[tuple, ...], np.ndarray, dict[str, int]]:
    """Per-set cross-products of the weighted QALY regression ``QALY ~ 1 + treated + u0``.

    ``units``: matched-cohort units (``person_id, treated, weights`` and ``cluster``); respondents
    join units by ``person_id``. ``enrolled``: ids of people ever enrolled; their answers (given
    after enrolment) join only their enrolled units, never a control unit they held before they
    enrolled (risk-set matching's crossovers), and other people's answers join only control units.
    Returns the names (:data:`QALY_NAMES`), a ``(len(set_ids), 13)`` array and respondent counts.
    """
    u = units[["person_id", "treated", "weights"] + ([cluster] if cluster else ["unit_id"])].copy()
    u["person_id"] = u["person_id"].astype(str)
    j = u.merge(qalys, on="person_id", how="inner")
    if enrolled is not None:
        j = j[(j["treated"].astype(int) == 1) == j["person_id"].isin(enrolled)]
    key = j[cluster].astype(str) if cluster else j["unit_id"]
    code = pd.Index(pd.Series(set_ids).astype(str) if cluster else set_ids).get_indexer(key)
    j = j[code >= 0]
    code = code[code >= 0]
    T = (j["treated"].to_numpy().astype(int) == 1).astype(float)
    w = j["weights"].to_numpy(dtype=float)
    u0 = j["u0"].to_numpy(dtype=float)
    q = j["qaly"].to_numpy(dtype=float)
    gain = q - j["qaly_baseline"].to_numpy(dtype=float)
    terms = [w, w * T, w * u0, w * T * u0, w * u0 * u0, w * q, w * T * q, w * u0 * q, T, 1 - T,
             w * T * gain, w * (1 - T) * u0, w * (1 - T) * q]
    n = len(set_ids)
    vals = np.column_stack([np.bincount(code, weights=x, minlength=n) for x in terms])
    counts = {"n_treated": int(T.sum()), "n_control": int((1 - T).sum())}
    return QALY_NAMES, vals, counts


def incremental_qalys(totals: np.ndarray, index: Mapping[tuple, int], design: str) -> dict[str, np.ndarray]:
    """Incremental QALYs per enrolled respondent from totals of :func:`qaly_set_statistics`.

    ``matched``: the baseline-adjusted coefficient (Cramer's rule on the 3 x 3 normal equations,
    NaN when singular) and the unadjusted difference in means; ``before_after``: the enrolled
    group's mean QALYs above baseline.
    """
    t = np.atleast_2d(totals)
    g = {k: t[:, index[("qaly", k)]] for k in (n[1] for n in QALY_NAMES)}
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_t = g["wtq"] / g["wt"]
        mean_c = (g["wq"] - g["wtq"]) / (g["w"] - g["wt"])
        out = {"qaly_treated": mean_t, "qaly_control": mean_c,
               "u0_treated": (g["wu"] - g["wu_c"]) / g["wt"], "u0_control": g["wu_c"] / (g["w"] - g["wt"]),
               "unadjusted": mean_t - mean_c, "before_after": g["wg_t"] / g["wt"]}
        if design == "matched":
            A = np.empty((len(t), 3, 3))
            A[:, 0, 0], A[:, 0, 1], A[:, 0, 2] = g["w"], g["wt"], g["wu"]
            A[:, 1, 1], A[:, 1, 2], A[:, 2, 2] = g["wt"], g["wtu"], g["wuu"]
            A[:, 1, 0], A[:, 2, 0], A[:, 2, 1] = A[:, 0, 1], A[:, 0, 2], A[:, 1, 2]
            b = np.column_stack([g["wq"], g["wtq"], g["wuq"]])
            det = np.linalg.det(A)
            A1 = A.copy()
            A1[:, :, 1] = b
            scale = np.abs(A).max(axis=(1, 2)) ** 3
            ok = np.abs(det) > 1e-12 * np.where(scale > 0, scale, 1.0)
            out["incremental"] = np.where(ok, np.linalg.det(A1) / np.where(ok, det, 1.0), np.nan)
        elif design == "before_after":
            out["incremental"] = out["before_after"]
        else:
            raise ValueError(f"`design` must be 'matched' or 'before_after'; found {design!r}")
    return out
