"""Synthetic difference-in-differences (Arkhangelsky et al. 2021), with synthetic control and DiD as special cases.

Algorithm 1 of Arkhangelsky, Athey, Hirshberg, Imbens & Wager (AER 2021), with the conventions of the
authors' R package ``synthdid`` so that published numbers reproduce:

* noise level ``sigma`` = standard deviation of first differences of the control units' pre-period outcomes;
* unit weights ``omega``: ``min ||A w - b||^2 / T0 + zeta_w^2 ||w||^2`` on the simplex, ``A`` the controls'
  pre-period outcomes (demeaned over time: an intercept), ``b`` the treated units' mean, ``zeta_w =
  (N1 T1)^(1/4) sigma``;
* time weights ``lambda``: the same with pre-periods as the "units", ``b`` each control's post-period mean,
  ``zeta_l = 1e-6 sigma``;
* solved by Frank-Wolfe with exact line search, stopping when the penalised loss falls by less than
  ``(1e-5 sigma)^2``; a first round of at most 100 iterations, then weights at or below a quarter of the
  largest set to zero and a second round from there (the package's sparsification);
* ``tau = (-omega, 1/N1)' Y (-lambda, 1/T1)``.

``method="sc"`` is synthetic control in the same framework (no time weights, no intercept, ``zeta = 1e-6
sigma``); ``method="did"`` uses uniform weights (plain difference-in-differences).

Variance: ``placebo`` (Algorithm 4: controls re-assigned as treated, the estimator re-run; every assignment is
enumerated when there are no more than ``replications`` of them, which makes one-treated-unit results exact),
``jackknife`` (Algorithm 3, fixed weights; needs at least two treated units) or ``none``.

Staggered adoption: each adoption cohort is estimated against the never-treated units and the cohort
estimates are averaged with weights ``N1 x T1`` (treated cells), as in Clarke et al.'s ``sdid``; the placebo
variance then re-assigns never-treated units to the same cohort structure.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from evaltool._result import ResultMixin, Summary
from evaltool.area.frank_wolfe import frank_wolfe, sparsify
from evaltool.area.intervals import critical_and_p
from evaltool.errors import DataValidationError, EstimationError

__all__ = ["SynthDidResult", "synthdid", "synthdid_matrix"]

Method = Literal["sdid", "sc", "did"]
_LABELS = {"sdid": "Synthetic difference-in-differences", "sc": "Synthetic control",
           "did": "Difference-in-differences"}


# ---------------------------------------------------------------------------------------------
# estimator (weights by batched Frank-Wolfe: evaltool.area.frank_wolfe)


@dataclass(frozen=True)
class _Fit:
    tau: float
    omega: np.ndarray
    lam: np.ndarray


def _noise(Y: np.ndarray, N0: int, T0: int) -> float:
    """The noise level: SD of first differences of the controls' pre-period outcomes."""
    return float(np.std(np.diff(Y[:N0, :T0], axis=1), ddof=1)) if T0 > 1 else 0.0


def _estimate_many(Ys: np.ndarray, N0: int, T0: int, method: Method, sigma: float | None = None,
                   eta_omega: float | None = None) -> list[_Fit]:
    """Estimates for a batch of ``(B, N, T)`` outcome matrices sharing ``N0``, ``T0`` and the regularisation.

    Placebo re-fits keep the regularisation (``sigma``, ``eta_omega``) of the original fit, as the package does.
    """
    Ys = np.asarray(Ys, dtype=float)
    B, N, T = Ys.shape
    N1, T1 = N - N0, T - T0
    if method == "did":
        omega, lam = np.full((B, N0), 1 / N0), np.full((B, T0), 1 / T0)
    else:
        sigma = _noise(Ys[0], N0, T0) if sigma is None else sigma
        min_dec = 1e-5 * sigma
        Yc = np.empty((B, N0 + 1, T0 + 1))
        Yc[:, :N0, :T0] = Ys[:, :N0, :T0]
        Yc[:, :N0, T0] = Ys[:, :N0, T0:].mean(axis=2)
        Yc[:, N0, :T0] = Ys[:, N0:, :T0].mean(axis=1)
        Yc[:, N0, T0] = Ys[:, N0:, T0:].mean(axis=(1, 2))
        if method == "sdid":
            zl = 1e-6 * sigma
            A_l, b_l = Yc[:, :N0, :T0], Yc[:, :N0, T0]
            lam = frank_wolfe(A_l, b_l, zl, np.full((B, T0), 1 / T0), min_dec, 100, True)
            lam = frank_wolfe(A_l, b_l, zl, sparsify(lam), min_dec, 10_000, True)
            zw = ((N1 * T1) ** 0.25 if eta_omega is None else eta_omega) * sigma
            intercept = True
        else:  # sc
            lam = np.zeros((B, T0))
            zw = 1e-6 * sigma
            intercept = False
        A = Yc[:, :N0, :T0].transpose(0, 2, 1)
        b = Yc[:, N0, :T0]
        omega = frank_wolfe(A, b, zw, np.full((B, N0), 1 / N0), min_dec, 100, intercept)
        omega = frank_wolfe(A, b, zw, sparsify(omega), min_dec, 10_000, intercept)
    return [_tau(Ys[j], omega[j], lam[j], N0, T0) for j in range(B)]


