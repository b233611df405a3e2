"""Krippendorff's alpha at every level of measurement against Krippendorff (2011)'s worked example and the
``krippendorff`` package (PyPI, test extra)."""
from __future__ import annotations

from pathlib import Path

import krippendorff
import numpy as np
import pytest

from evaltool.errors import DataValidationError
from evaltool.qual import krippendorff_alpha

NAN = np.nan
# Krippendorff K. "Computing Krippendorff's Alpha-Reliability" (2011; Annenberg School for Communication
# Departmental Papers 43), section C: 4 observers x 12 units with missing values. Published alphas:
# nominal .743, ordinal .815, interval .849, ratio .797.
K2011 = np.genfromtxt(Path(__file__).parent / "data" / "qual" / "krippendorff2011_reliability_data.csv",
                      delimiter=",")  # coders x units, blank = missing
PUBLISHED = {"nominal": 0.743, "ordinal": 0.815, "interval": 0.849, "ratio": 0.797}


@pytest.mark.parametrize("level", list(PUBLISHED))
def test_krippendorff_2011_worked_example_every_level(level):
    alpha = krippendorff_alpha(K2011, level)
    assert round(alpha, 3) == PUBLISHED[level]
    assert alpha == pytest.approx(krippendorff.alpha(reliability_data=K2011, level_of_measurement=level), abs=1e-12)
    # Exact fractions of the coincidence-matrix arithmetic (nominal 113/152, interval 951/1120).
    if level == "nominal":
        assert alpha == pytest.approx(113 / 152, abs=1e-15)
    if level == "interval":
        assert alpha == pytest.approx(951 / 1120, abs=1e-15)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("level", ["ordinal", "interval", "ratio"])
def test_matches_krippendorff_package_on_random_data_with_missing(seed, level):
    rng = np.random.default_rng(seed)
    coders, units = rng.integers(2, 6), rng.integers(5, 60)
    values = np.array([0.0, 0.5, 1, 2, 3.5, 7, 10])[: rng.integers(2, 8)]
    truth = rng.choice(values, units)
    data = np.where(rng.random((coders, units)) < 0.7, truth, rng.choice(values, (coders, units)))
    data[rng.random((coders, units)) < 0.2] = NAN
    ref = krippendorff.alpha(reliability_data=data, level_of_measurement=level)
    got = krippendorff_alpha(data, level)
    assert (np.isnan(got) and np.isnan(ref)) or got == pytest.approx(ref, abs=1e-10)


def test_ordinal_uses_only_the_order_and_weights_replicate_units():
    rng = np.random.default_rng(3)
    data = rng.integers(1, 5, (3, 40)).astype(float)
    data[rng.random((3, 40)) < 0.1] = NAN
    assert krippendorff_alpha(data, "ordinal") == pytest.approx(krippendorff_alpha(np.exp(data), "ordinal"), abs=1e-12)
    assert krippendorff_alpha(data, "interval") != pytest.approx(krippendorff_alpha(np.exp(data), "interval"))
    w = rng.integers(1, 4, 40)
    rep = np.repeat(data, w, axis=1)
    for level in ("nominal", "ordinal", "interval", "ratio"):
        assert krippendorff_alpha(data, level, weights=w) == pytest.approx(krippendorff_alpha(rep, level), abs=1e-12)


def test_clear_errors_and_undefined_cases():
    with pytest.raises(DataValidationError, match="need numbers"):
        krippendorff_alpha(np.array([["a", "b"], ["a", "a"]], dtype=object), "interval")
    with pytest.raises(DataValidationError, match=">= 0"):
        krippendorff_alpha(np.array([[-1, 2], [1, 2]]), "ratio")
    with pytest.raises(DataValidationError, match="level"):
        krippendorff_alpha(K2011, "circular")
    assert np.isnan(krippendorff_alpha(np.array([[1, 1], [1, 1]]), "ordinal"))  # one value: undefined
