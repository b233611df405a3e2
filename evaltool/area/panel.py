"""The area-by-month panel: input contract, validation and the builder from person-level data.

Contract (table ``area_panel``; CSV, Parquet or Excel; one row per area and month)::

    area_id        text       the area (ICB, sub-ICB, local authority, place...)
    month          date       first day of the month (any day is read as its month)
    events         count      events in the month (e.g. emergency admissions)
    population     number     registered/resident population in the month    } one of the two
    person_years   number     person-time in the month, in years              }
    outcome        text       optional: which measure ``events`` counts (one panel may hold several)
    go_live_date   date       optional: the area's go-live (blank = a donor/comparison area)
    <predictors>   number     optional: area characteristics named in the spec (deprivation, age mix...)

The treated (evaluated) area can instead be built from the person-level tables
(:func:`build_treated_series`) and joined with donor series the user supplies (published monthly activity by
ICB, sub-ICB or local authority is the usual source).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from evaltool.errors import DataValidationError, format_rows

__all__ = ["AREA_REQUIRED", "build_treated_series", "combine_panel", "validate_area_panel"]

AREA_REQUIRED = ("area_id", "month", "events")


def _rows(mask: np.ndarray) -> str:
    idx = np.flatnonzero(mask)
    return format_rows(list(idx[:10] + 1), int(mask.sum()))


def validate_area_panel(panel: pd.DataFrame, *, file: str = "area_panel", outcome: str | None = None,
                        predictors: tuple[str, ...] = ()) -> pd.DataFrame:
    """Check an area panel against the contract and return a clean copy.

    Returns columns ``area_id`` (str), ``month`` (month start), ``events`` (float), ``person_years``,
    ``go_live_date`` (NaT = donor) and the predictors; restricted to ``outcome`` when the panel has an
    ``outcome`` column. Every problem raises :class:`DataValidationError` naming the file, column and rows.

    Examples
    --------
    >>> p = pd.DataFrame({"area_id": ["A", "A"], "month": ["2022-01-01", "2022-02-01"], "events": [5, 7],
    ...                   "population": [1200, 1200]})
    >>> validate_area_panel(p)["person_years"].round(3).tolist()
    [101.848, 91.992]
    """
    df = panel.copy()
    miss = [c for c in AREA_REQUIRED if c not in df.columns]
    if "population" not in df.columns and "person_years" not in df.columns:
        miss.append("population or person_years")
    miss += [c for c in predictors if c not in df.columns]
    if miss:
        raise DataValidationError(f"{file}: required column(s) missing: {', '.join(miss)} (found: "
                                  f"{', '.join(map(str, df.columns))})")
    if outcome is not None and "outcome" in df.columns:
        keep = df["outcome"].astype(str).str.strip() == outcome
        if not keep.any():
            raise DataValidationError(f"{file}, column `outcome`: no rows for outcome {outcome!r} (found: "
                                      f"{sorted(df['outcome'].astype(str).unique())[:10]})")
        df = df[keep.to_numpy()].reset_index(drop=True)
    df["area_id"] = df["area_id"].astype("string").str.strip()
    blank = df["area_id"].isna() | (df["area_id"] == "")
    if blank.any():
        raise DataValidationError(f"{file}, column `area_id`: blank area ids in {_rows(blank.to_numpy())}")
    m = pd.to_datetime(df["month"].astype("string").str.strip(), errors="coerce", format="ISO8601")
    if m.isna().any():
        raise DataValidationError(f"{file}, column `month`: expected dates as YYYY-MM-DD in "
                                  f"{_rows(m.isna().to_numpy())}")
    df["month"] = m.dt.to_period("M").dt.to_timestamp()
    for c in ("events", "population", "person_years", *predictors):
        if c not in df.columns:
            continue
        v = pd.to_numeric(df[c], errors="coerce").astype(float)
        bad = ~np.isfinite(v.to_numpy())
        if c in ("population", "person_years"):
            bad |= v.to_numpy() <= 0
            what = "a number > 0"
        elif c == "events":
            bad |= v.to_numpy() < 0
            what = "a count >= 0"
        else:
            what = "a number"
        if bad.any():
            raise DataValidationError(f"{file}, column `{c}`: expected {what} in {_rows(bad)}")
        df[c] = v
    frac = df["events"] % 1 != 0
    if frac.any():
        raise DataValidationError(f"{file}, column `events`: expected whole numbers in {_rows(frac.to_numpy())}")
    if "person_years" not in df.columns:
        # a monthly head count: person-years = population x days in the month / 365.25
        df["person_years"] = df["population"] * df["month"].dt.days_in_month / 365.25
    dup = df.duplicated(["area_id", "month"], keep=False)
    if dup.any():
        raise DataValidationError(f"{file}: repeated (area_id, month) pairs in {_rows(dup.to_numpy())}; one row"
                                  " per area and month (and outcome) is expected")
    if "go_live_date" in df.columns:
        gl = pd.to_datetime(df["go_live_date"].astype("string").str.strip().replace("", pd.NA), errors="coerce",
                            format="ISO8601")
        raw_blank = df["go_live_date"].isna() | (df["go_live_date"].astype("string").str.strip() == "")
        bad = gl.isna() & ~raw_blank
        if bad.any():
            raise DataValidationError(f"{file}, column `go_live_date`: expected YYYY-MM-DD or blank in "
                                      f"{_rows(bad.to_numpy())}")
        df["go_live_date"] = gl
        incons = df.groupby("area_id")["go_live_date"].nunique(dropna=True) > 1
        if incons.any():
            raise DataValidationError(f"{file}, column `go_live_date`: areas {list(incons[incons].index[:10])} have"
                                      " more than one go-live date; give one per area")
        df["go_live_date"] = df.groupby("area_id")["go_live_date"].transform("first")
    else:
        df["go_live_date"] = pd.NaT
    months = pd.period_range(df["month"].min(), df["month"].max(), freq="M").to_timestamp()
    counts = df.groupby("area_id")["month"].nunique()
    short = counts[counts < len(months)]
    if len(short):
        raise DataValidationError(f"{file}: areas {list(short.index[:10])} lack some months between "
                                  f"{months[0].date()} and {months[-1].date()}; every area needs every month"
                                  " (a balanced panel)")
    cols = ["area_id", "month", "events", "person_years", "go_live_date", *predictors]
    out = df[cols].sort_values(["area_id", "month"]).reset_index(drop=True)
    out["area_id"] = out["area_id"].astype(str)
    return out


def build_treated_series(population: pd.DataFrame, activity: pd.DataFrame, *, outcome: str, window_start: Any,
                         window_end: Any, area_id: str, practices: pd.DataFrame | None = None) -> pd.DataFrame:
    """Monthly events and person-years for the whole evaluated area from the person-level tables.

    Uses the roll-out stage's engine query (DuckDB through Ibis, sparse-first) with practices summed:
    person-time runs while registered and alive within the window, events count while registered. When
    ``practices`` has ``go_live_date``, ``live_share`` is the share of the month's person-time in practices
    already live (a phased start).
    """
    from evaltool.effects.rollout_stage import build_practice_panel

    prac = practices if practices is not None else pd.DataFrame(
        {"practice_id": sorted(population["practice_id"].astype(str).unique())})
    panel = build_practice_panel(population, activity, prac, outcomes=(outcome,), window_start=window_start,
                                 window_end=window_end, period="month")
    panel["month"] = pd.to_datetime(panel["p_start"]).dt.to_period("M").dt.to_timestamp()
    live = np.zeros(len(panel))
    if practices is not None and "go_live_date" in practices.columns:
        gl = pd.to_datetime(practices.set_index(practices["practice_id"].astype(str))["go_live_date"])
        g = panel["practice_id"].map(gl)
        live = (g.notna() & (g < pd.to_datetime(panel["p_end"]))).to_numpy(float)
    panel["live_py"] = live * panel["person_years"]
    agg = panel.groupby("month", as_index=False).agg(events=(f"events_{outcome}", "sum"),
                                                    person_years=("person_years", "sum"),
                                                    live_py=("live_py", "sum"))
    agg["live_share"] = np.where(agg["person_years"] > 0, agg["live_py"] / agg["person_years"], 0.0)
    agg.insert(0, "area_id", str(area_id))
    return agg.drop(columns="live_py")


def combine_panel(treated: pd.DataFrame, donors: pd.DataFrame, *, go_live: Any, file: str = "area_panel"
                  ) -> pd.DataFrame:
    """Join the built treated series with the donor panel over the months both cover.

    ``donors`` is a validated panel; areas in it with a go-live date are other treated areas and are kept.
    """
    tid = str(treated["area_id"].iloc[0])
    if tid in set(donors["area_id"]):
        raise DataValidationError(f"{file}: area_id {tid!r} is both the evaluated area built from the person-level"
                                  " data and an area in the panel; rename one of them")
    t = treated[["area_id", "month", "events", "person_years"]].copy()
    t["go_live_date"] = pd.Timestamp(go_live)
    common = sorted(set(t["month"]) & set(donors["month"]))
    if len(common) < 12:
        raise DataValidationError(f"{file}: the donor panel and the person-level data share {len(common)} months"
                                  " (at least 12 are needed)")
    extra = [c for c in donors.columns if c not in t.columns]
    for c in extra:
        t[c] = np.nan
    out = pd.concat([t[t["month"].isin(common)], donors[donors["month"].isin(common)]], ignore_index=True)
    return out.sort_values(["area_id", "month"]).reset_index(drop=True)
