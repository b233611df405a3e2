"""One propensity model for all risk sets: shared slopes, one intercept per risk set, a penalty.

Fitting a separate logistic model in every monthly risk set breaks down for small programmes: with a
handful of enrolments in a month, a single enrolled person at the edge of the covariate range (the oldest
of 17 candidates) separates the month and the model has no maximum-likelihood estimate. Pooling the risk
sets -- covariate effects shared, an intercept per risk set -- uses every enrolled person to estimate
each slope. A penalty keeps every estimate finite even when a covariate level is held only by enrolled
people or only by candidates: by default a ridge penalty on the standardised slopes (a normal prior,
SD 1 per SD of the covariate; the objective is strictly concave, so Newton's method converges in a few
steps), or Firth's (1993) penalty (Jeffreys prior; Heinze and Schemper 2002), which is checked against
the firthmodels package but converges slowly near quasi-separation.

The intercepts do not change the ordering within a risk set, so matching on the logit of the score is
unaffected by them; they make the score a probability of enrolment in that month.

Large risk sets are subsampled for the fit (all enrolled people, a systematic sample of candidates with a
random start): by Prentice and Pyke (1979) the slopes of a logistic model are unchanged by sampling on the
outcome and each intercept moves by the log sampling fraction, which :func:`pooled_logit` adds back.

Cost: the intercepts are group dummies, so the information matrix is handled in blocks (its Schur
complement on the slopes): each iteration is O(n k^2) for k slopes, never O(n (G + k)^2).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from evaltool.errors import MatchingError

from .distance import row_dot

__all__ = ["PooledLogit", "pooled_logit", "sample_candidates"]

MAX_STEP = 5.0  # largest change of any coefficient (standardised scale) in one Newton step


@dataclass(frozen=True)
class PooledLogit:
    """A fitted pooled model: slopes on the original covariate scale, one intercept per group."""

    coef: np.ndarray  # (k,) slopes, original scale
    intercepts: np.ndarray  # (G,) per group, on the population scale (sampling corrected)
    converged: bool
    n_iter: int
    penalty: str

    def linear_predictor(self, X: np.ndarray, group: int | np.ndarray) -> np.ndarray:
        """The logit of the propensity score for rows ``X`` of ``group``."""
        return self.intercepts[group] + row_dot(X, self.coef)


def sample_candidates(n_treated: int, n_candidates: int, rng: np.random.Generator, *, per_treated: int = 40,
                      minimum: int = 1000) -> np.ndarray:
    """Positions (into the candidates) kept for the fit: all when few, else a systematic sample.

    Examples
    --------
    >>> sample_candidates(2, 100, np.random.default_rng(0)).size
    100
    >>> sample_candidates(1, 10_000, np.random.default_rng(0)).size
    1000
    """
    keep = max(minimum, per_treated * n_treated)
    if n_candidates <= keep:
        return np.arange(n_candidates)
    step = n_candidates / keep
    start = rng.random() * step
    return np.floor(start + step * np.arange(keep)).astype(np.int64)


def pooled_logit(
    X: np.ndarray,
    y: np.ndarray,
    group: np.ndarray,
    *,
    sampling_fraction: np.ndarray | None = None,
    penalty: str = "ridge",
    ridge: float = 1.0,
    max_iter: int = 100,
    tol: float = 1e-9,
    names: list[str] | None = None,
) -> PooledLogit:
    """Fit ``logit P(y = 1) = a[group] + X b``, penalised so that estimates always exist.

    ``penalty="ridge"`` (default) maximises the log-likelihood minus ``ridge / 2`` times the sum of squared
    slopes on the standardised covariates (a normal prior with SD 1 on the log-odds change per SD of a
    covariate: negligible against hundreds of enrolled people, decisive for a covariate level held by no
    enrolled person); ``"firth"`` uses Firth's (1993) penalty (half the log-determinant of the information),
    ``"none"`` plain maximum likelihood. The month intercepts are never penalised.

    Parameters
    ----------
    X : (n, k) covariates without an intercept (constant columns are not allowed).
    y : (n,) 0/1.
    group : (n,) integer codes 0..G-1 (the risk set of each row); every group needs one y = 1.
    sampling_fraction : (G,) share of each group's y = 0 rows in the fit (1 = all); intercepts are
        corrected by its log.
    penalty, ridge : the penalty and the ridge weight (standardised scale).
    names : covariate names, for messages.

    Examples
    --------
    >>> rng = np.random.default_rng(3)
    >>> x = rng.normal(size=(4000, 1)); g = rng.integers(0, 4, 4000)
    >>> y = (rng.random(4000) < 1 / (1 + np.exp(-(-2 + 0.5 * g + 1.0 * x[:, 0])))).astype(float)
    >>> fit = pooled_logit(x, y, g, penalty="none")
    >>> bool(abs(fit.coef[0] - 1) < 0.15), bool(abs(fit.intercepts[3] - fit.intercepts[0] - 1.5) < 0.3)
    (True, True)
    """
    if penalty not in ("ridge", "firth", "none"):
        raise MatchingError(f"`penalty`: expected 'ridge', 'firth' or 'none', got {penalty!r}")
    firth = penalty == "firth"
    lam = float(ridge) if penalty == "ridge" else 0.0
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    g = np.asarray(group, dtype=np.int64)
    n, k = X.shape
    G = int(g.max()) + 1 if n else 0
    names = names or [f"x{j}" for j in range(k)]
    mu = X.mean(axis=0) if n else np.zeros(k)
    sd = X.std(axis=0) if n else np.ones(k)
    if np.any(sd == 0):
        bad = [names[j] for j in np.flatnonzero(sd == 0)]
        raise MatchingError(f"the propensity model has constant column(s) {bad} (no variation): drop them from `covariates`")
    # Column-major, as the Newton step reads it column by column (per-group sums); the same values.
    Z = np.asfortranarray((X - mu) / sd)
    ny = np.bincount(g, weights=y, minlength=G)
    nn = np.bincount(g, minlength=G)
    if np.any(ny == 0) or np.any(ny == nn):
        raise MatchingError("internal: every risk set in the propensity model needs enrolled people and candidates")
    alpha = np.log(ny / (nn - ny))
    spans = _spans(g)
    beta = np.zeros(k)
    if k:
        # Identifiability once, on the within-month centred covariates (a column constant within every month
        # is absorbed by the month intercepts).
        Zc = _minus_group_rows(Z, np.bincount(g, minlength=G)[:, None] ** -1.0 * _group_sums(Z, g, G), g, spans)
        ev = np.linalg.eigvalsh(Zc.T @ Zc / n)
        if ev.min() <= 1e-10 * max(ev.max(), 1e-300):
            raise MatchingError(_collinear_message(Zc, names))

    # Work arrays of Z's shape, written in place on every evaluation (fresh ones would cost a page fault per
    # 4 KiB each time: as much as the arithmetic). Only the last evaluation's centred rows are ever read.
    zw, dz, dzw = (np.empty(Z.shape, order="F") for _ in range(3))

    def state(a: np.ndarray, b: np.ndarray):
        eta = a[g] + Z @ b
        p = expit(eta)
        e = np.exp(-np.abs(eta))
        w = np.maximum(e / (1.0 + e) ** 2, 1e-300)  # p (1 - p) without cancellation in the tails
        A = np.bincount(g, weights=w, minlength=G)  # D'WD (diagonal)
        Bt = _group_sums(np.multiply(Z, w[:, None], out=zw), g, G)  # D'WZ
        m = Bt / A[:, None]  # weighted means of Z per group
        _minus_group_rows(Z, m, g, spans, out=dz)
        # Schur complement Z'WZ - B'A^{-1}B, formed from centred rows so that it stays positive definite
        # when many weights are tiny (the subtraction would cancel catastrophically).
        S = dz.T @ np.multiply(dz, w[:, None], out=dzw)
        sign, logdet = np.linalg.slogdet(S)
        if sign <= 0 or not np.isfinite(logdet):
            return eta, p, w, A, m, dz, S, -np.inf  # a trial step too far: weights underflowed
        if firth:
            ll = float(np.sum(y * eta - np.logaddexp(0.0, eta)))
            return eta, p, w, A, m, dz, S, ll + 0.5 * (float(np.sum(np.log(A))) + logdet)
        return eta, p, w, A, m, dz, S, _objective(eta, y, lam, b)

    _, p, w, A, m, dz, S, obj = state(alpha, beta)
    converged = False
    it = 0
    for it in range(1, max_iter + 1):
        # A column whose rows all have fitted scores of 0 or 1 carries no information: a tiny ridge keeps the
        # Newton direction finite there (the step cap and step halving do the rest).
        Sinv = np.linalg.inv(S + np.eye(k) * (lam + 1e-9 * max(float(np.max(np.diag(S), initial=0)), 1e-300)))
        if firth:
            h = w * (1.0 / A[g] + ((dz @ Sinv) * dz).sum(axis=1))
            r = y - p + h * (0.5 - p)
        else:
            r = y - p
        ua = np.bincount(g, weights=r, minlength=G)
        ub = Z.T @ r - lam * beta
        db = Sinv @ (ub - m.T @ ua)
        da = ua / A - m @ db
        # Cap the step (as logistf's maxstep): near separation the information matrix is nearly singular and
        # a full Newton step would overshoot by orders of magnitude.
        big = max(float(np.max(np.abs(db), initial=0)), float(np.max(np.abs(da), initial=0)))
        step = 1.0 if big <= MAX_STEP else MAX_STEP / big
        for _ in range(40):
            a_try, b_try = alpha + step * da, beta + step * db
            # A ridge (or unpenalised) objective needs only the linear predictor: a trial step that does not
            # improve it is rejected without forming the information matrix (state() would reject it too).
            if not firth and _objective(a_try[g] + Z @ b_try, y, lam, b_try) < obj - 1e-10 * abs(obj):
                step /= 2
                continue
            new = state(a_try, b_try)
            if new[-1] >= obj - 1e-10 * abs(obj):
                break
            step /= 2
        alpha, beta = alpha + step * da, beta + step * db
        _, p, w, A, m, dz, S, new_obj = new
        change = max(float(np.max(np.abs(step * da), initial=0)), float(np.max(np.abs(step * db), initial=0)))
        gain, obj = new_obj - obj, new_obj
        # Near quasi-separation the last digits of a coefficient that runs off creep in linearly while the
        # (penalised) likelihood no longer moves: stop there too.
        stalled = gain < 1e-12 * abs(obj) and change < 1e-6
        if change < tol or stalled or step < 1e-12:
            converged = change < 1e-6
            break
    b = beta / sd
    a = alpha - float(np.sum(beta * mu / sd))
    if sampling_fraction is not None:
        a = a + np.log(np.asarray(sampling_fraction, dtype=float))
    return PooledLogit(coef=b, intercepts=a, converged=converged, n_iter=it, penalty=penalty)


def _objective(eta: np.ndarray, y: np.ndarray, lam: float, b: np.ndarray) -> float:
    """Log-likelihood of the linear predictor ``eta`` minus the ridge penalty on the standardised slopes."""
    return float(np.sum(y * eta - np.logaddexp(0.0, eta))) - 0.5 * lam * float(b @ b)


def _spans(g: np.ndarray) -> list[tuple[int, int, int]] | None:
    """``(group, start, end)`` of each run of equal codes when ``g`` is sorted (risk sets are stacked
    one after another), else None."""
    if len(g) == 0 or np.any(g[1:] < g[:-1]):
        return None
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    ends = np.r_[starts[1:], len(g)]
    return [(int(g[s]), int(s), int(e)) for s, e in zip(starts, ends)]


def _minus_group_rows(Z: np.ndarray, m: np.ndarray, g: np.ndarray, spans: list[tuple[int, int, int]] | None,
                      out: np.ndarray | None = None) -> np.ndarray:
    """``Z - m[g]`` (into ``out`` if given), element for element the same subtraction; by slices of sorted
    groups (a third of the time of gathering ``m[g]``, which the Newton loop does on every step)."""
    if spans is None:
        return np.subtract(Z, m[g], out=out)
    out = np.empty_like(Z) if out is None else out
    for k, s, e in spans:
        np.subtract(Z[s:e], m[k], out=out[s:e])
    return out


def _group_sums(Z: np.ndarray, g: np.ndarray, G: int) -> np.ndarray:
    """Column sums of ``Z`` per group (rows need not be sorted)."""
    if Z.shape[1] == 0:
        return np.zeros((G, 0))
    return np.column_stack([np.bincount(g, weights=Z[:, j], minlength=G) for j in range(Z.shape[1])])


def _collinear_message(Z: np.ndarray, names: list[str]) -> str:
    """Name the covariates that are linear combinations of the others (after per-group centring)."""
    from scipy.linalg import qr

    _, r, piv = qr(Z / np.maximum(np.linalg.norm(Z, axis=0), 1e-300), mode="economic", pivoting=True)
    rank = int(np.sum(np.abs(np.diag(r)) > 1e-6)) if r.size else 0
    dropped = [names[j] for j in piv[rank:]]
    return ("the propensity model is not identifiable: covariate(s) "
            f"{dropped} are linear combinations of the others (e.g. a look-back total that is the sum of other "
            "windows, or indicators that add up to a constant); remove them from `covariates`")

