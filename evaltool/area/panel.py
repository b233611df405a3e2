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

__all__ = ["AREA_REQUIRED", "build_treated_series", "check_evaluated_area", "combine_panel", "validate_area_panel"]

AREA_REQUIRED = ("area_id", "month", "events")


def _rows(mask: np.ndarray, rows: np.ndarray | None = None) -> str:
    """Rows (1-based data rows of the file) where ``mask`` is true; ``rows`` maps positions to file rows."""
    idx = np.flatnonzero(mask)
    nums = (idx + 1) if rows is None else np.asarray(rows)[idx]
    return format_rows(list(nums[:10]), int(mask.sum()))


def _found(values: pd.Series, mask: np.ndarray) -> str:
    """A few of the offending values as found (blanks named), for a message."""
    shown = []
    for v in values[mask].head(50):
        t = "blank" if v is None or (isinstance(v, float) and np.isnan(v)) or str(v).strip() == "" else repr(
            str(v).strip()[:20])
        if t not in shown:
            shown.append(t)
        if len(shown) == 3:
            break
    return f" (found {', '.join(shown)})" if shown else ""


def validate_area_panel(panel: pd.DataFrame, *, file: str = "area_panel", outcome: str | None = None,
                        predictors: tuple[str, ...] = ()) -> pd.DataFrame:
    """Check an area panel against the contract and return a clean copy.

    Returns columns ``area_id`` (str), ``month`` (month start), ``events`` (float), ``person_years``,
    ``go_live_date`` (NaT = donor) and the predictors; restricted to ``outcome`` when the panel has an
    ``outcome`` column. Every problem raises :class:`DataValidationError` naming the file, column and rows
    (1-based data rows of the file: in a CSV, row 1 is line 2, below the header).

    Examples
    --------
    >>> p = pd.DataFrame({"area_id": ["A", "A"], "month": ["2022-01-01", "2022-02-01"], "events": [5, 7],
    ...                   "population": [1200, 1200]})
    >>> validate_area_panel(p)["person_years"].round(3).tolist()
    [101.848, 91.992]
    >>> validate_area_panel(p.assign(events=[5, -1]))
    Traceback (most recent call last):
    ...
    evaltool.errors.DataValidationError: area_panel, column `events`: expected a count >= 0 in row 2 (1 row in all) (found '-1')
    """
    df = panel.copy()
    if not len(df):
        raise DataValidationError(f"{file}: the area panel has no rows; expected one row per area and month")
    miss = [c for c in AREA_REQUIRED if c not in df.columns]
    if "population" not in df.columns and "person_years" not in df.columns:
        miss.append("population or person_years")
    miss += [c for c in predictors if c not in df.columns]
    if miss:
        raise DataValidationError(f"{file}: required column(s) missing: {', '.join(miss)} (found: "
                                  f"{', '.join(map(str, df.columns))})")
    df["_row"] = np.arange(1, len(df) + 1)
    if outcome is not None and "outcome" in df.columns:
        keep = df["outcome"].astype(str).str.strip() == outcome
        if not keep.any():
            raise DataValidationError(f"{file}, column `outcome`: no rows for outcome {outcome!r} (found: "
                                      f"{sorted(df['outcome'].astype(str).unique())[:10]})")
        df = df[keep.to_numpy()].reset_index(drop=True)
    rows = df["_row"].to_numpy()
    df["area_id"] = df["area_id"].astype("string").str.strip()
    blank = df["area_id"].isna() | (df["area_id"] == "")
    if blank.any():
        raise DataValidationError(f"{file}, column `area_id`: blank area ids in {_rows(blank.to_numpy(), rows)}")
    m = pd.to_datetime(df["month"].astype("string").str.strip(), errors="coerce", format="ISO8601")
    if m.isna().any():
        bad = m.isna().to_numpy()
        raise DataValidationError(f"{file}, column `month`: expected dates as YYYY-MM-DD in "
                                  f"{_rows(bad, rows)}{_found(df['month'], bad)}")
    df["month"] = m.dt.to_period("M").dt.to_timestamp()
    raw_events = df["events"].copy()
    for c in ("events", "population", "person_years", *predictors):
        if c not in df.columns:
            continue
        raw = df[c]
        v = pd.to_numeric(raw, errors="coerce").astype(float)
        bad = ~np.isfinite(v.to_numpy())
        if c in ("population", "person_years"):
            bad |= v.to_numpy() <= 0
            what = "a number > 0 (a rate needs the population at risk)"
        elif c == "events":
            bad |= v.to_numpy() < 0
            what = "a count >= 0"
        else:
            what = "a number"
        if bad.any():
            raise DataValidationError(f"{file}, column `{c}`: expected {what} in {_rows(bad, rows)}"
                                      f"{_found(raw, bad)}")
        df[c] = v
    frac = (df["events"] % 1 != 0).to_numpy()
    if frac.any():
        raise DataValidationError(f"{file}, column `events`: expected whole numbers (counts) in {_rows(frac, rows)}"
                                  f"{_found(raw_events, frac)}")
    if "person_years" not in df.columns:
        # a monthly head count: person-years = population x days in the month / 365.25
        df["person_years"] = df["population"] * df["month"].dt.days_in_month / 365.25
    dup = df.duplicated(["area_id", "month"], keep=False).to_numpy()
    if dup.any():
        first = df[dup].iloc[0]
        raise DataValidationError(f"{file}: repeated (area_id, month) pairs in {_rows(dup, rows)} (e.g. "
                                  f"{first['area_id']!r}, {first['month']:%Y-%m}); one row per area and month"
                                  " (and outcome) is expected")
    if "go_live_date" in df.columns:
        gl = pd.to_datetime(df["go_live_date"].astype("string").str.strip().replace("", pd.NA), errors="coerce",
                            format="ISO8601")
        raw_blank = df["go_live_date"].isna() | (df["go_live_date"].astype("string").str.strip() == "")
        bad = (gl.isna() & ~raw_blank).to_numpy()
        if bad.any():
            raise DataValidationError(f"{file}, column `go_live_date`: expected YYYY-MM-DD or blank in "
                                      f"{_rows(bad, rows)}{_found(df['go_live_date'], bad)}")
        df["go_live_date"] = gl
        incons = df.groupby("area_id")["go_live_date"].nunique(dropna=True) > 1
        if incons.any():
            a = incons[incons].index[0]
            raise DataValidationError(f"{file}, column `go_live_date`: areas {list(incons[incons].index[:10])} have"
                                      " more than one go-live date (e.g. "
                                      f"{_rows((df['area_id'] == a).to_numpy() & ~raw_blank.to_numpy(), rows)});"
                                      " give one per area, on every row of the area or blank")
        df["go_live_date"] = df.groupby("area_id")["go_live_date"].transform("first")
    else:
        df["go_live_date"] = pd.NaT
    months = pd.period_range(df["month"].min(), df["month"].max(), freq="M").to_timestamp()
    have = df.groupby("area_id")["month"].agg(set)
    lacking = {a: [mm for mm in months if mm not in got] for a, got in have.items() if len(got) < len(months)}
    if lacking:
        everyone = sorted(set.intersection(*[set(v) for v in lacking.values()])) if len(lacking) == len(have) else []
        if everyone:
            raise DataValidationError(
                f"{file}, column `month`: the months are not contiguous: no area has "
                f"{', '.join(f'{x:%Y-%m}' for x in everyone[:6])}{' ...' if len(everyone) > 6 else ''}"
                f" ({len(everyone)} month(s) missing between {months[0]:%Y-%m} and {months[-1]:%Y-%m}); monthly"
                " series need every month")
        ex = "; ".join(f"{a!r} lacks {', '.join(f'{x:%Y-%m}' for x in v[:4])}{' ...' if len(v) > 4 else ''}"
                       for a, v in list(lacking.items())[:5])
        raise DataValidationError(f"{file}, column `month`: {len(lacking)} area(s) lack some months between "
                                  f"{months[0]:%Y-%m} and {months[-1]:%Y-%m} ({ex}); every area needs every month"
                                  " (a balanced panel)")
    cols = ["area_id", "month", "events", "person_years", "go_live_date", *predictors]
    out = df[cols].sort_values(["area_id", "month"]).reset_index(drop=True)
    out["area_id"] = out["area_id"].astype(str)
    return out


