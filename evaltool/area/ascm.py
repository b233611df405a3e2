"""Augmented synthetic control (ridge ASCM; Ben-Michael, Feller & Rothstein 2021, JASA 116:1789-1803).

Synthetic control's convex weights cannot reach an area that lies above (or below) every donor area before
go-live, so its estimate is biased there (``benchmarks/area``: +0.08 on the log scale). The augmented
estimator keeps the synthetic-control weights and removes the remaining pre-period imbalance with a ridge
regression of the outcomes on the pre-period outcomes, fitted on the donors::

    Y1(0)_t = sum_j w_j Y_jt + (m_t(X_1) - sum_j w_j m_t(X_j)),   m_t(x) = ridge fit of Y_.t on x

which is the same as re-weighting with ``w_aug = w_sc + (X_1 - X_0' w_sc)' (X_0 X_0' + lambda I)^-1 X_0``
(``X`` the pre-period outcomes, centred at the donors' mean in each period): weights that still add up to 1
but may be negative, i.e. they may extrapolate beyond the donors. This follows the authors' R package
``augsynth`` with ``progfunc = "Ridge", scm = TRUE``:

* synthetic-control weights on the simplex fitted to every pre-period outcome with equal importance;
* ``lambda`` by leave-one-period-out cross-validation of the augmented prediction over the pre-periods, on
  a grid of 21 values from ``s_1^2`` (the largest squared singular value of the centred ``X_0``) down to
  ``1e-8 s_1^2``, choosing the largest ``lambda`` whose mean error is within one standard error of the
  smallest (``min_1se``);
* ``fixed_effects=True`` (augsynth's ``fixedeff = TRUE``) first subtracts each area's own pre-period mean
  from all its periods, so a constant gap between the evaluated area and the donors is removed exactly (as in
  synthetic DiD) and the weights only have to match the shape of its path.

Checked against ``pysyncon.AugSynth`` (an independent implementation of augsynth's ridge ASCM) on
Proposition 99 in ``tests/test_area_ascm.py``.

Inference: in-space placebos as for the module's other comparison-area designs -- each donor in turn is
treated as if it had gone live (the other donors its pool, ``lambda`` chosen afresh), the spread of the
placebo estimates (their sample standard deviation) gives the standard error and the interval is ``t`` with
(donors - 1) degrees of freedom (or normal). On simulated area panels with 20 donors (``benchmarks/area``, 400
replications) this interval covers 94.75% with the evaluated area above every donor and 94.0% among them
with ``fixed_effects=True``; without the fixed effects 86.5% and 94.25% (the ridge correction reaches an
area outside the donors' range only partly). augsynth's own conformal and jackknife+ intervals are not
implemented.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from evaltool._result import ResultMixin, Summary
from evaltool.area.intervals import critical_and_p
from evaltool.area.synth import simplex_weights
from evaltool.errors import DataValidationError, EstimationError

__all__ = ["AugmentedSynthResult", "augmented_synthetic_control", "ridge_ascm_weights"]


def _lambda_grid(X0c: np.ndarray, min_ratio: float = 1e-8, n: int = 20) -> np.ndarray:
    s1 = float(np.linalg.svd(X0c, compute_uv=False)[0])
    scaler = min_ratio ** (1 / n)
    return s1 ** 2 * scaler ** (np.arange(0, n + 1) - 1.0)


def _ridge_maps(X0c: np.ndarray, lams: np.ndarray) -> np.ndarray:
    """``(X0 X0' + lam I)^-1 X0`` for each ``lam`` (shape ``lams x T0 x J``), through one SVD."""
    U, s, Vt = np.linalg.svd(X0c, full_matrices=False)
    d = s[None, :] / (s[None, :] ** 2 + lams[:, None])
    return np.einsum("tk,lk,kj->ltj", U, d, Vt)


def _cv_lambda(X1c: np.ndarray, X0c: np.ndarray, lams: np.ndarray) -> tuple[float, pd.DataFrame]:
    """Leave-one-pre-period-out cross-validation of the augmented prediction (augsynth's ``cv_lambda``)."""
    T0 = X0c.shape[0]
    errs = np.empty((T0 - 1, len(lams)))
    for i in range(T0 - 1):
        keep = np.arange(T0) != i
        A1, A0 = X1c[keep], X0c[keep]
        w = simplex_weights(A1, A0)
        maps = _ridge_maps(A0, lams)  # l x (T0-1) x J
        waug = w[None, :] + np.einsum("t,ltj->lj", A1 - A0 @ w, maps)
        errs[i] = (X1c[i] - waug @ X0c[i]) ** 2
    mean = errs.mean(axis=0)
    se = errs.std(axis=0, ddof=1) / np.sqrt(T0 - 1)
    best = float(lams[mean <= mean.min() + se[mean.argmin()]].max())
    return best, pd.DataFrame({"lambda": lams, "cv_error": mean, "cv_se": se})


def ridge_ascm_weights(X1: np.ndarray, X0: np.ndarray, lam: float | None = None
                       ) -> tuple[np.ndarray, np.ndarray, float, pd.DataFrame]:
    """Synthetic-control and ridge-augmented weights for one treated unit.

    Parameters
    ----------
    X1 : array (T0,)
        The treated unit's pre-period outcomes.
    X0 : array (T0, J)
        The donors' pre-period outcomes (one column per donor).
    lam : float, optional
        Ridge penalty; chosen by cross-validation when omitted.

    Returns
    -------
    w_sc, w_aug, lam, cv
        Simplex weights, augmented weights (summing to 1, possibly negative), the penalty used and the
        cross-validation table (empty when ``lam`` was given).

    Examples
    --------
    >>> X0 = np.array([[1., 2., 3.], [2., 3., 4.], [3., 4., 6.]])
    >>> X1 = np.array([4., 5., 7.])          # above every donor: outside their convex hull
    >>> w_sc, w_aug, lam, _ = ridge_ascm_weights(X1, X0, lam=0.1)
    >>> np.round(w_sc, 3).tolist(), round(float(w_aug.sum()), 6)
    ([0.0, 0.0, 1.0], 1.0)
    >>> bool(np.abs(X1 - X0 @ w_aug).sum() < np.abs(X1 - X0 @ w_sc).sum())
    True
    """
    X0 = np.asarray(X0, dtype=float)
    X1 = np.asarray(X1, dtype=float)
    m = X0.mean(axis=1)
    X0c, X1c = X0 - m[:, None], X1 - m
    cv = pd.DataFrame(columns=["lambda", "cv_error", "cv_se"])
    if lam is None:
        if X0.shape[0] < 3:
            raise EstimationError("augmented synthetic control needs at least 3 pre-periods to choose lambda")
        lam, cv = _cv_lambda(X1c, X0c, _lambda_grid(X0c))
    w = simplex_weights(X1c, X0c)
    waug = w + _ridge_maps(X0c, np.array([float(lam)]))[0].T @ (X1c - X0c @ w)
    return w, waug, float(lam), cv


def _fit(Y: np.ndarray, T0: int, lam: float | None, fixed_effects: bool
         ) -> tuple[np.ndarray, np.ndarray, float, pd.DataFrame, np.ndarray]:
    """Row 0 of ``Y`` (units x periods) treated, the rest donors: weights, lambda, cv and the gap series."""
    if fixed_effects:
        Y = Y - Y[:, :T0].mean(axis=1, keepdims=True)
    w, waug, lam_, cv = ridge_ascm_weights(Y[0, :T0], Y[1:, :T0].T, lam)
    gap = Y[0] - waug @ Y[1:]
    return w, waug, lam_, cv, gap


@dataclass(frozen=True)
class AugmentedSynthResult(ResultMixin):
    """A ridge-augmented synthetic control fit with in-space placebo inference.

    Attributes
    ----------
    estimate, std_error, ci_lower, ci_upper, p_value : float
        Average post-period gap (treated minus augmented synthetic), the placebo standard deviation, the
        interval (``t`` with ``df`` degrees of freedom, or normal) and its p-value.
    sc_estimate : float
        The plain synthetic-control estimate (the simplex weights alone); ``estimate - sc_estimate`` is the
        ridge correction of its bias.
    lam : float
        Ridge penalty (cross-validated unless given).
    weights : DataFrame
        ``area_id``, ``weight`` (augmented; may be negative), ``sc_weight`` (simplex).
    trajectory : DataFrame
        ``time``, ``observed``, ``synthetic`` (augmented counterfactual), ``gap``, ``post``.
    placebos : DataFrame
        ``area_id``, ``estimate``, ``pre_rmspe``, ``lambda`` for each donor treated as a placebo.
    cv : DataFrame
        ``lambda``, ``cv_error``, ``cv_se`` (cross-validation of the evaluated area's fit).
    """

    treated: Any
    estimate: float
    std_error: float
    ci_lower: float
    ci_upper: float
    p_value: float
    df: float
    sc_estimate: float
    lam: float
    fixed_effects: bool
    pre_rmspe: float
    sc_pre_rmspe: float
    weights: pd.DataFrame
    trajectory: pd.DataFrame
    placebos: pd.DataFrame
    cv: pd.DataFrame
    alpha: float = 0.05

    @property
    def se_method(self) -> str:
        return f"in-space placebos ({len(self.placebos)} donor areas)"

    def summary(self) -> Summary:
        lines = [("treated area", str(self.treated)),
                 ("average effect", f"{self.estimate:.4f} ({self.ci_lower:.4f} to {self.ci_upper:.4f})"),
                 ("standard error", f"{self.std_error:.4f} ({self.se_method})"),
                 ("synthetic control alone", f"{self.sc_estimate:.4f}"),
                 ("ridge lambda", f"{self.lam:.4g}"),
                 ("pre-period RMSPE (augmented / synthetic control)",
                  f"{self.pre_rmspe:.4f} / {self.sc_pre_rmspe:.4f}"),
                 ("area fixed effects", "yes" if self.fixed_effects else "no")]
        w = self.weights.reindex(self.weights["weight"].abs().sort_values(ascending=False).index).head(10)
        return Summary(title="Augmented synthetic control (ridge)", lines=tuple(lines),
                       tables=(("Largest weights", w.round(4)),))

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{"method": "ascm", "estimate": self.estimate, "std_error": self.std_error,
                              "ci_lower": self.ci_lower, "ci_upper": self.ci_upper, "p_value": self.p_value,
                              "sc_estimate": self.sc_estimate, "lambda": self.lam,
                              "pre_rmspe": self.pre_rmspe}])

    def to_dict(self) -> dict[str, Any]:
        return {"treated": str(self.treated), "estimate": self.estimate, "std_error": self.std_error,
                "ci_lower": self.ci_lower, "ci_upper": self.ci_upper, "p_value": self.p_value, "df": self.df,
                "sc_estimate": self.sc_estimate, "lambda": self.lam, "fixed_effects": self.fixed_effects,
                "pre_rmspe": self.pre_rmspe, "sc_pre_rmspe": self.sc_pre_rmspe,
                "weights": self.weights.to_dict(orient="records")}

    def plot(self) -> Any:
        from evaltool.area.plots import observed_vs_counterfactual_plot

        t = self.trajectory
        d = pd.concat([pd.DataFrame({"time": t["time"], "method": "Observed", "rate": t["observed"]}),
                       pd.DataFrame({"time": t["time"], "method": "Augmented synthetic control",
                                     "rate": t["synthetic"]})], ignore_index=True)
        return observed_vs_counterfactual_plot(d)


