"""How large is the pre-period divergence? A magnitude for the parallel-trends check, not only a p-value.

With tens of thousands of person-months the joint test of the pre-period event-study coefficients rejects
for deviations too small to matter, and with a few hundred people it fails to reject deviations as large
as the effect. So beside the test we measure the divergence and put it on the scale of the effect:

* the pre-period **trend**: a generalised-least-squares line through the pre-period coefficients (an
  intercept and a slope per month; the intercept absorbs any offset of the reference month, so the slope
  is about the shape, not about one noisy month), with its standard error from their joint covariance;
* the **implied bias**: if that trend continued, the DiD would be off by ``slope x gap`` on its own scale
  (log rate ratio for Poisson), where ``gap`` is the distance between the mean post-period and mean
  pre-period month (12 months for a 12/12 design) -- the linear-extrapolation member of Rambachan and
  Roth's (2023) restrictions, with its 95% interval;
* an **equivalence margin**: the bias is called negligible when its whole 95% interval lies within
  ``max(floor, share x |effect|)`` (by default 5% on the rate ratio, or a quarter of the estimated
  effect if larger): a two one-sided tests (TOST) style judgement at the 2.5% level each side;
* the largest single pre-period deviation, for description.

The wording lives in the report layer (:mod:`evaltool.report.sentences_pretrend`), as a function of these
published numbers only.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from evaltool import dist

__all__ = ["pretrend_assessment", "EQUIVALENCE_FLOOR", "EQUIVALENCE_SHARE"]

#: Smallest margin for "negligible": a 5% change in the rate ratio (log scale) or 5% of the outcome's scale.
EQUIVALENCE_FLOOR = float(np.log(1.05))
#: The margin grows with the effect: a bias under a quarter of the estimated effect does not change the finding.
EQUIVALENCE_SHARE = 0.25


def pretrend_assessment(
    coef: np.ndarray,
    vcov: np.ndarray,
    periods: Sequence[int],
    *,
    post_months: int,
    effect: float,
    log_scale: bool = True,
    alpha: float = 0.05,
) -> dict[str, Any]:
    """Trend, implied bias and equivalence judgement from pre-period event-study coefficients.

    Parameters
    ----------
    coef, vcov : pre-period coefficients (reference month excluded) and their covariance.
    periods : their relative months (e.g. -12..-2 with reference -1).
    post_months : number of post-period months (0..post_months-1).
    effect : the DiD estimate on the same scale (log rate ratio when ``log_scale``).
    log_scale : coefficients are log rate ratios (Poisson) rather than differences (linear).

    Returns
    -------
    dict with ``slope``, ``slope_se``, ``gap_months``, ``bias``, ``bias_ci_lower``, ``bias_ci_upper``,
    ``margin``, ``equivalent`` (bias interval inside +-margin), ``bias_significant`` (interval excludes 0),
    ``relative_to_effect`` (|bias| / |effect|), ``max_abs_deviation`` and, on the log scale, the same as
    ratios (``bias_ratio``, ``bias_ratio_ci_lower``, ``bias_ratio_ci_upper``, ``max_abs_deviation_pct``).
    Slope-based entries are None with fewer than two pre-period coefficients.

    Examples
    --------
    >>> per = np.arange(-12, -1)
    >>> a = pretrend_assessment(0.01 * (per + 1), np.eye(11) * 1e-6, per, post_months=12, effect=np.log(0.8))
    >>> round(a["slope"], 4), round(a["gap_months"], 1), round(a["bias"], 3), a["equivalent"]
    (0.01, 12.0, 0.12, False)
    """
    b = np.asarray(coef, dtype=float)
    V = np.asarray(vcov, dtype=float)
    k = np.asarray(periods, dtype=float)
    z = float(dist.norm_ppf(1 - alpha / 2))
    ref = -1.0
    pre_len = -float(np.min(k)) if k.size else 1.0
    gap = (post_months - 1) / 2 - (-(pre_len + 1) / 2)
    margin = max(EQUIVALENCE_FLOOR, EQUIVALENCE_SHARE * abs(effect)) if log_scale else \
        EQUIVALENCE_SHARE * abs(effect)
    out: dict[str, Any] = {"n_pre_coefficients": int(b.size), "gap_months": gap, "margin": margin,
                           "max_abs_deviation": float(np.max(np.abs(b))) if b.size else None}
    slope = se = None
    if b.size >= 2 and np.all(np.isfinite(b)):
        X = np.column_stack([np.ones(b.size), k - ref])
        try:
            Vi = np.linalg.pinv(V)
            XtViX = X.T @ Vi @ X
            cov = np.linalg.inv(XtViX)
            theta = cov @ X.T @ Vi @ b
            slope, se = float(theta[1]), float(np.sqrt(max(cov[1, 1], 0.0)))
        except np.linalg.LinAlgError:
            slope = se = None
    out.update(slope=slope, slope_se=se)
    if slope is None:
        out.update(bias=None, bias_ci_lower=None, bias_ci_upper=None, equivalent=None, bias_significant=None,
                   relative_to_effect=None)
    else:
        bias, lo, hi = slope * gap, (slope - z * se) * gap, (slope + z * se) * gap
        lo, hi = min(lo, hi), max(lo, hi)
        out.update(bias=bias, bias_ci_lower=lo, bias_ci_upper=hi,
                   equivalent=bool(-margin < lo and hi < margin),
                   bias_significant=bool(lo > 0 or hi < 0),
                   relative_to_effect=float(abs(bias) / abs(effect)) if abs(effect) > 1e-12 else None)
    if log_scale:
        def ratio(v: float | None) -> float | None:
            return None if v is None else float(np.exp(v))

        out.update(bias_ratio=ratio(out["bias"]), bias_ratio_ci_lower=ratio(out["bias_ci_lower"]),
                   bias_ratio_ci_upper=ratio(out["bias_ci_upper"]), margin_ratio=ratio(margin),
                   max_abs_deviation_pct=None if out["max_abs_deviation"] is None
                   else round(float(100 * (np.exp(out["max_abs_deviation"]) - 1)), 1))  # a percentage for reading
    return out
