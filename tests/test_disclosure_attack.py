"""The attacker: no suppressed count of a published table can be worked out from what is published.

Three sources of published tables, each attacked by ``tests/_attacker.py`` (written apart from the
gate; linear programming with scipy's ``linprog``):

* a generator of small tables (Hypothesis): one-way distributions and two-way tables with a repeated
  denominator and percentages of it, under the HES, FFT and qualitative rules; for the smallest
  tables an exhaustive search of every integer table consistent with what is published;
* a run of the whole pipeline on a Southvale with about 30 enrolled people (matched with Mahalanobis
  distance, as a propensity model separates so few people perfectly);
* the Southvale example run (slow).

The same run checks that count figures draw nothing a suppressed count feeds, and that the
qualitative tables and joint display publish no participant count from 1 to 7.
"""
from __future__ import annotations

import itertools
import math
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from _attacker import Attack, Table, tables_from_published
from evaltool.report.bundle_io import Bundle, TableEntry, load_bundle
from evaltool.report.disclosure import DisclosureConfig, apply_disclosure
from evaltool.report.publish import publish
from evaltool.report.rules import DisclosureRules

# The same generated tables on every run, so that a CI result is never a draw of the dice (a failing
# example reproduces); HYPOTHESIS_PROFILE=explore draws new ones.
settings.register_profile("fixed", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fixed"))

ROOT = Path(__file__).resolve().parents[1]


def _bundle(tables: dict[str, tuple[pd.DataFrame, tuple, tuple]], rule: str = "hes") -> Bundle:
    entries = {name: TableEntry(name, "proms", name, "", counts, derived, False, True, df,
                                rule if rule != "hes" else None)
               for name, (df, counts, derived) in tables.items()}
    manifest = {"name": "t", "title": "t", "created": "2026-01-01T00:00:00Z", "tables": [], "figures": []}
    return Bundle(Path("."), manifest, {}, entries, {})


# ---------------------------------------------------------------------------------------------
# the attacker has teeth: it recovers what the old per-table suppression let through


def test_attacker_recovers_counts_from_old_style_percentages():
    # Before the gate: percentages computed from unrounded counts and published to full precision
    # beside a suppressed count (issue 11: all 10 suppressed eq5d_levels cells recovered).
    df = pd.DataFrame({"dimension": ["mo"] * 5 + ["sc"] * 5, "level": [1, 2, 3, 4, 5] * 2,
                       "n": [1519, 222, 66, 17, 2, 1700, 100, 20, 5, 1], "n_valid": [1826] * 10})
    df["pct"] = 100 * df["n"] / df["n_valid"]
    old = apply_disclosure(df, ["n", "n_valid"], [("pct", "n")], DisclosureConfig()).table
    t = Table("eq5d_levels", old, df, ["n", "n_valid"], [("pct", "n")], 5, 8, 6)
    bad = Attack([t]).recovered()
    assert "eq5d_levels[4].n: true 2, attacker's range 2-2" in bad, bad
    assert "eq5d_levels[9].n: true 1, attacker's range 1-5" in bad, bad  # 5 + 1 = 6 known exactly
    # The gate's version of the same table holds.
    pub = publish(_bundle({"eq5d_levels": (df, ("n", "n_valid"), (("pct", "n"),))}))
    assert pub.table("eq5d_levels").display["n"].tolist()[-1] == "*"
    assert Attack(tables_from_published(pub, _bundle({"eq5d_levels": (df, ("n", "n_valid"), (("pct", "n"),))}))
                  ).recovered() == []


# ---------------------------------------------------------------------------------------------
# generated small tables

counts_small = st.integers(min_value=0, max_value=40)


@st.composite
def one_way(draw):
    k = draw(st.integers(2, 6))
    n = draw(st.lists(counts_small, min_size=k, max_size=k))
    if sum(n) == 0:
        n[0] = 9
    df = pd.DataFrame({"answer": [f"a{i}" for i in range(k)], "n": n})
    df["pct"] = 100 * df["n"] / df["n"].sum()
    return df


@st.composite
def two_way(draw):
    groups = draw(st.integers(1, 3))
    levels = draw(st.integers(2, 4))
    rows = []
    for g in range(groups):
        n = draw(st.lists(counts_small, min_size=levels, max_size=levels))
        tot = sum(n)
        for lv, x in enumerate(n):
            rows.append({"group": f"g{g}", "level": lv + 1, "n": x, "n_valid": tot,
                         "pct": 100 * x / tot if tot else np.nan})
    return pd.DataFrame(rows)


def _attack_generated(df, counts, derived, rule):
    b = _bundle({"t": (df, counts, derived)}, rule)
    pub = publish(b)
    pt = pub.table("t")
    r = pub.rules.count_rule(pt.rule)
    # Every count from 1 to min_count - 1 is suppressed, and everything derived from it.
    for c in counts:
        small = df[c].between(1, r.min_count - 1).to_numpy()
        assert pt.hidden[c].to_numpy()[small].all()
        for d, src in derived:
            if src == c:
                assert pt.hidden[d].to_numpy()[small & df[d].notna().to_numpy()].all()
    assert pub.passed, pub.failures
    bad = Attack(tables_from_published(pub, b)).recovered()
    assert bad == [], (df, pt.display, bad)
    return pub


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(one_way(), st.sampled_from(["hes", "fft", "qual"]))
def test_generated_one_way_tables_hold(df, rule):
    _attack_generated(df, ("n",), (("pct", "n"),), rule)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(two_way(), st.sampled_from(["hes", "qual"]))
def test_generated_two_way_tables_hold(df, rule):
    _attack_generated(df, ("n", "n_valid"), (("pct", "n"),), rule)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(0, 20), min_size=2, max_size=4), st.sampled_from(["hes", "fft"]))
