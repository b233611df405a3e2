"""Inter-coder agreement for double-coded documents.

For each code, two coders' codings of the same documents are compared at three levels:

* **character** (the NVivo convention): every character of each double-coded document is a
  unit, rated "coded with this code" or not by each coder. Characters nobody coded count as
  agreement, as in NVivo. Pooling all documents' characters into one 2x2 table is the
  size-weighted pooled kappa (long documents weigh more); ``kappa_char_mean_document`` is the
  unweighted mean of per-document kappas (what NVivo users often average by hand).
* **segment**: the units are the elementary spans obtained by cutting each document at every
  segment boundary of either coder (any code), keeping spans someone coded. Each span counts
  once whatever its length, so this is the unit-weighted counterpart of the character level.
* **document**: units are documents; a coder "applied" a code if they used it anywhere in it,
  including a whole-document coding.

Whole-document codings (``scope == "document"``: a REFI-QDA coding with no text selection, or a
selection over the whole text) are not passages: counting every character of the interview as
coded would set the character-level kappa of that code in that interview to about 0 whatever the
coders' agreement on passages. They are left out of the character and segment levels, counted at
the document level, and reported (``n_document_codings`` per code; ``document_codings`` in total).

Each level reports percent agreement, Cohen's kappa and Krippendorff's alpha (nominal, two
coders, no missing values). Across codes, ``kappa_pooled`` weighs each code's character kappa
by its size (characters coded by either coder). Codes with kappa below the threshold (0.6 by
default) are flagged. All formulas are implemented here; tests check them against statsmodels
and the ``krippendorff`` package and Krippendorff (2011)'s published example.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from evaltool._result import ResultMixin, Summary
from evaltool.errors import DataValidationError

from .alpha import krippendorff_alpha, krippendorff_alpha_nominal  # noqa: F401  (re-exported)
from .codebook import Codebook
from .segments import QdaProject, mark_whole_document, span_segments, validate_segments


def cohen_kappa(table: np.ndarray) -> float:
    """Cohen's kappa from a square contingency table (rows coder 1, columns coder 2).

    Returns NaN when chance agreement is 1 (both coders used one category only).

    Examples
    --------
    >>> round(cohen_kappa(np.array([[20, 5], [10, 15]])), 4)
    0.4
    """
    t = np.asarray(table, dtype=float)
    n = t.sum()
    if n <= 0:
        return float("nan")
    po = np.trace(t) / n
    pe = float((t.sum(axis=1) / n) @ (t.sum(axis=0) / n))
    return float("nan") if np.isclose(pe, 1.0) else float((po - pe) / (1 - pe))


def _binary_stats(a11, a10, a01, a00) -> dict[str, np.ndarray]:
    """Percent agreement, kappa and alpha from (possibly weighted) 2x2 cells, vectorised."""
    a11, a10, a01, a00 = (np.asarray(x, dtype=float) for x in (a11, a10, a01, a00))
    n = a11 + a10 + a01 + a00
    with np.errstate(invalid="ignore", divide="ignore"):
        po = (a11 + a00) / n
        pa, pb = (a11 + a10) / n, (a11 + a01) / n
        pe = pa * pb + (1 - pa) * (1 - pb)
        kappa = np.where(np.isclose(pe, 1.0), np.nan, (po - pe) / (1 - pe))
        # Two coders, no missing: coincidences o_11 = 2 a11, o_00 = 2 a00, o_10 = o_01 = a10 + a01.
        nn = 2 * n
        n1 = 2 * a11 + a10 + a01
        n0 = 2 * a00 + a10 + a01
        alpha = np.where(n1 * n0 > 0, 1 - (nn - 1) * (a10 + a01) / (n1 * n0), np.nan)
    return {"percent_agreement": 100 * po, "kappa": kappa, "alpha": alpha}


@dataclass(frozen=True)
class AgreementResult(ResultMixin):
    """Per-code agreement between two coders (see module docs for definitions).

    ``to_frame()`` columns: code, theme, n_documents, chars_coder_1, chars_coder_2,
    percent_agreement, kappa_char, kappa_char_mean_document, alpha_char, percent_agreement_segment,
    kappa_segment, alpha_segment, percent_agreement_document, kappa_document, alpha_document,
    low_kappa, n_document_codings.
    """

    table: pd.DataFrame = field(repr=False)
    coders: tuple[str, str]
    n_documents: int
    threshold: float
    pooled: dict[str, float] = field(default_factory=dict)
    document_codings: int = 0  # whole-document codings: document level only (see module docs)

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def low_agreement_codes(self) -> list[str]:
        """Codes whose character-level kappa (segment level when no offsets) is below the threshold."""
        return self.table.loc[self.table["low_kappa"], "code"].tolist()

    def summary(self) -> Summary:
        lines = [("coders", " vs ".join(self.coders)), ("double-coded documents", str(self.n_documents)),
                 ("kappa threshold", f"{self.threshold:.2f}")]
        lines += [(k, f"{v:.3f}") for k, v in self.pooled.items()]
        if self.document_codings:
            lines.append(("whole-document codings", f"{self.document_codings} (document level only; not in "
                                                    "character or segment agreement)"))
        lines.append(("codes below threshold", ", ".join(self.low_agreement_codes()) or "none"))
        cols = ["code", "percent_agreement", "kappa_char", "kappa_segment", "kappa_document", "alpha_char",
                "low_kappa"]
        return Summary("Coder agreement", tuple(lines), (("By code", self.table[cols].round(3)),))

    def to_dict(self) -> dict[str, Any]:
        t = self.table.astype(object).where(self.table.notna(), None)
        return {"coders": list(self.coders), "n_documents": self.n_documents, "threshold": self.threshold,
                "document_codings": self.document_codings,
                "pooled": {k: (None if np.isnan(v) else float(v)) for k, v in self.pooled.items()},
                "by_code": t.to_dict(orient="records")}

    def plot(self):
        from plotnine import aes, coord_flip, geom_col, geom_hline, ggplot, labs, scale_fill_manual

        from evaltool.plotting import NHS_BLUE, NHS_ORANGE, theme_evaltool

        d = self.table.assign(kappa=self.table["kappa_char"].fillna(self.table["kappa_document"]),
                              status=np.where(self.table["low_kappa"], "below threshold", "ok"))
        return (ggplot(d, aes("reorder(code, kappa)", "kappa", fill="status")) + geom_col()
                + geom_hline(yintercept=self.threshold, linetype="dashed")
                + scale_fill_manual(values={"ok": NHS_BLUE, "below threshold": NHS_ORANGE})
                + coord_flip() + labs(x="", y="Cohen's kappa", fill="", title="Coder agreement by code")
                + theme_evaltool())


def agreement(
    segments: pd.DataFrame | QdaProject,
    *,
    coders: tuple[str, str] | None = None,
    document_lengths: dict[str, int] | pd.Series | None = None,
    codebook: Codebook | None = None,
    threshold: float = 0.6,
) -> AgreementResult:
    """Agreement between two coders, per code, on the documents both coded.

    Parameters
    ----------
    segments:
        Segments table (contract) or a :class:`QdaProject` (whose documents give lengths).
    coders:
        The two coders to compare; default the two who share the most documents.
    document_lengths:
        Characters per document for the character level; default the project's documents or,
        failing that, the furthest segment end (uncoded trailing text then goes uncounted).
    codebook:
        Codes listed here are reported even if neither coder used them (kappa NaN); adds theme.
    threshold:
        Codes with kappa below it are flagged (``low_kappa``).

    Returns
    -------
    AgreementResult

    Examples
    --------
    >>> seg = pd.DataFrame({"document_id": ["d"] * 3, "participant_id": ["p"] * 3, "role": ["GP"] * 3,
    ...     "site": ["A"] * 3, "coder": ["a", "b", "a"], "code": ["x", "x", "y"],
    ...     "text": ["", "", ""], "start": [0, 0, 50], "end": [40, 50, 80]})
    >>> res = agreement(seg, document_lengths={"d": 100})
    >>> float(round(res.to_frame().set_index("code").loc["x", "kappa_char"], 3))
    0.8
    """
    lengths_default: dict[str, int] = {}
    texts: dict[str, str] = {}
    if isinstance(segments, QdaProject):
        d = segments.documents
        lengths_default = {k: int(v) for k, v in zip(d["document_id"], d["n_chars"]) if pd.notna(v)}
        codebook = codebook if codebook is not None else segments.codebook
        texts = segments.texts
        segments = segments.segments
    seg = validate_segments(segments, "segments")
    known = dict(lengths_default)
    if document_lengths is not None:
        known.update({str(k): int(v) for k, v in dict(document_lengths).items()})
    # A passage over the whole text is a whole-document coding (when the text or its length is known).
    seg, _ = mark_whole_document(seg, texts, {k: v for k, v in known.items() if k not in texts})
    docs_by_coder = seg.groupby("coder")["document_id"].apply(lambda s: set(s.unique()))
    if coders is None:
        names = sorted(docs_by_coder.index)
        if len(names) < 2:
            raise DataValidationError(
                f"`segments`: agreement needs two coders, found {names}; no document is double-coded"
            )
        pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
        coders = max(pairs, key=lambda p: len(docs_by_coder[p[0]] & docs_by_coder[p[1]]))
    missing = [c for c in coders if c not in docs_by_coder.index]
    if missing:
        raise DataValidationError(f"`coders`: {missing} not found; coders present: {sorted(docs_by_coder.index)}")
    c1, c2 = coders
    shared = sorted(docs_by_coder[c1] & docs_by_coder[c2])
    if not shared:
        raise DataValidationError(f"`coders`: {c1!r} and {c2!r} share no documents; nothing is double-coded")
    seg = seg[seg["coder"].isin(coders) & seg["document_id"].isin(shared)]

    code_list = sorted(set(seg["code"]) | (set(codebook.codes["code"]) if codebook is not None else set()))
    code_pos = {c: i for i, c in enumerate(code_list)}
    n_codes, n_docs = len(code_list), len(shared)
    spans = span_segments(seg)
    has_offsets = len(spans) > 0 and spans["start"].notna().all() and spans["end"].notna().all()
    lengths = known
    whole = seg["scope"] == "document"
    n_doc_codings = np.bincount(seg.loc[whole, "code"].map(code_pos).to_numpy(dtype=np.int64), minlength=n_codes)

    char = np.zeros((n_docs, n_codes, 4))  # cells a11, a10, a01, a00
    unit = np.zeros((n_docs, n_codes, 4))
    present = np.zeros((2, n_docs, n_codes), dtype=bool)
    chars_by_coder = np.zeros((2, n_codes))
    for di, (doc, s) in enumerate(seg.groupby("document_id", sort=True)):
        ci = s["code"].map(code_pos).to_numpy()
        who = (s["coder"] == c2).to_numpy().astype(int)
        present[who, di, ci] = True
        s = s[s["scope"] != "document"]
        if not has_offsets or s.empty:
            continue
        ci = s["code"].map(code_pos).to_numpy()
        who = (s["coder"] == c2).to_numpy().astype(int)
        st, en = s["start"].to_numpy(dtype=np.int64), s["end"].to_numpy(dtype=np.int64)
        length = int(lengths.get(doc, en.max()))
        if en.max() > length:
            raise DataValidationError(
                f"`segments`: document {doc!r} has a segment ending at {int(en.max())}, past its length "
                f"{length} (from `document_lengths` or the project's documents)"
            )
        bounds = np.unique(np.concatenate([[0, length], st, en]))
        widths = np.diff(bounds).astype(float)
        si, ei = np.searchsorted(bounds, st), np.searchsorted(bounds, en)
        cov = np.zeros((2, n_codes, len(bounds)))
        # Difference arrays: +1 where a segment starts, -1 where it ends; cumulative sum = coverage.
        np.add.at(cov, (who, ci, si), 1.0)
        np.add.at(cov, (who, ci, ei), -1.0)
        cov = np.cumsum(cov, axis=2)[:, :, :-1] > 0
        a, b = cov[0], cov[1]
        anyone = (a | b).any(axis=0)
        for k, (x, y) in enumerate([(a, b), (a, ~b), (~a, b), (~a, ~b)]):
            char[di, :, k] = (x & y) @ widths
            unit[di, :, k] = (x & y & anyone) @ np.ones_like(widths)
        chars_by_coder[0] += a @ widths
        chars_by_coder[1] += b @ widths

    pooled_char = _binary_stats(*char.sum(axis=0).T)
    pooled_unit = _binary_stats(*unit.sum(axis=0).T)
    per_doc = _binary_stats(*np.moveaxis(char, 2, 0))
    # Mean of per-document kappas over documents where kappa is defined (NaN when none is).
    k_doc = per_doc["kappa"]
    n_def = (~np.isnan(k_doc)).sum(axis=0)
    mean_doc_kappa = np.where(n_def > 0, np.nansum(k_doc, axis=0) / np.maximum(n_def, 1), np.nan) \
        if has_offsets else np.full(n_codes, np.nan)
    p1, p2 = present[0], present[1]
    doc_cells = [(p1 & p2).sum(0), (p1 & ~p2).sum(0), (~p1 & p2).sum(0), (~p1 & ~p2).sum(0)]
    doc_stats = _binary_stats(*doc_cells)
    nan = np.full(n_codes, np.nan)
    table = pd.DataFrame({
        "code": code_list,
        "n_documents": n_docs,
        "chars_coder_1": chars_by_coder[0].astype(int) if has_offsets else pd.array([pd.NA] * n_codes, "Int64"),
        "chars_coder_2": chars_by_coder[1].astype(int) if has_offsets else pd.array([pd.NA] * n_codes, "Int64"),
        "percent_agreement": pooled_char["percent_agreement"] if has_offsets else nan,
        "kappa_char": pooled_char["kappa"] if has_offsets else nan,
        "kappa_char_mean_document": mean_doc_kappa,
        "alpha_char": pooled_char["alpha"] if has_offsets else nan,
        "percent_agreement_segment": pooled_unit["percent_agreement"] if has_offsets else nan,
        "kappa_segment": pooled_unit["kappa"] if has_offsets else nan,
        "alpha_segment": pooled_unit["alpha"] if has_offsets else nan,
        "percent_agreement_document": doc_stats["percent_agreement"],
        "kappa_document": doc_stats["kappa"],
        "alpha_document": doc_stats["alpha"],
        "n_document_codings": n_doc_codings.astype("int64"),
    })
    if codebook is not None:
        table.insert(1, "theme", table["code"].map(codebook.theme_of()))
    else:
        table.insert(1, "theme", None)
    ref = table["kappa_char"] if has_offsets else table["kappa_document"]
    table["low_kappa"] = (ref < threshold).fillna(False).astype(bool)
    table = table[[c for c in table.columns if c != "n_document_codings"] + ["n_document_codings"]]

    pooled: dict[str, float] = {}
    if has_offsets:
        size = chars_by_coder.sum(axis=0) / 2  # a code's size: mean characters coded by the two coders
        ok = ~np.isnan(table["kappa_char"].to_numpy()) & (size > 0)
        pooled["kappa_pooled"] = float(np.average(table["kappa_char"].to_numpy()[ok], weights=size[ok])) \
            if ok.any() else float("nan")
        pooled["kappa_mean"] = float(np.nanmean(table["kappa_char"])) if ok.any() else float("nan")
        allc = char.sum(axis=(0, 1))
        pooled["kappa_pooled_table"] = float(_binary_stats(*allc)["kappa"])
        pooled["percent_agreement_mean"] = float(np.nanmean(table["percent_agreement"]))
    pooled["kappa_document_mean"] = float(np.nanmean(table["kappa_document"])) \
        if table["kappa_document"].notna().any() else float("nan")
    return AgreementResult(table=table, coders=(str(c1), str(c2)), n_documents=n_docs,
                           threshold=float(threshold), pooled=pooled, document_codings=int(whole.sum()))
