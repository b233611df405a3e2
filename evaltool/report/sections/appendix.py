"""The technical appendix (a separate document): methods, plan as run, run record, diagnostics, full tables.

Every bundle table the main report does not show in full is published here, through the gate,
with human headers and code cells turned into words; columns that only carry internal codes
(method codes, join keys) are left out because the methods section says the same in words.
"""
from __future__ import annotations

import re
from typing import Any

import pandas as pd
import yaml

from evaltool.report.context import Section
from evaltool.report.gate import number
from evaltool.report.labels import value_label, variant_label, without_todo, words
from evaltool.report.sections._common import esc
from evaltool.report.sentences import plain_reason

#: Tables longer than this are published in the workbook only (the appendix says so).
LONG_TABLE_ROWS = 60
#: Columns left out of published tables: internal codes the methods section explains in words.
DROP_COLUMNS = {"method", "subgroup_var", "quant_key", "small_group", "value_set", "rule", "covariates", "theme",
                "finding_template", "base"}
_SNAKE = re.compile(r"^[A-Za-z][A-Za-z0-9]*(_[A-Za-z0-9]+)+$")

SECTION_TABLES = {
    "diagnostics": ["balance", "matching_summary", "pre_trajectory", "subgroup_tests", "event_study"],
    "results": ["effects_matched", "naive_before_after", "outcome_rates", "follow_up", "rollout_effects",
                "rollout_sensitivity", "rollout_event_study", "rollout_panel_summary"],
    "data": ["cohort_flow", "activity_flow", "input_problems"],
}


def _plain(v: str) -> str:
    # Stages may put zero-width break points after "_" in codes; they are still codes.
    return v.replace("\u200b", "")


def clean(df: pd.DataFrame) -> pd.DataFrame:
    """Drop code-only columns; turn code cells (snake_case text) into words via the label registry."""
    out = df[[c for c in df.columns if c not in DROP_COLUMNS or (c == "theme" and "theme_label" not in df.columns)]]
    out = out.copy()
    for c in out.columns:
        if pd.api.types.is_object_dtype(out[c]) or pd.api.types.is_string_dtype(out[c]):
            out[c] = out[c].map(lambda v, c=c: value_label(c, _plain(v)) if isinstance(v, str) and _SNAKE.match(_plain(v))
                                else v)
    if "variant" in out.columns:
        out["variant"] = out["variant"].map(variant_label)
    if "analysis" in out.columns:
        out["analysis"] = out["analysis"].map(lambda v: words(v) if isinstance(v, str) else v)
    if "reason" in out.columns and "description" in out.columns:
        out["reason"] = [("" if str(r) == str(d) or str(d).endswith(str(r)) else r)
                         for r, d in zip(out["reason"], out["description"])]
    if "step" in out.columns and "description" in out.columns:
        out = out.drop(columns=["step"])
    return out


def _publish(ctx: Any, name: str) -> str:
    t = ctx.pub.table(name)
    if t is None or not t.publish or name in ctx.used_tables:
        return ""
    ctx.used_tables.add(name)
    d = clean(t.display)
    if "rollout" in name and "estimator" in t.display.columns:
        d = d.rename(columns={"estimator": "estimator"})
    caption, todo = without_todo(t.caption or "")
    if todo:
        ctx.warnings.append(f"table {name!r}: a to-do note in its caption was not published ({t.caption!r})")
    cap = words(t.title) + (f". {words(caption)}" if caption else "")
    if len(d) > LONG_TABLE_ROWS:
        # A long table (the event study's months x outcomes x groups) is read in the workbook, not on paper.
        ctx.table(d, cap, name)
        return (f"**{esc(words(t.title))}.** " + esc(f"This table has {len(d):,} rows; it is in the accompanying "
                                                      "Excel workbook (see its Contents sheet)."))
    return ctx.table(d, cap, name, key_columns=min(2, len(d.columns)))


