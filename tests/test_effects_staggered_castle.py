"""att_gt against R's did 2.5.1 on data where it sets cells to NA: the castle-doctrine panel (Cheng & Hoekstra
2013; causaldata 0.1.5), with covariates that leave one-state cohorts without overlap, and the cases R handles
specially (no never-treated units; a lost adoption year). Reference output: tests/reference/did/castle_*.csv and
att_gt_mpdta_analytic.csv, made with tests/reference/did/castle_did.R and att_gt_mpdta.R (provenance in README)."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import evaltool.effects as ef
from evaltool.errors import EstimationError, EstimationWarning

HERE = Path(__file__).parent
REF = HERE / "reference" / "did"
TOL = 1e-7  # R's logit stops at a relative deviance change of 1e-8; agreement here is 1e-8 or better


def _castle() -> pd.DataFrame:
    return pd.read_csv(HERE / "data" / "castle.csv")


def _mpdta_no_never() -> pd.DataFrame:
    m = pd.read_csv(HERE / "data" / "mpdta.csv")
    m = m[m["first.treat"] != 0]
    return m.rename(columns={"lemp": "l_homicide", "countyreal": "sid", "first.treat": "effyear"})


SPECS = {
    "dr_pov_unemp": (["poverty", "unemployrt"], "dr", "never_treated", _castle, {}),
    "ipw_pov_unemp": (["poverty", "unemployrt"], "ipw", "never_treated", _castle, {}),
    "dr_police": (["l_police", "unemployrt", "poverty"], "dr", "never_treated", _castle, {}),
    "dr_police_notyet": (["l_police", "unemployrt", "poverty"], "dr", "not_yet_treated", _castle, {}),
    "reg_pov_unemp": (["poverty", "unemployrt"], "reg", "never_treated", _castle, {}),
    "nocov_no_never_notyet": (None, "dr", "not_yet_treated", lambda: _castle().query("effyear != 0"),
                              {"no_never_treated": "last_cohort"}),
    "nocov_missing_g": (None, "dr", "never_treated",
                        lambda: _castle().assign(effyear=lambda d: np.where(d.sid == 1, np.nan, d.effyear)), {}),
    "mpdta_no_never": (None, "dr", "never_treated", _mpdta_no_never, {"no_never_treated": "last_cohort"}),
    "mpdta_no_never_notyet": (None, "dr", "not_yet_treated", _mpdta_no_never, {"no_never_treated": "last_cohort"}),
}


def _fit(spec: str):
    x, method, cg, data, kw = SPECS[spec]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", EstimationWarning)
        res = ef.att_gt(data(), "l_homicide", "sid", "year", "effyear", covariates=x, method=method,
                        control_group=cg, bootstrap=False, **kw)
    return res, [str(w.message) for w in caught]


def _labels(s: pd.Series) -> pd.Series:
    return s.astype(str).str.replace(r"\.0$", "", regex=True)


@pytest.mark.parametrize("spec", list(SPECS))
def test_att_gt_and_aggregates_equal_r_did(spec):
    res, _ = _fit(spec)
    gt = pd.read_csv(REF / "castle_att_gt.csv").query("spec == @spec")
    ag = pd.read_csv(REF / "castle_aggte.csv").query("spec == @spec")
    m = res.to_frame().merge(gt[["group", "time", "estimate", "std_error"]], on=["group", "time"], how="outer",
                             suffixes=("", "_r"), indicator=True)
    assert (m["_merge"] == "both").all()  # the same cells
    assert (m["estimate"].isna() == m["estimate_r"].isna()).all()  # the same NA cells
    ok = m["estimate_r"].notna()
    for c in ("estimate", "std_error"):
        np.testing.assert_allclose(m.loc[ok, c].astype(float), m.loc[ok, f"{c}_r"].astype(float), atol=TOL, rtol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EstimationWarning)
        for kind in ("simple", "dynamic", "group", "calendar"):
            ours = res.aggregate(kind).to_frame().assign(label=lambda f: _labels(f["label"]))
            ref = ag[ag.kind == kind].assign(label=lambda f: _labels(f["label"]))
            mm = ours.merge(ref, on="label", how="outer", suffixes=("", "_r"), indicator=True)
            assert (mm["_merge"] == "both").all(), (kind, mm[mm["_merge"] != "both"])
            for c in ("estimate", "std_error"):
                np.testing.assert_allclose(mm[c].astype(float), mm[f"{c}_r"].astype(float), atol=TOL, rtol=0)


def test_overlap_cells_are_na_with_a_warning_as_r():
    res, msgs = _fit("dr_pov_unemp")
    na = res.to_frame().query("estimate.isna()")
    # R: "overlap condition violated for group 2010 in time period 2003 ... 2007" (the one-state 2010 cohort)
    assert sorted(na["time"]) == [2003, 2004, 2005, 2006, 2007] and set(na["group"]) == {2010}
    assert any("5 group-time effect(s) set to NA" in m and "no overlap" in m for m in msgs)
    assert res.settings["na_cells"][0] == {"group": 2010.0, "time": 2003.0, "reason": "overlap"}
    with pytest.warns(EstimationWarning, match="5 NA group-time effect"):
        s = res.aggregate("simple")
    assert s.overall["estimate"] == pytest.approx(0.0111078615388935, abs=TOL)  # R did 2.5.1


def test_missing_adoption_year_is_dropped_with_a_count_unless_declared_never():
    d = _castle().assign(effyear=lambda f: np.where(f.sid == 1, np.nan, f.effyear))
    with pytest.warns(EstimationWarning, match="1 units have no `effyear`.*were dropped"):
        res = ef.att_gt(d, "l_homicide", "sid", "year", "effyear", bootstrap=False)
    assert res.n_units == 49
    with pytest.warns(EstimationWarning, match="analysed as never treated"):
        res2 = ef.att_gt(d, "l_homicide", "sid", "year", "effyear", bootstrap=False, missing_group="never_treated")
    assert res2.n_units == 50
    bad = _castle().assign(effyear=lambda f: np.where(f.sid == 1, "soon", f.effyear.astype(str)))
    with pytest.raises(Exception, match="non-numeric values at rows 2, 3"):
        ef.att_gt(bad, "l_homicide", "sid", "year", "effyear", bootstrap=False)


def test_no_never_treated_default_behaviour_is_documented():
    m = _mpdta_no_never()
    with pytest.raises(EstimationError, match="no never-treated units"):
        ef.att_gt(m, "l_homicide", "sid", "year", "effyear", bootstrap=False)
    with pytest.warns(EstimationWarning, match="the last cohort \\(2007\\) serves as the comparison group"):
        r = ef.att_gt(m, "l_homicide", "sid", "year", "effyear", bootstrap=False, no_never_treated="last_cohort")
    assert r.to_frame()["time"].max() == 2006


def test_mpdta_analytic_numbers_equal_stored_r_output():
    """The analytic (bstrap = FALSE) mpdta references, run with R's did 2.5.1 (att_gt_mpdta.R); the live
    comparison in test_effects_staggered.py needs R, this one does not."""
    mp = pd.read_csv(HERE / "data" / "mpdta.csv")
    r = pd.read_csv(REF / "att_gt_mpdta_analytic.csv")
    specs = {"nocov_never": (None, "never_treated"), "lpop_never": (["lpop"], "never_treated"),
             "lpop_notyet": (["lpop"], "not_yet_treated")}
    for spec, (x, cg) in specs.items():
        res = ef.att_gt(mp, "lemp", "countyreal", "year", "first.treat", covariates=x, control_group=cg,
                        bootstrap=False)
        th = r[(r.spec == spec) & (r.kind == "att_gt")]
        m = res.to_frame().merge(th, on=["group", "time"])
        assert len(m) == len(th) == 12
        np.testing.assert_allclose(m["estimate_x"], m["estimate_y"], atol=1e-10)
        np.testing.assert_allclose(m["std_error_x"], m["std_error_y"], atol=1e-10)
        for k in ("simple", "dynamic", "group", "calendar"):
            o = r[(r.spec == spec) & (r.kind == k) & (r.label == "overall")].iloc[0]
            fr = res.aggregate(k).to_frame()
            assert fr.loc[0, "estimate"] == pytest.approx(o["estimate"], abs=1e-10)
            assert fr.loc[0, "std_error"] == pytest.approx(o["std_error"], abs=1e-10)
