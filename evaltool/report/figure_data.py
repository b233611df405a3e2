"""Count figures drawn by the report from published (controlled) data tables."""
from __future__ import annotations

__all__ = ["suppression_note"]


def suppression_note(data, rules) -> str:
    """Words saying what a figure's data lose to disclosure control ("" when nothing is suppressed)."""
    cols = [c for c in data.count_columns if c in data.hidden.columns]
    if not cols or not rules.enabled:
        return ""
    hidden = data.hidden[cols].any(axis=1)
    n, total = int(hidden.sum()), len(hidden)
    if n == 0:
        return ""
    label = rules.count_rule(data.rule).suppressed_text()
    if n == total:
        return (f"All of this figure's values are suppressed to protect confidentiality (small numbers, shown as "
                f"{label} in the tables), so it is not drawn.")
    return (f"{n} of {total} values are not drawn because they are suppressed to protect confidentiality "
            f"(small numbers, or numbers that would reveal them).")
