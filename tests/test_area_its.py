"""Interrupted time series: Lopez Bernal, Cummins & Gasparrini (IJE 2017) worked example and simulations."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaltool._result import check_result_contract
from evaltool.area.its import interrupted_time_series, season_design
from evaltool.datasets.area_sim import simulate_area_panel
from evaltool.errors import DataValidationError, EstimationError

DATA = Path(__file__).parent / "data" / "sicily_its.csv"
KW = dict(events="aces", exposure="stdpop", time="time", intervention="smokban", season="month",
          impact=("level",), errors="model")


@pytest.fixture(scope="module")
def sicily() -> pd.DataFrame:
    return pd.read_csv(DATA)


# Paper (Steps 4-5; models 1-3 of the authors' Rcode.R): rate ratio and 95% CI, printed to 3 decimals.
@pytest.mark.parametrize("family,seasonality,printed", [
    ("poisson", "none", (0.894, 0.865, 0.925)),
    ("quasi_poisson", "none", (0.894, 0.839, 0.953)),
    ("quasi_poisson", "fourier", (0.885, 0.839, 0.933)),
])
def test_sicily_reproduces_published_rate_ratios(sicily, family, seasonality, printed):
    r = interrupted_time_series(sicily, family=family, seasonality=seasonality, **KW)
    e = r.effect("level_change")
    assert (round(e["estimate"], 3), round(e["ci_lower"], 3), round(e["ci_upper"], 3)) == printed


def test_sicily_dispersion_trend_and_slope_model(sicily):
    r = interrupted_time_series(sicily, family="quasi_poisson", seasonality="fourier", **KW)
    assert round(r.diagnostics["dispersion"], 3) == 2.262
    b_time = r.coefficients.set_index("term").loc["time", "estimate"]
    assert round(float(np.exp(12 * b_time)), 3) == 1.067  # the paper's trend per year
    # model 4 (corrigendum parameterisation): level 0.8765, slope change per month 1.0015 (R glm)
    r4 = interrupted_time_series(sicily, family="quasi_poisson", seasonality="fourier",
                                 **{**KW, "impact": ("level", "slope")})
    c = r4.coefficients.set_index("term")
    assert round(float(c.loc["level_change", "rate_ratio"]), 4) == 0.8765
    assert round(float(c.loc["slope_change", "rate_ratio"]), 4) == 1.0015
    check_result_contract(r4)


@pytest.mark.skipif(shutil.which("Rscript") is None, reason="R not installed")
def test_sicily_matches_r_glm_live(sicily, tmp_path):
    script = tmp_path / "s.R"
    script.write_text(
        f'd <- read.csv("{DATA}")\n'
        "k <- 1:2*2*pi/12; H <- cbind(sin(outer(d$month,k)), cos(outer(d$month,k)))\n"
        "m <- glm(aces ~ offset(log(stdpop)) + smokban + time + H, family=quasipoisson, d)\n"
        'cat(sprintf("%.10f %.10f", coef(m)["smokban"], sqrt(diag(vcov(m)))["smokban"]))\n')
    out = subprocess.run(["Rscript", str(script)], capture_output=True, text=True, check=True).stdout.split()
    r = interrupted_time_series(sicily, family="quasi_poisson", seasonality="fourier", **KW)
    c = r.coefficients.set_index("term").loc["level_change"]
    assert abs(c["estimate"] - float(out[0])) < 1e-8
    assert abs(c["std_error"] - float(out[1])) < 1e-8


def test_autocorrelation_is_tested_and_reported(sicily):
    r = interrupted_time_series(sicily, family="poisson", seasonality="none", **KW)
    assert 0 <= r.diagnostics["ljung_box_p"] <= 1
    assert any("overdispersion" in n for n in r.notes)
    nw = interrupted_time_series(sicily, family="quasi_poisson", seasonality="fourier",
                                 **{**KW, "errors": "newey_west"})
    assert nw.diagnostics["hac_lags"] >= 1
    assert nw.effect("level_change")["estimate"] == pytest.approx(0.885, abs=5e-4)


def test_negative_binomial_and_average_post_effect(sicily):
    r = interrupted_time_series(sicily, family="negative_binomial", seasonality="month",
                                **{**KW, "exposure_per_year": 1 / 12})
    e = r.effect("average_post")
    assert 0.8 < e["estimate"] < 0.95 and e["ci_lower"] < e["estimate"] < e["ci_upper"]
    d = r.effect("difference_per_1000py")
    assert d["estimate"] < 0  # fewer events per 1,000 person-years


def test_season_design_matches_tsmodel_harmonic():
    X, names = season_design(np.array([3.0, 6.0]), "fourier", harmonics=2)
    assert names == ["sin1", "sin2", "cos1", "cos2"]
    assert np.allclose(X[0], [1.0, np.sin(np.pi), 0.0, -1.0], atol=1e-12)


def test_lagged_start_excludes_transition_months(sicily):
    r = interrupted_time_series(sicily, family="quasi_poisson", seasonality="fourier",
                                **{**KW, "lag_periods": 3})
    s = r.series
    assert (s["phase"] == "transition").sum() == 3
    assert r.diagnostics["n_transition_periods"] == 3


def test_phased_start_recovers_effect_on_simulated_series():
    # different rules from Southvale: a factor model; the treated area goes live in three steps
    est = []
    for seed in range(12):
        s = simulate_area_panel(n_donors=2, n_months=60, go_live_month=36, rate_ratio=0.85, edge=False,
                                shock_sd=0.02, walk_sd=0.0, cycle=0.0, seed=seed)
        t = s.panel[s.panel.area_id == "T"].reset_index(drop=True)
        t["live"] = (np.arange(60) >= 36).astype(float)
        r = interrupted_time_series(t, family="quasi_poisson", impact=("level",), errors="newey_west")
        est.append(np.log(r.effect("level_change")["estimate"]))
    assert abs(np.mean(est) - np.log(0.85)) < 0.03


def test_comparative_its_with_control_series(sicily):
    d = sicily.copy()
    ctl = d.copy()
    ctl["aces"] = (ctl["aces"] / 0.9 ** ctl["smokban"]).round()  # a control without the drop
    both = pd.concat([d.assign(series="treated"), ctl.assign(series="control")], ignore_index=True)
    r = interrupted_time_series(both, events="aces", exposure="stdpop", time="time", intervention="smokban",
                                season="month", group="series", impact=("level",), errors="newey_west")
    assert r.comparative
    assert r.effect("level_change")["estimate"] == pytest.approx(0.9, abs=0.01)


def test_bad_input_messages(sicily):
    bad = sicily.copy()
    bad.loc[4, "stdpop"] = -1
    with pytest.raises(DataValidationError, match="rows 5"):
        interrupted_time_series(bad, **KW)
    with pytest.raises(DataValidationError, match="lacks column"):
        interrupted_time_series(sicily.drop(columns="aces"), **KW)
    early = sicily.assign(smokban=(sicily.time >= 2).astype(int))
    with pytest.raises(EstimationError, match="before go-live"):
        interrupted_time_series(early, **KW)
    before = sicily.copy()
    interrupted_time_series(sicily, **KW)
    pd.testing.assert_frame_equal(sicily, before)