def _tau(Y: np.ndarray, omega: np.ndarray, lam: np.ndarray, N0: int, T0: int) -> _Fit:
    N, T = Y.shape
    wv = np.r_[-omega, np.full(N - N0, 1 / (N - N0))]
    lv = np.r_[-lam, np.full(T - T0, 1 / (T - T0))]
    return _Fit(float(wv @ Y @ lv), omega, lam)


def _estimate(Y: np.ndarray, N0: int, T0: int, method: Method, fixed: tuple[np.ndarray, np.ndarray] | None = None,
              sigma: float | None = None, eta_omega: float | None = None) -> _Fit:
    if fixed is not None:
        return _tau(Y, fixed[0], fixed[1], N0, T0)
    return _estimate_many(Y[None], N0, T0, method, sigma, eta_omega)[0]


def synthdid_matrix(Y: np.ndarray, N0: int, T0: int, method: Method = "sdid") -> float:
    """The point estimate for an ``N x T`` outcome matrix, controls in rows ``:N0``, pre-periods in ``:T0``.

    Examples
    --------
    >>> Y = np.array([[1., 2, 3, 4], [2, 3, 4, 5], [3, 4, 5, 9]])
    >>> round(synthdid_matrix(Y, 2, 3, "did"), 6)
    3.0
    """
    Y = np.asarray(Y, dtype=float)
    if not (0 < N0 < Y.shape[0] and 0 < T0 < Y.shape[1]):
        raise DataValidationError(f"need 0 < N0 < {Y.shape[0]} and 0 < T0 < {Y.shape[1]}, got N0={N0}, T0={T0}")
    return _estimate(Y, N0, T0, method).tau


# ---------------------------------------------------------------------------------------------
# result


@dataclass(frozen=True)
class SynthDidResult(ResultMixin):
    """A synthetic DiD / synthetic control / DiD estimate for one or more treated units.

    Attributes
    ----------
    estimate, std_error, ci_lower, ci_upper, p_value : float
        Average effect on the treated cells (outcome units), its standard error and normal interval.
    unit_weights : DataFrame
        ``unit``, ``weight`` (and ``cohort`` when adoption is staggered).
    time_weights : DataFrame
        ``time``, ``weight`` (pre-periods).
    trajectory : DataFrame
        ``time``, ``observed`` (treated mean), ``counterfactual``, ``gap``, ``post``.
    placebo : DataFrame
        The placebo estimates (``assignment``, ``estimate``) used for the standard error.
    df : float
        Degrees of freedom of the t interval (``inf``: normal).
    """

    method: str
    estimate: float
    std_error: float
    ci_lower: float
    ci_upper: float
    p_value: float
    se_method: str
    unit_weights: pd.DataFrame
    time_weights: pd.DataFrame
    trajectory: pd.DataFrame
    placebo: pd.DataFrame
    n_treated: int
    n_controls: int
    n_pre: int
    n_post: int
    pre_rmspe: float
    cohorts: pd.DataFrame = field(default_factory=pd.DataFrame)
    alpha: float = 0.05
    df: float = float("inf")

    def summary(self) -> Summary:
        lines = [("method", _LABELS.get(self.method, self.method)),
                 ("estimate", f"{self.estimate:.3f} ({self.ci_lower:.3f} to {self.ci_upper:.3f})"),
                 ("standard error", f"{self.std_error:.3f} ({self.se_method})"),
                 ("treated / control units", f"{self.n_treated} / {self.n_controls}"),
                 ("pre / post periods", f"{self.n_pre} / {self.n_post}"),
                 ("pre-period RMSPE", f"{self.pre_rmspe:.3f}")]
        w = self.unit_weights.sort_values("weight", ascending=False).head(10)
        return Summary(title=_LABELS.get(self.method, self.method), lines=tuple(lines),
                       tables=(("Largest unit weights", w.round(4)),))

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{"method": self.method, "estimate": self.estimate, "std_error": self.std_error,
                              "ci_lower": self.ci_lower, "ci_upper": self.ci_upper, "p_value": self.p_value,
                              "se_method": self.se_method, "n_treated": self.n_treated,
                              "n_controls": self.n_controls, "pre_rmspe": self.pre_rmspe}])

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "estimate": self.estimate, "std_error": self.std_error,
                "ci_lower": self.ci_lower, "ci_upper": self.ci_upper, "p_value": self.p_value,
                "se_method": self.se_method, "n_treated": self.n_treated, "n_controls": self.n_controls,
                "n_pre": self.n_pre, "n_post": self.n_post, "pre_rmspe": self.pre_rmspe,
                "unit_weights": self.unit_weights.to_dict(orient="records"),
                "time_weights": self.time_weights.to_dict(orient="records")}

    def plot(self) -> Any:
        from evaltool.area.plots import observed_vs_counterfactual_plot

        t = self.trajectory
        d = pd.concat([pd.DataFrame({"time": t["time"], "method": "Observed", "rate": t["observed"]}),
                       pd.DataFrame({"time": t["time"], "method": _LABELS.get(self.method, self.method),
                                     "rate": t["counterfactual"]})], ignore_index=True)
        return observed_vs_counterfactual_plot(d)


