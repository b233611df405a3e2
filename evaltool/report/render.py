"""Render a saved results bundle to HTML, PDF, Word and an Excel workbook.

``render_report(bundle_dir)`` reads only the bundle, fills ``evaltool/report/templates/report.qmd`` (Jinja2,
every value Markdown-escaped unless evaltool built it), then renders with ``quarto render``
when Quarto is on PATH (and ``engine`` allows), otherwise with pandoc from the
``pypandoc-binary`` wheel (HTML with embedded resources, DOCX with a styled reference
document) and Typst from the ``typst`` wheel for the PDF. ``filters/crossref.lua`` gives
plain pandoc the same section/figure/table numbering and cross-references as Quarto.

Reproducibility: the only time shown is ``manifest.created`` (when the results were produced);
DOCX and PDF metadata and the workbook's zip entries take the same time
(``SOURCE_DATE_EPOCH``), so re-rendering a saved bundle gives byte-identical files.
"""
from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from evaltool._result import ResultMixin, Summary
from evaltool.errors import ReportError
from evaltool.report.bundle_io import SECTIONS, Bundle, load_bundle
from evaltool.report.escape import escape_markdown, yaml_markdown_string
from evaltool.report.area_text import AREA_HEADING, AREA_INTRO, area_sentences, headline_sentence
from evaltool.report.publish import Published, publish
from evaltool.report.rules import DisclosureRules
from evaltool.report.sentences import (key_findings, outcome_label, ratio_phrase, stage_key_points,
                                       subgroup_label)

__all__ = ["FORMATS", "ReportResult", "build_markdown", "load_bundle", "render_report"]

FORMATS = ("html", "pdf", "docx", "xlsx")
OUTPUT_NAMES = {"html": "report.html", "pdf": "report.pdf", "docx": "report.docx", "xlsx": "report_tables.xlsx"}
_HERE = Path(__file__).parent
ASSETS = _HERE / "assets"
FILTER = _HERE / "filters" / "crossref.lua"


def _templates_dir() -> Path:
    # The templates ship inside the package (evaltool/report/templates), so a wheel renders as the repository does.
    cand = _HERE / "templates"
    if (cand / "report.qmd").exists():
        return cand
    raise ReportError(f"report template `report.qmd` not found in {cand} (a broken installation: reinstall evaltool)")


# ---------------------------------------------------------------------------------------------
# result object


@dataclass(frozen=True)
class ReportResult(ResultMixin):
    """What :func:`render_report` wrote.

    Attributes
    ----------
    paths : dict
        Format -> output path.
    seconds : dict
        Format -> render time in seconds (wall clock).
    engine : str
        ``"quarto"`` or ``"pandoc"``.
    hidden_cells : int
        Table cells hidden by disclosure control across the report.
    warnings : tuple of str
    """

    paths: dict[str, Path]
    seconds: dict[str, float]
    engine: str
    hidden_cells: int = 0
    warnings: tuple[str, ...] = field(default=())

    def summary(self) -> Summary:
        lines = [("engine", self.engine), ("cells hidden (disclosure)", str(self.hidden_cells))]
        lines += [(f, f"{p} ({self.seconds.get(f, float('nan')):.2f} s)") for f, p in self.paths.items()]
        return Summary(title="Report rendered", lines=tuple(lines))

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"format": list(self.paths), "path": [str(p) for p in self.paths.values()],
                             "seconds": [self.seconds.get(f) for f in self.paths]})

    def to_dict(self) -> dict[str, Any]:
        return {"paths": {k: str(v) for k, v in self.paths.items()}, "seconds": dict(self.seconds),
                "engine": self.engine, "hidden_cells": self.hidden_cells, "warnings": list(self.warnings)}

    def plot(self):
        """Render time by format (a bar chart)."""
        from plotnine import aes, coord_flip, geom_col, ggplot, labs

        from evaltool.plotting import NHS_BLUE, theme_evaltool

        return (ggplot(self.to_frame(), aes("format", "seconds")) + geom_col(fill=NHS_BLUE) + coord_flip()
                + labs(x="", y="seconds") + theme_evaltool())


# ---------------------------------------------------------------------------------------------
# Markdown building blocks (every user string escaped)

_HEADER_LABELS = {
    "n": "N", "pct": "%", "percent": "%", "std_error": "Standard error", "p_value": "p value",
    "ci_lower": "95% CI lower", "ci_upper": "95% CI upper", "smd": "SMD", "n_remaining": "N remaining",
    "n_excluded": "N excluded", "n_units": "N units", "n_clusters": "N clusters", "rate_per_1000": "Rate per 1,000",
}


def _header(col: str) -> str:
    c = str(col)
    if c in _HEADER_LABELS:
        return _HEADER_LABELS[c]
    if c.startswith(("pct_", "percent_")):
        return "% " + c.split("_", 1)[1].replace("_", " ")
    s = c.replace("_", " ")
    return s[:1].upper() + s[1:]


def fmt_value(v: Any, col: str = "") -> str:
    """Format one table cell for display (numbers rounded for reading, ``*`` kept)."""
    if v is None:
        return "–"
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "yes" if v else "no"
    try:
        x = float(v)
    except (TypeError, ValueError):
        return str(v)
    if math.isnan(x):
        return "–"
    if col == "p_value" or col.endswith("_p") or col.startswith("p_"):
        return "<0.001" if x < 0.001 else f"{x:.3f}"
    if x.is_integer() and abs(x) < 1e15:
        return f"{int(x):,}"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 1:
        return f"{x:.2f}"
    return f"{x:.3f}"