_METHODS = [
    ("Design", "Person level: each enrolled person was matched, at the month they were enrolled, to people not "
               "enrolled who were similar on age, sex, deprivation, long-term conditions, frailty, risk score and "
               "recent hospital use (risk-set matching on the propensity score, nearest neighbour within a caliper). "
               "Outcomes were compared before and after enrolment between the groups (difference-in-differences). "
               "Area level: practices that had gone live compared with practices not yet live (staggered roll-out)."),
    ("Estimands", "The average effect of the programme on enrolled people, as a rate ratio from a Poisson model with "
                  "person and month effects and a log follow-up offset, and as an absolute difference per 1,000 "
                  "person-years (per 1,000 people a year)."),
    ("Uncertainty", "95% confidence intervals with standard errors clustered on the matched set (person level) or "
                    "on the practice (area level, with a wild cluster bootstrap or jackknife suited to few clusters)."),
    ("Subgroups", "Effects by age group from the same model, with a Wald test of a difference between groups. "
                  "Tests were not adjusted for multiplicity; the report says how many were made."),
    ("Roll-out headline", "One estimator, the Poisson imputation estimator with a log person-time offset, by quarter; "
                          "the others are shown for comparison only."),
    ("Monitoring chart", "An XmR chart in NHS England's Making Data Count style: limits at the mean plus or minus "
                         "2.66 times the mean moving range, calculated for the period before go-live and "
                         "recalculated after; values seasonally adjusted with month-of-year factors from the "
                         "baseline when two years of baseline exist."),
    ("Strength of evidence", "Maryland Scientific Methods Scale as scored by the What Works Centre for Local Economic "
                             "Growth; confidence rated from balance, trends before enrolment, follow-up, precision "
                             "and matching losses (rules in the evaltool documentation)."),
]


#: The methods of an area-only evaluation (an area-by-month panel, no person-level data).
_AREA_METHODS = [
    ("Design", "Whole area, from monthly counts for areas (no records of individual people): the evaluated area's "
               "monthly rate after go-live was compared with (a) a weighted set of comparison areas that tracked it "
               "before go-live (synthetic difference-in-differences, Arkhangelsky et al. 2021; synthetic control, "
               "Abadie, Diamond and Hainmueller 2010; and difference-in-differences against the average comparison "
               "area) and (b) its own trend and seasonal pattern before go-live (interrupted time series: segmented "
               "count regression with the population as exposure and seasonal terms; Lopez Bernal, Cummins and "
               "Gasparrini 2017)."),
    ("Estimands", "The average effect of the programme on the whole area's monthly rate after go-live, as a rate "
                  "ratio (observed over expected without the programme) and as a difference per 1,000 person-years "
                  "(per 1,000 people a year)."),
    ("Uncertainty", "Comparison-area designs: placebo re-assignment of the comparison areas (a t interval with one "
                    "fewer degree of freedom than comparison areas unless the plan says otherwise); synthetic control "
                    "with area characteristics: in-space placebos; interrupted time series: the count model's errors "
                    "as set in the plan (see the interrupted time series tables)."),
    ("Strength of evidence", "Maryland Scientific Methods Scale as scored by the What Works Centre for Local Economic "
                             "Growth; confidence rated from the months before go-live, the number of comparison areas, "
                             "the fit before go-live and precision (rules in the evaltool documentation)."),
]


def methods(ctx: Any) -> Section:
    items = _AREA_METHODS if ctx.area_only else _METHODS
    body = "\n\n".join(f"**{esc(h)}.** {esc(t)}" for h, t in items)
    return Section("methods", "Methods and estimands", body)


def plan(ctx: Any) -> Section:
    spec = ctx.manifest.get("spec") or {}
    if ctx.area_only:
        # An area-only plan: leave out the person-level parts it never used (all empty or defaults).
        spec = {k: v for k, v in spec.items() if k not in _PERSON_PLAN_KEYS}
        if isinstance(spec.get("data"), dict):
            spec["data"] = {k: v for k, v in spec["data"].items() if v is not None}
    text = yaml.safe_dump(spec, sort_keys=False, width=88, allow_unicode=True, default_flow_style=False)
    lines = [ln if len(ln) <= 96 else ln[:93] + "..." for ln in text.splitlines()]
    fence = "````"
    # No language class: syntax-highlighting colours fall short of WCAG contrast.
    body = ("The specification below is the analysis plan exactly as it was run.\n\n" + fence + "\n"
            + "\n".join(lines) + "\n" + fence)
    return Section("plan", "The analysis plan as run", body)


