"""Cost-consequence building blocks: matched-set totals of activity and the DiD per person-year.

For each matched set, arm (enrolled ``T`` / controls ``C``), period (``0`` = the months before
the index date, ``1`` = after) and group (everyone and each subgroup level) the panel is
reduced to weighted person-years ``E`` and weighted activity totals ``Y`` per outcome. The
change in activity per enrolled person-year is then

* ``ratio`` (default, the Poisson DiD's assumption of parallel trends on the log scale):
  counterfactual rate ``rT0 x rC1 / rC0``;
* ``difference``: counterfactual rate ``rT0 + (rC1 - rC0)``;

minus the enrolled patients' observed rate after enrolment ``rT1``. It is the same quantity as
the effects section's "difference per 1,000 person-years" (observed minus counterfactual events
per person-year of enrolled follow-up), estimated from totals instead of a fitted model, so that
the bootstrap can resample matched sets without refitting.

Examples
--------
>>> import pandas as pd
>>> persons = pd.DataFrame({"unit_id": [0, 1], "treated": [1, 0], "weights": [1.0, 1.0],
...     "entry_day": [-365, -365], "exit_day": [366, 366], "subclass": ["s1", "s1"]})
>>> events = pd.DataFrame({"unit_id": [0, 0, 1, 1], "period": [-3, 2, -3, 2],
...     "emergency_admission": [2.0, 1.0, 2.0, 2.0]})
>>> st = set_statistics(persons, events, ["emergency_admission"], pre_months=12, post_months=12)
>>> d = did_rates(st.values.sum(axis=0)[None, :], st.index, "all", "emergency_admission")
>>> round(float(d["delta"][0]), 1)
-1.0
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from evaltool.errors import DataValidationError, EstimationError

__all__ = ["SetStatistics", "did_rates", "period_day", "set_statistics"]

YEAR_DAYS = 365.25


def period_day(k: int) -> int:
    """First day offset of relative month ``k`` (the effects panels' convention: ``ceil(k x 365.25 / 12)``).

    Examples
    --------
    >>> period_day(-12), period_day(12)
    (-365, 366)
    """
    return int(np.ceil(k * YEAR_DAYS / 12))


@dataclass(frozen=True)
class SetStatistics:
    """Per-set sufficient statistics: ``values[s, index[name]]`` summed over set ``s``'s members.

    Names are tuples ``(group, arm, period, quantity)`` with ``quantity`` ``"E"`` (weighted
    person-years) or an outcome name (weighted total), plus ``(group, arm, period, "n")``
    (members, unweighted).
    """

    set_ids: np.ndarray
    names: tuple[tuple, ...]
    values: np.ndarray
    groups: tuple[str, ...]
    outcomes: tuple[str, ...]

    @property
    def index(self) -> dict[tuple, int]:
        return {n: i for i, n in enumerate(self.names)}

    def extend(self, names: Sequence[tuple], values: np.ndarray) -> SetStatistics:
        """Add columns (rows must follow ``set_ids``)."""
        return SetStatistics(self.set_ids, self.names + tuple(names), np.column_stack([self.values, values]),
                             self.groups, self.outcomes)


def _group_masks(persons: pd.DataFrame, subgroups: Sequence[str]) -> dict[str, np.ndarray]:
    masks = {"all": np.ones(len(persons), dtype=bool)}
    for g in subgroups:
        if g not in persons.columns:
            raise DataValidationError(f"subgroup column `{g}` is not in the outcome panel's persons")
        lev = persons[g].astype(object).where(persons[g].notna(), "missing").astype(str)
        for v in sorted(lev.unique()):
            masks[str(v)] = (lev == v).to_numpy()
    return masks


def set_statistics(persons: pd.DataFrame, events: pd.DataFrame, outcomes: Sequence[str], *, pre_months: int,
                   post_months: int, cluster: str | None = "subclass", subgroups: Sequence[str] = (),
                   value_scale: dict[str, float] | None = None) -> SetStatistics:
    """Reduce an outcome panel to per-set weighted person-years and activity totals.

    Parameters
    ----------
    persons, events:
        The effects stage's outcome panel (:class:`evaltool.effects.panels.OutcomePanel`
        ``persons``/``events``): ``unit_id, treated, weights, entry_day, exit_day`` and the
        cluster/subgroup columns; events ``unit_id, period`` and one column per outcome.
    outcomes:
        Outcome columns to total.
    pre_months, post_months:
        The panel's window around the index date.
    cluster:
        Column defining the resampled sets (the matched set, ``subclass``); ``None``: each unit.
    subgroups:
        Person columns whose levels get their own totals (besides ``"all"``).
    value_scale:
        Multiply an outcome's totals (e.g. the data's costs by an inflation factor).
    """
    need = ["unit_id", "treated", "weights", "entry_day", "exit_day"] + ([cluster] if cluster else [])
    miss = [c for c in need if c not in persons.columns]
    if miss:
        raise DataValidationError(f"the outcome panel's persons lack columns {miss}")
    bad = [o for o in outcomes if o not in events.columns]
    if bad:
        raise DataValidationError(f"outcomes {bad} are not in the outcome panel (add them to `effects.outcomes`)")
    lo, hi = period_day(-pre_months), period_day(post_months)
    entry = persons["entry_day"].to_numpy(dtype=float)
    exit_ = persons["exit_day"].to_numpy(dtype=float)
    e0 = np.clip(np.minimum(exit_, 0) - np.maximum(entry, lo), 0, None) / YEAR_DAYS
    e1 = np.clip(np.minimum(exit_, hi) - np.maximum(entry, 0), 0, None) / YEAR_DAYS
    w = persons["weights"].to_numpy(dtype=float)
    pos = pd.Index(persons["unit_id"]).get_indexer(events["unit_id"])
    ok = pos >= 0
    post = events["period"].to_numpy() >= 0
    y: dict[tuple[str, int], np.ndarray] = {}
    for o in outcomes:
        v = events[o].to_numpy(dtype=float) * (value_scale or {}).get(o, 1.0)
        for p, m in ((0, ok & ~post), (1, ok & post)):
            y[(o, p)] = np.bincount(pos[m], weights=v[m], minlength=len(persons))
    if cluster:
        codes, set_ids = pd.factorize(persons[cluster].astype(str), sort=True)
    else:
        codes, set_ids = np.arange(len(persons)), persons["unit_id"].to_numpy()
    n_sets = len(set_ids)
    treated = persons["treated"].to_numpy().astype(int) == 1
    names: list[tuple] = []
    cols: list[np.ndarray] = []
    masks = _group_masks(persons, subgroups)
    for g, gm in masks.items():
        for arm, am in (("T", treated), ("C", ~treated)):
            m = gm & am
            for p, e in ((0, e0), (1, e1)):
                names.append((g, arm, p, "E"))
                cols.append(np.bincount(codes[m], weights=(w * e)[m], minlength=n_sets))
                for o in outcomes:
                    names.append((g, arm, p, o))
                    cols.append(np.bincount(codes[m], weights=(w * y[(o, p)])[m], minlength=n_sets))
            names.append((g, arm, 0, "n"))
            cols.append(np.bincount(codes[m], minlength=n_sets).astype(float))
    return SetStatistics(np.asarray(set_ids), tuple(names), np.column_stack(cols), tuple(masks), tuple(outcomes))


def did_rates(totals: np.ndarray, index: dict[tuple, int], group: str, outcome: str,
              scale: str = "ratio") -> dict[str, np.ndarray]:
    """Rates per person-year and the DiD change per enrolled person-year, vectorised over rows of totals.

    Returns ``rT0, rT1, rC0, rC1, counterfactual, delta`` (``rT1 - counterfactual``) and
    ``rate_ratio`` (``rT1 / counterfactual``); NaN where a denominator is zero.
    """
    t = np.atleast_2d(totals)

    def col(arm: str, p: int, q: str) -> np.ndarray:
        key = (group, arm, p, q)
        if key not in index:
            raise EstimationError(f"no totals for group {group!r}, outcome {q!r}")
        return t[:, index[key]]

    with np.errstate(divide="ignore", invalid="ignore"):
        r = {f"r{arm}{p}": np.where(col(arm, p, "E") > 0, col(arm, p, outcome) / col(arm, p, "E"), np.nan)
             for arm in ("T", "C") for p in (0, 1)}
        if scale == "ratio":
            cf = np.where(r["rC0"] > 0, r["rT0"] * r["rC1"] / r["rC0"], np.nan)
        elif scale == "difference":
            cf = r["rT0"] + (r["rC1"] - r["rC0"])
        else:
            raise ValueError(f"`scale` must be 'ratio' or 'difference'; found {scale!r}")
        r["counterfactual"] = cf
        r["delta"] = r["rT1"] - cf
        r["rate_ratio"] = np.where(cf > 0, r["rT1"] / cf, np.nan)
    return r