def md_table(df: pd.DataFrame, caption: str = "", ident: str = "", *, max_rows: int = 400) -> str:
    """A pipe table in a cross-referenceable div (``::: {#tbl-x}``), cells escaped.

    Examples
    --------
    >>> print(md_table(pd.DataFrame({"a|b": ["<x>"]}), "Cap", "tbl-t"))
    ::: {#tbl-t}
    | A\\|b |
    |:-----|
    | \\<x\\> |
    <BLANKLINE>
    : Cap
    :::
    """
    cols = list(df.columns)
    if not cols:
        return ""
    shown = df.head(max_rows)
    values = shown.astype(object).where(shown.notna(), None).to_numpy()
    # Numbers (and the "*" of hidden counts) right-aligned, text left-aligned.
    numeric = [all(v is None or v == "*" or (isinstance(v, (int, float)) and not isinstance(v, bool))
                   for v in values[:, j]) for j in range(len(cols))]
    heads = [escape_markdown(_header(c)) for c in cols]
    cells = [[escape_markdown(fmt_value(v, str(c))) or " " for v, c in zip(row, cols)] for row in values]
    # Wide tables wrap, and pandoc then sizes columns by the dashes under each header: make them
    # proportional to the longest entry (capped) so text columns such as quotes get the room.
    # Headers wrap, so only their longest word counts; long text is capped so it wraps rather than
    # squeezing the numbers.
    width = [max(max(len(w) for w in (h.split() or [""])), min(40, max([0] + [len(r[j]) for r in cells])))
             for j, h in enumerate(heads)]
    lines = ["| " + " | ".join(heads) + " |",
             "|" + "|".join(("-" * max(3, w) + ":") if num else (":" + "-" * max(3, w))
                            for num, w in zip(numeric, width)) + "|"]
    for row in cells:
        lines.append("| " + " | ".join(row) + " |")
    body = "\n".join(lines)
    if len(df) > max_rows:
        body += f"\n\nFirst {max_rows} of {len(df):,} rows shown; the workbook has them all."
    if caption:
        body += "\n\n: " + escape_markdown(caption)
    return f"::: {{#{ident}}}\n{body}\n:::" if ident else body


def attr_value(text: object) -> str:
    """Escape text for a quoted Pandoc/Quarto attribute value (e.g. ``fig-alt="..."``)."""
    s = " ".join(str(text).split())
    s = s.replace("&", "&amp;").replace("\\", "\\\\").replace('"', '\\"')
    # Entities stop Quarto seeing shortcodes ({{< >}}) inside attributes.
    return s.replace("{", "&#123;").replace("}", "&#125;")


def md_figure(path: str, title: str, alt: str, ident: str) -> str:
    """A figure with caption, cross-reference id and alt text."""
    return f'![{escape_markdown(title)}]({path}){{#{ident} fig-alt="{attr_value(alt)}" width="95%"}}'


def _ident(prefix: str, name: str) -> str:
    safe = "".join(c if c.isalnum() else "-" for c in str(name).lower()).strip("-") or "x"
    return f"{prefix}-{safe}"


# ---------------------------------------------------------------------------------------------
# section content

_HEADINGS = {
    "cohort": "Who was evaluated",
    "matching": "How comparable the groups were",
    "effects": "What happened to hospital use",
    "rollout": "Practice roll-out: what happened as teams went live",
    "area": AREA_HEADING,
    "spc": "Monthly emergency admissions over time",
    "proms": "What patients reported",
    "qual": "What staff, patients and carers said",
    "joint_display": "Bringing the numbers and the voices together",
}

_INTROS = {
    "area": AREA_INTRO,
    "cohort": ("The flow below shows how many people were in the data, who was excluded and why, and how many "
               "were analysed. Nobody is dropped without a reason being counted."),
    "matching": ("Each enrolled patient was compared with similar patients who were not enrolled, chosen at the "
                 "same point in time with similar age, health and recent use of services. The closer the groups "
                 "are on these characteristics, the fairer the comparison. A standardised mean difference below "
                 "0.1 is usually taken as good balance."),
    "effects": ("These results compare the change in hospital use among enrolled patients with the change among "
                "the matched comparison group over the same period (a difference-in-differences design). Rate "
                "ratios below 1 mean fewer events than expected."),
    "rollout": ("Teams went live in different practices at different dates. Comparing practices that had gone "
                "live with those that had not yet done so, month by month, gives a second, area-level view of "
                "the programme's effect."),
    "spc": ("A statistical process control (XmR) chart in the NHS Making Data Count style. The solid line is "
            "the average and the dashed lines are the process limits (average ± 2.66 × average moving range). "
            "Points are highlighted when a special-cause rule is met: a point outside the limits, 7 points in a "
            "row on one side of the average, 7 points in a row going up or down, or 2 of 3 points close to a "
            "limit."),
    "proms": ("Patient-reported outcome and experience measures describe how patients rated their health, "
              "their confidence in managing it, and their experience of care."),
    "qual": ("Interviews and focus groups were coded against a shared codebook. The tables show how often each "
             "theme came up, by role, and example quotes chosen to illustrate them (with identifying details "
             "removed)."),
    "joint_display": ("The joint display sets each quantitative finding beside what people said about it, and "
                      "whether the voices confirm, expand on or contradict the numbers."),
}

