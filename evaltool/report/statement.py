"""The report's statement of the disclosure rules applied (plain English, from the gate's record)."""
from __future__ import annotations

__all__ = ["statement"]


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def statement(pub) -> str:
    """What was suppressed, under which rules, and whether the gate's own attack recovered anything.

    Examples
    --------
    >>> from evaltool.report.publish import Published
    >>> from evaltool.report.rules import DisclosureRules
    >>> statement(Published(DisclosureRules(), {}, {}, {}, (), 0, 0))[:41]
    'To protect confidentiality, counts of 1 t'
    """
    r = pub.rules
    if not r.enabled:
        return ("Disclosure control was switched off for this report: it shows unrounded counts and must not be "
                "published or shared outside the analysis team.")
    used = {t.rule for t in pub.tables.values()}
    hes = r.hes
    text = [f"To protect confidentiality, counts of 1 to {hes.min_count - 1} are shown as {hes.suppressed_text()}"
            + (f" and other counts are rounded to the nearest {hes.round_to} (0 is shown as 0)" if hes.round_to > 1
               else "") + ", following the NHS Digital disclosure control method for Hospital Episode Statistics."]
    text.append("Means, medians, rates and percentages based on a suppressed count are suppressed too; percentages "
                "and rates are worked out from the rounded counts. Model estimates and their confidence intervals "
                "are not rounded; the numbers of people behind them are.")
    if "fft" in used:
        f = r.fft
        text.append(f"Friends and Family Test tables follow that survey's publication rule: 1 to {f.min_count - 1} "
                    "responses are suppressed" + (f" and counts rounded to the nearest {f.round_to}" if f.round_to > 1
                                                  else ", counts are not rounded") + ".")
    if "qual" in used:
        q = r.qual
        text.append(f"In the interview findings, numbers of participants from 1 to {q.min_count - 1} are written as "
                    f"\u201c{q.suppressed_text()}\u201d and are never given for a group of people so small that "
                    "it would point to one person.")
    if r.secondary:
        text.append("Where a suppressed number could be worked out from totals or from other tables, further numbers "
                    "are suppressed as well.")
    n = pub.n_primary + pub.n_secondary
    if n:
        text.append(f"In this report {_plural(pub.n_primary, 'number')} {'is' if pub.n_primary == 1 else 'are'} "
                    f"suppressed because {'it is' if pub.n_primary == 1 else 'they are'} small"
                    + (f", and {pub.n_secondary:,} more to protect {'it' if pub.n_primary == 1 else 'them'}."
                       if pub.n_secondary else "."))
    if pub.passed:
        text.append("An automated check that tries to work out every suppressed number from everything published "
                    "(totals, percentages and other tables) could not narrow any of them below the protected range.")
    else:
        text.append(f"WARNING: the automated check could still narrow {_plural(len(pub.failures), 'suppressed number')}; "
                    "this report must not be published until that is resolved.")
    return " ".join(text)
