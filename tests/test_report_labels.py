"""The label registry: every code has words, and the scanner finds raw identifiers."""
from evaltool.report.labels import (
    GLOSSARY,
    LABELS,
    column_label,
    glossary_entries,
    raw_identifiers,
    subgroup_key,
    value_label,
)
from evaltool.report.markdown import humanise


def test_subgroup_keys_are_stable():
    # The spec once said `under 65`/`65+` while the facts said `under_65`/`65_plus`: one key form everywhere.
    assert [subgroup_key(x) for x in ("under 65", "under_65", "65+", "65_plus", "all", None)] == \
        ["under_65", "under_65", "65_plus", "65_plus", "all", "all"]
    assert value_label("subgroup", "65+") == value_label("subgroup", "65_plus") == "65 and over"


def test_codes_reported_as_raw_in_issue_have_words():
    # Headers and codes the old report printed raw.
    assert column_label("smd_after", short=True) == "SMD after"
    assert column_label("ecdf_max_after") == "Largest eCDF difference after"
    assert column_label("kazis_es") == "Effect size (Kazis)"
    assert value_label("estimator", "imputation_poisson").startswith("Imputation (Poisson)")
    for col in ("quant_key", "small_group", "subgroup_var", "method"):
        from evaltool.report.sections.appendix import DROP_COLUMNS

        assert col in DROP_COLUMNS  # internal columns never published


def test_every_registered_label_is_words():
    for (kind, key), (label, short) in LABELS.items():
        assert not raw_identifiers(label), (kind, key, label)
        assert not short or not raw_identifiers(short), (kind, key, short)


def test_scanner():
    assert raw_identifiers("imputation_bjs_wild_cluster_bootstrap_t_webb") == ["imputation_bjs_wild_cluster_bootstrap_t_webb"]
    assert raw_identifiers("Smd | Ecdf | Kazis es | Quant key") == ["Ecdf", "Kazis es", "Quant key", "Smd"]
    # File names, addresses and prose are not identifiers.
    assert raw_identifiers("Read population.parquet and see https://x.org/a_b; the p value was small.") == []
    assert raw_identifiers("SMD below 0.1") == []


def test_humanise_tables():
    import pandas as pd

    df = pd.DataFrame({"outcome": ["care_home_admission"], "subgroup": ["under 65"], "balanced": [True],
                       "ci_lower": [0.5]})
    h = humanise(df)
    assert h.columns.tolist() == ["Outcome", "Group", "Balanced", "95% CI lower"]
    assert h.iloc[0].tolist()[:3] == ["Care-home admissions", "Under 65", "Yes"]


def test_glossary_entries_follow_the_text():
    terms = [t for t, _ in glossary_entries("A rate ratio with its 95% confidence interval; regression to the mean.")]
    assert terms == ["95% confidence interval", "rate ratio", "regression to the mean"]
    assert all(d.endswith(".") for d in GLOSSARY.values())