@example([1, 1, 3], "fft")  # every count suppressed and their total (5) known: no suppression can protect it
def test_tiny_tables_exhaustive_search(n, rule):
    """Every integer table consistent with what is published: each suppressed cell keeps its range, or the
    gate says it does not (``Published.failures``, printed as a warning in the report's disclosure statement):
    three counts suppressed under a known total of 5 each lie in 1-3 whatever is hidden."""
    if sum(n) == 0:
        n[0] = 12
    df = pd.DataFrame({"answer": [f"a{i}" for i in range(len(n))], "n": n})
    pub = publish(_bundle({"t": (df, ("n",), ())}, rule))
    r = pub.rules.count_rule(pub.table("t").rule)
    shown = pub.table("t").display["n"].tolist()
    total = sum(n)
    rt = math.floor(total / r.round_to + 0.5) * r.round_to
    # What a reader knows: each shown count to within its rounding, each suppressed one is >= 1, and the
    # total (taken as known from elsewhere) to within its rounding, unless it is small.
    choices = []
    for v in shown:
        if isinstance(v, str):
            # (at least up to the threshold: a brute-force domain bounded by a tiny total would itself
            # shrink the range the reader cannot rule out)
            choices.append(range(1, max(total + r.round_to, r.min_count) + 1))
        elif v == 0:
            choices.append(range(0, 1))
        else:
            lo, hi = math.ceil(v - r.round_to / 2), math.ceil(v + r.round_to / 2) - 1
            choices.append(range(max(lo, r.min_count), hi + 1))
    t_lo, t_hi = ((1, 10 ** 6) if total < r.min_count else
                  (max(r.min_count, math.ceil(rt - r.round_to / 2)), math.ceil(rt + r.round_to / 2) - 1))
    feasible = [x for x in itertools.product(*choices) if t_lo <= sum(x) <= t_hi]
    assert tuple(n) in feasible
    for i, v in enumerate(shown):
        if isinstance(v, str):
            vals = [x[i] for x in feasible]
            if max(vals) - min(vals) < pub.rules.protection_for(pub.table("t").rule):
                assert any(f.startswith(f"t[{i}].n:") for f in pub.failures), (n, shown, i, pub.failures)


# ---------------------------------------------------------------------------------------------
# a ~30-person run of the whole pipeline


