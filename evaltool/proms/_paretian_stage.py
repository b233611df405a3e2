"""PROM stage tables for the Paretian classification of health change and the probability of superiority."""
from __future__ import annotations

import pandas as pd

from evaltool.proms.config import PromsConfig
from evaltool.proms.paretian import paretian_analysis
from evaltool.stage import StageOutput, TableMeta


def paretian_tables(out: StageOutput, eq: pd.DataFrame, config: PromsConfig, followups: list[str]) -> None:
    """Add eq5d_pchc, eq5d_pchc_dimensions and eq5d_superiority (as R eq5d pchc() and ps()) to ``out``.

    ``eq`` is the long EQ-5D table (person_id, group, timepoint, eq5d_mo ... eq5d_ad).
    """
    res = paretian_analysis(eq, instrument=config.instrument, baseline=config.baseline, followups=followups,
                            group_col="group", no_problems=config.pchc_no_problems, confidence=config.confidence)
    if not len(res.profile):
        return
    words = {"no_change": "No change", "better": "Better", "worse": "Worse", "mixed": "Mixed",
             "no_problems": "No problems"}
    dims = dict(zip(res.superiority["dimension"], res.superiority["dimension_label"]))
    if config.pchc_no_problems:
        classes = ("Better: at least one dimension better and none worse; worse: the reverse; mixed: some better and "
                   "some worse; no change: the same profile, with some problem; no problems: no problem in any "
                   "dimension at either time.")
        base = ("% of base: of the pairs with problems (all pairs less those with no problems) for the change "
                "classes, and of all pairs for no problems; % of all pairs: every class as a share of all pairs.")
    else:
        classes = ("Better: at least one dimension better and none worse; worse: the reverse; mixed: some better and "
                   "some worse; no change: the same profile.")
        base = "% of base and % of all pairs: of all pairs."
    source = "Devlin, Parkin and Browne (2010); definitions and percentages as in the R package eq5d."
    # Published names: People and "% of base" (the base is in the caption) read better than n and %.
    names = {"n": "n_people", "pct": "pct_of_base"}
    prof = res.profile.assign(category=res.profile["category"].map(words)).rename(columns=names)
    out.tables["eq5d_pchc"] = prof
    out.table_meta["eq5d_pchc"] = TableMeta(
        appendix=True, title="Paretian Classification of Health Change (EQ-5D profiles)",
        caption=f"Each person's profile at follow-up compared with baseline. {classes} {base} {source}",
        count_columns=("n_people", "n_with_problems", "n_pairs"),
        derived_columns=(("pct_of_base", "n_people"), ("pct_all_pairs", "n_people")),
    )
    out.tables["eq5d_pchc_dimensions"] = res.by_dimension.assign(
        dimension=res.by_dimension["dimension"].map(dims), category=res.by_dimension["category"].map(words)
    ).rename(columns=names)
    out.table_meta["eq5d_pchc_dimensions"] = TableMeta(
        appendix=True, title="Paretian Classification of Health Change by EQ-5D dimension",
        caption=f"Each dimension classified on its own (so no mixed class). {base} {source}",
        count_columns=("n_people", "n_with_problems", "n_pairs"),
        derived_columns=(("pct_of_base", "n_people"), ("pct_all_pairs", "n_people")),
    )
    out.tables["eq5d_superiority"] = res.superiority.drop(columns="dimension").rename(
        columns={"dimension_label": "dimension"})
    out.table_meta["eq5d_superiority"] = TableMeta(
        appendix=True, title="Probability of superiority by EQ-5D dimension",
        caption="The chance that a person's level in a dimension is better at follow-up than at baseline, counting "
                "no change as half (better plus half of no change, over all pairs; as the R package eq5d). 0.5: "
                "improvement and deterioration balance; above 0.5: improvement dominates. "
                f"{int(config.confidence * 100)}% interval from the normal approximation to the mean direction of "
                "change.",
        count_columns=("n_better", "n_no_change", "n_worse", "n_pairs"),
        derived_columns=tuple((c, n) for c in ("ps", "ci_lower", "ci_upper") for n in ("n_better", "n_worse")),
    )
    out.objects["eq5d_paretian"] = res
