"""ITS with a latent AR(1) rate: REML against nlme::gls, Kenward-Roger against pbkrtest, exact small cases."""
from __future__ import annotations

import functools
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from evaltool.area.its import interrupted_time_series
from evaltool.area.its_ar1 import ar1_covariance, fit_ar1_counts, kenward_roger, reml_ar1
from evaltool.datasets.area_sim import comparative_series, simulate_area_panel
from evaltool.errors import EstimationError

R = shutil.which("Rscript")


@functools.lru_cache(maxsize=None)
def _r_has(pkg: str) -> bool:
    if R is None:
        return False
    r = subprocess.run([R, "-e", f"cat(requireNamespace('{pkg}', quietly=TRUE))"], capture_output=True, text=True)
    return r.stdout.strip().endswith("TRUE")


def _need_r(pkg: str) -> None:
    # CI installs r-cran-nlme and r-cran-pbkrtest (.ci/run), so these run there
    if not _r_has(pkg):
        pytest.skip(f"R package {pkg} not installed")


def _ar_series(seed: int = 7, n: int = 48, rho: float = 0.4) -> pd.DataFrame:
    # a different generator from the package's simulations: AR(1) noise on a linear trend with a step
    rng = np.random.default_rng(seed)
    t = np.arange(1, n + 1.0)
    u = np.zeros(n)
    u[0] = rng.normal(0, 1 / np.sqrt(1 - rho**2))
    for i in range(1, n):
        u[i] = rho * u[i - 1] + rng.normal()
    post = (t > 30).astype(float)
    return pd.DataFrame({"z": 2 + 0.01 * t - 0.3 * post + 0.1 * u, "t": t, "post": post})


def test_reml_ar1_matches_nlme_gls(tmp_path):
    _need_r("nlme")
    d = _ar_series()
    f = tmp_path / "ar.csv"
    d.to_csv(f, index=False)
    script = tmp_path / "gls.R"
    script.write_text(
        "suppressMessages(library(nlme))\n"
        f'd <- read.csv("{f}")\n'
        'm <- gls(z ~ t + post, data=d, correlation=corAR1(form=~t), method="REML")\n'
        "cat(sprintf('%.12g', c(coef(m), coef(m$modelStruct$corStruct, unconstrained=FALSE), m$sigma^2,"
        " sqrt(diag(vcov(m))), logLik(m))))\n")
    out = np.array(subprocess.run([R, str(script)], capture_output=True, text=True, check=True).stdout.split(),
                   dtype=float)
    X = np.column_stack([np.ones(len(d)), d["t"], d["post"]])
    fit = reml_ar1(d["z"].to_numpy(), X, np.zeros(len(d)), d["t"].to_numpy())
    np.testing.assert_allclose(fit.beta, out[:3], rtol=1e-6, atol=1e-8)
    assert fit.rho == pytest.approx(out[3], abs=1e-5)
    assert fit.s2 == pytest.approx(out[4], rel=1e-5)
    np.testing.assert_allclose(np.sqrt(np.diag(fit.phi)), out[5:8], rtol=1e-5)
    assert fit.reml_loglik == pytest.approx(out[8], abs=1e-6)


def test_kenward_roger_matches_pbkrtest(tmp_path):
    _need_r("pbkrtest")
    # an unbalanced random-intercept model (where Kenward-Roger differs from the naive covariance)
    rng = np.random.default_rng(3)
    g = np.repeat(np.arange(7), [3, 5, 4, 6, 2, 5, 4])
    x = rng.normal(size=len(g))
    y = 1 + 0.5 * x + rng.normal(0, 0.8, 7)[g] + rng.normal(size=len(g))
    f = tmp_path / "kr.csv"
    pd.DataFrame({"y": y, "x": x, "g": g}).to_csv(f, index=False)
    script = tmp_path / "kr.R"
    script.write_text(
        "suppressMessages({library(lme4); library(pbkrtest)})\n"
        f'd <- read.csv("{f}"); d$g <- factor(d$g)\n'
        "m <- lmer(y ~ x + (1|g), data=d, REML=TRUE)\n"
        "vc <- as.data.frame(VarCorr(m))$vcov\n"
        "cat(sprintf('%.15g', c(vc, as.vector(as.matrix(vcovAdj(m))), get_Lb_ddf(m, matrix(c(0,1),1)),"
        " get_Lb_ddf(m, matrix(c(1,0),1)))))\n")
    out = np.array(subprocess.run([R, str(script)], capture_output=True, text=True, check=True).stdout.split(),
                   dtype=float)
    su, se_ = out[:2]
    Z = (g[:, None] == np.arange(7)).astype(float)
    ZZ = Z @ Z.T
    X = np.column_stack([np.ones(len(g)), x])
    kr = kenward_roger(X, su * ZZ + se_ * np.eye(len(g)), [ZZ, np.eye(len(g))])
    np.testing.assert_allclose(kr.phi_a.ravel(), out[2:6], rtol=1e-7)
    assert kr.df(np.array([0.0, 1.0])) == pytest.approx(out[6], rel=1e-7)
    assert kr.df(np.array([1.0, 0.0])) == pytest.approx(out[7], rel=1e-7)
    # one contrast: Kenward-Roger's degrees of freedom are Satterthwaite's
    assert kr.satterthwaite_df(np.array([1.0, 0.0])) == pytest.approx(out[7], rel=1e-7)