@pytest.fixture(scope="module")
def run30(tmp_path_factory):
    from evaltool.datasets.example import write_example_data
    from evaltool.pipeline import run

    root = tmp_path_factory.mktemp("southvale30")
    data = root / "example_data" / "southvale"
    write_example_data(data, seed=7, scale=0.0125)
    raw = yaml.safe_load((ROOT / "analyses" / "southvale.yaml").read_text())
    raw["report"]["formats"] = ["html", "xlsx"]
    raw["rollout"]["bootstrap_reps"] = 99
    # So few enrolled people are separated perfectly by a propensity model; match on Mahalanobis distance.
    raw["matching"].update(distance="mahalanobis", caliper=None, ratio=2,
                           covariates=["age", "sex", "ltc_count", "risk_score", "emergency_admission_12m"])
    (root / "analyses").mkdir()
    shutil.copytree(ROOT / "templates", root / "templates")  # the spec's narrative files
    spec = root / "analyses" / "southvale.yaml"
    spec.write_text(yaml.safe_dump(raw, sort_keys=False))
    res = run(spec, output_dir=root / "reports")
    bundle = load_bundle(res.bundle_dir)
    return res, bundle, publish(bundle)


def test_run30_is_small(run30):
    _, bundle, _ = run30
    assert 25 <= bundle.facts["cohort"]["n_enrolled"] <= 45


def test_run30_attacker_recovers_nothing(run30):
    _, bundle, pub = run30
    assert pub.passed, pub.failures
    assert pub.n_primary > 100  # a small run: plenty to protect
    tables = tables_from_published(pub, bundle)
    assert len(tables) >= 20
    assert Attack(tables).recovered() == []


def test_run30_every_small_count_suppressed(run30):
    _, bundle, pub = run30
    for name, pt in pub.tables.items():
        if pt.rule == "none":
            continue
        raw = bundle.tables[name].data
        r = pub.rules.count_rule(pt.rule)
        for c in pt.count_columns:
            small = pd.to_numeric(raw[c], errors="coerce").between(1, r.min_count - 1).to_numpy()
            assert pt.hidden[c].to_numpy()[small].all(), (name, c)
            shown = pt.display[c][~pt.hidden[c].to_numpy()]
            assert all(v is None or v == 0 or v >= r.min_count for v in shown), (name, c)


def test_run30_figures_draw_nothing_from_suppressed_counts(run30):
    from evaltool.report.figure_data import draw

    _, bundle, pub = run30
    data_figs = [f for f in pub.figures.values() if f.kind == "data"]
    names = {f.name for f in data_figs}
    # Every count figure of the stages is drawn from published data, none from a stage PNG.
    assert {"eq5d_levels", "eq5d_change_distribution", "activation_levels", "prem_fft", "prem_p3ceq_top_box",
            "qual_theme_salience", "qual_theme_by_role_heatmap", "qual_cooccurrence_heatmap", "pre_trajectory"} <= names
    # (Matched on Mahalanobis distance, the run has no propensity-score figure.)
    for f in data_figs:
        pt = f.data
        y = f.encoding.get("y") or f.encoding.get("value")
        raw = bundle.tables[pt.name].data
        counts = [c for c in pt.count_columns if c in raw.columns]
        r = pub.rules.count_rule(pt.rule)
        small = pd.DataFrame({c: pd.to_numeric(raw[c], errors="coerce").between(1, r.min_count - 1) for c in counts})
        source = next((src for d, src in pt.derived_columns if d == y), y)
        rows_small = small[source].to_numpy() if source in small else np.zeros(len(raw), bool)
        # The published data hold no value where the count behind it is suppressed ...
        assert not np.isfinite(pt.values[y].to_numpy(float)[pt.hidden[source].to_numpy()]).any(), f.name
        assert pt.hidden[source].to_numpy()[rows_small].all(), f.name
        # ... and the drawing plots only published values.
        p = draw(f)
        if p is None:
            # Not drawn: nothing above zero is published, and the caption and alt text say why.
            assert f.all_hidden and f.note and f.note in f.alt, (f.name, f.note)
            continue
        drawn = pd.to_numeric(p.data[y], errors="coerce").to_numpy(float)
        published = pt.values[y].to_numpy(float)
        assert np.isin(drawn[np.isfinite(drawn)], published[np.isfinite(published)]).all(), f.name
        # A value is drawn only where it is published; wherever its count is suppressed it is too.
        assert (pt.hidden[y] | ~pt.hidden[source]).all(), f.name
        assert len(p.data) == int((~pt.hidden[y]).sum()), f.name
        if pt.hidden[y].any():
            assert "suppressed" in f.alt and "suppressed" in f.note, f.name


