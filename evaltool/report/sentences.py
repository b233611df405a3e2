"""Plain-English findings built from effect estimates.

The words follow the estimate *and its interval*: an effect is described as lower or
higher only when the whole 95% confidence interval lies on one side of "no effect"
(a rate ratio of 1, a difference of 0); otherwise the sentence says there was no clear
difference and gives the range the data are consistent with. No "significant"; en-GB
spelling; rate ratios as percentages, with the absolute difference per 1,000
person-years alongside when the bundle has it.
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import pandas as pd

__all__ = [
    "difference_phrase",
    "effect_sentence",
    "key_findings",
    "outcome_label",
    "ratio_phrase",
    "subgroup_label",
    "subgroup_sentence",
]

_OUTCOMES = {
    "emergency_admission": "emergency admissions",
    "emergency_admissions": "emergency admissions",
    "elective_admission": "planned (elective) admissions",
    "elective_admissions": "planned (elective) admissions",
    "ae_attendance": "A&E attendances",
    "ae_attendances": "A&E attendances",
    "outpatient_attendance": "outpatient attendances",
    "outpatient_attendances": "outpatient attendances",
    "care_home_admission": "care-home admissions",
    "care_home_admissions": "care-home admissions",
    "gp_contact": "GP contacts",
    "gp_contacts": "GP contacts",
    "bed_days": "emergency bed days",
    "cost": "hospital costs",
}
# Nouns for "N fewer ... per 1,000 person-years".
_UNITS = {
    "emergency admissions": "admissions", "planned (elective) admissions": "admissions",
    "A&E attendances": "attendances", "outpatient attendances": "attendances",
    "care-home admissions": "admissions", "GP contacts": "contacts", "emergency bed days": "bed days",
}


def outcome_label(outcome: str) -> str:
    """Reader-facing name of an outcome code.

    Examples
    --------
    >>> outcome_label("ae_attendance")
    'A&E attendances'
    """
    return _OUTCOMES.get(str(outcome), str(outcome).replace("_", " "))


def subgroup_label(subgroup: object) -> str | None:
    """Reader-facing subgroup description ("under 65"), or None for everyone.

    Examples
    --------
    >>> subgroup_label("age_under_65"), subgroup_label("age_65_plus"), subgroup_label("all")
    ('under 65', '65 and over', None)
    """
    if subgroup is None or (isinstance(subgroup, float) and math.isnan(subgroup)):
        return None
    s = str(subgroup).strip()
    low = s.lower()
    if low in ("", "all", "overall", "total", "everyone"):
        return None
    if re.search(r"(under|below|lt)_?65|<\s*65|0-64|18-64", low):
        return "under 65"
    if re.search(r"65_?(plus|and_over|\+|_over)|over_?65|>=\s*65|65\+", low):
        return "65 and over"
    m = re.fullmatch(r"([a-z_]+?)\s*[=:]\s*(.+)", s)
    if m:
        return f"{m.group(1).replace('_', ' ')} {m.group(2).replace('_', ' ')}"
    return s.replace("_", " ")


def _pct(x: float) -> str:
    v = abs(x) * 100
    if 0 < v < 0.5:
        return "less than 1%"
    return f"{v:.0f}%"


def _num(x: float, ref: float | None = None) -> str:
    # Decimals chosen from the largest number in the phrase so an estimate and its interval match.
    v, r = abs(x), abs(x) if ref is None else ref
    if r >= 10:
        return f"{v:,.0f}"
    if r >= 1:
        return f"{v:.1f}"
    return f"{v:.2f}"


def _finite(*xs: Any) -> bool:
    return all(x is not None and isinstance(x, (int, float)) and math.isfinite(float(x)) for x in xs)


def ratio_phrase(estimate: float, ci_lower: float, ci_upper: float) -> tuple[str, str]:
    """Direction and wording for a rate ratio: (``"lower"|"higher"|"unclear"``, phrase).

    Examples
    --------
    >>> ratio_phrase(0.81, 0.71, 0.92)
    ('lower', '19% lower (95% CI 8% to 29%)')
    >>> ratio_phrase(0.95, 0.80, 1.12)[0]
    'unclear'
    """
    if not _finite(estimate, ci_lower, ci_upper):
        return "unclear", "not estimable"
    if ci_upper < 1:
        return "lower", f"{_pct(1 - estimate)} lower (95% CI {_pct(1 - ci_upper)} to {_pct(1 - ci_lower)})"
    if ci_lower > 1:
        return "higher", f"{_pct(estimate - 1)} higher (95% CI {_pct(ci_lower - 1)} to {_pct(ci_upper - 1)})"
    return "unclear", (f"no clear difference (95% CI from {_pct(1 - ci_lower)} lower to "
                       f"{_pct(ci_upper - 1)} higher)")


def difference_phrase(estimate: float, ci_lower: float, ci_upper: float, unit: str = "",
                      per: str = "per 1,000 person-years") -> tuple[str, str]:
    """Direction and wording for an absolute difference.

    Examples
    --------
    >>> difference_phrase(-42, -66, -18, "admissions")[1]
    '42 fewer admissions per 1,000 person-years (95% CI 18 to 66 fewer)'
    """
    if not _finite(estimate, ci_lower, ci_upper):
        return "unclear", "not estimable"
    less, more = ("fewer", "more") if unit else ("lower", "higher")
    noun = f" {unit}" if unit else ""
    tail = f" {per}" if per else ""
    ref = max(abs(estimate), abs(ci_lower), abs(ci_upper))

    def n(x: float) -> str:
        return _num(x, ref)

    if ci_upper < 0:
        return "lower", f"{n(estimate)} {less}{noun}{tail} (95% CI {n(ci_upper)} to {n(ci_lower)} {less})"
    if ci_lower > 0:
        return "higher", f"{n(estimate)} {more}{noun}{tail} (95% CI {n(ci_lower)} to {n(ci_upper)} {more})"
    return "unclear", (f"no clear difference{noun and ' in' + noun}{tail} (95% CI from {n(ci_lower)} {less} "
                       f"to {n(ci_upper)} {more})")


_FRAMES = {
    "matched_did": ("Among enrolled patients{sub}", "than among similar patients who were not enrolled"),
    "practice_rollout": ("In practices after the team went live{sub}",
                         "than in practices where it had not yet gone live"),
    "naive_before_after": ("Comparing enrolled patients{sub} after enrolment with the year before",
                           "than before"),
}


def _row(r: Mapping[str, Any] | pd.Series) -> dict[str, Any]:
    d = dict(r)
    for k in ("estimate", "ci_lower", "ci_upper"):
        v = d.get(k)
        d[k] = float(v) if v is not None and not (isinstance(v, str)) else float("nan")
    return d


def _abs_clause(outcome: str, abs_row: Mapping[str, Any] | None) -> str:
    if abs_row is None:
        return ""
    a = _row(abs_row)
    label = outcome_label(outcome)
    if str(outcome) == "cost":
        # Costs in pounds per person-year (readers think per patient, not per 1,000 person-years):
        # "£120 lower per person-year (95% CI £30 to £210 lower)".
        est, lo, hi = (a[k] / 1000.0 for k in ("estimate", "ci_lower", "ci_upper"))
        direction, ph = difference_phrase(est, lo, hi, "", per="per person-year")
        # Pound signs on the amounts, not on the "95%" of "95% CI".
        ph = re.sub(r"(?<![\w.,£])(\d[\d,]*(?:\.\d+)?)(?![\d,.%])", r"£\1", ph)
        return f"; in money terms, {ph}"
    _, ph = difference_phrase(a["estimate"], a["ci_lower"], a["ci_upper"], _UNITS.get(label, "events"))
    return f"; that is {ph}" if not ph.startswith("no clear") else f"; in absolute terms, {ph}"


def effect_sentence(row: Mapping[str, Any] | pd.Series, abs_row: Mapping[str, Any] | None = None) -> str:
    """One sentence for one effect estimate (a row of ``effects.csv``).

    Parameters
    ----------
    row : mapping
        Needs analysis, outcome, subgroup, estimate, ci_lower, ci_upper, scale.
    abs_row : mapping, optional
        The matching ``difference_per_1000py`` row, reported alongside a rate ratio.

    Examples
    --------
    >>> effect_sentence({"analysis": "matched_did", "outcome": "emergency_admission",
    ...                  "subgroup": "age_under_65", "estimate": 0.81, "ci_lower": 0.71,
    ...                  "ci_upper": 0.92, "scale": "rate_ratio"})
    'Among enrolled patients under 65, emergency admissions were 19% lower (95% CI 8% to 29%) than among similar patients who were not enrolled.'
    """
    r = _row(row)
    lead, comp = _FRAMES.get(str(r.get("analysis")), ("In the {analysis} analysis{sub}", "than in the comparison"))
    sub = subgroup_label(r.get("subgroup"))
    lead = lead.format(sub=f" {'aged ' if sub and sub[0].isdigit() else ''}{sub}" if sub else "",
                       analysis=str(r.get("analysis", "")).replace("_", " "))
    label = outcome_label(r.get("outcome", ""))
    scale = str(r.get("scale", ""))
    if scale == "rate_ratio":
        direction, ph = ratio_phrase(r["estimate"], r["ci_lower"], r["ci_upper"])
    else:
        direction, ph = difference_phrase(r["estimate"], r["ci_lower"], r["ci_upper"], "", "")
    if direction == "unclear":
        body = f"{lead}, there was {ph} in {label} {comp}"
    else:
        body = f"{lead}, {label} were {ph} {comp}"
    if scale == "rate_ratio":
        body += _abs_clause(r.get("outcome", ""), abs_row)
    return body + "."


def subgroup_sentence(rows: list[Mapping[str, Any]] | pd.DataFrame) -> str:
    """One sentence contrasting subgroups of the same analysis and outcome.

    Examples
    --------
    >>> rows = [dict(analysis="matched_did", outcome="emergency_admission", subgroup="age_under_65",
    ...              estimate=0.81, ci_lower=0.71, ci_upper=0.92, scale="rate_ratio"),
    ...         dict(analysis="matched_did", outcome="emergency_admission", subgroup="age_65_plus",
    ...              estimate=0.97, ci_lower=0.88, ci_upper=1.07, scale="rate_ratio")]
    >>> subgroup_sentence(rows)
    'Among enrolled patients under 65, emergency admissions were 19% lower (95% CI 8% to 29%) than among similar patients who were not enrolled; for those 65 and over there was no clear difference (95% CI from 12% lower to 7% higher).'
    """
    recs = rows.to_dict("records") if isinstance(rows, pd.DataFrame) else [dict(r) for r in rows]
    if not recs:
        return ""
    first = effect_sentence(recs[0]).rstrip(".")
    parts = [first]
    for r in recs[1:]:
        rr = _row(r)
        sub = subgroup_label(rr.get("subgroup")) or "everyone"
        if str(rr.get("scale")) == "rate_ratio":
            direction, ph = ratio_phrase(rr["estimate"], rr["ci_lower"], rr["ci_upper"])
        else:
            direction, ph = difference_phrase(rr["estimate"], rr["ci_lower"], rr["ci_upper"], "", "")
        who = f"those {sub}" if sub[0].isdigit() or sub.startswith(("under", "over")) else sub
        parts.append(f"for {who} there was {ph}" if direction == "unclear" else f"for {who} they were {ph}")
    return "; ".join(parts) + "."


def _is_all(s: object) -> bool:
    return subgroup_label(s) is None


def key_findings(effects: pd.DataFrame | None, facts: Mapping[str, Any] | None = None) -> list[str]:
    """Headline sentences for the summary of findings, in report order.

    Uses ``effects.csv`` rows (overall matched and roll-out results for each outcome with
    the absolute difference alongside, then the subgroup contrast for each outcome that has
    subgroups) and any sentences a stage put in ``facts.json`` (see :func:`stage_key_points`).

    Examples
    --------
    >>> eff = pd.DataFrame([dict(analysis="matched_did", outcome="emergency_admission", subgroup="all",
    ...                          estimate=1.02, ci_lower=0.93, ci_upper=1.12, scale="rate_ratio")])
    >>> key_findings(eff)[0][:80]
    'Among enrolled patients, there was no clear difference (95% CI from 7% lower to '
    """
    out: list[str] = []
    if effects is not None and len(effects):
        e = effects.copy()
        e["_all"] = e["subgroup"].map(_is_all) if "subgroup" in e else True
        for analysis in ("matched_did", "practice_rollout"):
            sub = e[(e["analysis"] == analysis)]
            for outcome in dict.fromkeys(sub["outcome"]):
                o = sub[sub["outcome"] == outcome]
                main = o[o["_all"] & (o["scale"] == "rate_ratio")]
                absr = o[o["_all"] & (o["scale"] == "difference_per_1000py")]
                if len(main):
                    out.append(effect_sentence(main.iloc[0], absr.iloc[0] if len(absr) else None))
                elif len(o[o["_all"]]):
                    out.append(effect_sentence(o[o["_all"]].iloc[0]))
                groups = o[~o["_all"] & (o["scale"] == "rate_ratio")]
                if "subgroup" in groups and len(groups) > 1:
                    out.append(subgroup_sentence(groups))
    for vals in (facts or {}).values():
        out.extend(stage_key_points(vals))
    return out


#: Keys under which a stage may put ready-made plain-English sentences in ``facts.json``.
KEY_POINT_KEYS = ("key_points", "headline_text")


def stage_key_points(section_facts: Any) -> list[str]:
    """Sentences a stage wrote itself (``facts[section]["key_points"]`` or ``["headline_text"]``).

    Examples
    --------
    >>> stage_key_points({"headline_text": ["EQ-5D rose.", ""], "n": 3})
    ['EQ-5D rose.']
    """
    if not isinstance(section_facts, Mapping):
        return []
    out: list[str] = []
    for k in KEY_POINT_KEYS:
        v = section_facts.get(k)
        items = [v] if isinstance(v, str) else (v if isinstance(v, list) else [])
        out.extend(str(x).strip() for x in items if str(x).strip())
    return out
