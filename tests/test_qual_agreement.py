"""Coder agreement: kappa and alpha against statsmodels, the krippendorff package (tests only),
Krippendorff (2011)'s published example, brute-force character arrays and the generator's truth."""
from __future__ import annotations

import json
from pathlib import Path

import krippendorff
import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.inter_rater import cohens_kappa

from evaltool.errors import DataValidationError
from evaltool.qual import agreement, cohen_kappa, krippendorff_alpha_nominal, read_codebook, read_qdpx

EX = Path(__file__).resolve().parents[1] / "example_data" / "southvale" / "qual"

# Krippendorff (2011) "Computing Krippendorff's Alpha-Reliability", section C: 4 observers x 12 units,
# nominal data with missing values; published nominal alpha = 0.743.
K2011 = np.genfromtxt(Path(__file__).parent / "data" / "qual" / "krippendorff2011_reliability_data.csv",
                      delimiter=",")  # coders x units, blank = missing


def test_krippendorff_2011_published_example():
    alpha = krippendorff_alpha_nominal(K2011)
    assert round(alpha, 3) == 0.743
    assert alpha == pytest.approx(krippendorff.alpha(reliability_data=K2011, level_of_measurement="nominal"),
                                  abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_alpha_matches_krippendorff_package_random_with_missing(seed):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 4, size=40)
    data = np.where(rng.random((3, 40)) < 0.7, truth, rng.integers(0, 4, size=(3, 40))).astype(float)
    data[rng.random((3, 40)) < 0.15] = np.nan
    ref = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
    assert krippendorff_alpha_nominal(data) == pytest.approx(ref, abs=1e-12)


def test_weighted_alpha_equals_replicated_units():
    data = np.array([[1, 0, 1, 0, 1], [1, 1, 1, 0, 0]], dtype=float)
    w = np.array([3, 1, 2, 5, 1])
    rep = np.repeat(data, w, axis=1)
    assert krippendorff_alpha_nominal(data, weights=w) == pytest.approx(krippendorff_alpha_nominal(rep), abs=1e-12)


@pytest.mark.parametrize("table", [[[20, 5], [10, 15]], [[45, 3, 2], [4, 30, 6], [1, 2, 7]], [[90, 4], [1, 5]]])
def test_cohen_kappa_matches_statsmodels(table):
    assert cohen_kappa(np.array(table)) == pytest.approx(cohens_kappa(np.array(table)).kappa, abs=1e-12)


def _seg(rows):
    df = pd.DataFrame(rows, columns=["document_id", "coder", "code", "start", "end"])
    return df.assign(participant_id="p", role="GP", site="A", text="")


def _brute(seg, lengths, code, c1="a", c2="b"):
    a, b = [], []
    for d, n in lengths.items():
        x, y = np.zeros(n, bool), np.zeros(n, bool)
        for r in seg[(seg.document_id == d) & (seg.code == code)].itertuples():
            (x if r.coder == c1 else y)[r.start:r.end] = True
        a.append(x)
        b.append(y)
    a, b = np.concatenate(a), np.concatenate(b)
    table = np.array([[np.sum(a & b), np.sum(a & ~b)], [np.sum(~a & b), np.sum(~a & ~b)]])
    return a, b, table


def test_character_level_matches_brute_force_statsmodels_and_krippendorff():
    rng = np.random.default_rng(7)
    rows, lengths = [], {"d1": 500, "d2": 800, "d3": 300}
    for d, n in lengths.items():
        for coder in ("a", "b"):
            for _ in range(12):
                s = int(rng.integers(0, n - 20))
                e = min(n, s + int(rng.integers(5, 60)))
                rows.append((d, coder, str(rng.choice(["x", "y", "z"])), s, e))
    seg = _seg(rows)
    res = agreement(seg, document_lengths=lengths).to_frame().set_index("code")
    for code in ("x", "y", "z"):
        a, b, table = _brute(seg, lengths, code)
        assert res.loc[code, "kappa_char"] == pytest.approx(cohens_kappa(table).kappa, abs=1e-12)
        assert res.loc[code, "percent_agreement"] == pytest.approx(100 * np.mean(a == b), abs=1e-12)
        ref_alpha = krippendorff.alpha(reliability_data=np.vstack([a, b]).astype(float),
                                       level_of_measurement="nominal")
        assert res.loc[code, "alpha_char"] == pytest.approx(ref_alpha, abs=1e-9)
        # Document level: used anywhere in the document.
        pa = [((seg.document_id == d) & (seg.code == code) & (seg.coder == "a")).any() for d in lengths]
        pb = [((seg.document_id == d) & (seg.code == code) & (seg.coder == "b")).any() for d in lengths]
        assert res.loc[code, "percent_agreement_document"] == pytest.approx(100 * np.mean(np.equal(pa, pb)))


