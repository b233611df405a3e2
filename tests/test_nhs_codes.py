"""NHS numbers (Modulus 11) and diagnosis codes as extracts write them.

The Modulus 11 check is compared with the ``nhs-number`` package (PyPI) on random numbers, in its
Python and its engine (Ibis) form.
"""
from __future__ import annotations

import doctest

import ibis
import numpy as np
import pandas as pd
import pytest

from evaltool.nhs import codelists, codes, comorbidity, mapping, nhs_number
from evaltool.nhs.codes import icd10_expr, normalise_icd10, normalise_snomed
from evaltool.nhs.nhs_number import is_valid, normalise, normalised_expr, valid_expr


def _numbers(n: int, seed: int = 7) -> list[str]:
    rng = np.random.default_rng(seed)
    # Avoid the Scottish CHI range (010 101 0000 - 311 299 9999), where nhs-number also checks a date.
    nums = rng.integers(3_200_000_000, 9_999_999_999, n)
    return [str(x) for x in nums]


def test_modulus_11_matches_the_nhs_number_package():
    ref = pytest.importorskip("nhs_number")
    nums = _numbers(4000) + ["9434765919", "4010232137", "9434765918", "0000000000", "1234567890"]
    ours = [is_valid(x) for x in nums]
    theirs = [ref.is_valid(x) for x in nums]
    assert ours == theirs
    assert sum(ours) > 300  # about one in eleven random numbers is valid, and some are tested


def test_modulus_11_in_the_engine_equals_python():
    nums = _numbers(2000, seed=11)
    styled = [f"{s[:3]} {s[3:6]} {s[6:]}" if i % 3 == 0 else f"{s[:3]}-{s[3:6]}-{s[6:]}" if i % 3 == 1 else s
              for i, s in enumerate(nums)] + ["", None, "943 476 591X", "94347659190", " 9434765919 "]
    t = ibis.memtable(pd.DataFrame({"n": pd.Series(styled, dtype=object)}))
    got = ibis.duckdb.connect().execute(t.select(ok=valid_expr(normalised_expr(t.n))))["ok"].tolist()
    assert got == [is_valid(x) for x in styled]


def test_nhs_number_normalisation():
    assert normalise("943 476 5919") == normalise("943-476-5919") == normalise("9434765919") == "9434765919"
    assert normalise("  ") is None and normalise(None) is None
    assert not is_valid("943 476 591")  # nine digits


@pytest.mark.parametrize("raw,expected", [
    ("J44.1", "J441"), ("J441", "J441"), ("j44.1 ", "J441"), ("I10X", "I10"), ("I10X-", "I10"), ("I10-", "I10"),
    ("I10", "I10"), ("A17.0†", "A170"), ("A170D", "A170"), ("G01*", "G01"), ("G01XA", "G01"), ("H67.1*", "H671"),
    ("M2406", "M240"), ("X59X", "X59"), ("W19", "W19"), ("R69X6", "R69"), ("?", None), ("12345", None),
    ("J4", None), ("", None), (None, None),
])
def test_icd10_normalisation_python_and_engine(raw, expected):
    assert normalise_icd10(raw) == expected
    t = ibis.memtable(pd.DataFrame({"c": pd.Series([raw], dtype=object)}))
    got = ibis.duckdb.connect().execute(t.select(k=icd10_expr(t.c)))["k"].iloc[0]
    assert (None if pd.isna(got) else got) == expected


def test_snomed_normalisation():
    assert normalise_snomed("22298006") == "22298006"
    assert normalise_snomed(22298006.0) == "22298006"
    assert normalise_snomed("abc") is None


def test_code_ranges():
    assert codelists.expand_codes("E10.0-E10.2") == ["E100", "E101", "E102"]
    assert codelists.expand_codes("S00-S02") == ["S00", "S01", "S02"]
    for bad in ("E10.0-E11.2", "J44-K01", "J45-J41", "ZZ"):
        with pytest.raises(ValueError):
            codelists.expand_codes(bad)


def test_docstring_examples_run():
    for mod in (nhs_number, codes, codelists, comorbidity, mapping):
        res = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert res.failed == 0, mod.__name__
