"""The Southvale qualitative example generator: reproducible, the documented design, truth consistent."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from evaltool.datasets.southvale_qual import ROLES, generate_qual, toy_practices

ROOT = Path(__file__).resolve().parents[1] / "example_data" / "southvale"
EX = ROOT / "qual"


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    truth = json.loads((EX / "truth.json").read_text())
    out = tmp_path_factory.mktemp("qual")
    practices = pd.read_parquet(ROOT / "practices.parquet") if (ROOT / "practices.parquet").exists() \
        else toy_practices()
    return generate_qual(practices, truth["seed"], out), out


def test_committed_example_is_reproducible(regenerated):
    truth, out = regenerated
    for f in ("segments.csv", "southvale.qdpx", "qualcoder_export.csv", "taguette_highlights.csv",
              "participants.csv", "truth.json", "transcripts/D07.txt"):
        assert (out / f).read_bytes() == (EX / f).read_bytes(), f


def test_design(regenerated):
    truth, out = regenerated
    parts = pd.read_csv(out / "participants.csv")
    seg = pd.read_csv(out / "segments.csv")
    assert truth["n_documents"] == 30 and len(parts) == 30
    assert parts["role"].value_counts().to_dict() == ROLES
    assert parts["site"].nunique() == 5
    assert 1400 <= len(seg) <= 1600
    assert truth["n_segments"] == seg["coder"].value_counts().to_dict()
    assert seg.loc[seg.coder == "coder_b", "document_id"].nunique() == truth["n_double_coded"] == 14
    # Truth: frequencies per code and role for coder A.
    a = seg[seg.coder == "coder_a"]
    direct = {f"{c}|{r}": int(n) for (c, r), n in a.groupby(["code", "role"]).size().items()}
    assert direct == truth["segments_by_code_role"]
    # Hard codes have lower agreement than every easy code.
    k = pd.Series(truth["kappa_char"])
    assert k[truth["hard_codes"]].max() < k.drop(truth["hard_codes"]).min() + 0.05
    assert (k[truth["hard_codes"]] < 0.75).all() and (k.drop(truth["hard_codes"]) > 0.6).all()


def test_toy_practices_sites():
    assert sorted(toy_practices()["neighbourhood"].unique()) == ["Eastbrook", "Northgate", "Riverside",
                                                                  "Southfield", "Westmoor"]
