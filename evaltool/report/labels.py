"""One label registry: every identifier a reader could meet, mapped to words.

Columns, outcome codes, subgroup levels, analysis and method codes, estimator names and scale
codes each have a human label (and, where the full label is long, a short one that tables use
when space is tight). Technical terms have a glossary entry; the report's glossary lists every
term whose words appear in the body. Nothing raw reaches a published table:
:func:`column_label` and :func:`value_label` are the only way table headers and code-like cells
are written, and :func:`raw_identifiers` finds any identifier that slipped through (tests scan
the rendered HTML, Word and workbook with it).

Add an entry to ``LABELS`` (``kind``, ``key``) -> ``(label, short)`` when a stage writes a new
column or code; add a ``GLOSSARY`` entry when a section uses a new technical term. Codes a run
defines itself (coded outcomes named in the spec) get their labels from the bundle for the time of
one render: :func:`run_labels` (with :func:`bundle_outcome_labels`) scopes them to a ``with`` block.

Examples
--------
>>> column_label("ci_lower"), value_label("outcome", "ae_attendance")
('95% CI lower', 'A&E attendances')
>>> value_label("subgroup", "65_plus"), value_label("subgroup", "65+")
('65 and over', '65 and over')
>>> raw_identifiers("Emergency admissions fell; see imputation_bjs_wild and Smd")
['imputation_bjs_wild', 'Smd']
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

__all__ = ["GLOSSARY", "LABELS", "bundle_outcome_labels", "column_label", "glossary_entries", "known_identifier",
           "raw_identifiers", "run_labels", "subgroup_key", "unit_of", "value_label", "variant_label", "words"]

# (kind, key) -> (label, short label or "")
LABELS: dict[tuple[str, str], tuple[str, str]] = {}


def _add(kind: str, entries: dict[str, str | tuple[str, str]]) -> None:
    for k, v in entries.items():
        LABELS[(kind, k)] = (v, "") if isinstance(v, str) else v


_add("outcome", {
    "emergency_admission": ("Emergency admissions", "Emergency admissions"),
    "elective_admission": ("Planned (elective) admissions", "Planned admissions"),
    "ae_attendance": "A&E attendances",
    "outpatient_attendance": "Outpatient attendances",
    "care_home_admission": "Care-home admissions",
    "gp_contact": "GP contacts",
    "bed_days": "Emergency bed days",
    "cost": ("Hospital costs", "Costs"),
})
# Nouns for "N fewer ... per 1,000 people a year".
UNITS = {"emergency_admission": "admissions", "elective_admission": "admissions", "ae_attendance": "attendances",
         "outpatient_attendance": "attendances", "care_home_admission": "admissions", "gp_contact": "contacts",
         "bed_days": "bed days", "cost": "pounds"}

# Labels and units of codes one run defines (coded outcomes), in force inside `run_labels`.
_RUN_LABELS: ContextVar[dict[tuple[str, str], tuple[str, str]]] = ContextVar("evaltool_run_labels", default={})
_RUN_UNITS: ContextVar[dict[str, str]] = ContextVar("evaltool_run_units", default={})


def _lookup(kind: str, key: str) -> tuple[str, str] | None:
    return _RUN_LABELS.get().get((kind, key)) or LABELS.get((kind, key))


@contextmanager
def run_labels(labels: Mapping[tuple[str, str], str | tuple[str, str]],
               units: Mapping[str, str] | None = None) -> Iterator[None]:
    """Labels (and outcome units) for codes one run defines, in force inside the ``with`` block only.

    Examples
    --------
    >>> with run_labels({("outcome", "acs_chronic_admission"): ("Chronic ACS admissions", "Chronic ACS")},
    ...                 {"acs_chronic_admission": "admissions"}):
    ...     value_label("outcome", "acs_chronic_admission", short=True), unit_of("acs_chronic_admission")
    ('Chronic ACS', 'admissions')
    >>> value_label("outcome", "acs_chronic_admission")
    'Acs chronic admission'
    """
    new = {k: ((v, "") if isinstance(v, str) else (str(v[0]), str(v[1] or ""))) for k, v in labels.items()}
    tl = _RUN_LABELS.set({**_RUN_LABELS.get(), **new})
    tu = _RUN_UNITS.set({**_RUN_UNITS.get(), **dict(units or {})})
    try:
        yield
    finally:
        _RUN_UNITS.reset(tu)
        _RUN_LABELS.reset(tl)


def bundle_outcome_labels(table: Any) -> tuple[dict[tuple[str, str], tuple[str, str]], dict[str, str]]:
    """Labels and units of coded outcomes from a bundle's ``outcome_labels`` table (``outcome, label,
    short, unit``), for :func:`run_labels`; empty when the table is absent or has no labels."""
    labels: dict[tuple[str, str], tuple[str, str]] = {}
    units: dict[str, str] = {}
    if table is None or "outcome" not in getattr(table, "columns", ()) or "label" not in table.columns:
        return labels, units
    for r in table.to_dict("records"):
        key, lab = str(r["outcome"]), r.get("label")
        if not isinstance(lab, str) or not lab.strip():
            continue
        short = r.get("short")
        labels[("outcome", key)] = (lab.strip(), short.strip() if isinstance(short, str) else "")
        if isinstance(r.get("unit"), str) and r["unit"].strip():
            units[key] = r["unit"].strip()
    return labels, units


def unit_of(outcome: object) -> str:
    """The noun of "N fewer ... per 1,000 people a year" for an outcome (``events`` when unknown).

    Examples
    --------
    >>> unit_of("emergency_admission"), unit_of("something_new")
    ('admissions', 'events')
    """
    k = str(outcome)
    return _RUN_UNITS.get().get(k) or UNITS.get(k, "events")


_add("subgroup", {"all": "Everyone", "under_65": "Under 65", "65_plus": "65 and over", "missing": "Not recorded",
                  "age_under_65": "Under 65", "age_65_plus": "65 and over"})
_add("analysis", {
    "matched_did": "Matched comparison",
    "practice_rollout": "Practice roll-out",
    "naive_before_after": "Before and after only (no comparison group)",
    "whole_area": "Whole-area effect",
    "whole_area_sdid": "Synthetic difference-in-differences",
    "whole_area_ascm": "Augmented synthetic control",
    "whole_area_synthetic_control": "Synthetic control",
    "whole_area_did": "Difference-in-differences against the comparison areas",
    "whole_area_its": "Interrupted time series",
})
_add("estimator", {
    "twfe": "Two-way fixed effects (for comparison only)",
    "callaway_santanna": "Callaway and Sant'Anna",
    "imputation": "Imputation (linear)",
    "imputation_poisson": "Imputation (Poisson), the headline roll-out estimate",
})
_add("scale", {
    "rate_ratio": "Rate ratio",
    "difference_per_1000py": "Difference per 1,000 people a year",
    "difference": "Difference",
    "att": "Average effect on the enrolled",
})
_add("group", {"enrolled": "Enrolled", "treated": "Enrolled", "comparison": "Matched comparison",
               "control": "Matched comparison", "controls": "Matched comparison"})
_add("period", {"pre": "Year before", "post": "Year after", "baseline": "Baseline", "6m": "6 months",
                "12m": "12 months", "24m": "24 months"})
_add("covariate", {
    "distance": "Propensity score (logit)", "age": "Age (years)", "sexM": "Men (proportion)", "sex_M": "Men (proportion)",
    "imd_quintile": "Deprivation quintile (1 = most deprived)", "ltc_count": "Long-term conditions (number)",
    "frailtyfit": "Frailty: fit", "frailtymild": "Frailty: mild", "frailtymoderate": "Frailty: moderate",
    "frailtysevere": "Frailty: severe", "frailtyunknown": "Frailty: not recorded",
    "risk_score": "Risk score (0 to 1)",
    "emergency_admission_12m": "Emergency admissions, previous 12 months",
    "emergency_admission_3m": "Emergency admissions, previous 3 months",
    "emergency_admission_1m": "Emergency admissions, previous month",
    "ae_attendance_12m": "A&E attendances, previous 12 months",
    "bed_days_12m": "Bed days, previous 12 months",
    "charlson": "Charlson comorbidity index (previous year)",
    "charlson_quan": "Charlson comorbidity index, Quan 2011 weights (previous year)",
    "elixhauser": "Elixhauser comorbidity score (previous year)",
    "hfrs": "Hospital Frailty Risk Score (previous 2 years)",
})
_add("column", {
    "n": "N", "pct": "%", "percent": "%", "estimate": "Estimate", "std_error": "Standard error", "p_value": "p value",
    "ci_lower": "95% CI lower", "ci_upper": "95% CI upper", "smd": ("Standardised mean difference", "SMD"),
    "smd_before": ("Standardised mean difference before matching", "SMD before"),
    "smd_after": ("Standardised mean difference after matching", "SMD after"),
    "var_ratio_before": ("Variance ratio before matching", "VR before"),
    "var_ratio_after": ("Variance ratio after matching", "VR after"),
    "ecdf_mean_before": ("Mean eCDF difference before", "eCDF mean before"),
    "ecdf_mean_after": ("Mean eCDF difference after", "eCDF mean after"),
    "ecdf_max_before": ("Largest eCDF difference before", "eCDF max before"),
    "ecdf_max_after": ("Largest eCDF difference after", "eCDF max after"),
    "mean_treated": ("Mean, enrolled", "Enrolled"), "mean_control_before": ("Mean, all potential controls", "Controls before"),
    "mean_control_after": ("Mean, matched comparison", "Matched"), "balanced": "Balanced",
    "n_remaining": "Number remaining", "n_excluded": "Number excluded", "n_units": ("Number of people or units", "Units"),
    "n_areas": ("Number of areas", "Areas"),
    "n_clusters": ("Number of clusters", "Clusters"), "rate_per_1000": "Rate per 1,000",
    "rate_per_1000py": ("Rate per 1,000 people a year", "Rate per 1,000/yr"), "events": "Events",
    "person_years": "Person-years", "n_treated": ("Number enrolled", "Enrolled"), "n_controls": ("Number of controls", "Controls"),
    "covariate": "Characteristic", "outcome": "Outcome", "subgroup": "Group", "analysis": "Analysis", "scale": "Measure",
    "method": "Method", "estimator": "Estimator", "group": "Group", "period_group": "Period", "timepoint": "Time point",
    "step": "Step", "description": "Description", "reason": "Reason", "item": "Item", "value": "Value",
    "theme": "Theme", "theme_label": "Theme", "quote": "Quote", "attribution": "Said by", "role": "Role", "site": "Site",
    "n_pairs": ("People with both answers", "Pairs"), "mean_baseline": ("Mean at baseline", "Baseline"),
    "mean_followup": ("Mean at follow-up", "Follow-up"), "n_improved_mid": ("Improved by a meaningful amount", "Improved"),
    "pct_improved_mid": ("% improved by a meaningful amount", "% improved"), "month": "Month", "admissions": "Admissions",
    "registered": "Registered people", "n_invited": "Invited", "n_responded": "Responded", "n_both": "Answered both",
    "pct_retained": "% answering both", "statistic": "Test statistic", "df": ("Degrees of freedom", "df"),
    "levels": "Groups compared", "variant": "Variant", "note": "Note", "n_participants": "Participants",
    "n_documents": "Documents", "n_segments": ("Coded passages", "Passages"), "pct_participants": "% of participants",
    "participants_in_group": ("Participants in group", "Group size"), "finding": "Finding", "themes": "Themes",
    "fit": "Fit", "quotes": "What people said", "quant_value": "Value", "period": "Period", "p_start": "Period start",
    "n_practices": "Practices", "n_practices_live": "Practices live", "setting": "Setting", "label": "Label",
    "mean": "Mean", "sd": ("Standard deviation", "SD"), "median": "Median", "n_valid": "Valid answers",
    "value_set": "Value set", "n_full_health": ("Reporting full health", "Full health"),
    "pct_full_health": ("% reporting full health", "% full health"), "n_responses": "Responses", "n_positive": "Positive",
    "pct_positive": "% positive", "n_negative": "Negative", "pct_negative": "% negative", "n_neutral": "Neutral",
    "n_dont_know": "Don't know", "base": "Base", "n_scored": "Scored", "n_not_scored": "Not scored",
    "n_up": "Moved up", "pct_up": "% up", "n_same": "No change", "pct_same": "% same", "n_down": "Moved down",
    "pct_down": "% down", "wilcoxon_p_value": ("Wilcoxon p value", "Wilcoxon p"), "srm": ("Standardised response mean", "SRM"),
    "kazis_es": ("Effect size (Kazis)", "Effect size"), "rule": "Rule", "input": "Input", "file": "File", "rows": "Rows",
    "sha256": "SHA-256", "package": "Package", "version": "Version", "part": "Part", "status": "Status",
    "seconds": "Seconds", "setting_key": "Setting", "planned": "Planned", "actual": "What happened",
    "n_completers": "Completers", "n_non_completers": "Non-completers", "mean_completers": "Mean, completers",
    "mean_non_completers": "Mean, non-completers", "comparison": "Comparison", "baseline_coef": "Baseline coefficient",
    "n_comparison": "Comparison", "unadjusted_difference": "Unadjusted difference",
    "unadjusted_ci_lower": "Unadjusted 95% CI lower", "unadjusted_ci_upper": "Unadjusted 95% CI upper",
    "covariates": "Adjusted for", "dimension": "Dimension", "level": "Level", "n_baseline": "Baseline answers",
    "n_followup": "Follow-up answers", "n_zero_changes": "No change", "n_worse_mid": "Worse by a meaningful amount",
    "pct_worse_mid": "% worse", "n_base": "Base", "n_top": "Top box", "n_answered": "Answered", "n_missing": "Missing",
    "mean_score": "Mean score", "n_complete": "Complete answers", "alpha": ("Cronbach's alpha", "Alpha"),
    "relative_time": "Months from enrolment", "event_time": "Periods from go-live", "code": "Code", "code_label": "Code",
    "kappa": "Kappa", "n_people": "People", "rate_ratio": "Rate ratio", "n_cohorts": "Cohorts",
    "subgroup_var": "Subgroup", "months": "Months", "n_reached": "Reached", "pct_reached": "% reached",
    "n_with_problems": ("Pairs with problems", "With problems"), "pct_all_pairs": ("% of all pairs", "% all"),
    "ps": ("Probability of superiority", "PS"), "n_better": "Better", "n_no_change": "No change", "n_worse": "Worse",
    "dimension_label": "Dimension", "n_document_codings": ("Whole-document codings", "Whole-document"),
})
# Text cells that are codes (a column whose values are identifiers) -> how to show them.
_add("column", {"pam_level": "Activation level", "pam_score": "Activation score", "no_change": "No change",
                "better": "Better", "worse": "Worse", "mixed": "Mixed", "no_problems": "No problems (11111 both times)"})
_add("fit", {"confirms": "Confirms", "expands": "Expands", "discordant": "Does not fit", "silent": "Silent"})
_add("status", {"ok": "Done", "failed": "Failed", "partial": "Partly done", "not_run": "Not run"})

#: Technical terms and their plain-English definitions (glossary). Keyed by the words as they appear in text.
GLOSSARY: dict[str, str] = {
    "QALY": "Quality-adjusted life year: a year of life weighted by its health-related quality of life (1 = full "
            "health for a year), here from the EQ-5D questionnaire.",
    "incremental cost-effectiveness ratio": "The extra cost of the programme for each extra QALY it gained, compared "
                                            "with usual care.",
    "net monetary benefit": "The QALYs gained valued at a threshold (such as NICE's £20,000 per QALY) minus the "
                            "extra cost; above zero means worth it at that threshold.",
    "break even": "The point at which the fall in hospital costs would equal the programme's own cost.",
    "return on investment": "Savings minus the programme's cost, as a share of the programme's cost; -100% means "
                            "nothing came back in lower hospital costs.",
    "budget impact": "What extending the programme would cost the local health budget year by year.",
    "95% confidence interval": "The range of values the data are consistent with. If the study were repeated many "
                               "times, 95% of such ranges would contain the true value.",
    "absolute difference": "The change in the number of events per 1,000 people a year, compared with what would have "
                           "been expected without the programme.",
    "difference-in-differences": "Comparing the change over time where the programme ran with the change over the "
                                 "same time in a comparison group; the difference between the two changes is the "
                                 "estimate of the programme's effect.",
    "matched comparison group": "People who were not enrolled but were similar to those who were (age, health, recent "
                                "hospital use) at the date each enrolled person joined.",
    "rate ratio": "The rate of events where the programme ran divided by the rate expected there without the "
                  "programme; 0.80 means 20% fewer events.",
    "regression to the mean": "People chosen because of a recent spell of high hospital use tend to use hospitals less "
                              "afterwards anyway, so a simple before-and-after comparison overstates any benefit.",
    "standardised mean difference": "The difference between two groups' averages divided by the spread of the values; "
                                    "below 0.1 is usually taken as good balance.",
    "Maryland Scientific Methods Scale": "A five-level scale of how well a study design rules out other explanations, "
                                         "from 1 (a simple correlation) to 5 (a randomised trial).",
    "interaction test": "A test of whether the programme's effect differs between groups (for example by age); a "
                        "small p value suggests it does.",
    "p value": "How often a difference at least this large would appear by chance if there were no real difference; "
               "small values (below 0.05) are taken as evidence of a real difference.",
    "pre-trend": "The difference between the groups' trends in the months before enrolment; the design assumes there "
                 "would have been none without the programme.",
    "statistical process control": "A way of charting a measure over time that separates ordinary month-to-month "
                                   "variation from unusual changes (special-cause variation).",
    "special-cause variation": "A change in a process chart larger or longer than ordinary variation would explain.",
    "propensity score": "The estimated chance that a person was enrolled, given their characteristics; used to find "
                        "similar people for the comparison group.",
    "person-years": "The total time people were followed (or, for a whole area, lived there), in years: a person "
                    "counted for six months adds half a person-year.",
    "EQ-5D": "A short questionnaire in which people rate their mobility, self-care, usual activities, pain and "
             "anxiety; the answers give a health index from below 0 (worse than death) to 1 (full health).",
    "Friends and Family Test": "The NHS question asking how good the service was overall.",
    "P3CEQ": "The Person-Centred Coordinated Care Experience Questionnaire.",
    "patient activation": "How confident and able people feel to manage their own health.",
    "joint display": "A table setting each number beside what people said about it.",
    "staggered roll-out": "Teams going live in different practices at different dates, so practices not yet live serve "
                          "as a comparison for those that are.",
    "sensitivity analysis": "Repeating the analysis in a different reasonable way to see whether the answer changes.",
    "negative binomial": "A model for counts that allows more spread between people than the Poisson model does.",
    "Poisson": "The standard statistical model for counts of events over a period of follow-up.",
    "disclosure control": "Rules that hide or round small numbers so that no individual can be identified.",
    "subgroup": "A part of the enrolled group (for example people under 65) analysed on its own.",
    "ANCOVA": "Analysis of covariance: comparing follow-up scores between groups while allowing for their scores at "
              "baseline.",
    "ambulatory care sensitive conditions": "Conditions such as asthma, COPD, diabetes, heart failure and some "
                                            "infections for which good primary and community care can usually "
                                            "prevent an emergency admission (ACS conditions); the report counts "
                                            "them from the admissions' ICD-10 diagnosis codes using published lists.",
    "ACS": "Ambulatory care sensitive: a condition for which good primary and community care can usually prevent "
           "an emergency admission.",
    "event study": "Estimates of the difference between the groups month by month before and after enrolment.",
    "seasonally adjusted": "With the usual rise and fall across the months of the year removed, so that winter peaks "
                           "are not mistaken for change.",
}

_SNAKE = re.compile(r"\b[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)+\b")
# A column heading that is a code dressed as words: "Smd", "Ecdf", "Kazis es", "Quant key".
_CODE_WORDS = {"smd", "ecdf", "kazis es", "quant key", "small group", "srm", "n units", "n clusters", "subgroup var",
               "period group", "rate per 1000py", "ci lower", "ci upper", "std error", "theme label",
               "var ratio", "quant value", "n pairs", "n remaining", "n excluded"}


def _norm(key: object) -> str:
    return str(key).strip()


def subgroup_key(level: object) -> str:
    """Stable key of a subgroup level: ``'under 65' -> 'under_65'``, ``'65+' -> '65_plus'``.

    Examples
    --------
    >>> subgroup_key("under 65"), subgroup_key("65+"), subgroup_key("all")
    ('under_65', '65_plus', 'all')
    """
    s = _norm(level).lower()
    if s in ("", "nan", "none", "overall", "everyone", "total"):
        return "all"
    return re.sub(r"[^a-z0-9]+", "_", s.replace("+", "_plus")).strip("_") or "all"


def value_label(kind: str, key: object, *, short: bool = False) -> str:
    """The human label of a code of ``kind`` (outcome, subgroup, analysis, estimator, scale, group, ...).

    Unknown codes become words (underscores to spaces, first letter capital), so a new code is
    readable before it is registered; :func:`raw_identifiers` still flags it in tests.
    """
    if key is None or (isinstance(key, float) and math.isnan(key)):
        return ""
    k = subgroup_key(key) if kind == "subgroup" else _norm(key)
    hit = _lookup(kind, k)
    if hit is None and kind == "outcome":
        hit = _lookup(kind, k.rstrip("s"))
    if hit is None:
        words = k.replace("_", " ").strip()
        return words[:1].upper() + words[1:]
    return (hit[1] or hit[0]) if short else hit[0]


def column_label(col: object, *, short: bool = False) -> str:
    """The header for a table column (from the registry; codes never printed raw).

    Examples
    --------
    >>> column_label("smd_after", short=True), column_label("pct_positive")
    ('SMD after', '% positive')
    """
    c = _norm(col)
    for kind in ("column", "covariate", "outcome", "subgroup", "group", "period", "scale"):
        hit = _lookup(kind, c)
        if hit is not None:
            return (hit[1] or hit[0]) if short else hit[0]
    if c.startswith(("pct_", "percent_")):
        return "% " + c.split("_", 1)[1].replace("_", " ")
    if c.startswith("n_"):
        return "Number " + c[2:].replace("_", " ")
    s = c.replace("_", " ")
    return s[:1].upper() + s[1:]


def words(text: str) -> str:
    """Text with every snake_case code replaced by its registered label (captions written by stages).

    Examples
    --------
    >>> words("n_both: answered at baseline; no_change: identical profiles")
    'Answered both: answered at baseline; No change: identical profiles'
    """
    def sub(m: re.Match) -> str:
        tok = m.group(0)
        for kind in ("column", "covariate", "outcome", "subgroup", "analysis", "estimator", "scale", "group"):
            hit = _lookup(kind, tok)
            if hit is not None:
                return hit[0]
        return column_label(tok)

    return _SNAKE.sub(sub, str(text).replace("\u200b", ""))


_TODO = re.compile(r"(?:^|(?<=[.;] ))\s*(?:TODO|FIXME|TBC|XXX|Confirm:)[^.;]*[.;]?", re.I)


def without_todo(text: str) -> tuple[str, bool]:
    """Caption text without analysts' to-do notes ("Confirm: ...", "TODO ..."), and whether one was removed.

    Examples
    --------
    >>> without_todo("Mean with 95% CI; Confirm: item wording paraphrased from the licensed version")
    ('Mean with 95% CI', True)
    """
    new = _TODO.sub("", str(text)).strip().rstrip(";").strip()
    return new, new != str(text).strip()


def variant_label(v: object) -> str:
    """Sensitivity-analysis variants: ``mbar_0.5`` -> 'Relative magnitude 0.5', ``shift_2`` -> 'Go-live 2 periods earlier'.

    Examples
    --------
    >>> variant_label("mbar_0.5"), variant_label("shift_1"), variant_label("S014")
    ('Relative magnitude M = 0.5', 'Go-live moved 1 period earlier', 'S014')
    """
    s = str(v)
    m = re.fullmatch(r"mbar_([0-9.]+)", s)
    if m:
        return f"Relative magnitude M = {m.group(1)}"
    m = re.fullmatch(r"shift_([0-9]+)", s)
    if m:
        k = int(m.group(1))
        return f"Go-live moved {k} period{'s' if k != 1 else ''} earlier"
    return words(s) if _SNAKE.search(s) else s


def known_identifier(token: str) -> bool:
    """True when ``token`` is a registered code (it may still appear in appendix settings)."""
    return any(k == token for _, k in LABELS) or any(k == token for _, k in _RUN_LABELS.get())


def raw_identifiers(text: str, allow: Iterable[str] = ()) -> list[str]:
    """Identifiers in ``text`` that a reader should never see (snake_case codes, code-like headings).

    File names (``population.parquet``), web addresses and e-mail addresses are not identifiers.
    """
    allowed = set(allow)
    text = text.replace("\u200b", "")  # zero-width break points do not hide a code
    found: list[str] = []
    for m in _SNAKE.finditer(text):
        tok = m.group(0)
        before = text[max(0, m.start() - 1):m.start()]
        after = text[m.end():m.end() + 1]
        if before in ("/", ".", "@", "-") or after in (".", "/", "@") and text[m.end() + 1:m.end() + 2].isalpha():
            continue
        if tok not in allowed:
            found.append(tok)
    low = text.lower()
    for w in sorted(_CODE_WORDS):
        for m in re.finditer(rf"(?<![\w-]){re.escape(w)}(?![\w-])", low):
            orig = text[m.start():m.end()]
            # "p value" in prose is fine; a heading cell "Smd" or "Quant key" is not: flag only the
            # capitalised code forms of abbreviations, and the multi-word forms when capitalised.
            # The raw form is the code with its first letter capitalised ("Smd", "Quant key", "Ci lower").
            if orig == w[:1].upper() + w[1:] and orig not in allowed:
                found.append(orig)
    return found


def glossary_entries(text: str) -> list[tuple[str, str]]:
    """Glossary entries whose term appears in ``text`` (case-insensitive), alphabetically.

    Examples
    --------
    >>> [t for t, _ in glossary_entries("The rate ratio was 0.8 (95% confidence interval ...)")]
    ['95% confidence interval', 'rate ratio']
    """
    low = text.lower()
    hits = []
    for term, definition in GLOSSARY.items():
        t = term.lower()
        stem = t[:-1] if t.endswith("s") else t
        if re.search(rf"(?<![\w]){re.escape(stem)}", low):
            hits.append((term, definition))
    return sorted(hits, key=lambda x: x[0].lower().lstrip("0123456789% "))
