"""Codebook YAML validation, REFI .qdc import and the starter codebook."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from evaltool.errors import DataValidationError
from evaltool.qual import read_codebook, read_qdc, starter_codebook_path
from evaltool.qual._xml import parse_xml
from evaltool.qual.codebook import codebook_from_refi

DATA = Path(__file__).parent / "data" / "qual"


def _write(tmp_path: Path, obj) -> Path:
    p = tmp_path / "cb.yaml"
    p.write_text(yaml.safe_dump(obj), encoding="utf-8")
    return p


def test_starter_codebook_has_the_ingredients_and_barriers():
    cb = read_codebook(starter_codebook_path())
    themes = set(cb.themes["theme"])
    for t in ("shared_records", "shared_values", "outcome_commissioning", "prevention", "learning_together",
              "leadership", "accountability", "incentives", "care_planning", "culture_change",
              "barrier_boundaries", "barrier_accountability", "barrier_information_governance",
              "barrier_workforce", "barrier_change_fatigue"):
        assert t in themes
    assert (cb.themes["group"] == "barrier").sum() == 5
    assert len(cb.codes) == 21 and cb.codes["code"].is_unique
    assert (cb.codes["definition"] != "").all()


def test_duplicate_codes_missing_theme_unknown_parent_and_cycles_are_all_reported(tmp_path):
    bad = {"name": "bad", "themes": [
        {"theme": "a", "codes": [{"code": "x"}, {"code": "y", "parent": "z"}, {"code": "z", "parent": "y"}]},
        {"theme": "a", "codes": [{"code": "x"}, {"code": "w", "parent": "nope"}]}],
        "codes": [{"code": "orphan"}, {"code": "lost", "theme": "missing_theme"}]}
    with pytest.raises(DataValidationError) as err:
        read_codebook(_write(tmp_path, bad))
    msg = str(err.value)
    assert "duplicate themes: a" in msg
    assert "duplicate codes (each code must appear once): x" in msg
    assert "codes without a theme: orphan" in msg
    assert "not declared: lost" in msg
    assert "`parent` is not a code: w" in msg
    assert "parent cycle among codes: y, z" in msg


def test_valid_yaml_with_parent_and_top_level_codes(tmp_path):
    ok = {"name": "ok", "themes": [{"theme": "a", "label": "Theme A", "codes": [{"code": "x"}, {"code": "y",
                                                                                              "parent": "x"}]}],
          "codes": [{"code": "z", "theme": "a", "definition": "d"}]}
    cb = read_codebook(_write(tmp_path, ok))
    assert cb.theme_of() == {"x": "a", "y": "a", "z": "a"}
    assert cb.theme_labels() == {"a": "Theme A"}
    assert cb.codes.set_index("code").loc["y", "parent"] == "x"


def test_not_a_mapping_and_bad_yaml(tmp_path):
    p = tmp_path / "cb.yaml"
    p.write_text("- just\n- a list\n", encoding="utf-8")
    with pytest.raises(DataValidationError, match="expected a mapping with a `themes` list"):
        read_codebook(p)
    p.write_text("themes: [unclosed\n", encoding="utf-8")
    with pytest.raises(DataValidationError, match="not valid YAML"):
        read_codebook(p)


def test_read_qdc_hierarchy():
    cb = read_qdc(DATA / "codebook_small.qdc")
    codes = cb.codes.set_index("code")
    assert codes.loc["clinical lead", "theme"] == "Leadership"
    assert codes.loc["GP champion", "parent"] == "clinical lead"
    assert codes.loc["clinical lead", "guid"] == "22222222-2222-4222-8222-222222222222"
    # A codable theme node is a code too; a childless top-level code goes to "ungrouped".
    assert codes.loc["Barriers", "theme"] == "Barriers"
    assert codes.loc["workforce", "theme"] == "Barriers"
    assert codes.loc["misc", "theme"] == "ungrouped"
    assert "Leadership" not in codes.index  # not codable
    assert read_codebook(DATA / "codebook_small.qdc").codes.shape == cb.codes.shape


def test_atlas_ti_flat_hierarchy_with_double_colon():
    root = parse_xml((DATA / "atlasti_standard_project_example.qde").read_bytes(), "atlas")
    cb_elem = [e for e in root if e.tag.endswith("CodeBook")][0]
    cb = codebook_from_refi(cb_elem[0], "atlas")
    codes = cb.codes.set_index("code")
    assert len(codes) == 14
    assert codes.loc["Coke::diet Coke", "theme"] == "Coke"
    assert codes.loc["Coke::diet Coke", "label"] == "diet Coke"
    assert codes.loc["Coke", "theme"] == "Coke"  # the flat parent joins its own theme
    assert codes.loc["happiness", "theme"] == "ungrouped"
    assert codes.loc['"rushed"', "guid"] == "9F43FE32-C2CB-4BA8-B766-A0734C826E49"