def test_kenward_roger_exact_in_balanced_one_way_model():
    # balanced one-way random effects: the grand mean's exact test is t with (groups - 1) df and the
    # Kenward-Roger adjustment vanishes (Kenward & Roger 1997, section 5)
    a, m = 6, 4
    Z = np.kron(np.eye(a), np.ones((m, 1)))
    X = np.ones((a * m, 1))
    S = 0.7 * Z @ Z.T + 1.3 * np.eye(a * m)
    kr = kenward_roger(X, S, [Z @ Z.T, np.eye(a * m)])
    assert kr.df(np.ones(1)) == pytest.approx(a - 1, rel=1e-10)
    np.testing.assert_allclose(kr.phi_a, kr.phi, rtol=1e-10)
    # Phi = (sigma_e^2 + m sigma_u^2) / (a m)
    assert kr.phi[0, 0] == pytest.approx((1.3 + m * 0.7) / (a * m))


def test_ar1_covariance_derivatives_match_finite_differences():
    t = np.array([1.0, 2.0, 3.0, 5.0, 6.0])  # a gap: a left-out transition month
    d = np.full(5, 0.01)
    for param, th in (("natural", np.array([0.3, 0.6])), ("log", np.array([np.log(0.3), np.arctanh(0.6)]))):
        def sig(v, param=param):
            s2, rho = (v[0], v[1]) if param == "natural" else (np.exp(v[0]), np.tanh(v[1]))
            return ar1_covariance(t, s2, rho, d)[0]
        s2, rho = (th[0], th[1]) if param == "natural" else (np.exp(th[0]), np.tanh(th[1]))
        _, dS, d2 = ar1_covariance(t, s2, rho, d, param)
        h = 1e-5
        for i in range(2):
            e = np.eye(2)[i] * h
            np.testing.assert_allclose(dS[i], (sig(th + e) - sig(th - e)) / (2 * h), atol=1e-7)
            for j in range(2):
                f = np.eye(2)[j] * h
                fd = (sig(th + e + f) - sig(th + e - f) - sig(th - e + f) + sig(th - e - f)) / (4 * h * h)
                np.testing.assert_allclose(d2(i, j), fd, atol=1e-4)


def test_count_model_recovers_effect_and_reports_autocorrelation():
    # latent AR(1) log rate + Poisson counts (the model's own rules) with a known level change
    rng = np.random.default_rng(11)
    n = 60
    t = np.arange(1, n + 1.0)
    u = np.zeros(n)
    for i in range(1, n):
        u[i] = 0.5 * u[i - 1] + rng.normal(0, 0.03)
    E = np.full(n, 20_000.0)
    X = np.column_stack([np.ones(n), t, (t > 40).astype(float)])
    y = rng.poisson(E * np.exp(X @ [-2.5, 0.002, np.log(0.85)] + u))
    fit, mu = fit_ar1_counts(y, E, X, t, y + 0.5)
    assert fit.beta[2] == pytest.approx(np.log(0.85), abs=0.06)
    assert 0.1 < fit.rho < 0.9 and fit.s2 > 0
    assert np.all(mu > 0)


def test_its_default_errors_are_ar1_with_satterthwaite_df():
    s = simulate_area_panel(n_donors=1, n_months=48, go_live_month=30, rate_ratio=0.9, walk_sd=0.0, cycle=0.0,
                            seed=10_003)
    d = s.panel[s.panel.area_id == "T"].reset_index(drop=True)
    d["live"] = (np.arange(48) >= 30).astype(float)
    r = interrupted_time_series(d, impact=("level",))
    assert r.errors == "ar1"
    e = r.effect("level_change")
    assert 2 < e["df"] < 200 and e["ci_lower"] < e["estimate"] < e["ci_upper"]
    assert r.diagnostics["ar1_rho"] >= 0 and r.diagnostics["ar1_sd"] >= 0
    assert "Satterthwaite" in dict(r.summary().lines)["errors"]
    # the interval is the t interval with that df on the log scale
    from scipy import stats
    half = np.log(e["ci_upper"]) - np.log(e["estimate"])
    assert half == pytest.approx(stats.t.ppf(0.975, e["df"]) * e["std_error"], rel=1e-9)


def test_comparative_its_ar1_errors_on_the_log_rate_ratio():
    # rules unlike Southvale's (evaltool.datasets.area_sim): the treated area against the total of 20 areas
    s = simulate_area_panel(n_donors=20, n_months=48, go_live_month=30, rate_ratio=0.9, edge=False, seed=20_001)
    d = comparative_series(s.panel, go_live_month=30)
    r = interrupted_time_series(d, group="series", impact=("level",))
    assert r.errors == "ar1" and r.comparative
    e = r.effect("level_change")
    assert e["ci_lower"] < 0.9 < e["ci_upper"] and 2 < e["df"] < 200
    assert 0 <= r.diagnostics["ar1_rho"] < 1
    coef = r.coefficients.set_index("term")
    assert np.isinf(coef.loc["intercept", "df"]) and np.isfinite(coef.loc["level_change", "df"])
    # the same treated effect as a single-series AR(1) fit of the two series' log rate ratio would give:
    # the contrast is estimated by GLS, so it differs from the count model's (Newey-West) point estimate
    nw = interrupted_time_series(d, group="series", impact=("level",), errors="newey_west")
    assert abs(np.log(e["estimate"]) - np.log(nw.effect("level_change")["estimate"])) < 0.05
    with pytest.raises(EstimationError, match="same periods"):
        interrupted_time_series(d.drop(index=[int(d.index[-1])]), group="series", impact=("level",))
