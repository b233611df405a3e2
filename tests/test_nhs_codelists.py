"""Every shipped code list against hand-built spells, including the edge cases extracts bring:
a diagnosis in a secondary position, dagger/asterisk marks, three- against four-character codes,
HES's trailing X and dashes, conditions that need a second code, and later episodes."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import ibis
import pandas as pd
import pytest

from evaltool.errors import DataValidationError, SpecError
from evaltool.nhs import codelists
from evaltool.nhs.codes import icd10_expr

# spell id -> diagnoses in position order (first episode); ("2", ...) marks a later episode.
SPELLS = {
    "asthma_primary": ["J45.9"],
    "asthma_secondary": ["R07.4", "J45.9"],
    "asthma_dagger": ["J459D"],
    "hypertension_padded": ["I10X"],
    "hypertension_dash": ["I10X-"],
    "hypertension_heart_failure": ["I11.0"],
    "bronchitis_with_copd": ["J20.9", "J44.9"],
    "bronchitis_alone": ["J20.9", "I10X"],
    "diabetes_without_complications": ["E11.9"],
    "diabetes_with_complications": ["E11.6"],
    "diabetes_three_characters": ["E11"],
    "otitis_asterisk": ["H67.1*"],
    "uti": ["N39.0"],
    "pneumonia_unspecified": ["J18.9"],
    "pneumonia_lobar": ["J18.1"],
    "hip_fracture": ["S72.0"],
    "head_injury_fall": ["S06.0", "I10X", "W19X"],
    "head_injury_no_fall": ["S06.0", "I10X"],
    "fall_code_primary": ["W19X", "S06.0"],
    "dementia": ["F03X"],
    "atrial_fibrillation_secondary": ["R55X", "I48.9"],
    "dehydration": ["E86X"],
    "hypokalaemia": ["E87.6"],
    "chest_pain": ["R07.4"],
}
LATER_EPISODE = {"asthma_later_episode": (["R07.4"], ["J45.9"])}

EXPECTED = {
    "acs_chronic": {"asthma_primary": {"asthma"}, "asthma_dagger": {"asthma"}, "hypertension_padded": {"hypertension"},
                    "hypertension_dash": {"hypertension"}, "hypertension_heart_failure": {"congestive_heart_failure"},
                    "bronchitis_with_copd": {"copd"}, "diabetes_with_complications": {"diabetes_complications"},
                    "dementia": {"dementia"}},
    "acs_acute": {"otitis_asterisk": {"ent_infections"}, "uti": {"pyelonephritis_uti"},
                  "pneumonia_lobar": {"influenza_pneumonia"}, "dehydration": {"dehydration_gastroenteritis"}},
    "acs_bardsley": {"asthma_primary": {"asthma"}, "asthma_secondary": {"asthma"}, "asthma_dagger": {"asthma"},
                     "hypertension_padded": {"hypertension"}, "hypertension_dash": {"hypertension"},
                     "hypertension_heart_failure": {"congestive_heart_failure"},
                     "bronchitis_with_copd": {"copd"}, "bronchitis_alone": {"hypertension"},
                     "diabetes_with_complications": {"diabetes_complications"},
                     "otitis_asterisk": {"ent_infections"}, "uti": {"urinary_tract_infection"},
                     "pneumonia_lobar": {"pneumonia"}, "dementia": {"dementia"},
                     "head_injury_fall": {"hypertension"}, "head_injury_no_fall": {"hypertension"},
                     "atrial_fibrillation_secondary": {"atrial_fibrillation_flutter"},
                     "dehydration": {"dehydration"}, "hypokalaemia": {"hypokalaemia"}},
    "falls_fractures": {"hip_fracture": {"hip_fracture"}, "head_injury_fall": {"fall_injury"}},
}


def _diagnoses() -> pd.DataFrame:
    rows = []
    for sid, codes in SPELLS.items():
        rows += [{"spell_id": sid, "position": i + 1, "raw": c, "first": True} for i, c in enumerate(codes)]
    for sid, (first, later) in LATER_EPISODE.items():
        rows += [{"spell_id": sid, "position": i + 1, "raw": c, "first": True} for i, c in enumerate(first)]
        rows += [{"spell_id": sid, "position": i + 1, "raw": c, "first": False} for i, c in enumerate(later)]
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def matched():
    con = ibis.duckdb.connect()
    t = ibis.memtable(_diagnoses())
    t = t.mutate(code=icd10_expr(t.raw))
    out = {}
    for name in EXPECTED:
        r = con.execute(codelists.match_spells(t, codelists.get(name)))
        got: dict[str, set[str]] = {}
        for sid, cond in zip(r["spell_id"], r["condition"]):
            got.setdefault(sid, set()).add(cond)
        out[name] = got
    return out


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_list_against_hand_built_spells(matched, name):
    assert matched[name] == EXPECTED[name]


def test_every_shipped_list_has_provenance():
    for name, cl in codelists.shipped().items():
        assert cl.title and cl.version and cl.source and cl.url.startswith("http"), name
        assert len(cl.sha256) == 64 and cl.entries, name
    assert len(codelists.get("acs_bardsley").conditions) == 27
    assert len(codelists.get("hfrs").entries) == 109
    assert len(codelists.get("elixhauser").conditions) == 31
    assert len(codelists.get("charlson").conditions) == 17


def test_user_code_list(tmp_path):
    p = tmp_path / "my.csv"
    p.write_text("code,condition,with_secondary\nR54,frailty,\nS06,head_injury,W00-W19\nR29.6,frailty,\n")
    cl = codelists.from_csv(p, "my_list", position="any")
    assert cl.conditions == ("frailty", "head_injury")
    assert cl.codes("frailty") == {"R54", "R296"}
    t = ibis.memtable(_diagnoses())
    t = t.mutate(code=icd10_expr(t.raw))
    r = ibis.duckdb.connect().execute(codelists.match_spells(t, cl))
    # position: any, so a fall code in first place with the injury second counts too.
    assert set(zip(r["spell_id"], r["condition"])) == {("head_injury_fall", "head_injury"),
                                                       ("fall_code_primary", "head_injury")}
    bad = tmp_path / "bad.csv"
    bad.write_text("code\nJ45\nnot a code\n")
    with pytest.raises(DataValidationError, match="row 3"):
        codelists.from_csv(bad, "bad")
    nocode = tmp_path / "nocode.csv"
    nocode.write_text("icd\nJ45\n")
    with pytest.raises(DataValidationError, match="needs a `code` column"):
        codelists.from_csv(nocode, "x")
    with pytest.raises(SpecError, match="shipped lists"):
        codelists.get("acs_everything")


def _comorbidipy_mapping():
    """comorbidipy's mapping file, read directly (its package import fails on pandas 3)."""
    spec = importlib.util.find_spec("comorbidipy")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("comorbidipy not installed")
    path = Path(list(spec.submodule_search_locations)[0]) / "mapping.py"
    s = importlib.util.spec_from_file_location("_comorbidipy_mapping", path)
    mod = importlib.util.module_from_spec(s)
    s.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("ours,theirs", [("charlson", "charlson_icd10_quan"),
                                         ("elixhauser", "elixhauser_icd10_quan")])
def test_comorbidity_codes_equal_comorbidipy(ours, theirs):
    """Our Quan 2005 ICD-10 coding, read from the paper, equals comorbidipy 0.5.0's (same prefixes)."""
    m = _comorbidipy_mapping()
    cl = codelists.get(ours)
    ref = m.mapping[theirs]
    assert set(cl.conditions) == set(ref)
    for cond, prefixes in ref.items():
        assert cl.codes(cond) == set(prefixes) or _covers(cl.codes(cond), set(prefixes)), cond


def _covers(ours: set[str], theirs: set[str]) -> bool:
    # Same codes, written either as a category or as its ten subdivisions.
    def expand(s: set[str]) -> set[str]:
        return {c + str(k) for c in s if len(c) == 3 for k in range(10)} | {c for c in s if len(c) == 4}
    return expand(ours) == expand(theirs)


def test_hfrs_points_equal_comorbidipy():
    m = _comorbidipy_mapping()
    w = codelists.get("hfrs").scheme_weights()
    assert {k.upper(): v for k, v in w.items()} == m.hfrs_mapping
