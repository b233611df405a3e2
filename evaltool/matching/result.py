"""Results of :func:`evaltool.matching.match` and :func:`evaltool.matching.risk_set_match`."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from evaltool._result import ResultMixin, Summary

from .balance import balance_table, love_plot, ps_distribution_plot
from .trajectory import trajectory_balance_plot
from .weights import ess

__all__ = ["MatchResult", "RiskSetMatchResult"]


@dataclass(frozen=True, repr=False)
class MatchResult(ResultMixin):
    """What a match did and what it produced (immutable).

    Attributes
    ----------
    method, distance_name, estimand, ratio, replace, order : what was asked.
    caliper : the caliper as given (SD units when ``std_caliper``), ``caliper_abs`` on the distance scale.
    exact : exact-matching columns.
    weights, subclass, distance, treat : one value per row of the data (``subclass`` -1 = unmatched).
    unmatched : reason -> number of treated units left unmatched.
    balance_frame : before/after balance table (see :func:`evaltool.matching.balance.balance_table`),
        computed lazily from ``_balance_X`` (the covariates as shown in the table).
    ps_coefficients : propensity model coefficients (name -> value), when a PS was fitted.
    discarded : rows excluded before matching (missing covariates) as reason -> count.
    match_matrix : nearest-neighbour matching: (treated units x ratio) row positions of their controls in
        the data (-1 = none), as MatchIt's ``match.matrix``; read through :meth:`get_matches`.
    """

    method: str
    distance_name: str
    estimand: str
    ratio: int
    replace: bool
    order: str | None
    caliper: float | None
    std_caliper: bool
    caliper_abs: float | None
    exact: tuple[str, ...]
    covariates: tuple[str, ...]
    treatment: str
    weights: np.ndarray
    subclass: np.ndarray
    distance: np.ndarray | None
    treat: np.ndarray
    unmatched: dict[str, int]
    _balance_X: pd.DataFrame
    ps_coefficients: dict[str, float] = field(default_factory=dict)
    discarded: dict[str, int] = field(default_factory=dict)
    _data: pd.DataFrame | None = None
    match_matrix: np.ndarray | None = None

    @cached_property
    def balance_frame(self) -> pd.DataFrame:
        """Before/after balance table, computed on first use (as MatchIt's ``summary()``)."""
        return balance_table(self._balance_X, self.treat, self.weights)

    # --- counts -------------------------------------------------------------------------------
    @property
    def n_treated(self) -> int:
        return int(self.treat.sum())

    @property
    def n_control(self) -> int:
        return int((~self.treat).sum())

    @property
    def n_treated_matched(self) -> int:
        return int((self.treat & (self.weights > 0)).sum())

    @property
    def n_control_matched(self) -> int:
        return int((~self.treat & (self.weights > 0)).sum())

    @property
    def ess_control(self) -> float:
        return ess(self.weights[~self.treat])

    @property
    def max_abs_smd_after(self) -> float:
        return float(self.balance_frame["smd_after"].abs().max())

    def describe(self) -> str:
        """One sentence saying what was done."""
        how = f"{self.ratio}:1 nearest neighbour" if self.method == "nearest" else {
            "exact": "exact", "cem": "coarsened exact",
            "subclass": f"{len(np.unique(self.subclass[self.subclass >= 0]))}-subclass"}.get(self.method, self.method)
        if self.method == "subclass":
            return f"subclassification ({how}) on {self.distance_name}; estimand {self.estimand}"
        rep = " with replacement" if self.replace else (" without replacement" if self.method == "nearest" else "")
        cal = ""
        if self.caliper is not None:
            unit = " SD of the distance" if self.std_caliper else ""
            cal = f", caliper {self.caliper:g}{unit} (= {self.caliper_abs:.4g})"
        ex = f", exact on {', '.join(self.exact)}" if self.exact else ""
        order = f", {self.order} first" if self.method == "nearest" and self.order else ""
        return f"{how} matching{rep} on {self.distance_name}{cal}{ex}{order}; estimand {self.estimand}"

    # --- views --------------------------------------------------------------------------------
    def balance(self) -> pd.DataFrame:
        """Before/after balance table (copy)."""
        return self.balance_frame.copy()

    def matched_data(self) -> pd.DataFrame:
        """The matched rows of the data with ``weights``, ``subclass`` and ``distance`` columns added.

        Examples
        --------
        >>> import evaltool.matching as m  # doctest: +SKIP
        """
        if self._data is None:
            raise ValueError("this result was built without data")
        out = self._data.copy()
        out["weights"] = self.weights
        out["subclass"] = self.subclass
        out["distance"] = self.distance if self.distance is not None else np.nan
        return out.loc[self.weights > 0].copy()

    def get_matches(self, id: str = "id") -> pd.DataFrame:
        """One row per unit per matched set, as MatchIt's ``get_matches()``: with replacement a control
        appears once for every treated unit it is matched to. Columns: the data's columns, ``id`` (the
        row label; named by ``id``), ``subclass`` (the set: 1, 2, ... in the order of the treated units), ``weights``
        (1 for the treated unit, 1 / number of its controls for each control) and ``distance``.

        Examples
        --------
        >>> import evaltool.matching as m  # doctest: +SKIP
        >>> m.match(d, "treat", ["x"], replace=True).get_matches().groupby("subclass").size()  # doctest: +SKIP
        """
        if self.match_matrix is None or self._data is None:
            raise ValueError("get_matches() is available for nearest-neighbour matching")
        if id in self._data.columns:
            raise ValueError(f"`id`: the data already have a column {id!r}; pass another name, e.g. id='match_id'")
        idx1 = np.flatnonzero(self.treat)
        mm = self.match_matrix
        rows_pos, sets, wts = [], [], []
        k = 0
        for i, row in zip(idx1, mm):
            ctrl = row[row >= 0]
            if ctrl.size == 0:
                continue
            k += 1
            rows_pos += [int(i), *ctrl.tolist()]
            sets += [k] * (1 + ctrl.size)
            wts += [1.0] + [1.0 / ctrl.size] * ctrl.size
        out = self._data.iloc[rows_pos].copy()
        out.insert(0, id, self._data.index[rows_pos])
        out["subclass"] = sets
        out["weights"] = wts
        out["distance"] = self.distance[rows_pos] if self.distance is not None else np.nan
        return out.reset_index(drop=True)

    def summary(self) -> Summary:
        lines = [
            ("method", self.describe()),
            ("treated", f"{self.n_treated} ({self.n_treated_matched} matched)"),
            ("controls", f"{self.n_control} ({self.n_control_matched} matched, ESS {self.ess_control:.1f})"),
            ("unmatched treated", ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in self.unmatched.items()) or "none"),
            ("max |SMD| after", f"{self.max_abs_smd_after:.3f} (SD of treated, unmatched sample)"),
        ]
        if self.discarded:
            lines.append(("excluded before matching", ", ".join(f"{k}: {v}" for k, v in self.discarded.items())))
        tab = self.balance_frame[["covariate", "mean_treated", "mean_control_before", "mean_control_after",
                                  "smd_before", "smd_after", "var_ratio_after", "ecdf_max_after"]].round(4)
        return Summary(title="Matching", lines=tuple(lines), tables=(("Balance", tab),))

    def to_frame(self) -> pd.DataFrame:
        return self.balance()

    def plot(self, kind: str = "love"):
        """``kind='love'`` (SMD before/after) or ``'distance'`` (propensity score distribution)."""
        if kind == "love":
            return love_plot(self.balance_frame)
        if kind == "distance":
            if self.distance is None:
                raise ValueError("no scalar distance to plot for this method")
            return ps_distribution_plot(self.distance, self.treat, self.weights, self.distance_name)
        raise ValueError(f"`kind`: expected 'love' or 'distance', got {kind!r}")

    def to_dict(self) -> dict[str, Any]:
        bt = self.balance_frame.replace({np.nan: None})
        return {
            "method": self.method, "distance": self.distance_name, "estimand": self.estimand,
            "ratio": self.ratio, "replace": self.replace, "order": self.order,
            "caliper": self.caliper, "std_caliper": self.std_caliper, "caliper_abs": self.caliper_abs,
            "exact": list(self.exact), "covariates": list(self.covariates),
            "n_treated": self.n_treated, "n_control": self.n_control,
            "n_treated_matched": self.n_treated_matched, "n_control_matched": self.n_control_matched,
            "ess_control": self.ess_control, "unmatched": dict(self.unmatched),
            "discarded": dict(self.discarded), "max_abs_smd_after": self.max_abs_smd_after,
            "ps_coefficients": dict(self.ps_coefficients),
            "balance": bt.to_dict(orient="records"),
        }


