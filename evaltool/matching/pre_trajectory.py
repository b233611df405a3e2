"""The regression-to-the-mean picture: monthly event rates around the index date, enrolled against matched
controls.

People enrolled because of recent high use improve anyway; controls chosen on the same prior history
should show the same pre-index rise and post-index fall as the enrolled. :func:`pre_trajectory` gives the
rate per 1,000 people in each month from ``months[0]`` to ``months[1]`` relative to the index month, with
the person-months at risk (inside the window and before each person's ``censor_date``).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .covariates import _cohort_events

__all__ = ["pre_trajectory"]


def pre_trajectory(
    cohort: pd.DataFrame,
    activity: Any,
    *,
    setting: str = "emergency_admission",
    months: tuple[int, int] = (-24, 12),
    window_start: pd.Timestamp | str | None = None,
    window_end: pd.Timestamp | str | None = None,
) -> pd.DataFrame:
    """Monthly event rate per 1,000 people around the index date, treated vs matched controls (weighted).

    Month 0 is the index month; a person counts in month m if it lies inside the study window and before
    their ``censor_date`` (if present). This is the regression-to-the-mean picture: matched controls chosen on
    the same recent history should show the same pre-index spike and post-index fall as the enrolled.

    Returns
    -------
    DataFrame: month_relative, group ("treated" / "matched controls"), rate_per_1000, n_people, events.

    Examples
    --------
    >>> coh = pd.DataFrame({"person_id": ["a", "b"], "treated": [1, 0], "weights": [1.0, 1.0],
    ...                     "index_date": pd.to_datetime(["2022-06-01"] * 2)})
    >>> act = pd.DataFrame({"person_id": ["a"], "date": pd.to_datetime(["2022-05-10"]), "setting": ["emergency_admission"]})
    >>> pre_trajectory(coh, act, months=(-1, 0)).query("group == 'treated'")["rate_per_1000"].tolist()
    [1000.0, 0.0]
    """
    lo_m, hi_m = months
    rel = np.arange(lo_m, hi_m + 1)
    people = cohort[["person_id", "treated", "weights", "index_date"]
                    + (["censor_date"] if "censor_date" in cohort.columns else [])].copy()
    people["_k"] = np.arange(len(people))
    ix = pd.DatetimeIndex(people["index_date"])
    base = ix.year.to_numpy() * 12 + ix.month.to_numpy() - 1
    # exposure: person x relative month (small: matched cohort only)
    cal = base[:, None] + rel[None, :]
    ok = np.ones(cal.shape, dtype=bool)
    if window_start is not None:
        w0 = pd.Timestamp(window_start)
        ok &= cal >= w0.year * 12 + w0.month - 1
    if window_end is not None:
        w1 = pd.Timestamp(window_end)
        ok &= cal <= w1.year * 12 + w1.month - 1
    if "censor_date" in people.columns:
        cd = pd.DatetimeIndex(people["censor_date"])
        ok &= cal <= (cd.year.to_numpy() * 12 + cd.month.to_numpy() - 1)[:, None]
    w = people["weights"].to_numpy()[:, None] * ok
    grp = people["treated"].to_numpy() == 1
    a = _cohort_events(activity, people[["person_id", "_k"]], setting)
    ad = pd.DatetimeIndex(a["date"])
    k = a["_k"].to_numpy()
    r = ad.year.to_numpy() * 12 + ad.month.to_numpy() - 1 - base[k]
    keep = (r >= lo_m) & (r <= hi_m)
    k, r = k[keep], r[keep]
    ev = np.zeros(cal.shape)
    np.add.at(ev, (k, r - lo_m), 1.0)
    ev *= w
    rows = []
    for g, name in ((True, "treated"), (False, "matched controls")):
        m = grp == g
        expo = w[m].sum(axis=0)
        n_people = ok[m].sum(axis=0)
        events = ev[m].sum(axis=0)
        rate = np.where(expo > 0, 1000 * events / np.where(expo > 0, expo, 1), np.nan)
        rows.append(pd.DataFrame({"month_relative": rel, "group": name, "rate_per_1000": rate,
                                  "n_people": n_people.astype("int64"), "events": events}))
    return pd.concat(rows, ignore_index=True)