_ANALYSIS_LABELS = {"matched_did": "Matched comparison", "practice_rollout": "Practice roll-out",
                    "naive_before_after": "Before and after only (no comparison group)"}


def _signed(x: float, decimals: int) -> str:
    # A true minus sign (U+2212): a hyphen before a number reads badly and can wrap.
    t = f"{abs(x):,.{decimals}f}"
    return ("\u2212" + t) if x < 0 and float(t.replace(",", "")) != 0 else t


def _ci_text(r: pd.Series) -> str:
    est, lo, hi = (float(r.get(k, float("nan"))) for k in ("estimate", "ci_lower", "ci_upper"))
    if any(math.isnan(x) for x in (est, lo, hi)):
        return "not estimable"
    if str(r.get("scale")) == "rate_ratio":
        return f"{est:.2f} ({lo:.2f} to {hi:.2f})"
    ref = max(abs(est), abs(lo), abs(hi))
    d = 0 if ref >= 10 else 1 if ref >= 1 else 3
    return f"{_signed(est, d)} ({_signed(lo, d)} to {_signed(hi, d)})"


def headline_table(effects: pd.DataFrame, analyses: tuple[str, ...]) -> pd.DataFrame:
    """Reader-friendly effects: one row per outcome and group, rate ratio and absolute difference side by side."""
    e = effects[effects["analysis"].isin(analyses)].copy()
    if not len(e):
        return pd.DataFrame()
    e["group"] = e["subgroup"].map(lambda x: subgroup_label(x) or "everyone")
    rows = []
    for (outcome, group), g in e.groupby(["outcome", "group"], sort=False):
        rr = g[g["scale"] == "rate_ratio"]
        ab = g[g["scale"] == "difference_per_1000py"]
        other = g[~g["scale"].isin(["rate_ratio", "difference_per_1000py"])]
        row = {"Outcome": outcome_label(outcome), "Group": group}
        if len(rr):
            r = rr.iloc[0]
            row["Rate ratio (95% CI)"] = _ci_text(r)
            row["In words"] = ratio_phrase(float(r["estimate"]), float(r["ci_lower"]), float(r["ci_upper"]))[1]
        if len(ab):
            row["Difference per 1,000 person-years (95% CI)"] = _ci_text(ab.iloc[0])
        if len(other):
            r = other.iloc[0]
            row[f"Estimate (95% CI), {str(r['scale']).replace('_', ' ')}"] = _ci_text(r)
        rows.append(row)
    out = pd.DataFrame(rows)
    # "In words" last: it is the widest column.
    cols = [c for c in out.columns if c != "In words"] + (["In words"] if "In words" in out.columns else [])
    return out[cols].fillna("–")