def run_record(ctx: Any) -> Section:
    parts = []
    dev = ctx.record.deviations()
    parts.append(ctx.table(dev, "Deviations from the analysis plan", "appendix-deviations", labelled=True)
                 if len(dev) else "Every planned analysis produced its result.")
    # The exact messages (they may name files and columns of the input data), as a list.
    msgs = [(str(e.get("stage", "")), str(e.get("severity", "")), str(e.get("message", "")), str(e.get("detail", "")))
            for e in ctx.record.notable_events()]
    msgs += [(a.get("stage", ""), "error", f"{a.get('analysis', '')} of {a.get('outcome', '')}: not estimated",
              str(a.get("reason", ""))) for a in ctx.record.failed() if not ctx.record.events]
    msgs += [(k, "error", f"{k}: {s}", r) for k, s, r in ctx.record.stage_problems() if s == "failed"]
    if msgs:
        parts.append("Warnings and errors recorded during the run, as the run recorded them:\n\n" + "\n".join(
            f"- {esc(f'{stage.capitalize()} ({sev}): {msg}' + (f'. {det}' if det else ''))}"
            for stage, sev, msg, det in msgs))
    st = ctx.manifest.get("stages") or {}
    if st:
        df = pd.DataFrame([{"Part": k.capitalize(), "Status": value_label("status", (v or {}).get("status", "")),
                            "Seconds": (v or {}).get("seconds"),
                            "Reason": plain_reason((v or {}).get("reason")) if (v or {}).get("reason") else ""}
                           for k, v in st.items()])
        parts.append(ctx.table(df, "Each part of the run", "run-status", labelled=True))
    return Section("run-record", "What happened during the run", "\n\n".join(parts))


def diagnostics(ctx: Any) -> Section:
    parts = []
    for name in ("love_plot", "ps_distribution", "pre_trajectory", "event_study"):
        if name in ctx.all_figures():
            parts.append(ctx.stage_figure(name))
    for name in SECTION_TABLES["diagnostics"]:
        parts.append(_publish(ctx, name))
    return Section("diagnostics", "Diagnostics", "\n\n".join(p for p in parts if p))


def results(ctx: Any) -> Section:
    parts = []
    if "rollout_event_study" in ctx.all_figures():
        parts.append(ctx.stage_figure("rollout_event_study"))
    names = list(SECTION_TABLES["results"])
    if ctx.pub.table("effects_matched") is None:
        names.insert(0, "effects")  # older bundles: every estimate is in `effects`
    for name in names:
        parts.append(_publish(ctx, name))
    return Section("full-results", "Full results", "\n\n".join(p for p in parts if p))


def _change_months(ctx: Any, labels: list[str]) -> tuple[int | None, int | None]:
    t = ctx.pub.table("rollout_panel_summary")
    first = last = None
    if t is not None and "n_practices_live" in t.display.columns:
        d = t.display
        live = d["n_practices_live"].map(number)
        if (live > 0).any():
            first = str(d.loc[live > 0, "p_start"].iloc[0])[:7]
            last = str(d.loc[live == live.max(), "p_start"].iloc[0])[:7]
    if first is None:
        f1, f2 = ctx.pub.fact("cohort", "first_index_date"), ctx.pub.fact("cohort", "last_index_date")
        first = str(f1.value)[:7] if f1 is not None else None
        last = str(f2.value)[:7] if f2 is not None else None
    idx = {lab: i for i, lab in enumerate(labels)}
    a = idx.get(first) if first else None
    b = idx.get(last) if last else None
    if b is not None and b + 2 < len(labels):
        b = b + 2  # a quarter's start month -> its last month
    return a, b


