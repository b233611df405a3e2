"""Patient activation (PAM-style).

The Patient Activation Measure is proprietary (Insignia Health): evaltool never scores raw PAM
items. It accepts licensed scores (0-100) and/or levels 1-4 as supplied by the licensed scoring
service, and derives levels from scores with configurable cut points when only scores are given.
The default cut points (47.0, 55.1, 67.0: level 1 <= 47.0, level 2 47.1-55.1, level 3 55.2-67.0,
level 4 >= 67.1) are those commonly published for PAM-13 (Hibbard et al. 2005, Health Serv Res
40(6p1):1918-30); confirm them against your licence documentation.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from evaltool._result import ResultMixin, Summary
from evaltool.errors import DataValidationError, format_rows
from evaltool.proms.change import ChangeResult, paired_change

DEFAULT_PAM_CUT_POINTS = (47.0, 55.1, 67.0)


def pam_levels(scores: Any, cut_points: Sequence[float] = DEFAULT_PAM_CUT_POINTS) -> pd.Series:
    """Levels 1-4 from activation scores: level k+1 when score > cut_points[k].

    Examples
    --------
    >>> pam_levels([40, 47.0, 47.1, 55.1, 60, 67.1]).tolist()
    [1, 1, 2, 2, 3, 4]
    """
    s = pd.to_numeric(pd.Series(scores), errors="coerce")
    cps = list(cut_points)
    if len(cps) != 3 or any(b <= a for a, b in zip(cps, cps[1:])):
        raise DataValidationError(f"`cut_points` must be three increasing numbers; found {cps}.")
    bad = s.notna() & ((s < 0) | (s > 100))
    if bad.any():
        raise DataValidationError(
            f"activation scores must be 0-100; found {s[bad].head(3).tolist()} in "
            f"{format_rows(np.flatnonzero(bad.to_numpy()) + 1)}."
        )
    lv = 1 + (s.to_numpy()[:, None] > np.array(cps)[None, :]).sum(axis=1)
    return pd.Series(np.where(s.notna(), lv, pd.NA), index=s.index, dtype="Int64")


@dataclass(frozen=True)
class ActivationResult(ResultMixin):
    """Activation level distribution by time point (and group) and change between time points."""

    levels: pd.DataFrame
    movement: pd.DataFrame
    score_change: ChangeResult | None
    cut_points: tuple[float, ...]
    level_source: str

    def summary(self) -> Summary:
        tables = [("Levels", self.levels), ("Movement between levels", self.movement)]
        if self.score_change is not None:
            tables.append(("Score change", self.score_change.table))
        return Summary(
            title="Patient activation",
            lines=(("Levels", self.level_source), ("Cut points", ", ".join(map(str, self.cut_points)))),
            tables=tuple(tables),
        )

    def to_frame(self) -> pd.DataFrame:
        return self.levels.copy()

    def to_dict(self) -> dict[str, Any]:
        return {
            "levels": self.levels.to_dict(orient="records"),
            "movement": self.movement.to_dict(orient="records"),
            "score_change": None if self.score_change is None else self.score_change.to_dict(),
            "cut_points": list(self.cut_points),
            "level_source": self.level_source,
        }

    def plot(self):
        from plotnine import aes, facet_wrap, geom_col, ggplot, labs, scale_fill_manual

        from evaltool.plotting import theme_evaltool

        df = self.levels.copy()
        df["level"] = pd.Categorical(df["level"].astype(str), categories=["4", "3", "2", "1"])
        # time points in data order (baseline first), not alphabetical
        df["timepoint"] = pd.Categorical(df["timepoint"].astype(str),
                                         categories=list(dict.fromkeys(df["timepoint"].astype(str))))
        p = (
            ggplot(df, aes(x="timepoint", y="pct", fill="level"))
            + geom_col(position="stack")
            + scale_fill_manual(values={"1": "#41B6E6", "2": "#0072CE", "3": "#005EB8", "4": "#003087"})
            + labs(x="", y="% of respondents", fill="Activation level")
            + theme_evaltool()
        )
        if "group" in df.columns:
            p += facet_wrap("~group")
        return p


def activation_summary(
    data: pd.DataFrame,
    *,
    score_col: str | None = "pam_score",
    level_col: str | None = "pam_level",
    cut_points: Sequence[float] = DEFAULT_PAM_CUT_POINTS,
    id_col: str = "person_id",
    time_col: str = "timepoint",
    baseline: str = "baseline",
    followups: Sequence[str] | None = None,
    group_col: str | None = None,
) -> ActivationResult:
    """Summarise licensed activation scores/levels: level distribution and change.

    Levels come from ``level_col`` where present, otherwise from ``score_col`` via ``cut_points``.
    Movement: among people with a level at baseline and follow-up, n and % moving up at least
    one level, staying, moving down. Score change: paired change in the score (if scores given).

    Examples
    --------
    >>> df = pd.DataFrame({"person_id": [1, 1, 2, 2], "timepoint": ["baseline", "12m"] * 2,
    ...                    "pam_score": [45.0, 56.0, 60.0, 58.0]})
    >>> activation_summary(df, level_col=None).movement["pct_up"].tolist()
    [50.0]
    """
    has_score = score_col is not None and score_col in data.columns
    has_level = level_col is not None and level_col in data.columns
    if not (has_score or has_level):
        raise DataValidationError(
            f"`data` needs an activation score column ({score_col!r}) or level column ({level_col!r}); neither found."
        )
    df = data.copy()
    derived = pam_levels(df[score_col], cut_points) if has_score else pd.Series(pd.NA, index=df.index, dtype="Int64")
    if has_level:
        given = pd.to_numeric(df[level_col], errors="coerce")
        bad = given.notna() & ~given.isin([1, 2, 3, 4])
        if bad.any():
            raise DataValidationError(
                f"`{level_col}` must be 1-4; found {given[bad].head(3).tolist()} in "
                f"{format_rows(np.flatnonzero(bad.to_numpy()) + 1)}."
            )
        level = given.astype("Int64").fillna(derived)
        source = f"supplied in {level_col!r}" + (f", else derived from {score_col!r}" if has_score else "")
    else:
        level = derived
        source = f"derived from {score_col!r} with the cut points"
    df["_level"] = level
    by = ([group_col] if group_col else []) + [time_col]
    valid = df[df["_level"].notna()]
    counts = valid.groupby(by + ["_level"], observed=True).size().rename("n").reset_index()
    grid = valid[by].drop_duplicates().merge(pd.DataFrame({"_level": [1, 2, 3, 4]}), how="cross")
    lv = grid.merge(counts, on=by + ["_level"], how="left").rename(columns={"_level": "level"})
    lv["n"] = lv["n"].fillna(0).astype(int)
    lv["n_valid"] = lv.groupby(by, observed=True)["n"].transform("sum")
    lv["pct"] = 100 * lv["n"] / lv["n_valid"]
    lv["level"] = lv["level"].astype(int)
    times = list(pd.unique(df[time_col].astype(str)))
    t_order = {t: i for i, t in enumerate(times)}
    lv = lv.sort_values(by + ["level"], key=lambda s: s.astype(str).map(t_order) if s.name == time_col else s)
    lv = lv.reset_index(drop=True)

    if followups is None:
        followups = [t for t in times if t != str(baseline)]
    wide = df[df["_level"].notna()].pivot_table(
        index=[id_col] + ([group_col] if group_col else []), columns=time_col, values="_level", aggfunc="first"
    )
    wide.columns = [str(c) for c in wide.columns]
    wide = wide.reset_index()
    mv_rows = []
    for g, w in ([(None, wide)] if not group_col else list(wide.groupby(group_col, observed=True))):
        for fu in followups:
            if str(baseline) not in w.columns or str(fu) not in w.columns:
                continue
            pair = w[[str(baseline), str(fu)]].dropna().astype(float)
            d = (pair[str(fu)] - pair[str(baseline)]).to_numpy()
            n = len(d)
            mv_rows.append({
                "group": g, "timepoint": str(fu), "n_pairs": n,
                "n_up": int((d > 0).sum()), "pct_up": 100 * (d > 0).mean() if n else np.nan,
                "n_same": int((d == 0).sum()), "pct_same": 100 * (d == 0).mean() if n else np.nan,
                "n_down": int((d < 0).sum()), "pct_down": 100 * (d < 0).mean() if n else np.nan,
            })
    movement = pd.DataFrame(mv_rows)
    if not group_col and len(movement):
        movement = movement.drop(columns="group")
    score_change = None
    if has_score and df[score_col].notna().any():
        score_change = paired_change(
            df, score_col, id_col=id_col, time_col=time_col, baseline=baseline, followups=followups,
            group_col=group_col, value_label="activation score (0-100)",
        )
    return ActivationResult(lv, movement, score_change, tuple(float(c) for c in cut_points), source)