@dataclass
class _Ctx:
    bundle: Bundle
    config: DisclosureRules
    workdir: Path
    hidden: int = 0
    fft_used: bool = False
    published: list[tuple[str, str, pd.DataFrame]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    pub: Published | None = None  # the publication gate's output: every number shown comes from here


def _publish_table(ctx: _Ctx, name: str) -> str:
    pt = ctx.pub.table(name)
    if pt is None:
        return ""
    ctx.published.append((name, pt.title, pt.display))
    return md_table(pt.display, pt.title + (f". {pt.caption}" if pt.caption else ""), _ident("tbl", name))


def _figure_block(ctx: _Ctx, name: str) -> str:
    f = ctx.pub.figures[name]
    if f.kind == "data":
        from evaltool.report.figure_data import figure_markdown

        return figure_markdown(ctx, f)
    dest = ctx.workdir / "figures" / f"{_ident('f', name)}.png"
    dest.parent.mkdir(exist_ok=True)
    shutil.copyfile(f.path, dest)
    return md_figure(f"figures/{dest.name}", f.title, f.alt, _ident("fig", name))


def _spc_blocks(ctx: _Ctx) -> tuple[list[str], list[str]]:
    """XmR chart and sentence computed from the bundle's ``spc_monthly`` table."""
    from evaltool.report.spc import xmr

    # Drawn from the published table: rates worked out from rounded admissions and population.
    pt = ctx.pub.table("spc_monthly") if ctx.pub is not None else None
    df = pt.values.assign(month=pt.display["month"]) if pt is not None and "month" in pt.display else (
        pt.values if pt is not None else None)
    if df is None or not len(df):
        return [], []
    col = next((c for c in ("value", "rate_per_1000", "rate") if c in df.columns), None)
    if col is None:
        ctx.warnings.append("spc_monthly has no `value`/`rate_per_1000` column; SPC chart skipped")
        return [], []
    d = df.dropna(subset=[col])
    if len(d) < len(df):
        ctx.warnings.append(f"SPC chart: {len(df) - len(d)} months are suppressed (small numbers) and not drawn")
    if len(d) < 3:
        return ["The monthly chart is not shown: its monthly numbers are too small to publish."], []
    labels = [str(m)[:7] for m in d["month"]] if "month" in d.columns else None
    res = xmr(d[col].to_numpy(float), labels, improvement="down")
    what = "emergency admissions per 1,000 registered population" if col == "rate_per_1000" else "values"
    ylab = "Emergency admissions per 1,000" if col == "rate_per_1000" else col
    _save(ctx, lambda: res.plot(y_label=ylab), "spc-xmr", _data_key("spc", d, col, labels), width=7, height=3.6)
    alt = (f"XmR chart of monthly {what} from {labels[0] if labels else 1} to {labels[-1] if labels else len(d)}. "
           f"Average {res.mean:.2f}, process limits {res.lcl:.2f} to {res.ucl:.2f}; "
           f"{int(res.special_cause.sum())} of {len(d)} months flagged by a special-cause rule.")
    fig = md_figure("figures/spc-xmr.png", f"Monthly {what}: XmR chart", alt, "fig-spc-xmr")
    lim = pd.DataFrame({"measure": ["Average", "Average moving range", "Lower process limit", "Upper process limit",
                                    "Months outside the limits", "Months in a run of 7 on one side",
                                    "Months in a 7-month trend", "Months in 2 of 3 near a limit"],
                        "value": [res.mean, res.mr_bar, res.lcl, res.ucl, int(res.outside.sum()), int(res.shift.sum()),
                                  int(res.trend.sum()), int(res.two_of_three.sum())]})
    return [res.describe(what)], [fig, md_table(lim, "XmR chart summary", "tbl-spc-limits")]


# Charts drawn by the report are a pure function of their data: re-rendering in the same process
# (tests, notebooks) reuses the PNG instead of drawing it again (~1 s each with plotnine).
_PNG_CACHE: dict[str, bytes] = {}


def _data_key(*parts: Any) -> str:
    import hashlib

    h = hashlib.sha256()
    for p in parts:
        h.update((p.to_csv(index=False) if isinstance(p, pd.DataFrame) else repr(p)).encode())
    return h.hexdigest()


def _save(ctx: _Ctx, draw, name: str, key: str, width: float | None = None, height: float | None = None) -> str:
    """Write the PNG of ``draw()`` (a ggplot factory) to the work dir, drawing it only if not cached."""
    dest = ctx.workdir / "figures" / f"{name}.png"
    dest.parent.mkdir(exist_ok=True)
    if key not in _PNG_CACHE:
        kw = {"width": width, "height": height} if width else {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            draw().save(dest, dpi=150, verbose=False, **kw)
        if len(_PNG_CACHE) > 64:
            _PNG_CACHE.clear()
        _PNG_CACHE[key] = dest.read_bytes()
    else:
        dest.write_bytes(_PNG_CACHE[key])
    return f"figures/{dest.name}"


MATCHING_FLOW_PREFIXES = ("unmatched_", "excluded_before_matching_", "analysed_matched", "analysed_controls")


def _flow_block(ctx: _Ctx) -> str:
    """Cohort flow diagram drawn from ``cohort_flow`` after disclosure control."""
    from evaltool.report.figures import cohort_flow_plot

    t = ctx.bundle.tables["cohort_flow"]
    shown = ctx.pub.table("cohort_flow").display
    # The diagram shows people up to the split into enrolled and potential controls; matching's own
    # losses (rows the pipeline appends after the split) are listed in the flow table beneath it.
    pre = ~t.data["step"].astype(str).str.startswith(MATCHING_FLOW_PREFIXES).to_numpy()
    plot, alt = cohort_flow_plot(shown[pre].reset_index(drop=True), t.data[pre].reset_index(drop=True))
    if not pre.all():
        alt += " Matching steps that follow are listed in the table beneath."
    path = _save(ctx, lambda: plot, "cohort-flow", _data_key("flow", shown, t.data))
    return md_figure(path, "Who was included and who was excluded, with reasons", alt, "fig-cohort-flow")


def _forest_block(ctx: _Ctx, effects: pd.DataFrame) -> list[str]:
    from evaltool.report.figures import forest_plot

    plot, alt = forest_plot(effects, "matched_did")
    if plot is None:
        return []
    path = _save(ctx, lambda: plot, "forest-matched", _data_key("forest", effects))
    return [md_figure(path, "Rate ratios by outcome and group, with 95% confidence intervals", alt,
                      "fig-forest-matched")]


def _section(ctx: _Ctx, key: str) -> dict[str, Any]:
    b = ctx.bundle
    status, reason = b.stage_status(key)
    if key == "spc":
        status, reason = ("ok", "") if b.table("spc_monthly") is not None or any(
            f.section == "spc" for f in b.figures.values()) else ("not_run", "the bundle has no monthly series")
    s: dict[str, Any] = {"key": key, "anchor": key.replace("_", "-"), "heading": _HEADINGS[key], "status": status,
                         "intro": [_INTROS[key]], "sentences": [], "blocks": []}
    if status != "ok":
        word = "failed" if status == "failed" else "was not run"
        s["status_title"] = f"This analysis {word}"
        s["status_text"] = (f"This part of the evaluation {word}" + (f": {reason}" if reason else "") +
                            ". Nothing in this section is a finding.")
        return s
    effects = b.table("effects")
    if key in ("effects", "rollout") and effects is not None and len(effects):
        analyses = ("matched_did",) if key == "effects" else ("practice_rollout",)
        sents = key_findings(effects[effects["analysis"].isin(analyses)])
        s["sentences"] = sents
        ht = headline_table(effects, analyses)
        if len(ht):
            s["blocks"].append(md_table(ht, "Headline estimates (rate ratios below 1 mean fewer events)",
                                        _ident("tbl", f"headline-{key}")))
    if key == "cohort" and b.table("cohort_flow") is not None and not any(
            f.section == "cohort" and "flow" in n for n, f in b.figures.items()):
        s["blocks"].append(_flow_block(ctx))
    if key == "effects" and effects is not None and not any(
            f.section == "effects" and "forest" in n for n, f in b.figures.items()):
        s["blocks"] += _forest_block(ctx, effects)
    if key == "spc":
        sents, blocks = _spc_blocks(ctx)
        s["sentences"] += sents
        s["blocks"] += blocks
    for name, f in ctx.pub.figures.items():
        if f.section == key and not f.appendix:
            s["blocks"].append(_figure_block(ctx, name))
    for name, t in b.tables.items():
        if t.section == key and t.publish and not t.appendix and name != "effects":
            s["blocks"].append(_publish_table(ctx, name))
    ids = [m for blk in s["blocks"] for m in re.findall(r"\{#((?:fig|tbl)-[a-z0-9-]+)", blk)]
    if ids:
        s["refs"] = "See " + ", ".join(f"@{i}" for i in ids[:-1]) + (" and " if len(ids) > 1 else "") + f"@{ids[-1]}."
    facts = ctx.pub.fact_values().get(key, {})
    if key == "area":
        s["sentences"] += area_sentences(facts)
    s["sentences"] += stage_key_points(facts)
    if key == "cohort" and facts:
        n_enr, n_all = ctx.pub.fact("cohort", "n_enrolled"), ctx.pub.fact("cohort", "n_people")
        if n_enr is not None and n_all is not None:
            s["sentences"].insert(0, f"{n_enr.text} enrolled patients and {n_all.text} people in all were in the "
                                     "analysed data.")
    return s


def _effect_row(e: pd.DataFrame | None, analysis: str, scale: str = "rate_ratio") -> pd.Series | None:
    if e is None or not len(e):
        return None
    sub = e[(e["analysis"] == analysis) & (e["scale"] == scale) & e["subgroup"].map(lambda x: subgroup_label(x) is None)]
    if not len(sub):
        return None
    prim = sub[sub["outcome"].isin(["emergency_admission", "emergency_admissions"])]
    return (prim if len(prim) else sub).iloc[0]


def _fact(facts: dict[str, Any], *suffixes: str, section: str | None = None) -> Any:
    """First fact whose key is, or ends with, one of ``suffixes`` (emergency admissions preferred).

    Stages key facts per outcome (``emergency_admission.pretrend_p_value`` in effects,
    ``emergency_admission_pretest_p_value`` in rollout), so match on the suffix.
    """
    secs = [facts.get(section)] if section else list(facts.values())
    for prefer in (True, False):
        for sec in secs:
            if not isinstance(sec, dict):
                continue
            for k, v in sec.items():
                if v is None or not any(k == sfx or k.endswith(("." + sfx, "_" + sfx)) for sfx in suffixes):
                    continue
                if prefer and not k.startswith("emergency_admission") and k not in suffixes:
                    continue
                return v
    return None


def limitations(b: Bundle, hidden: int) -> list[tuple[str, str]]:
    """The "What this evaluation cannot tell you" paragraphs, from the bundle's numbers."""
    e = b.table("effects")
    out: list[tuple[str, str]] = []
    naive, matched = _effect_row(e, "naive_before_after"), _effect_row(e, "matched_did")
    rtm = ("Patients are often enrolled after a spell of high hospital use, and such spells tend to end anyway "
           "(regression to the mean), so a simple before-and-after comparison overstates any benefit. This "
           "evaluation compares enrolled patients with matched patients selected in the same way at the same time, "
           "whose use also falls.")
    if naive is not None and matched is not None:
        label = outcome_label(naive["outcome"])
        _, nw = ratio_phrase(float(naive["estimate"]), float(naive["ci_lower"]), float(naive["ci_upper"]))
        _, mw = ratio_phrase(float(matched["estimate"]), float(matched["ci_lower"]), float(matched["ci_upper"]))
        rtm += (f" Here, before and after alone, {label} among enrolled patients were {nw}; against the matched "
                f"comparison group the estimate was {mw}. The gap between the two is the fall that would have "
                "happened anyway.")
    elif naive is None:
        rtm += " This run has no before-and-after estimate, so the size of this effect here cannot be shown."
    out.append(("Regression to the mean", rtm))
    fu = (b.manifest.get("report") or {}).get("follow_up_months")
    if fu is not None:
        out.append(("Length of follow-up",
                    f"Patients were followed for up to {float(fu):.0f} months after enrolment. Changes in hospital use "
                    "from integrated care usually take 3 to 5 years to appear, so a short follow-up can miss later "
                    "benefits (or later costs)."))
    else:
        out.append(("Length of follow-up", "The bundle does not record the follow-up length. Effects of integrated "
                    "care usually take 3 to 5 years to appear."))
    p_pre = _fact(b.facts, "pretrend_p_value", "pre_trend_p_value", "pretest_p_value", section="effects")
    if p_pre is None:
        p_pre = _fact(b.facts, "pretrend_p_value", "pre_trend_p_value", "pretest_p_value")
    if p_pre is not None:
        ok = float(p_pre) >= 0.05
        out.append(("Trends before enrolment",
                    "The design assumes that, without the programme, both groups' hospital use would have changed in "
                    "the same way. Before enrolment the two groups' trends were "
                    + ("similar (a test for a difference gave p = " if ok else "not the same (a test gave p = ")
                    + f"{float(p_pre):.2f})" + (", which supports the comparison but cannot prove it." if ok else
                                                 ", so the results should be treated with caution.")))
    else:
        out.append(("Trends before enrolment",
                    "The design assumes both groups would have followed the same path without the programme. No test "
                    "of trends before enrolment was available in this run, so this could not be checked."))
    mc = int(((b.manifest.get("report") or {}).get("disclosure") or {}).get("min_count", 8))
    small = (f" In this report {hidden} table cell{'s are' if hidden != 1 else ' is'} hidden to protect people's "
             f"confidentiality (counts below {mc}, and cells that would reveal them).") if hidden else ""
    n_units = pd.to_numeric(e["n_units"], errors="coerce").min() if e is not None and "n_units" in e else float("nan")
    unit_txt = (f" The smallest analysis included {int(n_units):,} units; subgroup results rest on fewer people and "
                "are less precise.") if not math.isnan(n_units) else ""
    out.append(("Small numbers", "Small groups give wide intervals and cannot show modest effects." + unit_txt + small))
    het = _fact(b.facts, "heterogeneity_p_value", "site_heterogeneity_p")
    st = b.table("subgroup_tests")
    het_txt = ("The programme may work differently in different places and for different people, depending on how it "
               "was set up and who delivered it.")
    if het is not None:
        het_txt += (f" A test of whether the effect differed between sites gave p = {float(het):.2f}"
                    + ("; there is no clear evidence that it did." if float(het) >= 0.05 else
                       "; the effect appears to differ between sites."))
    loo = _fact(b.facts, "leave_one_out_range", section="rollout")
    if isinstance(loo, list) and len(loo) == 2 and all(isinstance(x, (int, float)) for x in loo):
        het_txt += (f" In the practice roll-out analysis, leaving out one practice at a time moved the overall "
                    f"estimate between {float(loo[0]):.2f} and {float(loo[1]):.2f}.")
    if st is not None and "p_value" in st.columns and len(st):
        clear = st[pd.to_numeric(st["p_value"], errors="coerce") < 0.05]
        het_txt += (f" Of {len(st)} formal test{'s' if len(st) != 1 else ''} of a difference between subgroups, "
                    f"{len(clear)} gave clear evidence of a difference (p below 0.05).")
    out.append(("Differences between sites and groups", het_txt))
    out.append(("Attribution", "Other changes happening at the same time (new services, the pandemic's after-effects, "
                "coding changes) affect both groups alike only if they reached both equally; this cannot be fully "
                "checked."))
    return out


_METHODS = [
    ("Design", "Person-level: enrolled patients matched to similar non-enrolled patients at the date of enrolment "
               "(risk-set matching), then a difference-in-differences comparison of outcomes before and after. "
               "Area-level: staggered roll-out across practices analysed on practice-month panels."),
    ("Estimands", "The average effect of the programme on enrolled patients (ATT), as a rate ratio from a Poisson "
                  "model with a log follow-up offset and as an absolute difference per 1,000 person-years."),
    ("Uncertainty", "95% confidence intervals with standard errors clustered on the matched set (person level) or "
                    "on the practice (area level)."),
    ("Statistical process control", "XmR chart: process limits at the mean ± 2.66 × mean moving range; rules as in "
                                    "NHS England's Making Data Count."),
    ("Disclosure control", "Applied to counts in every published table: see 'About this report'."),
]


def _flatten(obj: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(obj, dict):
        out: list[tuple[str, str]] = []
        for k in obj:
            out += _flatten(obj[k], f"{prefix}.{k}" if prefix else str(k))
        return out or [(prefix, "{}")]
    if isinstance(obj, list):
        if all(not isinstance(x, (dict, list)) for x in obj):
            return [(prefix, ", ".join(str(x) for x in obj) if obj else "(none)")]
        out = []
        for i, x in enumerate(obj):
            out += _flatten(x, f"{prefix}[{i}]")
        return out
    return [(prefix, "(not set)" if obj is None else str(obj))]


def _appendix(ctx: _Ctx) -> dict[str, Any]:
    b, m = ctx.bundle, ctx.bundle.manifest
    spec_rows = _flatten(m.get("spec") or {})
    spec_table = md_table(pd.DataFrame(spec_rows, columns=["setting", "value"]), "The analysis specification as run",
                          "tbl-spec") if spec_rows else "The manifest holds no specification."
    devs = (m.get("report") or {}).get("deviations") or []
    dev_table = md_table(pd.DataFrame(devs), "Deviations from the analysis plan", "tbl-deviations") if devs else ""
    sections = []
    for key in SECTIONS:
        blocks = []
        for name, f in ctx.pub.figures.items():
            if f.section == key and f.appendix:
                blocks.append(_figure_block(ctx, name))
        for name, t in b.tables.items():
            if t.section == key and t.publish and (t.appendix or name == "effects"):
                blocks.append(_publish_table(ctx, name))
        if blocks:
            sections.append({"key": key, "anchor": key.replace("_", "-"), "heading": _HEADINGS[key], "blocks": blocks})
    # Tables and figures filed under a section the report does not know are still published, here.
    other: list[str] = []
    for name, f in ctx.pub.figures.items():
        if f.section not in SECTIONS:
            other.append(_figure_block(ctx, name))
    for name, t in b.tables.items():
        if t.section not in SECTIONS and t.publish:
            other.append(_publish_table(ctx, name))
    if other:
        sections.append({"key": "other", "anchor": "other", "heading": "Other results", "blocks": other})
    status = pd.DataFrame([{"part": k, "status": (v or {}).get("status", ""), "seconds": (v or {}).get("seconds"),
                            "reason": (v or {}).get("reason", "")} for k, v in (m.get("stages") or {}).items()])
    pk = m.get("packages") or {}
    packages = pd.DataFrame({"package": ["python", "evaltool", *pk.keys()],
                             "version": [m.get("python", ""), m.get("evaltool_version", ""), *map(str, pk.values())]})
    inputs = pd.DataFrame([{"input": k, "file": Path(str((v or {}).get("path", ""))).name,
                            "rows": (v or {}).get("rows"), "sha256": (v or {}).get("sha256", "")}
                           for k, v in (m.get("inputs") or {}).items()])
    return {
        "methods": _METHODS,
        "spec_table": _safe(spec_table),
        "deviations_table": _safe(dev_table) if dev_table else "",
        "sections": [{**s, "blocks": [_safe(x) for x in s["blocks"]], "anchor": _safe(s["anchor"])} for s in sections],
        "status_table": _safe(md_table(status, "Run status and time of each part", "tbl-status") if len(status) else "No stage status recorded."),
        "packages_table": _safe(md_table(packages, "Software versions", "tbl-packages")),
        "inputs_table": _safe(md_table(inputs, "Input files and their SHA-256 hashes", "tbl-inputs") if len(inputs) else "No input files recorded."),
    }


def _safe(s: str):
    from markupsafe import Markup

    return Markup(s)


def _created(m: dict[str, Any]) -> datetime:
    raw = str(m.get("created", ""))
    try:
        dt = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as err:
        raise ReportError(f"`manifest.created` must be an ISO 8601 time like 2026-11-22T16:00:00Z, found {raw!r}") from err
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def _long_date(d: str) -> str:
    try:
        dt = datetime.fromisoformat(str(d))
    except ValueError:
        return str(d)
    return f"{dt.day} {dt:%B %Y}"


def _format_block(engine: str) -> str:
    if engine != "quarto":
        return ""
    return (
        "format:\n"
        "  html:\n    embed-resources: true\n    toc: true\n    number-sections: true\n    css: report.css\n"
        "  typst:\n    papersize: a4\n    number-sections: true\n    toc: true\n    mainfont: Liberation Sans\n"
        "  docx:\n    reference-doc: reference.docx\n    number-sections: true\n"
    )


def _note(ctx: _Ctx) -> str:
    return ctx.pub.statement()


def build_markdown(bundle: Bundle, workdir: Path, engine: str = "pandoc",
                   config: DisclosureRules | None = None) -> tuple[str, _Ctx]:
    """Fill the report template from a loaded bundle; returns the Markdown and the render context.

    Figures used by the report are copied (or drawn, for the SPC chart) into ``workdir/figures``.
    """
    import jinja2

    m = bundle.manifest
    # Every number shown passes the publication gate (rules from the manifest unless given).
    pub = publish(bundle, config if isinstance(config, DisclosureRules) else None)
    ctx = _Ctx(bundle, pub.rules, Path(workdir), pub=pub, hidden=pub.n_primary + pub.n_secondary)
    ctx.warnings += list(pub.warnings)
    sections = [_section(ctx, k) for k in SECTIONS]
    appendix = _appendix(ctx)
    findings = key_findings(bundle.table("effects"), bundle.facts)
    if isinstance(bundle.facts.get("area"), dict) and bundle.facts["area"] and bundle.stage_status("area")[0] == "ok":
        findings.append(headline_sentence(bundle.facts["area"]))
    created = _created(m)
    win = m.get("window") or {}
    meta = {
        "title": m.get("title") or m.get("name"), "programme": m.get("programme") or "", "question": m.get("question") or "",
        "name": m.get("name"), "evaltool_version": m.get("evaltool_version", ""),
        "created_text": f"{created.day} {created:%B %Y}, {created:%H:%M} UTC",
        "window_text": (f"{_long_date(win['start'])} to {_long_date(win['end'])}" if win.get("start") and win.get("end")
                        else "the study period"),
    }
    lim = limitations(bundle, ctx.hidden)
    for s in sections:
        s["blocks"] = [_safe(x) for x in s["blocks"]]
        s["anchor"] = _safe(s["anchor"])
        s["refs"] = _safe(s.get("refs", ""))
        if "status_title" in s:
            s["status_title"] = _safe(attr_value(s["status_title"]))

    def finalize(v: Any) -> Any:
        from markupsafe import Markup

        if isinstance(v, Markup):
            return str(v)
        return escape_markdown("" if v is None else v)

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_templates_dir())),
        comment_start_string="{##", comment_end_string="##}",
        finalize=finalize, autoescape=False, undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
    )
    env.filters["yamlmd"] = lambda v: _safe(yaml_markdown_string(v))
    # The template references sections by anchor; swap the plain key for the Markup anchor.
    text = env.get_template("report.qmd").render(
        meta=meta, findings=findings, sections=[{**s, "key": s["anchor"]} for s in sections],
        limitations=lim, disclosure_note=_note(ctx), appendix=appendix,
        format_block=_safe(_format_block(engine)),
    )
    return text, ctx


