"""PREM engine: item maps, reverse coding, half rule, don't know, top box, FFT, Cronbach's alpha."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evaltool.errors import DataValidationError, SpecError
from evaltool.proms import PremDefinition, cronbach_alpha, fft_summary, load_definition, score_prem, summarise_prem, top_box

P3 = load_definition("P3CEQ")
ITEMS = [i.id for i in P3.items]


def _row(**kw):
    base = {i: "Completely" for i in ITEMS} | {"p3ceq_q4": "Never", "p3ceq_q9": "Yes", "p3ceq_q10": "Yes"}
    return base | kw


def test_p3ceq_definition_structure():
    assert len(P3.items) == 11
    scales = {s.name: s for s in P3.scales}
    assert set(scales) == {"person_centredness", "care_coordination", "total"}
    assert len(scales["person_centredness"].items) + len(scales["care_coordination"].items) == 11
    assert "confirm" in P3.confirm.lower() or "official" in P3.confirm.lower()


def test_p3ceq_scoring_range_reverse_coding_and_yes_no():
    best = score_prem(pd.DataFrame([_row()]), P3).iloc[0]
    worst = score_prem(pd.DataFrame([{i: "Not at all" for i in ITEMS} | {"p3ceq_q4": "Always", "p3ceq_q9": "No",
                                                                       "p3ceq_q10": "No"}]), P3).iloc[0]
    assert best["total"] == 33 and worst["total"] == 0
    assert best["person_centredness"] == 24 and best["care_coordination"] == 9
    # reverse-coded q4: "Never" repeat information = 3, "Always" = 0, "Often" = 1
    s = score_prem(pd.DataFrame([_row(p3ceq_q4="Often")]), P3).iloc[0]
    assert s["p3ceq_q4"] == 1 and s["total"] == 31
    # numeric codes work like labels (Completely = code 4 -> 3 points; Yes = code 1 -> 3 points)
    coded = pd.DataFrame([{i: 4 for i in ITEMS} | {"p3ceq_q4": 1, "p3ceq_q9": 1, "p3ceq_q10": 1}])
    assert score_prem(coded, P3)["total"].iloc[0] == 33


def test_half_rule_and_dont_know():
    # care coordination has 3 items: scored with 2 answered (prorated x 3/2), not with 1.
    two = _row(p3ceq_q10="Don't know")  # don't know counts as unanswered
    one = _row(p3ceq_q10=None, p3ceq_q5="Not relevant")
    s = score_prem(pd.DataFrame([two, one]), P3)
    assert s["care_coordination_n_answered"].tolist() == [2, 1]
    assert s["care_coordination"].iloc[0] == pytest.approx((3 + 3) / 2 * 3)
    assert np.isnan(s["care_coordination"].iloc[1])
    # total over 11 items needs 6 answered: 6 answered -> scored, 5 -> missing
    ans = {i: "Mostly" for i in ITEMS} | {"p3ceq_q4": "Often", "p3ceq_q9": "Yes", "p3ceq_q10": "Yes"}
    six = {i: (ans[i] if k < 6 else "Don't know") for k, i in enumerate(ITEMS)}
    five = {i: (ans[i] if k < 5 else None) for k, i in enumerate(ITEMS)}
    s = score_prem(pd.DataFrame([six, five]), P3)
    # six answered: q1-q3, q5, q6 "Mostly" = 2; q4 "Often" = 2 reversed to 1 -> sum 11, prorated 11/6 x 11
    assert s["total"].iloc[0] == pytest.approx(11 / 6 * 11)
    assert np.isnan(s["total"].iloc[1])
    assert s["total_n_answered"].tolist() == [6, 5]


def test_unknown_response_names_rows():
    with pytest.raises(DataValidationError, match=r"p3ceq_q1.*row 2 "):
        score_prem(pd.DataFrame([_row(), _row(p3ceq_q1="Sort of")]), P3)


def test_cronbach_alpha_hand_calculation():
    items = pd.DataFrame({"a": [1, 2, 3, 4], "b": [2, 2, 3, 5], "c": [1, 3, 3, 4]})
    # item variances 5/3, 2, 19/12 (sum 5.25); totals 4, 7, 9, 13 -> variance 14.25
    # alpha = 3/2 * (1 - 5.25/14.25) = 0.947368...
    a, n = cronbach_alpha(items)
    assert a == pytest.approx(1.5 * (1 - 5.25 / 14.25), abs=1e-12) and n == 4
    a2, n2 = cronbach_alpha(pd.concat([items, pd.DataFrame({"a": [np.nan], "b": [1], "c": [1]})]))
    assert a2 == pytest.approx(a) and n2 == 4  # complete cases only


def test_top_box_bases_and_weights():
    r = pd.Series(["Very good", "Good", "Poor", "Don't know", None, "Very good"])
    all_ = top_box(r, ["Very good", "Good"], base="all").iloc[0]
    valid = top_box(r, ["Very good", "Good"], base="valid").iloc[0]
    assert (all_["n_base"], all_["n_top"], all_["pct"]) == (5, 3, 60.0)
    assert (valid["n_base"], valid["n_top"], valid["pct"]) == (4, 3, 75.0)
    assert "don't know included" in all_["base"]
    w = pd.Series([1.0, 2.0, 1.0, 1.0, 5.0, 2.0])
    tw = top_box(r, ["Very good", "Good"], base="valid", weights=w).iloc[0]
    # valid base weights 1, 2, 1, 2 (top: 1, 2, 2) -> 5/6; Kish n = 36 / 10
    assert tw["pct_weighted"] == pytest.approx(100 * 5 / 6)
    assert tw["n_effective"] == pytest.approx(3.6)
    by = top_box(r, ["Very good"], by=pd.Series(list("aabbbb")))
    assert by.set_index("group").loc["a", "pct"] == 50.0


def test_fft_dont_know_in_denominator_and_codes():
    df = pd.DataFrame({"fft_q1": ["Very good", "Good", "Poor", "Don't know", "Neither good nor poor", None, 5],
                       "group": ["x"] * 7})
    f = fft_summary(df, by="group").iloc[0]
    assert f["n_responses"] == 6 and f["n_blank"] == 1 and f["n_dont_know"] == 1
    assert f["pct_positive"] == pytest.approx(100 * 2 / 6)
    assert f["pct_negative"] == pytest.approx(100 * 2 / 6)  # Poor + code 5 (Very poor)
    assert f["n_neutral"] == 1


def test_summarise_prem_scales_items_alpha():
    rng = np.random.default_rng(4)
    opts = ["Not at all", "To some extent", "Mostly", "Completely"]
    rows = []
    for _ in range(60):
        k = int(rng.integers(0, 4))
        row = {i: opts[min(3, max(0, k + int(rng.integers(-1, 2))))] for i in ITEMS}
        row |= {"p3ceq_q4": ["Always", "Often", "Sometimes", "Never"][k], "p3ceq_q9": "Yes" if k > 1 else "No",
                "p3ceq_q10": "Yes" if k > 2 else "No"}
        rows.append(row)
    df = pd.DataFrame(rows).assign(group=["a", "b"] * 30)
    res = summarise_prem(df, P3)
    scores = score_prem(df, P3)
    tot = res.scales.query("scale == 'total' and group == 'a'").iloc[0]
    ref = scores["total"][df["group"] == "a"]
    assert tot["estimate"] == pytest.approx(ref.mean()) and tot["n_scored"] == 30
    alpha = res.alpha.query("scale == 'total' and group == 'b'")["alpha"].iloc[0]
    assert alpha == pytest.approx(cronbach_alpha(scores.loc[df["group"] == "b", ITEMS])[0])
    it = res.items.query("item == 'p3ceq_q9' and group == 'a'").iloc[0]
    assert it["n_top"] == int((df.loc[df.group == "a", "p3ceq_q9"] == "Yes").sum())


def test_bad_item_map_is_a_spec_error():
    with pytest.raises(SpecError, match="unknown response set"):
        PremDefinition.from_dict({"name": "x", "response_sets": {}, "items": [{"id": "q", "response_set": "nope"}]})
    with pytest.raises(SpecError, match="unknown items"):
        PremDefinition.from_dict({"name": "x", "response_sets": {"yn": {"options": [{"label": "Y", "score": 1}]}},
                                  "items": [{"id": "q", "response_set": "yn"}], "scales": {"s": {"items": ["z"]}}})


def test_generic_likert_item_map_from_yaml_file(tmp_path):
    path = tmp_path / "likert.yaml"
    path.write_text(
        "name: LOCAL\n"
        "dont_know: missing\n"
        "response_sets:\n"
        "  agree5:\n"
        "    options:\n"
        "      - {label: Strongly agree, code: 5, score: 4}\n"
        "      - {label: Agree, code: 4, score: 3}\n"
        "      - {label: Neutral, code: 3, score: 2}\n"
        "      - {label: Disagree, code: 2, score: 1}\n"
        "      - {label: Strongly disagree, code: 1, score: 0}\n"
        "    dont_know: [{label: Can't say, code: 9}]\n"
        "    top_box: [Strongly agree, Agree]\n"
        "items:\n"
        "  - {id: a, response_set: agree5}\n"
        "  - {id: b, response_set: agree5, reverse: true}\n"
        "  - {id: c, response_set: agree5}\n"
        "  - {id: d, response_set: agree5}\n"
        "scales:\n"
        "  overall: {items: [a, b, c, d], score: mean, min_answered: 0.75}\n"
    )
    d = load_definition(path)
    df = pd.DataFrame({"a": ["Agree", "Agree", "agree"], "b": ["Strongly disagree", 9, None],
                       "c": [5, "Neutral", None], "d": ["Neutral", "Neutral", "Neutral"]})
    s = score_prem(df, d)
    # row 1: a 3, b reversed 0 -> 4, c 4, d 2 -> mean 13/4; row 2: three answered (b can't say) -> (3+2+2)/3;
    # row 3: two of four answered < 75% -> missing
    assert s["overall"].iloc[0] == pytest.approx(13 / 4)
    assert s["overall"].iloc[1] == pytest.approx(7 / 3)
    assert np.isnan(s["overall"].iloc[2])
    res = summarise_prem(df.assign(group="g"), d, base="all")
    b = res.items.set_index("item").loc["b"]
    assert (b["n_answered"], b["n_dont_know"], b["n_missing"]) == (1, 1, 1)
    assert b["n_base"] == 2  # base "all": answered + can't say
