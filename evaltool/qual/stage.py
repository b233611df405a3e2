"""The qualitative stage: import coded segments, summarise, assess agreement, select quotes,
build the framework matrix and the mixed-methods joint display.

Everything returned is aggregate or redacted text: quotes are masked with the redaction list
(plus any name columns of the participants file) and a final check refuses to return a table or
fact that still contains a listed name.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evaltool.errors import DataValidationError, DataWarning, EvaltoolError
from evaltool.stage import DataFigure, FigureSpec, StageOutput, TableMeta

from .agreement import agreement
from .codebook import Codebook, read_codebook, starter_codebook_path
from .config import QualConfig
from .joint import joint_display as build_joint_display
from .qdpx import read_qdpx
from .qualcoder import read_qualcoder
from .quotes import expand_terms, find_terms, read_redaction_list, select_quotes
from .segments import QdaProject, read_segments, read_tabular
from .summaries import cooccurrence, frequencies, framework_matrix, read_analyst_summaries
from .taguette import read_taguette


def _participants(path: Path | None) -> tuple[pd.DataFrame | None, list[str]]:
    """Participant metadata (ids, role, site, document) and the names it holds (for redaction)."""
    if path is None:
        return None, []
    path = Path(path)
    if not path.exists():
        raise DataValidationError(f"`qual.participants` file `{path}` does not exist")
    d = read_tabular(path, "`qual.participants` file")
    if "participant_id" not in d.columns:
        raise DataValidationError(f"`qual.participants` `{path}` lacks `participant_id`; found {list(d.columns)}")
    names = [v for c in d.columns if "name" in c.lower() for v in d[c] if v]
    keep = [c for c in ("participant_id", "document_id", "role", "site") if c in d.columns]
    return d[keep].copy(), names


def load_project(segments_path: Path, codebook: Codebook, config: QualConfig,
                 participants: pd.DataFrame | None) -> QdaProject:
    """Import coded segments in the configured format."""
    path = Path(segments_path)
    fmt = config.format
    if fmt == "auto" or path.suffix.lower() == ".qdpx":  # a zip archive is never a CSV
        fmt = "qdpx" if path.suffix.lower() == ".qdpx" else "csv"
    if fmt == "qdpx":
        project = read_qdpx(path, codebook=codebook)
        if participants is not None:  # fill role/site the project's cases did not carry
            from .qualcoder import attach_participants

            seg = project.segments
            filled = attach_participants(seg.assign(**{c: seg[c].where(seg[c].notna(), None)
                                                       for c in ("participant_id", "role", "site")}),
                                         participants, str(path))
            project = QdaProject(filled, project.codebook, project.documents, project.exclusions, "qdpx",
                                 project.texts)
        return project
    if fmt == "qualcoder":
        return read_qualcoder(path, codebook, participants, role_attribute=config.role_attribute,
                              site_attribute=config.site_attribute)
    if fmt == "taguette":
        return read_taguette(path, codebook, participants, coder=config.taguette_coder)
    return read_segments(path, codebook, participants)


def theme_role_matrix(by_role: pd.DataFrame) -> pd.DataFrame:
    """Pivot the long themes-by-role table to theme rows x role columns of ``"n/N"`` strings.

    Examples
    --------
    >>> t = pd.DataFrame({"theme_label": ["A", "A"], "role": ["GP", "Carer"], "n_participants": [2, 1],
    ...                   "participants_in_group": [5, 3]})
    >>> theme_role_matrix(t).to_dict("records")
    [{'theme': 'A', 'Carer': '1/3', 'GP': '2/5'}]
    """
    cell = by_role["n_participants"].astype(int).astype(str) + "/" + by_role["participants_in_group"].astype(int).astype(str)
    order = list(dict.fromkeys(by_role["theme_label"]))
    wide = (by_role.assign(cell=cell).pivot(index="theme_label", columns="role", values="cell")
            .reindex(order).reset_index().rename(columns={"theme_label": "theme"}))
    wide.columns.name = None
    return wide


def run_stage(
    codebook_path: str | Path | None,
    segments_path: str | Path | None,
    config: QualConfig,
    *,
    seed: int,
    effects_facts: dict[str, Any] | None = None,
    segments_format: str | None = None,
    redaction_list: str | Path | None = None,
    analyst_summaries: str | Path | None = None,
    joint_display: list[dict] | None = None,
) -> StageOutput:
    """Run the qualitative stage (section ``qual``): :func:`summarise`, then :func:`add_joint_display`.

    Parameters
    ----------
    codebook_path:
        Codebook YAML/.qdc; None uses ``config.codebook`` or the starter codebook.
    segments_path:
        Coded segments (format per ``config.format``); None uses ``config.segments``.
    config:
        :class:`~evaltool.qual.config.QualConfig`.
    seed:
        Seeds quote selection.
    effects_facts:
        Headline numbers, ``{key: value}`` or the pipeline's ``{section: {key: value}}``, looked up
        by joint-display ``quant_key`` (``key`` or ``section.key``).
    segments_format, redaction_list, analyst_summaries, joint_display:
        Overrides of the config fields of the same meaning (the spec keeps them in its ``data``
        and ``joint_display`` sections). A ``.qdpx`` file is always read as REFI-QDA.

    Returns
    -------
    StageOutput
        Tables ``qual_theme_frequencies``, ``qual_theme_by_role``, ``qual_theme_by_site``, ``qual_code_frequencies``,
        ``qual_cooccurrence``, ``qual_agreement``, ``qual_quotes``, ``qual_framework``,
        ``qual_exclusions``, ``joint_display``; figures ``qual_cooccurrence_heatmap``,
        ``qual_theme_salience``, ``qual_theme_by_role_heatmap`` and (when double-coded)
        ``qual_agreement``; facts; objects ``project`` and result objects.

    Examples
    --------
    >>> # out = run_stage("codebook.yaml", "segments.csv", QualConfig(), seed=1)
    >>> # out.tables["qual_theme_by_role"].head()
    """
    out = summarise(codebook_path, segments_path, config, seed=seed, segments_format=segments_format,
                    redaction_list=redaction_list, analyst_summaries=analyst_summaries, joint_display=joint_display)
    return add_joint_display(out, effects_facts)


def summarise(
    codebook_path: str | Path | None,
    segments_path: str | Path | None,
    config: QualConfig,
    *,
    seed: int,
    segments_format: str | None = None,
    redaction_list: str | Path | None = None,
    analyst_summaries: str | Path | None = None,
    joint_display: list[dict] | None = None,
) -> StageOutput:
    """Everything of the qualitative stage but the joint display, which needs the other stages' facts (the
    pipeline computes this part in a helper while matching runs); :func:`add_joint_display` completes it.
    Parameters as :func:`run_stage`. The output is incomplete until then: its ``joint_display`` table is
    empty and its ``_joint`` object holds what the display is built from.
    """
    overrides: dict[str, Any] = {}
    if segments_format is not None:
        overrides["format"] = segments_format
    if redaction_list is not None:
        overrides["redaction_list"] = redaction_list
    if analyst_summaries is not None:
        overrides["analyst_summaries"] = analyst_summaries
    if joint_display:
        overrides["joint_display"] = tuple(joint_display)
    if overrides:
        config = QualConfig.model_validate({**config.model_dump(), **overrides})
    codebook_path = codebook_path or config.codebook or starter_codebook_path()
    segments_path = segments_path or config.segments
    if segments_path is None:
        raise DataValidationError("`qual.segments`: no coded segments file given")
    codebook = read_codebook(codebook_path)
    participants, participant_names = _participants(config.participants)
    terms = expand_terms(participant_names + (read_redaction_list(config.redaction_list)
                                              if config.redaction_list else []))
    project = load_project(Path(segments_path), codebook, config, participants)
    seg = project.segments.copy()
    events: list[tuple[str, str, dict[str, int]]] = []
    for c in ("role", "site", "participant_id"):
        miss = seg[c].isna()
        if miss.any():
            msg = f"{int(miss.sum())} segment(s) have no {c}; shown as 'Unknown'. Provide `qual.participants`."
            warnings.warn(msg, DataWarning, stacklevel=2)
            events.append(("segments_missing_attribute", msg, {"segments": int(miss.sum())}))
            seg[c] = seg[c].where(~miss, "Unknown" if c != "participant_id" else seg["document_id"])
    n_doc_codings = int((seg["scope"] == "document").sum()) if "scope" in seg.columns else 0
    if n_doc_codings:
        events.append(("whole_document_codings",
                       f"{n_doc_codings} whole-document coding(s) (a code applied to a whole interview, not to a "
                       "passage) kept apart: counted as document-level codes, not as coded segments, and left out "
                       "of character- and segment-level agreement, co-occurrence and quotes.",
                       {"codings": n_doc_codings}))
    if seg.empty:
        raise DataValidationError(f"`{segments_path}`: no usable coded segments after reconciling with the "
                                  f"codebook; exclusions: {project.exclusions.to_dict(orient='records')}")
    pc = config.primary_coder

    theme_overall = frequencies(seg, codebook, level="theme", primary_coder=pc)
    by_role = frequencies(seg, codebook, level="theme", by="role", primary_coder=pc)
    by_site = frequencies(seg, codebook, level="theme", by="site", primary_coder=pc)
    codes = frequencies(seg, codebook, level="code", primary_coder=pc)
    co = cooccurrence(seg, codebook, mode=config.cooccurrence_mode, level="code", primary_coder=pc)
    co_theme = cooccurrence(seg, codebook, mode=config.cooccurrence_mode, level="theme", primary_coder=pc,
                            labels=True)

    def freq_table(res, group_name: str | None) -> pd.DataFrame:
        t = res.to_frame().rename(columns={"item": res.level, "label": f"{res.level}_label"})
        if group_name:
            t = t.rename(columns={"group": group_name})
        else:
            t = t.drop(columns=["group"])
        return t.drop(columns=["level", "by"])

    tables: dict[str, pd.DataFrame] = {}
    meta: dict[str, TableMeta] = {}
    # Counts of participants, interviews and coded segments are published under the qualitative rule
    # (report.disclosure.qual: 1-7 written as "fewer than 8", never beside a role that names one person),
    # so they are declared like every other count.
    cc: tuple[str, ...] = ("n_segments", "n_documents", "n_participants", "participants_in_group")
    dc: tuple[tuple[str, str], ...] = (("pct_participants", "n_participants"),)
    tables["qual_theme_frequencies"] = freq_table(theme_overall, None)
    meta["qual_theme_frequencies"] = TableMeta(
        "Theme salience", "Participants, interviews and coded segments per theme across all interviews.",
        count_columns=cc, derived_columns=dc)
    tables["qual_theme_by_role"] = freq_table(by_role, "role")
    meta["qual_theme_by_role"] = TableMeta(
        "Themes by stakeholder group", "Participants, interviews and coded segments per theme and role. "
        "Double-coded interviews are counted once (primary coder).", count_columns=cc, derived_columns=dc)
    # The report's body shows themes x roles as one compact matrix ("n of N participants");
    # the long table above stays in the appendix for analysts.
    meta["qual_theme_by_role"] = TableMeta(
        meta["qual_theme_by_role"].title + " (long form)", meta["qual_theme_by_role"].caption, appendix=True,
        count_columns=cc, derived_columns=dc)
    tables["qual_theme_role_matrix"] = theme_role_matrix(tables["qual_theme_by_role"])
    meta["qual_theme_role_matrix"] = TableMeta(
        "Themes by stakeholder group", "Participants in each group who raised the theme, out of all participants in "
        "that group (double-coded interviews counted once).")
    tables["qual_theme_by_site"] = freq_table(by_site, "site")
    meta["qual_theme_by_site"] = TableMeta("Themes by site", "Participants per theme and site.",
                                           count_columns=cc, derived_columns=dc, appendix=True)
    ct = freq_table(codes, None)
    ct.insert(2, "theme", ct["code"].map(codebook.theme_of()))
    tables["qual_code_frequencies"] = ct
    meta["qual_code_frequencies"] = TableMeta("Code frequencies", "Coded segments, interviews and participants per "
                                              "code.", count_columns=cc, derived_columns=dc, appendix=True)
    cot = co.to_frame().rename(columns={"item_a": "code_a", "item_b": "code_b"})
    tables["qual_cooccurrence"] = cot[cot["n"] > 0].reset_index(drop=True)
    meta["qual_cooccurrence"] = TableMeta(
        "Code co-occurrence", f"Pairs of coded segments ({config.cooccurrence_mode.replace('_', ' ')}) within an "
        "interview; diagonal = segments of the code.", appendix=True, count_columns=("n",))

    # Agreement: only when two coders share documents.
    figures: dict[str, FigureSpec] = {}
    agree = None
    n_coders = int(seg["coder"].nunique())
    shared = seg.groupby("document_id")["coder"].nunique()
    agreement_failed = ""
    if n_coders >= 2 and (shared >= 2).any():
        try:  # a secondary analysis: its failure never removes the theme summaries
            agree = agreement(QdaProject(seg, codebook, project.documents, project.exclusions,
                                         project.source_format, project.texts),
                              coders=config.coders, codebook=codebook, threshold=config.kappa_threshold)
        except EvaltoolError as err:
            agreement_failed = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if agree is not None:
        at = agree.to_frame()
        at.insert(2, "code_label", at["code"].map(codebook.code_labels()))
        tables["qual_agreement"] = at
        figures["qual_agreement"] = FigureSpec(agree.plot(), "Coder agreement by code",
                                               f"Bar chart of Cohen's kappa per code with a dashed line at "
                                               f"{config.kappa_threshold}; {len(agree.low_agreement_codes())} codes "
                                               "fall below it.", height=6.0, appendix=True)
    else:
        tables["qual_agreement"] = pd.DataFrame(columns=["code", "theme", "code_label", "kappa_char", "low_kappa"])
    meta["qual_agreement"] = TableMeta(
        "Coder agreement", f"Percent agreement, Cohen's kappa (character, segment and interview level) and "
        f"Krippendorff's alpha for double-coded interviews; kappa below {config.kappa_threshold} flagged.",
        appendix=True, rule="none")  # statistics about the coders, not counts of people

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataWarning)
        quotes = select_quotes(seg, codebook, seed=seed, per_theme=config.quotes_per_theme,
                               min_chars=config.min_quote_chars, max_chars=config.max_quote_chars,
                               redaction=terms, min_group_size=config.min_group_size,
                               coarsen_small_groups=config.coarsen_small_groups, primary_coder=pc)
    events += [("quote_warning", str(w.message), {}) for w in caught]
    qt = quotes.to_frame()
    tables["qual_quotes"] = qt[["theme", "theme_label", "quote", "attribution", "small_group"]]
    meta["qual_quotes"] = TableMeta("Illustrative quotes", "Selected at random (seeded) with diversity across "
                                    "roles and sites; attributed by role and site only; names masked.")
    summaries = read_analyst_summaries(config.analyst_summaries) if config.analyst_summaries else None
    fw = framework_matrix(seg, codebook, by=config.framework_by, quotes=qt, analyst_summaries=summaries,
                          primary_coder=pc)
    tables["qual_framework"] = fw.to_frame().rename(columns={"group": config.framework_by})
    meta["qual_framework"] = TableMeta(f"Framework matrix ({config.framework_by} x theme)",
                                       "Coded segments and participants per cell with a quote and the analysts' "
                                       "summary.", appendix=True, count_columns=("n_segments", "n_participants"))
    tables["qual_exclusions"] = project.exclusions.copy()
    meta["qual_exclusions"] = TableMeta("Coded segments not used", "Segments excluded on import, with the reason.",
                                        appendix=True, count_columns=("n_segments",))
    # Filled by add_joint_display (placed here, so that tables, facts and events keep their order).
    tables["joint_display"] = pd.DataFrame()
    meta["joint_display"] = TableMeta("Mixed-methods joint display", "Each quantitative finding beside the themes "
                                      "that explain or contradict it; fit as agreed by the analysts.",
                                      section="joint_display")

    # Count figures are drawn by the report from the published (disclosure-controlled) tables.
    ctf = co_theme.to_frame()
    tables["qual_theme_cooccurrence"] = ctf[ctf["n"] > 0].reset_index(drop=True)
    meta["qual_theme_cooccurrence"] = TableMeta("Theme co-occurrence", publish=False, count_columns=("n",))
    figures["qual_cooccurrence_heatmap"] = DataFigure(
        "qual_theme_cooccurrence", {"kind": "heatmap", "x": "item_a", "y": "item_b", "value": "n",
                                    "value_label": "Segments", "x_text_angle": 90},
        "Theme co-occurrence",
        "Heat map of how often two themes are coded on overlapping text in the same interview; darker = more.",
        width=8.0, height=7.0)
    salience = tables["qual_theme_frequencies"].sort_values(["n_participants", "theme"], ascending=[False, True])
    figures["qual_theme_salience"] = DataFigure(
        "qual_theme_frequencies", {"kind": "bars", "x": "theme_label", "y": "pct_participants", "horizontal": True,
                                   "x_order": list(salience["theme_label"]),
                                   "y_label": "% of participants who raised the theme"},
        "Theme salience", "Horizontal bar chart of the percentage of participants who raised each theme.",
        height=6.0)
    figures["qual_theme_by_role_heatmap"] = DataFigure(
        "qual_theme_by_role", {"kind": "heatmap", "x": "role", "y": "theme_label", "value": "pct_participants",
                               "value_label": "% of participants"},
        "Themes by stakeholder group",
        "Heat map of the percentage of participants in each role who raised each theme.", width=8.0, height=6.0)

    to = theme_overall.to_frame().sort_values(["n_participants", "item"], ascending=[False, True])
    facts: dict[str, Any] = {
        "n_documents": int(seg["document_id"].nunique()),
        "n_participants": int(seg["participant_id"].nunique()),
        "n_segments": int(len(seg)) - n_doc_codings,
        "n_coders": n_coders,
        "n_roles": int(seg["role"].nunique()),
        "n_sites": int(seg["site"].nunique()),
        "n_segments_excluded": int(project.exclusions["n_segments"].sum()),
        "n_document_codings": n_doc_codings,
        "source_format": project.source_format,
        "top_themes": to["label"].head(3).tolist(),
        "n_quotes": int(len(qt)),
        "n_quotes_small_group": int(qt["small_group"].sum()) if len(qt) else 0,
        "kappa_threshold": config.kappa_threshold,
        "n_joint_display_rows": 0,
    }
    if agree is not None:
        facts.update({
            "n_double_coded_documents": agree.n_documents,
            "coders_compared": list(agree.coders),
            "kappa_pooled": _num(agree.pooled.get("kappa_pooled", agree.pooled.get("kappa_document_mean"))),
            "codes_below_kappa_threshold": agree.low_agreement_codes(),
        })
    else:
        facts["n_double_coded_documents"] = 0

    _refuse_leaks(tables, facts, terms)
    out = StageOutput(section="qual", tables=tables, table_meta=meta, figures=figures, facts=facts,
                      objects={"project": project, "codebook": codebook, "agreement": agree, "quotes": quotes,
                               "framework": fw, "joint_display": None, "theme_frequencies": theme_overall})
    n_excl = int(project.exclusions["n_segments"].sum()) if len(project.exclusions) else 0
    if n_excl:
        reasons = project.exclusions.groupby("reason")["n_segments"].sum() if "reason" in project.exclusions else {}
        out.event("segments_excluded", f"{n_excl:,} coded segment(s) were not used on import"
                  + (": " + "; ".join(f"{int(n):,} {r}" for r, n in list(reasons.items())[:5]) if len(reasons) else ""),
                  counts={"segments": n_excl})
    for code, msg, counts in events:
        out.event(code, msg, counts=counts)
    out.objects["_joint"] = _Joint(list(config.joint_display), theme_overall.to_frame(), qt, terms, len(out.events))
    out.analysis("qual_summary", "all")
    if agreement_failed:
        out.event("estimate_failed", f"coder agreement not computed: {agreement_failed}", severity="error",
                  analysis="agreement")
        out.analysis("agreement", "all", "failed", agreement_failed)
    return out


@dataclass(frozen=True)
class _Joint:
    """What :func:`add_joint_display` builds the display from (kept by :func:`summarise`)."""

    findings: list
    theme_summary: pd.DataFrame
    quotes: pd.DataFrame
    terms: list[str]
    event_at: int  # where its warnings go among the stage's events


def add_joint_display(out: StageOutput, effects_facts: dict[str, Any] | None) -> StageOutput:
    """Complete :func:`summarise`'s output with the mixed-methods joint display, whose ``quant_key`` entries are
    looked up in ``effects_facts`` (``{key: value}`` or the pipeline's ``{section: {key: value}}``). Returns
    ``out``, completed in place: the same tables, facts and events, in the same order, as :func:`run_stage`."""
    j: _Joint = out.objects.pop("_joint")
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always", DataWarning)
        jd = build_joint_display(j.findings, j.theme_summary, quotes=j.quotes, effects_facts=effects_facts)
    table = jd.to_frame()
    _refuse_leaks({"joint_display": table}, {}, j.terms)
    out.tables["joint_display"] = table
    out.facts["n_joint_display_rows"] = int(len(jd.table))
    out.objects["joint_display"] = jd
    n = len(out.events)
    for w in jd.warnings:
        out.event("joint_display_warning", str(w), counts={})
    added = out.events[n:]
    del out.events[n:]
    out.events[j.event_at:j.event_at] = added
    return out


def _refuse_leaks(tables: dict[str, pd.DataFrame], facts: dict[str, Any], terms: list[str]) -> None:
    """Defence in depth: redaction happens in select_quotes, so this must never trigger."""
    leaks = find_terms(_strings(tables, facts), terms)
    if leaks:
        raise DataValidationError(f"qualitative outputs still contain {len(leaks)} listed name(s) after redaction; "
                                  "refusing to return them. Check the redaction list and quote text.")


def _num(v: Any) -> float | None:
    return None if v is None or (isinstance(v, float) and np.isnan(v)) else float(v)


def _strings(tables: dict[str, pd.DataFrame], facts: dict[str, Any]) -> list[str]:
    out = [str(v) for t in tables.values() for c in t.columns for v in t[c].dropna().unique()]
    out += [str(v) for v in facts.values()]
    return out