# ---------------------------------------------------------------------------------------------
# front door


def _wide(data: pd.DataFrame, outcome: str, unit: str, time: str) -> pd.DataFrame:
    miss = [c for c in (outcome, unit, time) if c not in data.columns]
    if miss:
        raise DataValidationError(f"`data` lacks column(s) {miss} (found: {list(data.columns)})")
    dup = data.duplicated([unit, time])
    if dup.any():
        raise DataValidationError(f"`data` has {int(dup.sum())} repeated ({unit}, {time}) rows; one row per unit"
                                  " and period is needed")
    W = data.pivot(index=unit, columns=time, values=outcome).sort_index(axis=1)
    if W.isna().any().any():
        bad = W.index[W.isna().any(axis=1)].tolist()
        raise DataValidationError(f"the panel is unbalanced or has missing `{outcome}`: units {bad[:10]} lack some"
                                  " periods (synthetic DiD needs every unit in every period)")
    return W.astype(float)


def synthdid(
    data: pd.DataFrame,
    outcome: str,
    unit: str,
    time: str,
    first_treated: dict[Any, Any] | pd.Series,
    *,
    method: Method = "sdid",
    se: Literal["placebo", "jackknife", "none"] = "placebo",
    replications: int = 200,
    seed: int = 0,
    alpha: float = 0.05,
    interval: Literal["normal", "t"] = "normal",
) -> SynthDidResult:
    """Estimate the average effect on treated areas by synthetic DiD, synthetic control or DiD.

    Parameters
    ----------
    data:
        Long balanced panel: one row per unit and period (never modified).
    outcome, unit, time:
        Column names (outcome numeric, e.g. a rate per 1,000 person-years).
    first_treated:
        Mapping ``unit -> first treated period`` (a value of ``time``) for the treated units; every other
        unit is a never-treated control. Several adoption periods = staggered adoption.
    method:
        ``"sdid"``, ``"sc"`` or ``"did"``.
    se:
        ``"placebo"`` (default; works with one treated unit), ``"jackknife"`` (two or more treated units in
        every cohort) or ``"none"``.
    replications, seed:
        Placebo draws and their seed; when the number of distinct placebo assignments is at most
        ``replications`` all are used (exact).
    interval:
        ``"normal"`` (the package's) or ``"t"``: t critical values with (control units - 1) degrees of freedom
        for the placebo variance (jackknife: replicates - 1), allowing for a standard error estimated from few
        areas.

    Examples
    --------
    >>> import pandas as pd  # doctest: +SKIP
    >>> d = pd.read_csv("tests/data/california_prop99.csv", sep=";")  # doctest: +SKIP
    >>> r = synthdid(d, "PacksPerCapita", "State", "Year", {"California": 1989})  # doctest: +SKIP
    >>> round(r.estimate, 1)  # doctest: +SKIP
    -15.6
    """
    if method not in _LABELS:
        raise DataValidationError(f"`method` must be 'sdid', 'sc' or 'did', got {method!r}")
    W = _wide(data, outcome, unit, time)
    ft = pd.Series(first_treated, dtype=object)
    unknown = [u for u in ft.index if u not in W.index]
    if unknown:
        raise DataValidationError(f"`first_treated` names units not in `{unit}`: {unknown[:10]}")
    if ft.empty:
        raise DataValidationError("`first_treated` is empty: name at least one treated unit")
    times = list(W.columns)
    start = {}
    for u, t0 in ft.items():
        # the first period at or after the go-live time
        idx = int(np.searchsorted(np.asarray(times), t0, side="left"))
        if idx <= 1:
            raise EstimationError(f"unit {u!r} goes live at {t0!r}, leaving fewer than 2 pre-periods")
        if idx >= len(times):
            raise EstimationError(f"unit {u!r} goes live at {t0!r}, after the last period: no post-period")
        start[u] = idx
    controls = [u for u in W.index if u not in start]
    if len(controls) < 2:
        raise EstimationError(f"{len(controls)} control unit(s): synthetic DiD needs at least 2 never-treated units")
    cohorts = sorted(set(start.values()))
    Yall = W.to_numpy()
    cidx = [W.index.get_loc(u) for u in controls]

    reg: dict[int, tuple[float, float]] = {}

    def run(treated_by_cohort: dict[int, list[int]], ctrl: list[int], fixed=None) -> tuple[float, list[tuple]]:
        total, wsum, parts = 0.0, 0.0, []
        for a, tr in treated_by_cohort.items():
            Y = Yall[ctrl + tr, :]
            if a not in reg:
                reg[a] = (_noise(Y, len(ctrl), a), (len(tr) * (len(times) - a)) ** 0.25)
            f = _estimate(Y, len(ctrl), a, method, fixed=None if fixed is None else fixed[a], sigma=reg[a][0],
                          eta_omega=reg[a][1])
            wgt = len(tr) * (len(times) - a)
            total += wgt * f.tau
            wsum += wgt
            parts.append((a, tr, f, wgt))
        return total / wsum, parts

    treated_by = {a: [W.index.get_loc(u) for u in start if start[u] == a] for a in cohorts}
    est, parts = run(treated_by, cidx)
    n_tr = len(start)
    # ---- variance ----------------------------------------------------------------------
    placebo_rows: list[dict[str, Any]] = []
    if se == "placebo":
        sizes = [len(treated_by[a]) for a in cohorts]
        if len(controls) <= sum(sizes):
            raise EstimationError(f"the placebo variance needs more control units ({len(controls)}) than treated"
                                  f" units ({sum(sizes)})")
        n_assign = _count_assignments(len(controls), sizes)
        if n_assign <= replications:
            draws = list(_all_assignments(len(controls), sizes))
            how = f"placebo (all {n_assign} assignments)"
        else:
            rng = np.random.default_rng(seed)
            draws = []
            for _ in range(replications):
                perm = rng.permutation(len(controls))
                draws.append(perm)
            how = f"placebo ({replications} draws)"
        n_pl = sum(sizes)
        assignments = []
        for perm in draws:
            perm = list(perm)
            pl_ctrl = [cidx[i] for i in perm[: len(controls) - n_pl]]
            rest = [cidx[i] for i in perm[len(controls) - n_pl:]]
            pl_by, j = {}, 0
            for a, s in zip(cohorts, sizes):
                pl_by[a] = rest[j:j + s]
                j += s
            assignments.append((pl_by, pl_ctrl, rest))
        # every placebo assignment of a cohort is the same-sized problem: solved together (batched Frank-Wolfe)
        total, wsum = np.zeros(len(assignments)), 0.0
        for a, s in zip(cohorts, sizes):
            Ys = np.stack([Yall[ctrl + pl_by[a], :] for pl_by, ctrl, _ in assignments])
            fits = _estimate_many(Ys, len(controls) - n_pl, a, method, sigma=reg[a][0], eta_omega=reg[a][1])
            wgt = s * (len(times) - a)
            total += wgt * np.array([f.tau for f in fits])
            wsum += wgt
        for k, ((_, _, rest), e) in enumerate(zip(assignments, total / wsum)):
            placebo_rows.append({"assignment": k, "placebo_units": ";".join(str(W.index[i]) for i in rest),
                                 "estimate": float(e)})
        pv = np.array([r["estimate"] for r in placebo_rows])
        std_error = float(np.sqrt(np.mean((pv - pv.mean()) ** 2)))
    elif se == "jackknife":
        if any(len(tr) < 2 for tr in treated_by.values()):
            raise EstimationError("the jackknife variance needs at least two treated units in every adoption cohort;"
                                  " use se='placebo'")
        fixed = {a: (f.omega, f.lam) for a, tr, f, w in parts}
        reps = []
        all_units = cidx + [i for tr in treated_by.values() for i in tr]
        for drop in all_units:
            ctrl = [c for c in cidx if c != drop]
            fx = {}
            for a, tr, f, w in parts:
                om = f.omega[[c != drop for c in cidx]]
                om = om / om.sum() if om.sum() > 0 else np.full(len(om), 1 / len(om))
                fx[a] = (om, f.lam)
            tb = {a: [i for i in tr if i != drop] for a, tr in treated_by.items()}
            e, _ = run(tb, ctrl, fixed=fx)
            reps.append(e)
            placebo_rows.append({"assignment": len(reps) - 1, "placebo_units": str(W.index[drop]),
                                 "estimate": e})
        r = np.array(reps)
        n = len(r)
        std_error = float(np.sqrt((n - 1) / n * np.sum((r - r.mean()) ** 2)))
        how = "jackknife"
    else:
        std_error, how = float("nan"), "none"
    if interval not in ("normal", "t"):
        raise DataValidationError(f"`interval` must be 'normal' or 't', got {interval!r}")
    dof = float("inf")
    if interval == "t" and se == "placebo":
        dof = float(len(controls) - 1)
    elif interval == "t" and se == "jackknife":
        dof = float(len(placebo_rows) - 1)
    z, p_value = critical_and_p(est, std_error, dof, alpha)
    # ---- weights and trajectory (first cohort's weights for display; pooled trajectory) ----
    urows, trows, traj_parts, coh_rows = [], [], [], []
    for a, tr, f, wgt in parts:
        label = times[a]
        for c, w in zip(controls, f.omega):
            urows.append({"cohort": label, "unit": c, "weight": float(w)})
        for t, w in zip(times[:a], f.lam):
            trows.append({"cohort": label, "time": t, "weight": float(w)})
        Yt = Yall[tr].mean(axis=0)
        Yc = f.omega @ Yall[cidx]
        if method == "sdid":
            shift = float((Yt[:a] - Yc[:a]) @ f.lam)
        elif method == "did":
            shift = float((Yt[:a] - Yc[:a]).mean())
        else:
            shift = 0.0
        cf = Yc + shift
        traj_parts.append(pd.DataFrame({"cohort": label, "time": times, "observed": Yt, "counterfactual": cf,
                                        "gap": Yt - cf, "post": np.arange(len(times)) >= a}))
        coh_rows.append({"cohort": label, "n_treated": len(tr), "n_post": len(times) - a, "estimate": f.tau,
                         "weight": wgt})
    traj = pd.concat(traj_parts, ignore_index=True)
    pre = traj[~traj["post"]]
    pre_rmspe = float(np.sqrt(np.mean(pre["gap"] ** 2)))
    unit_w = pd.DataFrame(urows)
    time_w = pd.DataFrame(trows)
    if len(cohorts) == 1:
        unit_w = unit_w.drop(columns="cohort")
        time_w = time_w.drop(columns="cohort")
        traj = traj.drop(columns="cohort")
    return SynthDidResult(
        method=method, estimate=float(est), std_error=std_error, ci_lower=float(est - z * std_error),
        ci_upper=float(est + z * std_error), p_value=p_value, se_method=how, unit_weights=unit_w,
        time_weights=time_w, trajectory=traj, placebo=pd.DataFrame(placebo_rows, columns=["assignment",
                                                                                          "placebo_units",
                                                                                          "estimate"]),
        n_treated=n_tr, n_controls=len(controls), n_pre=int(min(cohorts)), n_post=int(len(times) - min(cohorts)),
        pre_rmspe=pre_rmspe, cohorts=pd.DataFrame(coh_rows), alpha=alpha, df=dof)


def _count_assignments(n: int, sizes: list[int]) -> int:
    out, left = 1, n
    for s in sizes:
        out *= math.comb(left, s)
        left -= s
    return out


def _all_assignments(n: int, sizes: list[int]):
    """Every way to draw the cohorts' placebo units (ordered by cohort) from ``n`` controls, as permutations
    whose last ``sum(sizes)`` entries are the placebo-treated units."""
    def rec(avail: tuple[int, ...], sizes_left: list[int]):
        if not sizes_left:
            yield ()
            return
        for combo in itertools.combinations(avail, sizes_left[0]):
            rest = tuple(i for i in avail if i not in combo)
            for tail in rec(rest, sizes_left[1:]):
                yield combo + tail
    for chosen in rec(tuple(range(n)), sizes):
        ctrl = [i for i in range(n) if i not in chosen]
        yield ctrl + list(chosen)
