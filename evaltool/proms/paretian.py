"""Paretian Classification of Health Change (PCHC) and the probability of superiority for paired EQ-5D profiles.

Definitions follow the R package eq5d (``pchc()``, ``ps()``; Devlin, Parkin & Browne 2010, Health Econ
19(8):886-905; Devlin et al. 2020, *Methods for Analysing and Reporting EQ-5D Data*, ch. 3,
doi:10.1007/978-3-030-47622-9), and tests/test_proms_paretian.py checks every count, percentage and
PS against outputs of eq5d 0.16.3.9000 stored in tests/reference/eq5d/:

* a pair is **better** when at least one dimension improves and none worsens, **worse** the reverse,
  **mixed** when some dimensions improve and others worsen, and otherwise unchanged;
* with ``no_problems=True`` (eq5d's default) an unchanged pair at 11111 both times is **no_problems**
  rather than **no_change**, and the four change classes are percentages of the pairs *with problems*
  (all valid pairs less the no-problems pairs, eq5d's ``totals = TRUE``); the no-problems class is a
  percentage of all valid pairs;
* **by dimension** the same rules apply to one dimension at a time (no ``mixed`` class; ``no_problems``
  is level 1 at both times);
* the **probability of superiority** of a dimension is ``(better + 0.5 * no_change) / pairs`` with
  level 1 -> 1 counted as no change (eq5d's ``ps()``, which calls ``pchc(no.problems = FALSE)``):
  0.5 means improvement and deterioration balance, above 0.5 that improvement dominates.

Pairs where either profile is missing or invalid are left out of every count (eq5d gives them NA).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from evaltool import dist

from evaltool._result import ResultMixin, Summary
from evaltool.errors import DataValidationError
from evaltool.proms.eq5d import DIMENSION_LABELS, DIMENSIONS, _profile_columns, validate_profiles

PCHC_CATEGORIES = ("no_change", "better", "worse", "mixed", "no_problems")
#: The eq5d package's row names for each class.
R_LABELS = {"no_change": "No change", "better": "Improve", "worse": "Worsen", "mixed": "Mixed change",
            "no_problems": "No problems"}
CATEGORY_LABELS = {"no_change": "No change", "better": "Better", "worse": "Worse", "mixed": "Mixed change",
                   "no_problems": "No problems (11111 at both)"}


def _paired_levels(before: Any, after: Any, instrument: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    b, ok_b = validate_profiles(before, instrument, on_invalid="mask")
    a, ok_a = validate_profiles(after, instrument, on_invalid="mask")
    if len(b) != len(a):
        raise DataValidationError(f"`before` and `after` must be paired (same length); found {len(b)} and {len(a)}.")
    return b.to_numpy(), a.to_numpy(), ok_b & ok_a


def _classify(b: np.ndarray, a: np.ndarray, no_problems: bool) -> np.ndarray:
    diff = a - b  # positive = higher level = worse
    better = (diff < 0).any(axis=1)
    worse = (diff > 0).any(axis=1)
    none = ~better & ~worse
    full = (b == 1).all(axis=1) & none
    return np.select([better & worse, better, worse, full & no_problems], ["mixed", "better", "worse", "no_problems"],
                     default="no_change")


def pchc(before: Any, after: Any, instrument: str = "EQ-5D-5L", *, no_problems: bool = True) -> pd.Series:
    """Paretian Classification of Health Change of each pair of profiles.

    Parameters
    ----------
    before, after:
        Paired profiles: DataFrames with columns mo, sc, ua, pd, ad (or eq5d_mo ...) or sequences of
        5-digit states.
    instrument:
        ``"EQ-5D-5L"`` or ``"EQ-5D-3L"``.
    no_problems:
        True (default, as eq5d): 11111 at both times is ``no_problems``; False: ``no_change``.

    Returns
    -------
    pandas.Series
        ``better``, ``worse``, ``mixed``, ``no_change`` or ``no_problems``; ``None`` where either
        profile is missing or invalid.

    Examples
    --------
    >>> pchc(["21111", "11111", "12111", "11111"], ["11111", "11112", "21111", "11111"]).tolist()
    ['better', 'worse', 'mixed', 'no_problems']
    """
    b, a, ok = _paired_levels(before, after, instrument)
    cat = _classify(np.nan_to_num(b), np.nan_to_num(a), no_problems)
    return pd.Series(np.where(ok, cat, None), dtype="object")


def _summarise(cat: np.ndarray, categories: Sequence[str], no_problems: bool) -> pd.DataFrame:
    counts = pd.Series(cat).value_counts().reindex(list(categories), fill_value=0).astype(int)
    n_pairs = int(counts.sum())
    n_np = int(counts.get("no_problems", 0)) if no_problems else 0
    n_with = n_pairs - n_np
    out = pd.DataFrame({"category": list(categories), "n": counts.to_numpy()})
    base = np.where(out["category"] == "no_problems", n_pairs, n_with)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["pct"] = np.where(base > 0, 100 * out["n"] / np.maximum(base, 1), np.nan)
        out["pct_all_pairs"] = np.where(n_pairs > 0, 100 * out["n"] / max(n_pairs, 1), np.nan)
    out["n_with_problems"] = n_with
    out["n_pairs"] = n_pairs
    return out


def pchc_table(before: Any, after: Any, instrument: str = "EQ-5D-5L", *, no_problems: bool = True,
               by_dimension: bool = False) -> pd.DataFrame:
    """Counts and percentages of each PCHC class, for the whole profile or by dimension.

    Parameters
    ----------
    before, after, instrument, no_problems:
        As :func:`pchc`.
    by_dimension:
        False: classify whole profiles (``dimension`` = ``"profile"``); True: one block per dimension
        (classes no_change, better, worse and, with ``no_problems``, no_problems).

    Returns
    -------
    pandas.DataFrame
        ``dimension, category, n, pct, pct_all_pairs, n_with_problems, n_pairs``. ``pct`` is eq5d's
        ``totals = TRUE`` percentage (change classes over the pairs with problems, no_problems over all
        pairs); ``pct_all_pairs`` is over all valid pairs (eq5d's ``totals = FALSE``). ``n_with_problems``
        and ``100 * n_with_problems / n_pairs`` are eq5d's "Total with problems" row.

    Examples
    --------
    >>> t = pchc_table(["21111", "11111", "11111", "11111"], ["11111", "11111", "11112", "11111"])
    >>> t.set_index("category").loc[["better", "no_problems"], ["n", "pct"]].to_dict("index")
    {'better': {'n': 1, 'pct': 50.0}, 'no_problems': {'n': 2, 'pct': 50.0}}
    """
    b, a, ok = _paired_levels(before, after, instrument)
    b, a = b[ok], a[ok]
    if not by_dimension:
        cats = PCHC_CATEGORIES if no_problems else PCHC_CATEGORIES[:4]
        out = _summarise(_classify(b, a, no_problems), cats, no_problems)
        out.insert(0, "dimension", "profile")
        return out
    cats = ("no_change", "better", "worse") + (("no_problems",) if no_problems else ())
    parts = []
    for j, d in enumerate(DIMENSIONS):
        t = _summarise(_classify(b[:, [j]], a[:, [j]], no_problems), cats, no_problems)
        t.insert(0, "dimension", d)
        parts.append(t)
    return pd.concat(parts, ignore_index=True)


def probability_of_superiority(before: Any, after: Any, instrument: str = "EQ-5D-5L", *,
                               confidence: float = 0.95) -> pd.DataFrame:
    """Probability of superiority (PS) of the follow-up over the baseline profile, per dimension.

    ``ps = (n_better + 0.5 * n_no_change) / n_pairs`` (eq5d's ``ps()``; level 1 at both times counts as
    no change). The interval is a Wald interval on the mean of the pairs' sign scores (+1 better,
    0 same, -1 worse), since ``ps = (1 + mean) / 2``, clipped to [0, 1]; eq5d reports no interval.

    Returns
    -------
    pandas.DataFrame
        ``dimension, dimension_label, ps, ci_lower, ci_upper, n_better, n_no_change, n_worse, n_pairs``.

    Examples
    --------
    >>> r = probability_of_superiority(["21111", "21111"], ["11111", "21111"])
    >>> r.loc[0, "dimension"], float(r.loc[0, "ps"])
    ('mo', 0.75)
    """
    b, a, ok = _paired_levels(before, after, instrument)
    sign = np.sign(b[ok] - a[ok])  # +1 = better (level fell)
    n = sign.shape[0]
    z = dist.norm_ppf(0.5 + confidence / 2)
    rows = []
    for j, d in enumerate(DIMENSIONS):
        s = sign[:, j]
        nb, nw = int((s > 0).sum()), int((s < 0).sum())
        ps = (nb + 0.5 * (n - nb - nw)) / n if n else np.nan
        se = float(np.std(s, ddof=1) / np.sqrt(n)) / 2 if n > 1 else np.nan
        rows.append({"dimension": d, "dimension_label": DIMENSION_LABELS[d], "ps": ps,
                     "ci_lower": max(0.0, ps - z * se) if n > 1 else np.nan,
                     "ci_upper": min(1.0, ps + z * se) if n > 1 else np.nan,
                     "n_better": nb, "n_no_change": n - nb - nw, "n_worse": nw, "n_pairs": n})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class ParetianResult(ResultMixin):
    """PCHC of whole profiles and by dimension, and the probability of superiority, per group and comparison.

    ``profile``: group, comparison, category, n, pct, pct_all_pairs, n_with_problems, n_pairs.
    ``by_dimension``: the same with ``dimension``. ``superiority``: group, comparison, dimension, ps,
    ci_lower, ci_upper, n_better, n_no_change, n_worse, n_pairs. Counts only: no patient rows.
    """

    profile: pd.DataFrame
    by_dimension: pd.DataFrame
    superiority: pd.DataFrame
    instrument: str = "EQ-5D-5L"
    no_problems: bool = True
    notes: tuple[str, ...] = field(default=())

    def summary(self) -> Summary:
        base = ("change classes as % of pairs with problems; no problems (11111 at both times) as % of all pairs"
                if self.no_problems else "% of all valid pairs")
        return Summary(
            title=f"Paretian classification of health change ({self.instrument})",
            lines=(("Definition", "better: some dimension better, none worse; worse: the reverse; mixed: both"),
                   ("Percentages", base),
                   ("PS", "(better + 0.5 x no change) / pairs, per dimension (eq5d ps())")),
            tables=(("By profile", self.profile), ("Probability of superiority", self.superiority)),
        )

    def to_frame(self) -> pd.DataFrame:
        return self.profile.copy()

    def to_dict(self) -> dict[str, Any]:
        def rec(t: pd.DataFrame) -> list[dict]:
            return t.astype(object).where(t.notna(), None).to_dict(orient="records")

        return {"instrument": self.instrument, "no_problems": self.no_problems, "profile": rec(self.profile),
                "by_dimension": rec(self.by_dimension), "superiority": rec(self.superiority),
                "notes": list(self.notes)}

    def plot(self):
        from plotnine import aes, coord_flip, geom_col, ggplot, labs, position_stack

        from evaltool.plotting import theme_evaltool

        d = self.profile[self.profile["category"] != "no_problems"].copy()
        d["label"] = d["category"].map(CATEGORY_LABELS)
        x = "comparison" if "group" not in d.columns else "panel"
        if x == "panel":
            d["panel"] = d["group"].astype(str) + ": " + d["comparison"].astype(str)
        return (ggplot(d, aes(x, "pct", fill="label")) + geom_col(position=position_stack(reverse=True))
                + coord_flip() + labs(x="", y="% of pairs with problems", fill="") + theme_evaltool())


def paretian_analysis(data: pd.DataFrame, *, instrument: str = "EQ-5D-5L", id_col: str = "person_id",
                      time_col: str = "timepoint", baseline: str = "baseline",
                      followups: Sequence[str] | None = None, group_col: str | None = None,
                      no_problems: bool = True, confidence: float = 0.95) -> ParetianResult:
    """PCHC and probability of superiority from long data (one row per person and time point).

    Parameters
    ----------
    data:
        Columns ``id_col``, ``time_col`` and the five dimension columns (``mo`` ... or ``eq5d_mo`` ...).
    baseline, followups:
        Baseline label and follow-up labels (default: every other time point, in data order).
    group_col:
        Optional group column: one block of rows per group.
    no_problems:
        As :func:`pchc`.

    Examples
    --------
    >>> df = pd.DataFrame({"person_id": [1, 1, 2, 2], "timepoint": ["baseline", "6m"] * 2,
    ...                    "mo": [2, 1, 1, 1], "sc": 1, "ua": 1, "pd": 1, "ad": 1})
    >>> r = paretian_analysis(df)
    >>> r.profile.set_index("category").loc[["better", "no_problems"], "n"].tolist()
    [1, 1]
    """
    missing = [c for c in (id_col, time_col) + ((group_col,) if group_col else ()) if c not in data.columns]
    if missing:
        raise DataValidationError(f"`data` is missing column(s) {', '.join(missing)}; found "
                                  f"{', '.join(map(str, data.columns))}.")
    dims = list(_profile_columns(data).values())
    times = [str(t) for t in pd.unique(data[time_col].astype(str))]
    if followups is None:
        followups = [t for t in times if t != str(baseline)]
    df = data.assign(**{time_col: data[time_col].astype(str)})
    dup = df.duplicated([id_col, time_col])
    if dup.any():
        raise DataValidationError(
            f"`data` has more than one profile per {id_col} and {time_col} ({int(dup.sum())} duplicates); keep one.")
    base = df[df[time_col] == str(baseline)].set_index(id_col)
    profile, by_dim, sup = [], [], []
    for fu in followups:
        fol = df[df[time_col] == str(fu)].set_index(id_col)
        ids = base.index.intersection(fol.index)
        groups = [(None, ids)] if group_col is None else [
            (g, ids[base.loc[ids, group_col].astype(str).to_numpy() == str(g)])
            for g in sorted(base.loc[ids, group_col].dropna().astype(str).unique())]
        for g, gi in groups:
            b, a = base.loc[gi, dims], fol.loc[gi, dims]
            label = {"comparison": f"{baseline} to {fu}"} | ({"group": g} if group_col else {})
            for target, t in ((profile, pchc_table(b, a, instrument, no_problems=no_problems)),
                              (by_dim, pchc_table(b, a, instrument, no_problems=no_problems, by_dimension=True)),
                              (sup, probability_of_superiority(b, a, instrument, confidence=confidence))):
                target.append(t.assign(**label))

    def tidy(parts: list[pd.DataFrame], first: list[str]) -> pd.DataFrame:
        if not parts:
            return pd.DataFrame(columns=first)
        t = pd.concat(parts, ignore_index=True)
        return t[first + [c for c in t.columns if c not in first]]

    lead = (["group"] if group_col else []) + ["comparison"]
    prof = tidy(profile, lead).drop(columns="dimension", errors="ignore")
    return ParetianResult(prof, tidy(by_dim, lead), tidy(sup, lead), instrument, no_problems)
