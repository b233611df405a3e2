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
    base = ("change classes as % of the pairs with problems (all pairs less those at 11111 both times, the "
            "no_problems class, which is a % of all pairs)" if config.pchc_no_problems else "% of all valid pairs")
    classes = ("better: some dimension better and none worse; worse: the reverse; mixed: both; no_change: identical "
               "profiles" + ("; no_problems: 11111 at both times" if config.pchc_no_problems else ""))
    out.tables["eq5d_pchc"] = res.profile
    out.table_meta["eq5d_pchc"] = TableMeta(
        appendix=True, title="Paretian Classification of Health Change (EQ-5D profiles)",
        caption=f"{classes} (Devlin et al. 2010; as R eq5d pchc()). pct: {base}; pct_all_pairs: % of all valid "
                "pairs.",
        count_columns=("n", "n_with_problems", "n_pairs"), derived_columns=(("pct", "n"), ("pct_all_pairs", "n")),
    )
    out.tables["eq5d_pchc_dimensions"] = res.by_dimension
    out.table_meta["eq5d_pchc_dimensions"] = TableMeta(
        appendix=True, title="Paretian Classification of Health Change by EQ-5D dimension",
        caption=f"Each dimension classified alone (no mixed class). pct: {base}.",
        count_columns=("n", "n_with_problems", "n_pairs"), derived_columns=(("pct", "n"), ("pct_all_pairs", "n")),
    )
    out.tables["eq5d_superiority"] = res.superiority
    out.table_meta["eq5d_superiority"] = TableMeta(
        appendix=True, title="Probability of superiority by EQ-5D dimension",
        caption="PS = (better + half of no change) / pairs (as R eq5d ps()): 0.5 = improvement and deterioration "
                f"balance; above 0.5 = improvement dominates. {int(config.confidence * 100)}% Wald interval on the "
                "mean sign of change.",
        count_columns=("n_better", "n_no_change", "n_worse", "n_pairs"),
        derived_columns=tuple((c, n) for c in ("ps", "ci_lower", "ci_upper") for n in ("n_better", "n_worse")),
    )
    out.objects["eq5d_paretian"] = res
