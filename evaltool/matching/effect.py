"""The effect on a matched sample: the ATT with standard errors that respect how the sample was made.

Following MatchIt's vignette "estimating-effects": the ATT is the coefficient of treatment in a weighted
regression of the outcome on treatment (the weighted difference in means); its variance is a sandwich
computed as R's ``sandwich`` package does:

* matching without replacement: clustered on the matched set (``vcovCL(fit, cluster = ~subclass)``);
* matching with replacement: on the long data of :meth:`MatchResult.get_matches` (a control once per treated
  unit it serves), clustered on the matched set *and* the unit (two-way, Cameron, Gelbach and Miller 2011:
  ``vcovCL(fit, cluster = ~subclass + id)``), since a control reused across sets ties those sets together;
* subclassification, exact and coarsened exact matching: heteroskedasticity-robust HC3 (``vcovHC``).

Each clustered term carries sandwich's default small-sample factors, ``G/(G-1)`` and ``(n-1)/(n-k)``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from evaltool import dist

from evaltool._result import ResultMixin, Summary
from evaltool.errors import DataValidationError

from .result import MatchResult

__all__ = ["MatchedEffect", "matched_effect", "cluster_vcov"]


@dataclass(frozen=True, repr=False)
class MatchedEffect(ResultMixin):
    """ATT on a matched sample (immutable)."""

    outcome: str
    estimate: float
    std_error: float
    ci_lower: float
    ci_upper: float
    p_value: float
    vcov_type: str
    n_obs: int
    n_clusters: dict[str, int]

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{"outcome": self.outcome, "estimand": "ATT", "estimate": self.estimate,
                              "std_error": self.std_error, "ci_lower": self.ci_lower, "ci_upper": self.ci_upper,
                              "p_value": self.p_value, "vcov": self.vcov_type, "n_obs": self.n_obs}])

    def summary(self) -> Summary:
        lines = (("outcome", self.outcome), ("ATT", f"{self.estimate:.4f} (SE {self.std_error:.4f})"),
                 ("95% CI", f"{self.ci_lower:.4f} to {self.ci_upper:.4f}"), ("variance", self.vcov_type),
                 ("observations", str(self.n_obs)))
        return Summary(title="Effect on the matched sample", lines=lines, tables=(("ATT", self.to_frame()),))

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("outcome", "estimate", "std_error", "ci_lower", "ci_upper", "p_value",
                                              "vcov_type", "n_obs", "n_clusters")}

    def plot(self):
        from plotnine import aes, geom_errorbarh, geom_point, geom_vline, ggplot, labs

        from evaltool.plotting import theme_evaltool

        d = self.to_frame().assign(y=self.outcome)
        return (ggplot(d, aes("estimate", "y")) + geom_vline(xintercept=0, linetype="dashed")
                + geom_errorbarh(aes(xmin="ci_lower", xmax="ci_upper"), height=0.2) + geom_point()
                + labs(x="ATT (95% CI)", y="") + theme_evaltool())


def cluster_vcov(X: np.ndarray, resid: np.ndarray, w: np.ndarray, clusters: list[np.ndarray]) -> np.ndarray:
    """Multi-way cluster-robust covariance of weighted least squares, as ``sandwich::vcovCL`` (HC1 type).

    Examples
    --------
    >>> X = np.column_stack([np.ones(6), [0, 0, 0, 1, 1, 1.0]])
    >>> v = cluster_vcov(X, np.array([1.0, -1, 0.5, 2, -2, 0]), np.ones(6), [np.array([1, 1, 2, 2, 3, 3])])
    >>> v.shape
    (2, 2)
    """
    n, k = X.shape
    bread = np.linalg.inv((X * w[:, None]).T @ X)
    ef = X * (w * resid)[:, None]
    out = np.zeros((k, k))
    # inclusion-exclusion over the clustering dimensions (Cameron, Gelbach and Miller 2011)
    from itertools import combinations

    for r in range(1, len(clusters) + 1):
        for combo in combinations(range(len(clusters)), r):
            key = pd.MultiIndex.from_arrays([clusters[j] for j in combo]) if r > 1 else pd.Index(clusters[combo[0]])
            codes, uniq = pd.factorize(key)
            G = len(uniq)
            S = np.zeros((G, k))
            np.add.at(S, codes, ef)
            meat = S.T @ S * (G / (G - 1))
            out += (-1) ** (r + 1) * meat
    adj = (n - 1) / (n - k)
    return adj * bread @ out @ bread


def _hc3(X: np.ndarray, resid: np.ndarray, w: np.ndarray) -> np.ndarray:
    bread = np.linalg.inv((X * w[:, None]).T @ X)
    h = w * np.einsum("ij,jk,ik->i", X, bread, X)
    ef = X * (w * resid / (1 - h))[:, None]
    return bread @ (ef.T @ ef) @ bread


def matched_effect(result: MatchResult, outcome: str, *, data: pd.DataFrame | None = None,
                   vcov: str = "auto", alpha: float = 0.05) -> MatchedEffect:
    """ATT of ``treat`` on ``outcome`` in the matched sample, with MatchIt's recommended variance.

    Parameters
    ----------
    result : a :class:`MatchResult`.
    outcome : column of the matched data (or of ``data``, aligned with the data given to ``match``).
    vcov : ``"auto"`` (by how the sample was made, see the module notes), ``"subclass"``,
        ``"subclass+unit"`` or ``"hc3"``.

    Examples
    --------
    >>> import evaltool.matching as m  # doctest: +SKIP
    >>> m.matched_effect(m.match(d, "treat", covs, replace=True), "re78").std_error  # doctest: +SKIP
    """
    if result._data is None:
        raise DataValidationError("this matching result holds no data: re-run match()")
    src = result._data if data is None else data.loc[result._data.index]
    if outcome not in src.columns:
        raise DataValidationError(f"`outcome` {outcome!r} is not a column of the matched data")
    if vcov == "auto":
        vcov = ("subclass+unit" if result.replace else "subclass") if result.method == "nearest" else "hc3"
    if vcov != "hc3" and result.method != "nearest":
        raise DataValidationError(f"`vcov`={vcov!r} needs matched sets (method='nearest'); use 'hc3'")
    if vcov not in ("subclass", "subclass+unit", "hc3"):
        raise DataValidationError(f"`vcov`: expected 'auto', 'subclass', 'subclass+unit' or 'hc3', got {vcov!r}")
    if vcov == "subclass+unit" or (vcov == "subclass" and result.replace):
        long = result.get_matches(id="_row_label")
        y = pd.to_numeric(src.loc[long["_row_label"], outcome]).to_numpy(dtype=float)
        t = long[result.treatment].to_numpy(dtype=float)
        w = long["weights"].to_numpy(dtype=float)
        clusters = [long["subclass"].to_numpy()] + ([long["_row_label"].to_numpy()] if vcov == "subclass+unit" else [])
    else:
        keep = result.weights > 0
        y = pd.to_numeric(src[outcome]).to_numpy(dtype=float)[keep]
        t = result.treat[keep].astype(float)
        w = result.weights[keep]
        clusters = [result.subclass[keep]]
    if not np.isfinite(y).all():
        raise DataValidationError(f"`{outcome}` has missing or non-finite values in the matched sample")
    X = np.column_stack([np.ones(y.size), t])
    beta = np.linalg.solve((X * w[:, None]).T @ X, (X * w[:, None]).T @ y)
    resid = y - X @ beta
    V = _hc3(X, resid, w) if vcov == "hc3" else cluster_vcov(X, resid, w, clusters)
    est, se = float(beta[1]), float(np.sqrt(V[1, 1]))
    z = float(dist.norm_ppf(1 - alpha / 2))
    n_cl = {} if vcov == "hc3" else {"subclass": int(pd.Series(clusters[0]).nunique()),
                                     **({"unit": int(pd.Series(clusters[1]).nunique())} if len(clusters) > 1 else {})}
    return MatchedEffect(outcome=outcome, estimate=est, std_error=se, ci_lower=est - z * se, ci_upper=est + z * se,
                         p_value=float(2 * dist.norm_sf(abs(est / se))), vcov_type=vcov, n_obs=int(y.size),
                         n_clusters=n_cl)