def monitoring(ctx: Any) -> Section | None:
    from evaltool.report.spc import phased_chart

    t = ctx.pub.table("spc_monthly")
    if t is None or "rate_per_1000" not in t.display.columns:
        return None
    d = t.display
    vals = d["rate_per_1000"].map(number)
    if vals.isna().any() or len(vals) < 6:
        return Section("monitoring", "Monitoring chart", "Some monthly values are suppressed, so no chart is drawn.")
    labels = [str(m)[:7] for m in d["month"]]
    a, b = _change_months(ctx, labels)
    pc = phased_chart(vals.to_numpy(), labels, change_start=a, change_end=b)
    sig = pc.signals()
    adj = ("Values are seasonally adjusted: each month is divided by its usual share of the year, estimated from "
           "the months before go-live, so winter peaks are not mistaken for change." if pc.adjusted else
           "Values are not seasonally adjusted (fewer than two years before go-live): the usual winter rise alone "
           "produces signals, so signals here mostly reflect the seasons.")
    flagged = "; ".join(f"{k.lower()}: {v} month{'s' if v != 1 else ''} flagged" for k, v in sig.items())
    means = "; ".join(f"{n.lower()} average {r.mean:.2f}" for n, _, _, r in pc.phases)
    band = ("The shaded band marks the roll-out (first to last team going live); limits are calculated for each "
            "phase. " if a is not None else "No go-live date is recorded in the results, so the chart has one phase. ")
    text = (f"Emergency admissions per 1,000 registered people each month, in the NHS Making Data Count style. {band}"
            f"{adj} Special-cause signals by phase: {flagged}. Phase averages: {means}. This chart describes the "
            "whole registered population; it does not show whether the programme caused any change (the "
            "roll-out analysis in the report addresses that).")
    alt = (f"XmR chart of monthly emergency admissions per 1,000 registered people from {labels[0]} to {labels[-1]}"
           f"{', seasonally adjusted' if pc.adjusted else ''}, in phases with their own limits. {flagged}.")
    fig = ctx.figure(lambda: pc.plot("Admissions per 1,000" + (" (seasonally adjusted)" if pc.adjusted else "")),
                     "spc", "Monthly emergency admissions per 1,000 registered people (XmR chart)", alt,
                     data=(labels, list(vals), a, b), width=7, height=3.6)
    return Section("monitoring", "Monitoring chart", esc(text) + "\n\n" + fig)


def proms(ctx: Any) -> Section | None:
    names = [n for n, t in ctx.bundle.tables.items() if t.section == "proms" and t.publish]
    if not names:
        return None
    parts = [ctx.stage_figure(n) for n, f in ctx.all_figures().items() if f.section == "proms"]
    parts += [_publish(ctx, n) for n in names]
    return Section("proms-detail", "Patient-reported outcomes and experience in detail", "\n\n".join(p for p in parts if p))


def qual(ctx: Any) -> Section | None:
    names = [n for n, t in ctx.bundle.tables.items() if t.section == "qual" and t.publish
             and n not in ("qual_quotes", "qual_theme_by_role", "qual_theme_by_site", "qual_framework")]
    if not names:
        return None
    parts = []
    for n, f in ctx.all_figures().items():
        if f.section == "qual" and n != "qual_theme_salience":
            parts.append(ctx.stage_figure(n))
    q = ctx.pub.table("qual_quotes")
    if q is not None and len(q.display):
        d = q.display
        seen: set[str] = set()
        keep = []
        for i, r in d.iterrows():
            w = " ".join(str(r["quote"]).split()).lower()
            if w not in seen:
                seen.add(w)
                keep.append(i)
        shown = d.loc[keep, ["theme_label", "quote", "attribution"]]
        parts.append(ctx.table(shown, "Illustrative quotes by theme (each quote used once)", "quotes"))
    parts += [_publish(ctx, n) for n in names]
    return Section("qual-detail", "Interviews and focus groups in detail", "\n\n".join(p for p in parts if p))


def data(ctx: Any) -> Section:
    parts = [_publish(ctx, n) for n in SECTION_TABLES["data"]]
    m = ctx.manifest
    pk = m.get("packages") or {}
    parts.append(ctx.table(pd.DataFrame({"Software": ["Python", "evaltool", *pk.keys()],
                                         "Version": [m.get("python", ""), m.get("evaltool_version", ""),
                                                     *map(str, pk.values())]}),
                           "Software versions", "software", labelled=True))
    inputs = pd.DataFrame([{"Input": str(k).replace("_", " ").capitalize(),
                            "File": str((v or {}).get("path", "")).rsplit("/", 1)[-1],
                            "Rows": (v or {}).get("rows"), "SHA-256": str((v or {}).get("sha256", ""))[:16] + "…"}
                           for k, v in (m.get("inputs") or {}).items()])
    if len(inputs):
        parts.append(ctx.table(inputs, "Input files (first 16 characters of each SHA-256 hash; the full hashes are "
                                       "in the bundle's manifest)", "inputs", labelled=True))
    parts.append(esc(ctx.pub.statement()))
    return Section("data", "Data, software and confidentiality", "\n\n".join(p for p in parts if p))