def test_segment_level_hand_made():
    # Document of 100 chars. a: x on [0,10), x on [20,30). b: x on [0,10), y on [20,30), x on [40,50).
    seg = _seg([("d", "a", "x", 0, 10), ("d", "a", "x", 20, 30), ("d", "b", "x", 0, 10),
                ("d", "b", "y", 20, 30), ("d", "b", "x", 40, 50)])
    res = agreement(seg, document_lengths={"d": 100}).to_frame().set_index("code")
    # Units coded by anyone: [0,10), [20,30), [40,50). For x: a=(1,1,0), b=(1,0,1).
    table = np.array([[1, 1], [1, 0]])
    assert res.loc["x", "kappa_segment"] == pytest.approx(cohens_kappa(table).kappa)
    assert res.loc["x", "percent_agreement_segment"] == pytest.approx(100 / 3)
    # Character level for x: a11=10, a10=10, a01=10, a00=70.
    assert res.loc["x", "kappa_char"] == pytest.approx(cohens_kappa(np.array([[10, 10], [10, 70]])).kappa)
    # y: coder a never used it -> kappa 0 at character level (pe < 1), flagged low.
    assert res.loc["y", "kappa_char"] == pytest.approx(0.0)
    assert bool(res.loc["y", "low_kappa"])


def test_segment_past_document_length_is_an_error():
    seg = _seg([("d", "a", "x", 0, 50), ("d", "b", "x", 0, 120)])
    with pytest.raises(DataValidationError, match="ending at 120, past its length 100"):
        agreement(seg, document_lengths={"d": 100})


def test_errors_on_single_coder_or_no_shared_documents():
    with pytest.raises(DataValidationError, match="needs two coders"):
        agreement(_seg([("d", "a", "x", 0, 5)]))
    with pytest.raises(DataValidationError, match="share no documents"):
        agreement(_seg([("d", "a", "x", 0, 5), ("e", "b", "x", 0, 5)]), coders=("a", "b"))


def test_example_project_recovers_generator_truth_and_flags_hard_codes():
    truth = json.loads((EX / "truth.json").read_text())
    project = read_qdpx(EX / "southvale.qdpx", codebook=read_codebook(EX / "codebook.yaml"))
    res = agreement(project)
    f = res.to_frame().set_index("code")
    assert res.n_documents == truth["n_double_coded"]
    for code, k in truth["kappa_char"].items():
        assert f.loc[code, "kappa_char"] == pytest.approx(k, abs=1e-12)
    low = set(res.low_agreement_codes())
    assert low and low <= set(truth["hard_codes"])
    easy = f.drop(index=truth["hard_codes"])
    assert (easy["kappa_char"] > 0.6).all()
    # Size-weighted pooled kappa: weights = mean characters coded by the two coders.
    size = (f["chars_coder_1"] + f["chars_coder_2"]) / 2
    assert res.pooled["kappa_pooled"] == pytest.approx(np.average(f["kappa_char"], weights=size))
    # Document-level kappa checked against statsmodels for one code.
    seg = project.segments[project.segments.document_id.isin(truth["double_coded_documents"])]
    code = "learning_mdt"
    pa = [((seg.document_id == d) & (seg.code == code) & (seg.coder == "coder_a")).any()
          for d in truth["double_coded_documents"]]
    pb = [((seg.document_id == d) & (seg.code == code) & (seg.coder == "coder_b")).any()
          for d in truth["double_coded_documents"]]
    t = pd.crosstab(pd.Series(pa), pd.Series(pb)).reindex(index=[True, False], columns=[True, False], fill_value=0)
    expected = cohens_kappa(t.to_numpy()).kappa if t.to_numpy().sum(0).min() > 0 else np.nan
    got = f.loc[code, "kappa_document"]
    assert (np.isnan(expected) and np.isnan(got)) or got == pytest.approx(expected)


def test_formats_without_offsets_give_document_level_only():
    seg = _seg([("d", "a", "x", 0, 5), ("d", "b", "x", 0, 5), ("e", "a", "x", 0, 5), ("e", "b", "y", 0, 5)])
    seg[["start", "end"]] = np.nan
    f = agreement(seg).to_frame().set_index("code")
    assert f["kappa_char"].isna().all()
    assert f.loc["x", "percent_agreement_document"] == pytest.approx(50.0)
