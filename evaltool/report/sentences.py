"""Plain-English sentences from published estimates: a small grammar with one test per branch.

The words follow the estimate *and its interval*: an effect is "lower" or "higher" only when
the whole 95% confidence interval lies on one side of no effect (a rate ratio of 1, a
difference of 0); otherwise "no clear difference", with the range the data are consistent
with. No "significant"; en-GB spelling; counts per 1,000 people a year; costs in pounds per
person a year. Every label comes from :mod:`evaltool.report.labels`.

Branches (each has a test in ``tests/test_report_sentences.py``):

* :func:`direction`: ``lower`` | ``higher`` | ``unclear`` | ``not_estimable``;
* :func:`ratio_phrase` and :func:`difference_phrase`: one wording per direction, costs in pounds;
* :func:`headline`: one key-points sentence per outcome (each direction, and a failed outcome);
* :func:`interaction_sentence`: for whom, with the test of difference stated honestly
  (clear difference | one group clear but the test not | neither group clear);
* :func:`multiplicity_sentence`: how many tests, and how often one would be "clear" by chance.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from evaltool.report.labels import unit_of, value_label

__all__ = ["direction", "difference_phrase", "headline", "interaction_sentence", "multiplicity_sentence",
           "num", "outcome_label", "p_text", "pct", "ratio_phrase", "subgroup_label"]

PER = "per 1,000 people a year"


def outcome_label(outcome: object, *, lower: bool = False) -> str:
    """Reader-facing outcome name (``lower=True`` for use inside a sentence).

    Examples
    --------
    >>> outcome_label("ae_attendance"), outcome_label("emergency_admission", lower=True)
    ('A&E attendances', 'emergency admissions')
    """
    lab = value_label("outcome", outcome)
    return _lower_first(lab) if lower else lab


def subgroup_label(level: object) -> str | None:
    """Reader-facing subgroup (``'under 65'``), or None for everyone.

    Examples
    --------
    >>> subgroup_label("65+"), subgroup_label("under_65"), subgroup_label("all")
    ('65 and over', 'under 65', None)
    """
    lab = value_label("subgroup", level)
    return None if lab in ("", "Everyone") else _lower_first(lab)


def _lower_first(s: str) -> str:
    # Keep acronyms ("A&E", "GP") as they are.
    return s if len(s) > 1 and s[1].isupper() or s[:2] == "A&" else s[:1].lower() + s[1:]


def _finite(*xs: Any) -> bool:
    try:
        return all(x is not None and math.isfinite(float(x)) for x in xs)
    except (TypeError, ValueError):
        return False


def direction(lo: Any, hi: Any, null: float = 1.0) -> str:
    """Which side of no effect the interval lies: ``lower``, ``higher``, ``unclear`` or ``not_estimable``.

    Examples
    --------
    >>> direction(0.7, 0.9), direction(1.1, 1.3), direction(0.9, 1.1), direction(None, 1)
    ('lower', 'higher', 'unclear', 'not_estimable')
    """
    if not _finite(lo, hi):
        return "not_estimable"
    lo, hi = float(lo), float(hi)
    if hi < null:
        return "lower"
    if lo > null:
        return "higher"
    return "unclear"


def pct(x: float) -> str:
    """A proportion as a whole percentage (``0.003 -> 'less than 1%'``).

    Examples
    --------
    >>> pct(0.184), pct(0.004), pct(0)
    ('18%', 'less than 1%', '0%')
    """
    v = abs(float(x)) * 100
    if 0 < v < 0.5:
        return "less than 1%"
    return f"{v:.0f}%"


def num(x: float, ref: float | None = None) -> str:
    """A number at a precision chosen from the largest number in its phrase (``ref``)."""
    v, r = abs(float(x)), abs(float(x)) if ref is None else abs(float(ref))
    if r >= 10:
        return f"{v:,.0f}"
    if r >= 1:
        return f"{v:.1f}"
    return f"{v:.2f}"


def p_text(p: Any) -> str:
    """``p = 0.06`` / ``p < 0.001``.

    Examples
    --------
    >>> p_text(0.0598), p_text(0.0004)
    ('p = 0.06', 'p < 0.001')
    """
    if not _finite(p):
        return "p not available"
    p = float(p)
    if p < 0.001:
        return "p < 0.001"
    return f"p = {p:.3f}" if p < 0.01 else f"p = {p:.2f}"


def ratio_phrase(rr: Any, lo: Any, hi: Any) -> tuple[str, str]:
    """(direction, words) for a rate ratio and its 95% CI.

    Examples
    --------
    >>> ratio_phrase(0.82, 0.68, 0.98)
    ('lower', '18% lower (95% CI 2% to 32% lower)')
    >>> ratio_phrase(0.93, 0.83, 1.04)[1]
    'no clear difference (95% CI 17% lower to 4% higher)'
    """
    d = direction(lo, hi, 1.0)
    if d == "not_estimable" or not _finite(rr):
        return "not_estimable", "not estimable"
    rr, lo, hi = float(rr), float(lo), float(hi)
    if d == "lower":
        return d, f"{pct(1 - rr)} lower (95% CI {pct(1 - hi)} to {pct(1 - lo)} lower)"
    if d == "higher":
        return d, f"{pct(rr - 1)} higher (95% CI {pct(lo - 1)} to {pct(hi - 1)} higher)"
    return d, f"no clear difference (95% CI {_signed_pct(lo)} to {_signed_pct(hi)})"


def _signed_pct(r: float) -> str:
    if r < 1:
        return f"{pct(1 - r)} lower"
    if r > 1:
        return f"{pct(r - 1)} higher"
    return "no change"


def _money(x: float, ref: float) -> str:
    return "£" + num(x, ref)


def difference_phrase(d: Any, lo: Any, hi: Any, outcome: str = "", per: str = PER) -> tuple[str, str]:
    """(direction, words) for an absolute difference per 1,000 people a year.

    Costs (``outcome="cost"``) are given in pounds per person a year (the bundle's difference
    per 1,000 person-years divided by 1,000).

    Examples
    --------
    >>> difference_phrase(-48.3, -102.2, -3.4, "emergency_admission")[1]
    '48 fewer admissions per 1,000 people a year (95% CI 3 to 102 fewer)'
    >>> difference_phrase(-145440, -442050, 121319, "cost")[1]
    'no clear difference in costs per person a year (95% CI £442 less to £121 more)'
    """
    dirn = direction(lo, hi, 0.0)
    if dirn == "not_estimable" or not _finite(d):
        return "not_estimable", "not estimable"
    d, lo, hi = float(d), float(lo), float(hi)
    if outcome == "cost":
        d, lo, hi = d / 1000, lo / 1000, hi / 1000
        ref = max(abs(d), abs(lo), abs(hi))
        tail = "per person a year"
        if dirn == "lower":
            return dirn, f"{_money(d, ref)} less {tail} (95% CI {_money(hi, ref)} to {_money(lo, ref)} less)"
        if dirn == "higher":
            return dirn, f"{_money(d, ref)} more {tail} (95% CI {_money(lo, ref)} to {_money(hi, ref)} more)"
        return dirn, (f"no clear difference in costs {tail} (95% CI {_money(lo, ref)} less to "
                      f"{_money(hi, ref)} more)")
    unit = unit_of(outcome)
    ref = max(abs(d), abs(lo), abs(hi))
    if dirn == "lower":
        return dirn, f"{num(d, ref)} fewer {unit} {per} (95% CI {num(hi, ref)} to {num(lo, ref)} fewer)"
    if dirn == "higher":
        return dirn, f"{num(d, ref)} more {unit} {per} (95% CI {num(lo, ref)} to {num(hi, ref)} more)"
    return dirn, f"no clear difference in {unit} {per} (95% CI {num(lo, ref)} fewer to {num(hi, ref)} more)"


def _get(row: Mapping[str, Any] | None, k: str) -> Any:
    return None if row is None else row.get(k)


def headline(outcome: str, rr: Mapping[str, Any] | None, diff: Mapping[str, Any] | None = None, *,
             who: str | None = None, failed: str | None = None) -> str:
    """The key-points sentence for one outcome: per 1,000 people a year and as a percentage.

    Parameters
    ----------
    outcome : str
        Outcome code.
    rr, diff : mapping, optional
        Published rate ratio and difference per 1,000 person-years (``estimate``, ``ci_lower``, ``ci_upper``).
    who : str, optional
        The group ("people under 65"); default everyone enrolled.
    failed : str, optional
        Why the outcome was not estimated (from the run record): the sentence says so.

    Examples
    --------
    >>> headline("emergency_admission", dict(estimate=0.82, ci_lower=0.68, ci_upper=0.98),
    ...          dict(estimate=-48.3, ci_lower=-102.2, ci_upper=-3.4), who="people under 65")
    'Emergency admissions among people under 65: 48 fewer admissions per 1,000 people a year (95% CI 3 to 102 fewer), 18% lower (95% CI 2% to 32% lower).'
    """
    lab = outcome_label(outcome)
    head = f"{lab}{' among ' + who if who else ''}"
    if failed is not None:
        return f"{head}: not estimated, because {failed.rstrip('.')}."
    d_r, w_r = ratio_phrase(_get(rr, "estimate"), _get(rr, "ci_lower"), _get(rr, "ci_upper"))
    d_d, w_d = (difference_phrase(_get(diff, "estimate"), _get(diff, "ci_lower"), _get(diff, "ci_upper"), outcome)
                if diff is not None else ("not_estimable", ""))
    if d_r == "not_estimable" and d_d == "not_estimable":
        return f"{head}: not estimable from these data."
    if d_r == "unclear" and d_d in ("unclear", "not_estimable"):
        if d_d == "unclear":
            est = difference_cell(diff["estimate"], diff["ci_lower"], diff["ci_upper"], outcome)
            unit = "per person a year" if outcome == "cost" else f"{unit_of(outcome)} {PER}"
            return (f"{head}: no clear difference; the best estimate is {est.split(' (')[0]} {unit}, but the 95% CI "
                    f"runs from {est.split(' (')[1].rstrip(')')} ({w_r.split('(95% CI ')[1].rstrip(')')}).")
        return f"{head}: {w_r}."
    parts = [w for w in (w_d, w_r) if w and w != "not estimable"]
    return f"{head}: {', '.join(parts)}."


def interaction_sentence(outcome: str, levels: Sequence[tuple[str, Mapping[str, Any]]], p_value: Any,
                         variable: str = "age") -> str:
    """For whom: each group's rate ratio and the test of whether the effect differs, stated honestly.

    Parameters
    ----------
    outcome : str
        Outcome code.
    levels : sequence of (label, row)
        Subgroup label ("under 65") and its published rate-ratio row.
    p_value : float
        The interaction (Wald) test of a difference between the groups.
    variable : str
        What the groups differ by, in words ("age").

    Examples
    --------
    >>> s = interaction_sentence("emergency_admission",
    ...     [("under 65", dict(estimate=0.82, ci_lower=0.68, ci_upper=0.98)),
    ...      ("65 and over", dict(estimate=1.02, ci_lower=0.89, ci_upper=1.17))], 0.0598)
    >>> s.split(";")[0]
    'Emergency admissions were 18% lower (95% CI 2% to 32% lower) among people under 65'
    """
    lab = outcome_label(outcome)
    bits = []
    dirs = []
    for i, (who, row) in enumerate(levels):
        d, w = ratio_phrase(row.get("estimate"), row.get("ci_lower"), row.get("ci_upper"))
        dirs.append(d)
        if i == 0:
            bits.append(f"{lab} were {w} among people {who}" if d in ("lower", "higher")
                        else f"For {lab.lower() if not lab[:2].isupper() else lab} there was {w} among people {who}")
        else:
            bits.append(f"{w} among people {who}" if d in ("lower", "higher") else f"{w} among people {who}")
    body = "; ".join(bits)
    pt = p_text(p_value)
    if not _finite(p_value):
        return f"{body}. No test of whether the effect differs by {variable} was available."
    if float(p_value) < 0.05:
        return f"{body}. A test of whether the effect differs by {variable} gave {pt}: evidence that it does."
    if any(d in ("lower", "higher") for d in dirs):
        return (f"{body}. But a test of whether the effect differs by {variable} gave {pt}, so the difference "
                f"between the groups could be due to chance.")
    return f"{body}. There is no clear effect in any group, and no evidence that it differs by {variable} ({pt})."


def multiplicity_sentence(n_tests: int, n_clear: int) -> str:
    """How many tests of a difference between groups were made, and what chance alone would give.

    Examples
    --------
    >>> multiplicity_sentence(5, 1)
    '5 tests of a difference between groups were made; 1 gave p below 0.05. With 5 tests, at least one such result would appear by chance about 23% of the time even if no effect differed, so a single clear test is weak evidence on its own.'
    """
    if n_tests <= 0:
        return ""
    chance = 1 - 0.95 ** n_tests
    gave = f"{n_clear} gave p below 0.05" if n_clear else "none gave p below 0.05"
    tests = "test" if n_tests == 1 else "tests"
    if n_tests == 1:
        return f"1 test of a difference between groups was made; {gave}."
    return (f"{n_tests} {tests} of a difference between groups were made; {gave}. With {n_tests} tests, at least "
            f"one such result would appear by chance about {pct(chance)} of the time even if no effect differed, "
            "so a single clear test is weak evidence on its own.")


def _side(x: float, unit_less: str, unit_more: str, ref: float, money: bool = False) -> str:
    if x == 0:
        return "no change"
    v = ("£" + num(x, ref)) if money else num(x, ref)
    return f"{v} {unit_less if x < 0 else unit_more}"


def difference_cell(d: Any, lo: Any, hi: Any, outcome: str = "") -> str:
    """A table cell: ``'42 fewer (117 fewer to 25 more)'``; costs in pounds per person a year.

    Examples
    --------
    >>> difference_cell(-42.3, -117.2, 24.6, "emergency_admission")
    '42 fewer (117 fewer to 25 more)'
    >>> difference_cell(-151877, -264000, -39000, "cost")
    '£152 less (£39 less to £264 less)'
    """
    if not _finite(d, lo, hi):
        return "not estimable"
    d, lo, hi = float(d), float(lo), float(hi)
    money = outcome == "cost"
    if money:
        d, lo, hi = d / 1000, lo / 1000, hi / 1000
    ref = max(abs(d), abs(lo), abs(hi))
    less, more = ("less", "more") if money else ("fewer", "more")
    a, b = (hi, lo) if d < 0 and hi < 0 else (lo, hi)
    return f"{_side(d, less, more, ref, money)} ({_side(a, less, more, ref, money)} to {_side(b, less, more, ref, money)})"


def ratio_cell(rr: Any, lo: Any, hi: Any) -> str:
    """A table cell: ``'7% lower (17% lower to 4% higher)'``.

    Examples
    --------
    >>> ratio_cell(0.93, 0.83, 1.04), ratio_cell(0.82, 0.68, 0.98)
    ('7% lower (17% lower to 4% higher)', '18% lower (2% lower to 32% lower)')
    """
    if not _finite(rr, lo, hi):
        return "not estimable"
    rr, lo, hi = float(rr), float(lo), float(hi)
    a, b = (hi, lo) if rr < 1 and hi < 1 else (lo, hi)
    return f"{_signed_pct(rr)} ({_signed_pct(a)} to {_signed_pct(b)})"


def verdict(rr: Mapping[str, Any] | None) -> str:
    """One or two words for a key-results table: ``Fewer``/``More``/``No clear difference``.

    Examples
    --------
    >>> verdict(dict(estimate=0.82, ci_lower=0.68, ci_upper=0.98)), verdict(None)
    ('Lower', 'Not estimated')
    """
    if rr is None:
        return "Not estimated"
    d = direction(rr.get("ci_lower"), rr.get("ci_upper"), 1.0)
    return {"lower": "Lower", "higher": "Higher", "unclear": "No clear difference",
            "not_estimable": "Not estimable"}[d]


def plain_reason(reason: str) -> str:
    """A failure reason in plain words for the key points (the full reason stays in the deviations table).

    Examples
    --------
    >>> plain_reason("the information matrix is singular: some coefficients are not identified")
    'there were too few events for the model to be fitted'
    """
    import re

    text = re.sub(r"^\s*[A-Z][A-Za-z]*(Error|Exception|Warning):\s*", "", str(reason))
    low = text.lower()
    if "outside" in low or "invalid" in low or "must be" in low or "not valid" in low:
        return "the input data failed a check (see the run record in the technical appendix)"
    if "singular" in low or "not identified" in low or "no events" in low or "separation" in low:
        return "there were too few events for the model to be fitted"
    if "did not converge" in low or "convergence" in low:
        return "the model did not settle on an answer"
    if "column" in low and ("missing" in low or "not in" in low or "no " in low):
        return "the data needed for it were not supplied"
    first = re.sub(r"`([^`]*)`", lambda m: m.group(1).replace("_", " "), text.split(":")[0]).strip().rstrip(".")
    first = re.sub(r"\b([A-Za-z0-9]+)_([A-Za-z0-9_]+)\b", lambda m: m.group(0).replace("_", " "), first)
    return first[:1].lower() + first[1:] if first else "no result was produced"
