"""Frequencies, co-occurrence, framework matrix, quotes and the joint display."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaltool._result import check_result_contract
from evaltool.errors import DataWarning, SpecError
from evaltool.qual import (
    agreement,
    cooccurrence,
    framework_matrix,
    frequencies,
    joint_display,
    primary_segments,
    read_analyst_summaries,
    read_codebook,
    read_qdpx,
    read_redaction_list,
    select_quotes,
)

EX = Path(__file__).resolve().parents[1] / "example_data" / "southvale" / "qual"


@pytest.fixture(scope="module")
def project():
    return read_qdpx(EX / "southvale.qdpx", codebook=read_codebook(EX / "codebook.yaml"))


@pytest.fixture(scope="module")
def names():
    return pd.read_csv(EX / "participants.csv")["name"].tolist()


def test_theme_frequencies_by_role_match_direct_pandas(project):
    seg, cb = project.segments, project.codebook
    res = frequencies(seg, cb, level="theme", by="role").to_frame()
    # Direct computation: coder_a coded every document, so it is the primary coder.
    a = seg[seg["coder"] == "coder_a"].assign(theme=lambda d: d["code"].map(cb.theme_of()))
    direct = a.groupby(["theme", "role"]).agg(n_segments=("code", "size"), n_participants=("participant_id", "nunique"),
                                              n_documents=("document_id", "nunique"))
    got = res.set_index(["item", "group"])
    for (theme, role), row in direct.iterrows():
        assert tuple(got.loc[(theme, role), ["n_segments", "n_participants", "n_documents"]]) == tuple(row[
            ["n_segments", "n_participants", "n_documents"]])
    per_role = a.groupby("role")["participant_id"].nunique()
    assert (got["participants_in_group"] == got.index.get_level_values("group").map(per_role)).all()
    np.testing.assert_allclose(got["pct_participants"], 100 * got["n_participants"] / got["participants_in_group"])
    # Zero rows for unused theme x role combinations are present, so groups are comparable.
    assert len(res) == len(cb.themes) * seg["role"].nunique()
    assert got["n_segments"].sum() == len(a)


def test_code_frequencies_match_truth(project):
    import json

    truth = json.loads((EX / "truth.json").read_text())
    res = frequencies(project.segments, project.codebook, level="code").to_frame().set_index("item")
    for code, n in truth["code_frequencies"]["coder_a"].items():
        assert res.loc[code, "n_segments"] == n


def test_primary_coder_falls_back_per_document():
    df = pd.DataFrame({"document_id": ["d1", "d1", "d2", "d3"], "coder": ["a", "b", "b", "c"], "code": ["x"] * 4})
    assert primary_segments(df, "a")[["document_id", "coder"]].values.tolist() == [["d1", "a"], ["d2", "b"],
                                                                                   ["d3", "c"]]


def test_cooccurrence_overlap_vs_same_segment():
    df = pd.DataFrame({
        "document_id": ["d"] * 5 + ["e"], "coder": ["c"] * 4 + ["k", "c"],
        "code": ["x", "y", "z", "x", "y", "y"], "text": [""] * 6,
        "start": [0, 0, 5, 50, 0, 0], "end": [10, 10, 8, 60, 10, 10]})
    ov = cooccurrence(df, primary_coder="c").matrix
    same = cooccurrence(df, mode="same_segment", primary_coder="c").matrix
    # x[0,10) overlaps y[0,10) and z[5,8); y overlaps z. Coder k and document e do not pair with d/c.
    assert ov.loc["x", "y"] == 1 and ov.loc["x", "z"] == 1 and ov.loc["y", "z"] == 1
    assert same.loc["x", "y"] == 1 and same.loc["x", "z"] == 0 and same.loc["y", "z"] == 0
    assert ov.loc["x", "x"] == 2 and ov.loc["y", "y"] == 2  # diagonal = segments
    assert (ov.to_numpy() == ov.to_numpy().T).all()


def test_cooccurrence_example_vs_brute_force(project):
    seg = project.segments[project.segments.coder == "coder_a"]
    m = cooccurrence(project.segments, project.codebook).matrix
    s = seg[seg.code.isin(["learning_mdt", "culture_trust"])]
    n = 0
    for _, g in s.groupby("document_id"):
        x = g[g.code == "learning_mdt"]
        y = g[g.code == "culture_trust"]
        for r in x.itertuples():
            n += int(((y.start < r.end) & (r.start < y.end)).sum())
    assert m.loc["learning_mdt", "culture_trust"] == n


def test_quotes_seeded_diverse_redacted_and_small_groups_warned(project, names):
    seg, cb = project.segments, project.codebook
    terms = read_redaction_list(EX / "participants.csv")
    with pytest.warns(DataWarning, match="fewer than 3 participants"):
        q1 = select_quotes(seg, cb, seed=3, per_theme=3, max_chars=80, redaction=terms).to_frame()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        q2 = select_quotes(seg, cb, seed=3, per_theme=3, max_chars=80, redaction=terms).to_frame()
        q3 = select_quotes(seg, cb, seed=4, per_theme=3, max_chars=80, redaction=terms).to_frame()
        q_raw = select_quotes(seg, cb, seed=3, per_theme=3, max_chars=80).to_frame()
    pd.testing.assert_frame_equal(q1, q2)
    assert not q1.equals(q3)
    assert (q1["n_chars"] <= 80).all()
    assert q1.groupby("theme").size().max() == 3
    # Diversity: within a theme the quotes come from different roles where the theme allows it.
    assert (q1.groupby("theme")["role"].nunique() >= 2).mean() > 0.8
    # Attribution is role and site only.
    assert (q1["attribution"] == q1["role"] + ", " + q1["site"]).all()
    blob = " ".join(q1["quote"])
    for full in names:
        for part in [full] + full.split():
            assert part not in blob
    assert "[name]" not in " ".join(q_raw["quote"])  # no redaction list, no masking
    # Small groups: each flagged attribution covers < 3 participants.
    sizes = seg.groupby(["role", "site"])["participant_id"].nunique()
    flags = [sizes[(r, s)] < 3 for r, s in zip(q1["role"], q1["site"])]
    assert q1["small_group"].tolist() == flags


def test_redaction_masks_names_inside_selected_quotes(project, names):
    seg = project.segments
    firsts = [n.split()[0] for n in names]
    with_name = seg[seg["text"].str.contains("|".join(firsts))]
    assert len(with_name) > 20  # the example mentions colleagues by first name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        q = select_quotes(with_name, project.codebook, seed=1, per_theme=5,
                          redaction=read_redaction_list(EX / "participants.csv")).to_frame()
    assert q["quote"].str.contains(r"\[name\]", regex=True).all()


def test_coarsen_small_groups(project):
    with pytest.warns(DataWarning, match="Attributed by role only"):
        q = select_quotes(project.segments, project.codebook, seed=1, coarsen_small_groups=True).to_frame()
    small = q[q["small_group"]]
    assert (~small["attribution"].str.contains(",")).all()


def test_framework_matrix_counts_quotes_and_summaries(project):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        q = select_quotes(project.segments, project.codebook, seed=1).to_frame()
    fw = framework_matrix(project.segments, project.codebook, by="role", quotes=q,
                          analyst_summaries=read_analyst_summaries(EX / "analyst_summaries.csv"))
    t = fw.to_frame().set_index(["group", "theme"])
    freq = frequencies(project.segments, project.codebook, level="theme", by="role").to_frame()
    freq = freq.set_index(["group", "item"])["n_segments"]
    assert (t["n_segments"].sort_index().to_numpy() == freq.sort_index().to_numpy()).all()
    assert t.loc[("GP", "learning_together"), "analyst_summary"].startswith("GPs value the weekly MDT")
    assert (t["quote"] != "").sum() >= 1
    assert fw.wide().shape == (7, 15)


def test_joint_display_uses_spec_text_facts_and_fit(project):
    ts = frequencies(project.segments, project.codebook, level="theme").to_frame()
    entries = [{"finding": "Emergency admissions: rate ratio {value}", "quant_key": "rr", "themes": ["prevention"],
                "fit": "confirms"},
               {"finding": "No change in A&E attendances", "themes": ["barrier_workforce", "culture_change"],
                "fit": "discordant"}]
    jd = joint_display(entries, ts, effects_facts={"rr": 0.8123}).to_frame()
    assert jd["finding"].tolist() == ["Emergency admissions: rate ratio 0.812", "No change in A&E attendances"]
    assert jd["fit"].tolist() == ["confirms", "discordant"]
    n = int(ts.set_index("item").loc["prevention", "n_participants"])
    assert jd.loc[0, "themes"].startswith(f"Prevention as everyone's business ({n} participants")
    with pytest.raises(SpecError, match="not in the codebook's themes"):
        joint_display([{"finding": "x", "themes": ["nope"], "fit": "confirms"}], ts)
    with pytest.warns(DataWarning, match="quant_key` 'missing' not found"):
        miss = joint_display([{"finding": "Rate ratio {value}", "quant_key": "missing", "themes": ["prevention"],
                               "fit": "expands"}], ts, effects_facts={})
    assert miss.to_frame().loc[0, "finding"] == "Rate ratio not available"
    with pytest.raises(Exception, match="fit"):
        joint_display([{"finding": "x", "themes": ["prevention"], "fit": "agrees"}], ts)


def test_result_contract_for_every_qual_result_class(project):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        q = select_quotes(project.segments, project.codebook, seed=1)
    ts = frequencies(project.segments, project.codebook, level="theme")
    for res in (project, project.codebook, agreement(project), ts,
                frequencies(project.segments, project.codebook, level="code", by="site"),
                cooccurrence(project.segments, project.codebook, level="theme"), q,
                framework_matrix(project.segments, project.codebook, quotes=q.to_frame()),
                joint_display([{"finding": "f", "themes": ["prevention"], "fit": "expands"}], ts.to_frame())):
        check_result_contract(res)
    # to_dict carries no transcript text from the project.
    assert "text" not in str(project.to_dict())


def test_caller_data_unchanged(project):
    seg = project.segments.copy(deep=True)
    before = seg.copy(deep=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        select_quotes(seg, project.codebook, seed=1, redaction=["Femi"])
    frequencies(seg, project.codebook, by="role")
    cooccurrence(seg, project.codebook)
    agreement(seg)
    framework_matrix(seg, project.codebook)
    pd.testing.assert_frame_equal(seg, before)


def test_quotes_unique_and_fitting_their_theme(project):
    """Regression: the same sentence was quoted under two roles, and a quote about staff vacancies
    illustrated "Learning together" (a passage coded to that theme once, and to workforce usually)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        q = select_quotes(project.segments, project.codebook, seed=20261122, per_theme=2,
                          redaction=read_redaction_list(EX / "participants.csv")).to_frame()
    words = q["quote"].map(lambda t: " ".join(t.split()).lower())
    assert words.is_unique, q[words.duplicated(keep=False)][["theme", "quote", "attribution"]]
    seg = project.segments.assign(theme=project.segments["code"].map(project.codebook.theme_of()))
    seg["w"] = seg["text"].astype(str).map(lambda t: " ".join(t.split()).lower())
    vac = q[q["quote"].str.contains("vacancies")]
    assert (vac["theme"] != "learning_together").all()
    # Every quote's words are coded to its theme at least as often as to any other theme.
    counts = seg.groupby(["w", "theme"]).size()
    for _, r in q.iterrows():
        c = counts[counts.index.get_level_values(0).isin(
            seg.loc[seg["text"].astype(str).str.contains(r["quote"][:30], regex=False), "w"])]
        if len(c):
            by_theme = c.groupby(level=1).sum()
            assert by_theme.get(r["theme"], 0) == by_theme.max(), (r["theme"], r["quote"], by_theme.to_dict())