def check_evaluated_area(panel: pd.DataFrame, *, treated_area: str, go_live: Any = None, window: tuple[Any, Any],
                         methods: tuple[str, ...] = ("sdid", "synthetic_control", "did", "its"),
                         min_pre_months: int = 24, min_donors: int = 5, file: str = "area_panel",
                         raw: pd.DataFrame | None = None) -> tuple[pd.Timestamp, dict[str, Any]]:
    """Check that a validated panel holds the evaluated area's own series and that a design can run.

    For an area-only evaluation (no person-level tables): the evaluated area must be in ``area_id`` with a
    go-live date (``go_live_date`` or the spec's ``area.go_live``) inside the panel's months in the study
    window, leaving months before and after it; and at least one of ``methods`` must be supported (the
    interrupted time series needs ``min_pre_months`` months before go-live, the comparison-area designs
    also ``min_donors`` comparison areas). Returns the go-live month and a summary (months, donors).

    Examples
    --------
    >>> p = validate_area_panel(pd.DataFrame({"area_id": ["A"] * 30, "month": pd.date_range(
    ...     "2020-01-01", periods=30, freq="MS").strftime("%Y-%m-%d"), "events": 10, "population": 1000}))
    >>> go, facts = check_evaluated_area(p, treated_area="A", go_live="2021-06-01", methods=("its",),
    ...                                  window=("2020-01-01", "2022-12-31"), min_pre_months=12)
    >>> str(go.date()), facts["n_pre_months"], facts["n_post_months"]
    ('2021-06-01', 17, 13)
    """
    ids = sorted(set(panel["area_id"]))
    if treated_area not in ids:
        import difflib

        low = {i.lower(): i for i in ids}
        close = difflib.get_close_matches(treated_area.lower(), list(low), n=1, cutoff=0.6)
        hint = f" (did you mean {low[close[0]]!r}?)" if close else ""
        raise DataValidationError(
            f"{file}, column `area_id`: the evaluated area {treated_area!r} (area.treated_area) is not in the panel"
            f"{hint}; found {len(ids)} areas: {', '.join(map(repr, ids[:8]))}{' ...' if len(ids) > 8 else ''}")
    ws = pd.Timestamp(window[0]).to_period("M").to_timestamp()
    we = pd.Timestamp(window[1]).to_period("M").to_timestamp()
    months = sorted(m for m in panel["month"].unique() if ws <= m <= we)
    if not months:
        raise DataValidationError(
            f"{file}, column `month`: no month of the panel ({panel['month'].min():%Y-%m} to "
            f"{panel['month'].max():%Y-%m}) is inside the study window ({ws:%Y-%m} to {we:%Y-%m}, spec `window`)")
    own = panel.loc[panel["area_id"] == treated_area, "go_live_date"].dropna()
    if go_live is not None:
        go, where = pd.Timestamp(go_live), "area.go_live in the spec"
    elif len(own):
        go, where = pd.Timestamp(own.iloc[0]), f"{file}, column `go_live_date`"
    else:
        raise DataValidationError(
            f"{file}, column `go_live_date`: no go-live date for the evaluated area {treated_area!r} (blank or no"
            " such column); give it on the area's rows or as area.go_live in the spec")
    go = go.to_period("M").to_timestamp()
    first, last = pd.Timestamp(months[0]), pd.Timestamp(months[-1])
    if go <= first or go > last:
        side = "on or before the first" if go <= first else "after the last"
        raise DataValidationError(
            f"{where}: the evaluated area {treated_area!r} goes live in {go:%Y-%m}, {side} month of the panel in the"
            f" study window ({first:%Y-%m} to {last:%Y-%m}); the whole-area designs need months both before and"
            " after go-live")
    n_pre = int(sum(pd.Timestamp(m) < go for m in months))
    n_post = len(months) - n_pre
    areas = panel.drop_duplicates("area_id")
    other = areas.loc[(areas["area_id"] != treated_area) & areas["go_live_date"].notna(), "area_id"].tolist()
    n_donors = int(len(areas) - 1 - len(other))
    its_ok = n_pre >= min_pre_months
    comp_ok = its_ok and n_donors >= min_donors
    can = [m for m in methods if (its_ok if m == "its" else comp_ok)]
    if not can:
        why = []
        if not its_ok:
            why.append(f"only {n_pre} months before go-live ({go:%Y-%m}) in the study window (area.min_pre_months:"
                       f" at least {min_pre_months})")
        if any(m != "its" for m in methods) and n_donors < min_donors:
            why.append(f"{n_donors} comparison areas without a go-live date (area.min_donors: at least"
                       f" {min_donors})")
        raise DataValidationError(f"{file}: none of the planned whole-area designs ({', '.join(methods)}) can run: "
                                  + "; ".join(why))
    facts = {"go_live": go, "n_months": len(months), "n_pre_months": n_pre, "n_post_months": n_post,
             "n_donors": n_donors, "other_treated": other, "first_month": first, "last_month": last,
             "n_areas": len(areas), "methods_possible": can}
    return go, facts


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