_CHECKLIST = [
    ("Title and abstract", "Design and key results stated", "Key points"),
    ("Background and objectives", "The programme and the questions", "The programme; What we asked and how"),
    ("Study design", "Design presented early", "What we asked and how"),
    ("Setting", "Place, dates of recruitment and follow-up", "Key points; The analysis plan as run"),
    ("Participants (RECORD 6.1-6.3)", "Eligibility, selection, matching criteria; codes used", "Who was included; "
     "Methods; The analysis plan as run"),
    ("Variables and data sources (RECORD 7.1, 12.1)", "Outcomes, exposures, confounders; data cleaning",
     "The analysis plan as run; Data, software and confidentiality"),
    ("Bias", "Efforts to address bias", "How sure are we; What this evaluation cannot tell you"),
    ("Study size and flow (RECORD 13.1)", "Numbers at each stage, with reasons", "Who was included; Data tables"),
    ("Statistical methods", "Models, subgroups, missing data, sensitivity analyses", "Methods and estimands"),
    ("Descriptive data", "Characteristics of participants", "Who was included (Table 1)"),
    ("Main results", "Estimates with precision; absolute and relative", "Did it make a difference"),
    ("Other analyses", "Subgroups, sensitivity analyses", "For whom; How sure are we"),
    ("Limitations", "Sources of bias and imprecision", "What this evaluation cannot tell you"),
    ("Interpretation and generalisability", "Cautious overall interpretation", "Conclusions and what this means"),
    ("Data access (RECORD 22.1)", "Access to data and code", "About this report; Data, software and confidentiality"),
    ("Deviations", "Changes to the plan and failed analyses", "What happened during the run"),
]


#: Checklist rows reworded for an area-only evaluation (the units are areas and months, not people).
_AREA_CHECKLIST = {
    "Setting": ("Place, go-live date and the months analysed", "Key points; Who was included"),
    "Participants (RECORD 6.1-6.3)": ("The evaluated area and the comparison areas, and how they were chosen",
                                      "Who was included; Methods; The analysis plan as run"),
    "Study size and flow (RECORD 13.1)": ("Areas and months analysed, and areas left out", "Who was included; "
                                                                                            "Other tables"),
    "Descriptive data": ("Events and rates of each area before and after go-live", "Other tables"),
    "Main results": ("Estimates with precision; absolute and relative", "The whole area"),
    "Other analyses": ("Other designs, leaving out each comparison area", "The whole area; How sure are we"),
}
_PERSON_PLAN_KEYS = ("cohort", "validation", "matching", "effects", "rollout", "proms", "economics",
                     "coded_outcomes")


def checklist(ctx: Any) -> Section:
    rows = [(item, *_AREA_CHECKLIST[item]) if ctx.area_only and item in _AREA_CHECKLIST else (item, what, where)
            for item, what, where in _CHECKLIST]
    df = pd.DataFrame(rows, columns=["STROBE / RECORD item", "What is reported", "Where"])
    return Section("checklist", "Reporting checklist (STROBE and RECORD)", ctx.table(
        df, "Where each STROBE and RECORD item is reported", "checklist", labelled=True, workbook=False))


#: Tables shown in another form (the main report's joint display, quotes) or duplicated by a fuller table.
_SHOWN_ELSEWHERE = {"joint_display", "qual_quotes"}


def other_tables(ctx: Any) -> Section | None:
    """Every published table of the bundle appears somewhere: those no section used come here."""
    if "effects_matched" in ctx.bundle.tables:
        ctx.used_tables.add("effects")
    left = [n for n, t in ctx.bundle.tables.items() if t.publish and n not in ctx.used_tables
            and n not in _SHOWN_ELSEWHERE]
    parts = [_publish(ctx, n) for n in left]
    parts = [p for p in parts if p]
    return Section("other-tables", "Other tables", "\n\n".join(parts)) if parts else None


def other_figures(ctx: Any) -> Section | None:
    """Every figure of the bundle is published somewhere: those no section used come here."""
    left = [n for n in ctx.all_figures() if n not in ctx.used_figures]
    if not left:
        return None
    return Section("other-figures", "Other figures", "\n\n".join(ctx.stage_figure(n) for n in left))


def economics(ctx: Any) -> Section | None:
    from evaltool.report.sections.economics import appendix as economics_appendix

    return economics_appendix(ctx)


APPENDIX = [methods, plan, run_record, diagnostics, results, monitoring, proms, economics, qual, other_tables,
            other_figures, data, checklist]
