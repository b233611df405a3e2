"""Bad specs: each error names the key path, the value found and what is allowed."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from evaltool.errors import SpecError
from evaltool.spec import load_spec, parse_spec

ROOT = Path(__file__).resolve().parents[1]


def _files(tmp_path: Path) -> dict:
    for n in ("pop.csv", "act.csv"):
        (tmp_path / n).write_text("x\n")
    return {"population": "pop.csv", "activity": "act.csv"}


def _base(tmp_path: Path, **over) -> dict:
    raw = {"name": "demo", "title": "Demo", "window": {"start": "2021-04-01", "end": "2025-03-31"},
           "data": _files(tmp_path)}
    raw.update(over)
    return raw


def _err(tmp_path, raw) -> str:
    with pytest.raises(SpecError) as ei:
        parse_spec(raw, base_dir=tmp_path, source="demo.yaml")
    return str(ei.value)


def test_minimal_spec_resolves_paths(tmp_path):
    s = parse_spec(_base(tmp_path), base_dir=tmp_path)
    assert s.data.population == tmp_path / "pop.csv"
    assert s.seed == 20261122 and s.matching is None
    with pytest.raises(Exception):
        s.name = "other"  # frozen


def test_negative_caliper(tmp_path):
    msg = _err(tmp_path, _base(tmp_path, matching={"caliper": -1}))
    assert "matching.caliper: expected a number > 0, got -1" in msg


def test_unknown_top_level_key_did_you_mean(tmp_path):
    msg = _err(tmp_path, _base(tmp_path, matchng={"caliper": 0.2}))
    assert "matchng: unknown key (did you mean 'matching'?)" in msg


def test_unknown_nested_key_did_you_mean(tmp_path):
    raw = _base(tmp_path)
    raw["window"] = {"start": "2021-04-01", "ends": "2025-03-31"}
    msg = _err(tmp_path, raw)
    assert "window.ends: unknown key (did you mean 'end'?)" in msg
    assert "window.end: required key is missing" in msg


def test_missing_required_key(tmp_path):
    raw = _base(tmp_path)
    del raw["title"]
    assert "title: required key is missing" in _err(tmp_path, raw)


def test_bad_date(tmp_path):
    raw = _base(tmp_path, window={"start": "2021-13-01", "end": "2025-03-31"})
    assert "window.start: expected a date YYYY-MM-DD, got '2021-13-01'" in _err(tmp_path, raw)


def test_window_reversed(tmp_path):
    raw = _base(tmp_path, window={"start": "2025-04-01", "end": "2021-03-31"})
    assert "window: end (2021-03-31) must be after start (2025-04-01)" in _err(tmp_path, raw)


def test_unsafe_name(tmp_path):
    msg = _err(tmp_path, _base(tmp_path, name="../../etc; rm -rf /"))
    assert "name: expected letters, digits, '_' or '-'" in msg and "got '../../etc; rm -rf /'" in msg


def test_missing_data_file(tmp_path):
    raw = _base(tmp_path)
    raw["data"]["practices"] = "nowhere/practices.parquet"
    msg = _err(tmp_path, raw)
    assert "data.practices: file not found:" in msg and "nowhere/practices.parquet" in msg


def test_bad_validation_action(tmp_path):
    msg = _err(tmp_path, _base(tmp_path, validation={"actions": {"activity_after_death": "ignore"}}))
    assert "activity_after_death: expected one of error, exclude, got 'ignore'" in msg


def test_unknown_validation_check(tmp_path):
    msg = _err(tmp_path, _base(tmp_path, validation={"actions": {"activity_after_deth": "exclude"}}))
    assert "unknown check 'activity_after_deth' (did you mean 'activity_after_death'?)" in msg


def test_bad_report_format(tmp_path):
    msg = _err(tmp_path, _base(tmp_path, report={"formats": ["html", "pptx"]}))
    assert "report.formats.1: expected 'html', 'pdf', 'docx' or 'xlsx', got 'pptx'" in msg


def test_seed_not_a_number(tmp_path):
    assert "seed: expected a number, got 'abc'" in _err(tmp_path, _base(tmp_path, seed="abc"))


def test_disclosure_threshold(tmp_path):
    msg = _err(tmp_path, _base(tmp_path, report={"disclosure": {"min_count": 0}}))
    assert "report.disclosure.min_count: expected a number >= 1, got 0" in msg


def test_duplicate_yaml_key(tmp_path):
    _files(tmp_path)
    p = tmp_path / "demo.yaml"
    p.write_text(textwrap.dedent("""\
        name: demo
        title: Demo
        title: Other
        window: {start: 2021-04-01, end: 2025-03-31}
        data: {population: pop.csv, activity: act.csv}
        """))
    with pytest.raises(SpecError, match=r"duplicate key 'title' at line 3 \(first at line 2\)"):
        load_spec(p)


def test_not_yaml_and_empty_and_missing(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("name: [unclosed\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(p)
    p.write_text("")
    with pytest.raises(SpecError, match="the spec is empty"):
        load_spec(p)
    with pytest.raises(SpecError, match="spec file not found"):
        load_spec(tmp_path / "absent.yaml")


def test_top_level_not_a_mapping(tmp_path):
    with pytest.raises(SpecError, match="expected a YAML mapping at the top level, got list"):
        parse_spec(["a"], base_dir=tmp_path, source="demo.yaml")


def test_southvale_spec_is_valid():
    s = load_spec(ROOT / "analyses" / "southvale.yaml")
    assert s.name == "southvale" and s.matching is not None and s.effects is not None


def test_joint_display_keys_checked_at_load(tmp_path):
    """Regression: the spec's keys `under 65`/`65+` never matched the facts' `under_65`/`65_plus`, so the joint
    display printed "rate ratio not available" (and still said "confirms"). Keys are now checked at load."""
    import yaml

    raw = yaml.safe_load((ROOT / "analyses" / "southvale.yaml").read_text())
    raw["qualitative"]["joint_display"][0]["quant_key"] = "effects.emergency_admission.did.under 65.rate_ratio"
    raw["qualitative"]["joint_display"][1]["quant_key"] = "effects.care_homes.did.65_plus.rate_ratio"
    with pytest.raises(SpecError) as err:
        parse_spec(raw, base_dir=ROOT / "analyses")
    msg = str(err.value)
    assert "qualitative.joint_display[0].quant_key" in msg
    assert "did you mean 'effects.emergency_admission.did.under_65.rate_ratio'" in msg
    assert "qualitative.joint_display[1].quant_key: outcome 'care_homes' is not one of" in msg
    # The shipped plan uses the stable keys.
    spec = load_spec(ROOT / "analyses" / "southvale.yaml")
    assert [e.quant_key for e in spec.qualitative.joint_display][:2] == [
        "effects.emergency_admission.did.under_65.rate_ratio", "effects.emergency_admission.did.65_plus.rate_ratio"]
