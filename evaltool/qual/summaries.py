"""Code and theme summaries: frequencies, co-occurrence, framework matrix and salience.

Counting rule: when documents are double-coded, summaries count one coder per document (the
*primary* coder: the one who coded most documents, or the one named) so that double coding
does not double the counts; documents the primary coder did not code use their other coder.
Agreement between coders is reported separately (:mod:`evaltool.qual.agreement`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from evaltool._result import ResultMixin, Summary
from evaltool.errors import DataValidationError

from .codebook import Codebook
from .segments import span_segments


def primary_segments(segments: pd.DataFrame, coder: str | None = None) -> pd.DataFrame:
    """One coder's segments per document (see module docs).

    Examples
    --------
    >>> df = pd.DataFrame({"document_id": ["d1", "d1", "d2"], "coder": ["a", "b", "b"], "code": ["x"] * 3})
    >>> primary_segments(df, "a")["coder"].tolist()
    ['a', 'b']
    """
    if segments.empty:
        return segments.copy()
    if coder is None:
        coder = segments.groupby("coder")["document_id"].nunique().sort_index().idxmax()
    elif coder not in set(segments["coder"]):
        raise DataValidationError(f"`primary_coder` {coder!r} not among coders {sorted(segments['coder'].unique())}")
    coders_doc = segments.groupby("document_id")["coder"].agg(
        lambda s: coder if coder in set(s) else sorted(s.unique())[0])
    keep = segments["coder"].to_numpy() == segments["document_id"].map(coders_doc).to_numpy()
    return segments.loc[keep].reset_index(drop=True)


def _with_theme(segments: pd.DataFrame, codebook: Codebook | None) -> pd.DataFrame:
    seg = segments.copy()
    seg["theme"] = seg["code"].map(codebook.theme_of()) if codebook is not None else seg["code"]
    return seg


@dataclass(frozen=True)
class FrequencyResult(ResultMixin):
    """Code or theme frequencies overall or by a grouping column.

    ``to_frame()``: ``level`` (code/theme), ``item``, ``label``, ``by``, ``group``, ``n_segments``,
    ``n_documents``, ``n_participants``, ``participants_in_group``, ``pct_participants``.
    """

    table: pd.DataFrame = field(repr=False)
    level: str
    by: str | None

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def summary(self) -> Summary:
        return Summary(f"{self.level.title()} frequencies" + (f" by {self.by}" if self.by else ""),
                       (("rows", str(len(self.table))),), (("Frequencies", self.table),))

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level, "by": self.by, "rows": self.table.to_dict(orient="records")}

    def plot(self):
        """Salience: % of participants mentioning each item (by group as a heat map)."""
        from plotnine import aes, coord_flip, geom_col, geom_text, geom_tile, ggplot, labs, scale_fill_gradient

        from evaltool.plotting import NHS_BLUE, NHS_PALE_GREY, theme_evaltool

        d = self.table.copy()
        if self.by is None:
            return (ggplot(d, aes("reorder(label, pct_participants)", "pct_participants")) + geom_col(fill=NHS_BLUE)
                    + coord_flip() + labs(x="", y="% of participants mentioning", title=f"{self.level.title()} salience")
                    + theme_evaltool())
        d["pct_label"] = d["pct_participants"].fillna(0).round(0).astype(int).astype(str)
        # Codebook order top to bottom; wrap group names so long role names do not collide.
        d["label"] = pd.Categorical(d["label"], categories=list(dict.fromkeys(d["label"]))[::-1])
        d["group"] = d["group"].astype(str).str.replace(" ", "\n", regex=False)
        return (ggplot(d, aes("group", "label", fill="pct_participants")) + geom_tile(color="white")
                + geom_text(aes(label="pct_label"), size=7)
                + scale_fill_gradient(low=NHS_PALE_GREY, high=NHS_BLUE)
                + labs(x=self.by, y="", fill="% of participants", title=f"{self.level.title()} salience by {self.by}")
                + theme_evaltool())


def frequencies(
    segments: pd.DataFrame,
    codebook: Codebook | None = None,
    *,
    level: Literal["code", "theme"] = "theme",
    by: str | None = None,
    primary_coder: str | None = None,
    all_items: bool = True,
) -> FrequencyResult:
    """Segments, documents and participants per code or theme, overall or by ``by``.

    Parameters
    ----------
    segments:
        Segments table (contract).
    codebook:
        Needed for ``level="theme"``; its codes/themes appear with zero counts when unused.
    level:
        ``"code"`` or ``"theme"``.
    by:
        Grouping column (``"role"``, ``"site"``) or None for overall.
    primary_coder:
        Coder counted for double-coded documents (see module docs).
    all_items:
        Include codebook items never used (zero rows).

    Returns
    -------
    FrequencyResult
        ``pct_participants`` = participants mentioning the item / participants in the group
        (participants in the group = distinct participants with any segment).

    Examples
    --------
    >>> df = pd.DataFrame({"document_id": ["d1", "d2"], "participant_id": ["p1", "p2"],
    ...     "role": ["GP", "GP"], "site": ["A", "A"], "coder": ["c", "c"], "code": ["x", "x"]})
    >>> frequencies(df, level="code").to_frame()["n_participants"].tolist()
    [2]
    """
    if level == "theme" and codebook is None:
        raise DataValidationError("`codebook` is needed for level='theme'")
    if by is not None and by not in segments.columns:
        raise DataValidationError(f"`by`: column {by!r} not in segments; found {list(segments.columns)}")
    seg = _with_theme(primary_segments(segments, primary_coder), codebook)
    item = "code" if level == "code" else "theme"
    keys = [item] + ([by] if by else [])
    # Whole-document codings count for documents and participants, not as coded segments.
    seg = seg.assign(_span=(seg["scope"] != "document") if "scope" in seg.columns else True)
    agg = seg.groupby(keys, dropna=False).agg(
        n_segments=("_span", "sum"), n_documents=("document_id", "nunique"),
        n_participants=("participant_id", "nunique")).reset_index()
    if by:
        denom = seg.groupby(by)["participant_id"].nunique().rename("participants_in_group")
        groups = sorted(seg[by].dropna().unique(), key=str)
    else:
        denom = None
        groups = ["all"]
    items = list(codebook.codes["code"] if level == "code" else codebook.themes["theme"]) \
        if (codebook is not None and all_items) else sorted(seg[item].dropna().unique())
    extra = sorted(set(seg[item].dropna()) - set(items))
    grid = pd.MultiIndex.from_product([items + extra, groups], names=[item, "group"]).to_frame(index=False)
    agg = agg.rename(columns={by: "group"}) if by else agg.assign(group="all")
    out = grid.merge(agg, on=[item, "group"], how="left")
    for c in ("n_segments", "n_documents", "n_participants"):
        out[c] = out[c].fillna(0).astype("int64")
    if by:
        out["participants_in_group"] = out["group"].map(denom).fillna(0).astype("int64")
    else:
        out["participants_in_group"] = int(seg["participant_id"].nunique())
    with np.errstate(invalid="ignore", divide="ignore"):
        out["pct_participants"] = np.where(out["participants_in_group"] > 0,
                                           100 * out["n_participants"] / out["participants_in_group"], np.nan)
    labels = (codebook.code_labels() if level == "code" else codebook.theme_labels()) if codebook is not None else {}
    out.insert(0, "level", level)
    out = out.rename(columns={item: "item"})
    out.insert(2, "label", out["item"].map(labels).astype(object).fillna(out["item"]))
    out.insert(3, "by", by if by else "all")
    return FrequencyResult(out.reset_index(drop=True), level, by)


@dataclass(frozen=True)
class CooccurrenceResult(ResultMixin):
    """Symmetric code (or theme) co-occurrence counts; see :func:`cooccurrence` for definitions."""

    matrix: pd.DataFrame = field(repr=False)
    mode: str
    level: str

    def to_frame(self) -> pd.DataFrame:
        """Long form: ``item_a, item_b, n`` for item_a <= item_b (diagonal = segments of the item)."""
        m = self.matrix
        long = m.stack().rename("n").rename_axis(["item_a", "item_b"]).reset_index()
        return long[long["item_a"] <= long["item_b"]].reset_index(drop=True)

    def summary(self) -> Summary:
        off = self.to_frame().query("item_a != item_b").sort_values("n", ascending=False).head(10)
        return Summary(f"Co-occurrence ({self.mode}, {self.level})", (("items", str(len(self.matrix))),),
                       (("Most frequent pairs", off),))

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "level": self.level, "items": list(self.matrix.index),
                "matrix": self.matrix.to_numpy().tolist()}

    def plot(self):
        from plotnine import aes, element_text, geom_text, geom_tile, ggplot, labs, scale_fill_gradient, theme

        from evaltool.plotting import NHS_DARK_BLUE, NHS_PALE_GREY, theme_evaltool

        d = self.matrix.stack().rename("n").rename_axis(["item_a", "item_b"]).reset_index()
        d = d[d["item_a"] != d["item_b"]]
        order = list(self.matrix.index)
        d["item_a"] = pd.Categorical(d["item_a"], categories=order)
        d["item_b"] = pd.Categorical(d["item_b"], categories=order[::-1])
        return (ggplot(d, aes("item_a", "item_b", fill="n")) + geom_tile(color="white")
                + geom_text(aes(label="n"), data=d[d["n"] > 0], size=6)  # zeros left blank: easier to read
                + scale_fill_gradient(low=NHS_PALE_GREY, high=NHS_DARK_BLUE)
                + labs(x="", y="", fill="Co-occurrences", title=f"{self.level.title()} co-occurrence ({self.mode})")
                + theme_evaltool() + theme(axis_text_x=element_text(rotation=90)))


def cooccurrence(
    segments: pd.DataFrame,
    codebook: Codebook | None = None,
    *,
    mode: Literal["overlap", "same_segment"] = "overlap",
    level: Literal["code", "theme"] = "code",
    primary_coder: str | None = None,
    labels: bool = False,
) -> CooccurrenceResult:
    """Count how often two codes (or themes) are applied together.

    Definitions (within one document and one coder):

    * ``"overlap"``: two segments co-occur when their spans share at least one character
      (``a.start < b.end and b.start < a.end``). Nested and partly overlapping codings count.
    * ``"same_segment"``: two segments co-occur only when they cover exactly the same span
      (same start and end; the same text when the format carries no offsets).

    Each cell counts pairs of segments; the diagonal holds the number of segments of the item.
    Pairs of segments of the same item are not counted off the diagonal. Whole-document codings
    (``scope == "document"``) are left out.

    Examples
    --------
    >>> df = pd.DataFrame({"document_id": ["d"] * 3, "coder": ["c"] * 3, "code": ["x", "y", "z"],
    ...     "text": ["", "", ""], "start": [0, 5, 20], "end": [10, 15, 30]})
    >>> int(cooccurrence(df).matrix.loc["x", "y"]), int(cooccurrence(df, mode="same_segment").matrix.loc["x", "y"])
    (1, 0)
    """
    if level == "theme" and codebook is None:
        raise DataValidationError("`codebook` is needed for level='theme'")
    # Whole-document codings would "overlap" every passage of their interview: passages only.
    seg = _with_theme(span_segments(primary_segments(segments, primary_coder)), codebook).reset_index(drop=True)
    item = "code" if level == "code" else "theme"
    seg = seg.assign(_id=np.arange(len(seg)))
    has_offsets = "start" in seg and seg["start"].notna().all() and seg["end"].notna().all()
    cols = ["document_id", "coder", "_id", item] + (["start", "end"] if has_offsets else ["text"])
    pairs = seg[cols].merge(seg[cols], on=["document_id", "coder"], suffixes=("_a", "_b"))
    pairs = pairs[pairs["_id_a"] < pairs["_id_b"]]
    if mode == "overlap" and has_offsets:
        hit = (pairs["start_a"] < pairs["end_b"]) & (pairs["start_b"] < pairs["end_a"])
    elif has_offsets:
        hit = (pairs["start_a"] == pairs["start_b"]) & (pairs["end_a"] == pairs["end_b"])
    else:
        hit = pairs["text_a"] == pairs["text_b"]
    pairs = pairs[hit & (pairs[f"{item}_a"] != pairs[f"{item}_b"])]
    items = list(codebook.codes["code"] if level == "code" else codebook.themes["theme"]) \
        if codebook is not None else sorted(seg[item].unique())
    items += sorted(set(seg[item]) - set(items))
    m = pd.crosstab(pairs[f"{item}_a"], pairs[f"{item}_b"]).reindex(index=items, columns=items, fill_value=0)
    arr = (m.to_numpy() + m.to_numpy().T).astype("int64")
    arr[np.diag_indices_from(arr)] = seg[item].value_counts().reindex(items, fill_value=0).to_numpy()
    m = pd.DataFrame(arr, index=items, columns=items)
    if labels and codebook is not None:
        lab = codebook.code_labels() if level == "code" else codebook.theme_labels()
        m = m.rename(index=lab, columns=lab)
    m.index.name = None
    m.columns.name = None
    return CooccurrenceResult(m, mode, level)


def read_analyst_summaries(path: str | Path) -> pd.DataFrame:
    """Read analyst-written framework summaries: CSV/XLSX with ``group, theme, summary``."""
    path = Path(path)
    if not path.exists():
        raise DataValidationError(f"analyst summaries file `{path}` does not exist")
    from .segments import read_tabular

    d = read_tabular(path, "analyst summaries file")
    need = ["group", "theme", "summary"]
    miss = [c for c in need if c not in d.columns]
    if miss:
        raise DataValidationError(f"analyst summaries `{path}` lacks column(s) {miss}; expected {need}, "
                                  f"found {list(d.columns)}")
    return d[need]


@dataclass(frozen=True)
class FrameworkResult(ResultMixin):
    """A framework matrix: groups x themes with counts, a quote and an analyst summary per cell."""

    table: pd.DataFrame = field(repr=False)
    by: str

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def wide(self, value: str = "n_segments") -> pd.DataFrame:
        """Groups as rows, themes as columns, holding ``value``."""
        return self.table.pivot(index="group", columns="theme", values=value)

    def summary(self) -> Summary:
        return Summary(f"Framework matrix by {self.by}", (("cells", str(len(self.table))),),
                       (("Counts", self.wide().reset_index()),))

    def to_dict(self) -> dict[str, Any]:
        return {"by": self.by, "cells": self.table.to_dict(orient="records")}

    def plot(self):
        from plotnine import aes, geom_tile, ggplot, labs, scale_fill_gradient

        from evaltool.plotting import NHS_BLUE, NHS_PALE_GREY, theme_evaltool

        return (ggplot(self.table, aes("group", "theme_label", fill="n_segments")) + geom_tile(color="white")
                + scale_fill_gradient(low=NHS_PALE_GREY, high=NHS_BLUE)
                + labs(x=self.by, y="", fill="Segments", title="Framework matrix") + theme_evaltool())


def framework_matrix(
    segments: pd.DataFrame,
    codebook: Codebook,
    *,
    by: str = "role",
    quotes: pd.DataFrame | None = None,
    analyst_summaries: pd.DataFrame | None = None,
    primary_coder: str | None = None,
) -> FrameworkResult:
    """Groups (``by``: role, site or participant_id) x themes, filled with counts and quotes.

    Parameters
    ----------
    quotes:
        Selected quotes (from :func:`evaltool.qual.select_quotes`, ``to_frame()``) with
        ``theme, quote, attribution`` and the grouping column; the first per cell is shown.
    analyst_summaries:
        Table ``group, theme, summary`` written by analysts (see :func:`read_analyst_summaries`).

    Examples
    --------
    >>> # framework_matrix(project.segments, project.codebook, by="role").wide()
    """
    seg = _with_theme(primary_segments(segments, primary_coder), codebook)
    if by not in seg.columns:
        raise DataValidationError(f"`by`: column {by!r} not in segments; found {list(seg.columns)}")
    seg = seg.assign(_span=(seg["scope"] != "document") if "scope" in seg.columns else True)
    counts = seg.groupby([by, "theme"]).agg(n_segments=("_span", "sum"),
                                            n_participants=("participant_id", "nunique")).reset_index()
    groups = sorted(seg[by].dropna().unique(), key=str)
    grid = pd.MultiIndex.from_product([groups, list(codebook.themes["theme"])], names=["group", "theme"]
                                      ).to_frame(index=False)
    out = grid.merge(counts.rename(columns={by: "group"}), on=["group", "theme"], how="left")
    out[["n_segments", "n_participants"]] = out[["n_segments", "n_participants"]].fillna(0).astype("int64")
    out.insert(2, "theme_label", out["theme"].map(codebook.theme_labels()))
    out["quote"] = ""
    out["attribution"] = ""
    if quotes is not None and len(quotes) and by in quotes.columns:
        q = quotes.drop_duplicates([by, "theme"]).rename(columns={by: "group"})[["group", "theme", "quote",
                                                                                 "attribution"]]
        out = out.drop(columns=["quote", "attribution"]).merge(q, on=["group", "theme"], how="left")
        out[["quote", "attribution"]] = out[["quote", "attribution"]].fillna("")
    out["analyst_summary"] = ""
    if analyst_summaries is not None:
        a = analyst_summaries.drop_duplicates(["group", "theme"]).rename(columns={"summary": "_s"})
        out = out.merge(a, on=["group", "theme"], how="left")
        out["analyst_summary"] = out["_s"].fillna("")
        out = out.drop(columns="_s")
    return FrameworkResult(out, by)