# ---------------------------------------------------------------------------------------------
# engines


def _pandoc() -> str:
    import pypandoc

    return pypandoc.get_pandoc_path()


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env, check=False)
    except OSError as err:
        raise ReportError(f"`{Path(cmd[0]).name}` could not be started: {err.strerror or err}") from None
    if proc.returncode != 0:
        raise ReportError(f"`{Path(cmd[0]).name}` failed (exit {proc.returncode}): {_first_error_line(proc.stderr)}")


def _first_error_line(stderr: str) -> str:
    """The cause in one line, never a pandoc/Haskell backtrace (``CallStack (from HasCallStack)`` etc.)."""
    for line in (stderr or "").splitlines():
        t = line.strip()
        if t and not t.startswith(("CallStack", "error, called at", "HasCallStack", "[WARNING]")):
            return t if len(t) <= 300 else t[:297] + "..."
    return "no message"


def _pandoc_render(fmt: str, src: Path, out: Path, workdir: Path, epoch: int) -> None:
    env = dict(os.environ, SOURCE_DATE_EPOCH=str(epoch))
    base = [_pandoc(), str(src), "--from", "markdown", "--lua-filter", str(FILTER), "--standalone",
            "--number-sections", "--metadata", "lang=en-GB"]
    if fmt == "html":
        _run(base + ["--to", "html5", "--embed-resources", "--css", str(ASSETS / "report.css"), "--toc",
                     "--toc-depth", "2", "--metadata", "link-citations=false", "-o", str(out)], workdir, env)
    elif fmt == "docx":
        _run(base + ["--to", "docx", "--reference-doc", str(ASSETS / "reference.docx"), "-o", str(out)], workdir, env)
    elif fmt == "pdf":
        import typst

        typ = workdir / "report.typ"
        _run(base + ["--to", "typst", "--toc", "--toc-depth", "1", "--template", str(ASSETS / "report.typst"),
                     "-o", str(typ)], workdir, env)
        try:
            typst.compile(str(typ), output=str(out), root=str(workdir), timestamp=epoch)
        except RuntimeError as err:  # typst raises RuntimeError with the compiler diagnostics
            raise ReportError(f"Typst could not compile the PDF: {err}") from err
    else:  # pragma: no cover - guarded by render_report
        raise ReportError(f"unknown format {fmt!r}")