def augmented_synthetic_control(
    data: pd.DataFrame,
    outcome: str,
    unit: str,
    time: str,
    treated: Any,
    first_treated: Any,
    *,
    lam: float | None = None,
    fixed_effects: bool = False,
    placebos: bool = True,
    interval: Literal["t", "normal"] = "t",
    alpha: float = 0.05,
) -> AugmentedSynthResult:
    """Ridge-augmented synthetic control for one treated area (see the module docstring).

    Parameters
    ----------
    data:
        Long balanced panel (one row per area and period); never modified. Areas other than ``treated``
        are the donors.
    treated, first_treated:
        The treated area and its first treated period (a value of ``time``).
    lam:
        Ridge penalty; by default chosen by cross-validation (separately for every placebo fit).
    fixed_effects:
        Subtract each area's pre-period mean first (augsynth's ``fixedeff = TRUE``).
    interval:
        ``"t"``: t with (donors - 1) degrees of freedom; ``"normal"``.

    Examples
    --------
    >>> from evaltool.datasets.area_sim import simulate_area_panel
    >>> s = simulate_area_panel(n_donors=12, n_months=36, go_live_month=24, rate_ratio=0.9, edge=True, seed=1)
    >>> p = s.panel.assign(log_rate=lambda d: np.log(d["events"] / d["person_years"]))
    >>> go = sorted(p["month"].unique())[24]
    >>> r = augmented_synthetic_control(p, "log_rate", "area_id", "month", "T", go, fixed_effects=True)
    >>> round(r.estimate, 3), bool(r.ci_lower < np.log(0.9) < r.ci_upper), r.df
    (-0.092, True, 11.0)
    """
    miss = [c for c in (outcome, unit, time) if c not in data.columns]
    if miss:
        raise DataValidationError(f"`data` lacks column(s) {miss}")
    if interval not in ("t", "normal"):
        raise DataValidationError(f"`interval` must be 't' or 'normal', got {interval!r}")
    W = data.pivot(index=unit, columns=time, values=outcome).sort_index(axis=1).astype(float)
    if W.isna().any().any() or not np.isfinite(W.to_numpy()).all():
        raise DataValidationError(f"the panel is unbalanced or has missing or infinite `{outcome}`; augmented"
                                  " synthetic control needs every area in every period")
    if treated not in W.index:
        raise DataValidationError(f"treated area {treated!r} is not in `{unit}`")
    cols = pd.Index(W.columns)
    start = pd.Timestamp(first_treated) if pd.api.types.is_datetime64_any_dtype(cols) else first_treated
    T0 = int(cols.searchsorted(start, side="left"))
    if T0 < 3 or T0 >= len(cols):
        raise EstimationError(f"go-live {first_treated!r} leaves {T0} pre-period(s) and {len(cols) - T0}"
                              " post-period(s); augmented synthetic control needs at least 3 and 1")
    donors = [u for u in W.index if u != treated]
    if len(donors) < 3:
        raise EstimationError("augmented synthetic control needs at least 3 donor areas")
    Y = W.loc[[treated] + donors].to_numpy()
    w, waug, lam_, cv, gap = _fit(Y, T0, lam, fixed_effects)
    est = float(gap[T0:].mean())
    Yfe = Y - Y[:, :T0].mean(axis=1, keepdims=True) if fixed_effects else Y
    sc_gap = Yfe[0] - w @ Yfe[1:]
    rows = []
    if placebos:
        for j in range(1, len(Y)):
            order = [j] + [k for k in range(1, len(Y)) if k != j]
            _, _, lj, _, g = _fit(Y[order], T0, lam, fixed_effects)
            rows.append({"area_id": donors[j - 1], "estimate": float(g[T0:].mean()),
                         "pre_rmspe": float(np.sqrt(np.mean(g[:T0] ** 2))), "lambda": lj})
    pl = pd.DataFrame(rows, columns=["area_id", "estimate", "pre_rmspe", "lambda"])
    if len(pl) >= 2:
        # the sample standard deviation (ddof 1): with the t on (donors - 1) df this is the exact t interval
        # when the placebo estimates and the evaluated area's error share one normal distribution
        se = float(pl["estimate"].std(ddof=1))
    else:
        se = float("nan")
    dof = float(len(donors) - 1) if interval == "t" else float("inf")
    crit, p = critical_and_p(est, se, dof, alpha)
    times = np.asarray(cols)
    cf = Y[0] - gap
    traj = pd.DataFrame({"time": times, "observed": Y[0], "synthetic": cf, "gap": gap,
                         "post": np.arange(len(times)) >= T0})
    return AugmentedSynthResult(
        treated=treated, estimate=est, std_error=se, ci_lower=est - crit * se, ci_upper=est + crit * se,
        p_value=p, df=dof, sc_estimate=float(sc_gap[T0:].mean()), lam=lam_, fixed_effects=fixed_effects,
        pre_rmspe=float(np.sqrt(np.mean(gap[:T0] ** 2))), sc_pre_rmspe=float(np.sqrt(np.mean(sc_gap[:T0] ** 2))),
        weights=pd.DataFrame({"area_id": donors, "weight": waug, "sc_weight": w}), trajectory=traj,
        placebos=pl, cv=cv, alpha=alpha)