def test_run30_qualitative_counts_controlled(run30):
    _, bundle, pub = run30
    quals = [n for n, t in pub.tables.items() if t.rule == "qual"]
    assert {"qual_theme_frequencies", "qual_theme_by_role", "joint_display", "qual_theme_role_matrix"} <= set(quals)
    for name in quals:
        pt = pub.tables[name]
        for c in pt.count_columns:
            shown = [v for v in pt.display[c] if isinstance(v, (int, float))]
            assert not any(1 <= v <= 7 for v in shown), (name, c)
    text = " ".join(map(str, pub.table("joint_display").display["themes"]))
    assert not re.search(r"\b[1-7] participants", text), text
    assert "participants" in text
    matrix = pub.table("qual_theme_role_matrix").display
    cells = [str(v) for c in matrix.columns[1:] for v in matrix[c]]
    assert not any(re.fullmatch(r"([1-7]/\d+|\d+/[1-7])", c) for c in cells), cells
    # Roles with fewer than 8 participants give no count at all beside the role.
    raw = bundle.tables["qual_theme_by_role"].data
    small_roles = set(raw.loc[raw["participants_in_group"] < 8, "role"])
    for role in small_roles & set(matrix.columns):
        assert all(v in ("0", "fewer than 8") or v.startswith("0 of") for v in matrix[role]), (role, matrix[role])


def test_run30_same_quantity_one_value(run30):
    """A count published in two places has one published value (no differencing between tables)."""
    _, bundle, pub = run30
    seen: dict[float, set] = {}
    for name, pt in pub.tables.items():
        if pt.rule != "hes":
            continue
        raw = bundle.tables[name].data
        for c in pt.count_columns:
            for v, shown in zip(pd.to_numeric(raw[c], errors="coerce"), pt.display[c]):
                if np.isfinite(v) and not isinstance(shown, str):
                    seen.setdefault(float(v), set()).add(shown)
    assert all(len(s) == 1 for s in seen.values()), {k: s for k, s in seen.items() if len(s) > 1}


def test_run30_check_publish_passes(run30):
    from evaltool.report.check import check_publish

    res, _, pub = run30
    chk = check_publish(res.bundle_dir)
    assert chk.passed, chk.to_frame().to_string()
    assert chk.identifier_source == "input files named in the manifest" and chk.n_identifiers > 1000
    assert len(chk.suppressed) == len(pub.cells)


@pytest.mark.slow
def test_southvale_attacker_recovers_nothing(tmp_path_factory):
    from evaltool.pipeline import run

    bundle_dir = ROOT / "reports" / "southvale"
    if not (bundle_dir / "results" / "manifest.json").exists():
        bundle_dir = run(ROOT / "analyses" / "southvale.yaml", output_dir=tmp_path_factory.mktemp("sv"),
                         formats=("html", "xlsx")).bundle_dir
    bundle = load_bundle(bundle_dir)
    pub = publish(bundle)
    assert pub.passed
    assert Attack(tables_from_published(pub, bundle)).recovered() == []


def test_rules_defaults_documented():
    r = DisclosureRules()
    assert (r.hes.min_count, r.hes.round_to, r.fft.min_count, r.fft.round_to, r.qual.suppressed_text()) == \
        (8, 5, 5, 1, "fewer than 8")


def test_regression_retention_percentage_of_baseline_is_recomputed():
    """Found by check-publish on Southvale: % retained (of the baseline responders, another row) was
    published to full precision because it matched a same-row share on the baseline rows only."""
    df = pd.DataFrame({"group": ["c"] * 3 + ["e"] * 3, "timepoint": ["baseline", "6m", "12m"] * 2,
                       "n_invited": [2179] * 3 + [2777] * 3, "n_responded": [1826, 1676, 904, 2260, 2086, 1109],
                       "n_both": [1826, 1397, 720, 2260, 1869, 966]})
    df["pct_retained"] = 100 * df["n_both"] / df.groupby("group")["n_responded"].transform("first")
    b = _bundle({"response_flow": (df, ("n_invited", "n_responded", "n_both"), (("pct_retained", "n_both"),))})
    shown = publish(b).table("response_flow").display
    # Whole percentages of the published counts: 1,395 of 1,825 is 76%.
    assert shown["pct_retained"].tolist() == [100.0, 76.0, 39.0, 100.0, 83.0, 43.0]