@dataclass(frozen=True, repr=False)
class RiskSetMatchResult(ResultMixin):
    """Result of :func:`risk_set_match`.

    ``matched_cohort`` is patient-level (in memory only; never in ``to_dict``).
    """

    config: dict[str, Any]
    balance_frame: pd.DataFrame
    matched_cohort: pd.DataFrame
    n_treated: int
    n_treated_matched: int
    unmatched: dict[str, int]
    n_controls: int
    n_candidates: int
    crossovers: int
    ess_control: float
    periods: pd.DataFrame
    excluded: dict[str, int] = field(default_factory=dict)
    trajectory_frame: pd.DataFrame = field(default_factory=pd.DataFrame)
    _distance: pd.DataFrame | None = None

    @property
    def max_abs_smd_after(self) -> float:
        return float(self.balance_frame["smd_after"].abs().max())

    def balance(self) -> pd.DataFrame:
        return self.balance_frame.copy()

    def matched_data(self) -> pd.DataFrame:
        return self.matched_cohort.copy()

    def trajectory_balance(self) -> pd.DataFrame:
        """Balance of each profiled outcome in every pre-period month (empty without ``trajectory``)."""
        return self.trajectory_frame.copy()

    @property
    def max_abs_smd_trajectory(self) -> float | None:
        """Largest |SMD| after matching over profiled outcomes and pre-period months (None without a profile)."""
        t = self.trajectory_frame
        return None if t.empty else float(t["smd_after"].abs().max())

    def summary(self) -> Summary:
        c = self.config
        cal = f", caliper {c['caliper']} SD" if c.get("caliper") else ""
        lines = (
            ("method", f"risk-set {c['ratio']}:1 {c['method']} matching on {c['distance']} per enrolment month"
                       f"{cal}, exact on {', '.join(c['exact']) or 'nothing'}; follow-up policy '{c['followup']}'"),
            ("treated", f"{self.n_treated} ({self.n_treated_matched} matched)"),
            ("unmatched treated", ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in self.unmatched.items()) or "none"),
            ("controls", f"{self.n_controls} matched (ESS {self.ess_control:.1f}) from {self.n_candidates} "
                         "candidate person-periods"),
            ("crossovers", f"{self.crossovers} matched controls were enrolled later"),
            ("max |SMD| after", f"{self.max_abs_smd_after:.3f} (SD of treated, unmatched sample)"),
        )
        if self.max_abs_smd_trajectory is not None:
            lines += (("trajectory", f"profile of {', '.join(c['trajectory'])} over {c['trajectory_months']} months "
                                     f"({c['trajectory_match']}); max |SMD| in any pre-period month "
                                     f"{self.max_abs_smd_trajectory:.3f}"),)
        tab = self.balance_frame[["covariate", "mean_treated", "mean_control_before", "mean_control_after",
                                  "smd_before", "smd_after"]].round(3)
        return Summary(title="Risk-set matching", lines=lines, tables=(("Balance", tab),))

    def to_frame(self) -> pd.DataFrame:
        return self.balance()

    def plot(self, kind: str = "love"):
        if kind == "love":
            return love_plot(self.balance_frame)
        if kind == "trajectory":
            if self.trajectory_frame.empty:
                raise ValueError("no trajectory balance: match with `trajectory=[...]`")
            return trajectory_balance_plot(self.trajectory_frame)
        if kind == "distance":
            d = self._distance
            return ps_distribution_plot(d["distance"].to_numpy(), d["treated"].to_numpy(), d["weights"].to_numpy())
        raise ValueError(f"`kind`: expected 'love', 'trajectory' or 'distance', got {kind!r}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config, "n_treated": self.n_treated, "n_treated_matched": self.n_treated_matched,
            "unmatched": dict(self.unmatched), "n_controls": self.n_controls, "n_candidates": self.n_candidates,
            "crossovers": self.crossovers, "ess_control": self.ess_control, "excluded": dict(self.excluded),
            "max_abs_smd_after": self.max_abs_smd_after,
            "balance": self.balance_frame.replace({np.nan: None}).to_dict(orient="records"),
            "periods": self.periods.to_dict(orient="records"),
            "trajectory_balance": self.trajectory_frame.replace({np.nan: None}).to_dict(orient="records"),
        }