def _quarto_render(fmt: str, src: Path, out: Path, workdir: Path, epoch: int) -> None:
    qfmt = {"html": "html", "pdf": "typst", "docx": "docx"}[fmt]
    shutil.copyfile(ASSETS / "report.css", workdir / "report.css")
    shutil.copyfile(ASSETS / "reference.docx", workdir / "reference.docx")
    env = dict(os.environ, SOURCE_DATE_EPOCH=str(epoch))
    _run(["quarto", "render", src.name, "--to", qfmt, "--output", out.name], workdir, env)
    produced = workdir / out.name
    if produced != out:
        os.replace(produced, out)


def render_report(bundle_dir: str | Path, formats: tuple[str, ...] | list[str] = FORMATS, *,
                  engine: Literal["auto", "quarto", "pandoc"] = "auto") -> ReportResult:
    """Render the report of a saved results bundle.

    Parameters
    ----------
    bundle_dir : path
        A results bundle (``results/manifest.json``, ``results/*.csv``, ``figures/*.png``).
    formats : sequence of {"html", "pdf", "docx", "xlsx"}
        What to write: ``report.html``, ``report.pdf``, ``report.docx``, ``report_tables.xlsx``
        (into ``bundle_dir``, each written to a temporary file and moved into place).
    engine : {"auto", "quarto", "pandoc"}
        ``auto`` uses Quarto when ``quarto`` is on PATH, otherwise pandoc + Typst.

    Returns
    -------
    ReportResult

    Examples
    --------
    >>> res = render_report("tests/fixtures/bundle", formats=("html",))  # doctest: +SKIP
    >>> sorted(res.paths)  # doctest: +SKIP
    ['html']
    """
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ReportError(f"`formats` must be among {list(FORMATS)}, found {bad}")
    if engine not in ("auto", "quarto", "pandoc"):
        raise ReportError(f"`engine` must be 'auto', 'quarto' or 'pandoc', found {engine!r}")
    has_quarto = shutil.which("quarto") is not None
    if engine == "quarto" and not has_quarto:
        raise ReportError("`engine='quarto'` but `quarto` is not on PATH; install Quarto or use engine='pandoc'")
    used = "quarto" if (engine == "quarto" or (engine == "auto" and has_quarto)) else "pandoc"
    bundle = load_bundle(bundle_dir)
    root = bundle.root.absolute()  # pandoc runs with cwd= the build folder: every path it gets is absolute
    epoch = int(_created(bundle.manifest).timestamp())
    paths: dict[str, Path] = {}
    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix=".report-build-", dir=root) as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        text, ctx = build_markdown(bundle, work, used)
        src = work / ("report.qmd" if used == "quarto" else "report.md")
        src.write_text(text, encoding="utf-8")
        prep = time.perf_counter() - t0
        for fmt in formats:
            t = time.perf_counter()
            final = root / OUTPUT_NAMES[fmt]
            out = work / ("out." + final.name)
            if fmt == "xlsx":
                from evaltool.report.workbook import write_workbook

                notes = [f"Published tables from the results bundle '{bundle.manifest.get('name')}', produced "
                         f"{bundle.manifest.get('created')}.", _note(ctx)]
                write_workbook(out, ctx.published, notes, _created(bundle.manifest).replace(tzinfo=None),
                               str(bundle.manifest.get("title") or ""))
            elif used == "quarto":
                _quarto_render(fmt, src, out, work, epoch)
            else:
                _pandoc_render(fmt, src, out, work, epoch)
            os.replace(out, final)
            paths[fmt] = final
            seconds[fmt] = round(time.perf_counter() - t + prep / max(1, len(formats)), 3)
    return ReportResult(paths, seconds, used, ctx.hidden, tuple(ctx.warnings))
