"""Coded segments: the input contract, validation, codebook reconciliation and the CSV importer.

Contract (one row per code applied to a span of text by one coder)::

    document_id, participant_id, role, site, coder, code, text[, start, end][, scope]

``start``/``end`` are Unicode code-point offsets into the document's plain text with an
exclusive end (REFI-QDA convention), optional for tools that export no offsets. ``scope`` is
``span`` (a passage; the default) or ``document``: a code applied to a whole interview (a REFI-QDA
coding without a text selection, or a selection over the whole text). Whole-document codings are
kept apart from passages: they count as document-level codes (documents and participants with the
code) but not as coded segments, and are left out of character- and segment-level agreement,
co-occurrence and quotes. Rows that cite codes missing from the codebook, or documents missing
from the project, are never dropped silently: they go to a counted exclusion table
(:attr:`QdaProject.exclusions`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evaltool._result import ResultMixin, Summary
from evaltool.errors import DataValidationError, format_rows

from .codebook import Codebook

SEGMENT_COLUMNS = ["document_id", "participant_id", "role", "site", "coder", "code", "text", "start", "end", "scope"]
SCOPES = ("span", "document")
REQUIRED_COLUMNS = ["document_id", "participant_id", "role", "site", "coder", "code", "text"]
EXCLUSION_COLUMNS = ["reason", "n_segments", "detail"]


def empty_exclusions() -> pd.DataFrame:
    """An exclusion table with no rows."""
    return pd.DataFrame({"reason": pd.Series(dtype=object), "n_segments": pd.Series(dtype="int64"),
                         "detail": pd.Series(dtype=object)})


def validate_segments(segments: pd.DataFrame, source: str = "segments") -> pd.DataFrame:
    """Check a segments table against the contract and return a normalised copy.

    Ids and labels become strings, ``start``/``end`` nullable integers (added as missing when
    absent). Rows with ``start >= end`` or negative offsets raise.

    Examples
    --------
    >>> df = pd.DataFrame({"document_id": ["d1"], "participant_id": ["p1"], "role": ["GP"],
    ...     "site": ["A"], "coder": ["c1"], "code": ["x"], "text": ["hello"], "start": [0], "end": [5]})
    >>> validate_segments(df)["end"].tolist()
    [5]
    """
    if not isinstance(segments, pd.DataFrame):
        raise DataValidationError(f"`{source}` must be a pandas DataFrame, found {type(segments).__name__}")
    missing = [c for c in REQUIRED_COLUMNS if c not in segments.columns]
    if missing:
        raise DataValidationError(
            f"`{source}` lacks required column(s) {missing}; expected {REQUIRED_COLUMNS} "
            f"(+ optional start, end), found {list(segments.columns)}"
        )
    out = segments.copy()
    for c in REQUIRED_COLUMNS:
        out[c] = out[c].astype("string").str.strip().astype(object)
        out.loc[out[c].isna(), c] = "" if c == "text" else None
    for c in ("start", "end"):
        if c not in out.columns:
            out[c] = pd.array([pd.NA] * len(out), dtype="Int64")
        else:
            num = pd.to_numeric(out[c], errors="coerce")
            bad = np.flatnonzero(num.isna().to_numpy() & out[c].notna().to_numpy())
            if len(bad):
                raise DataValidationError(
                    f"`{source}` column `{c}` must hold integer offsets; non-numeric values at "
                    f"{format_rows(bad + 1)}"
                )
            out[c] = num.round().astype("Int64")
    if "scope" not in out.columns:
        out["scope"] = "span"
    scope = out["scope"].astype("string").str.strip().str.lower().fillna("").replace("", "span")
    bad = np.flatnonzero(~scope.isin(SCOPES).to_numpy())
    if len(bad):
        raise DataValidationError(
            f"`{source}` column `scope` must be 'span' or 'document'; found "
            f"{sorted(set(out['scope'].iloc[bad].astype(str)))[:5]} at {format_rows(bad + 1)}"
        )
    out["scope"] = scope.astype(object)
    both = out["start"].notna() & out["end"].notna()
    bad = np.flatnonzero((both & ((out["start"] < 0) | (out["end"] <= out["start"]))).fillna(False).to_numpy())
    if len(bad):
        raise DataValidationError(
            f"`{source}`: expected 0 <= start < end (code-point offsets, exclusive end); violated at "
            f"{format_rows(bad + 1)}"
        )
    blank = np.flatnonzero(out[["document_id", "code", "coder"]].isna().any(axis=1).to_numpy())
    if len(blank):
        raise DataValidationError(
            f"`{source}`: document_id, code and coder must not be blank; blank at {format_rows(blank + 1)}"
        )
    extra = [c for c in out.columns if c not in SEGMENT_COLUMNS]
    return out[SEGMENT_COLUMNS + extra].reset_index(drop=True)


def span_segments(segments: pd.DataFrame) -> pd.DataFrame:
    """The passages of a segments table: whole-document codings (``scope == "document"``) left out.

    Examples
    --------
    >>> span_segments(pd.DataFrame({"code": ["x", "y"], "scope": ["span", "document"]}))["code"].tolist()
    ['x']
    """
    if "scope" not in segments.columns:
        return segments
    return segments.loc[segments["scope"].astype(str) != "document"]


def mark_whole_document(segments: pd.DataFrame, texts: dict[str, str] | None = None,
                        lengths: dict[str, int] | None = None) -> tuple[pd.DataFrame, int]:
    """Mark passages that cover a document's whole text as whole-document codings.

    With the document's text, a span covers it when it runs from at or before the first
    non-blank character to at or after the last; with only its length, from 0 to the length.
    Marked rows get ``scope = "document"``, no offsets and no text (the transcript is not a quote).

    Returns
    -------
    (segments, n_marked)

    Examples
    --------
    >>> seg = validate_segments(pd.DataFrame({"document_id": ["d", "d"], "participant_id": "p", "role": "GP",
    ...     "site": "A", "coder": "c", "code": ["x", "y"], "text": "", "start": [0, 2], "end": [12, 5]}))
    >>> out, n = mark_whole_document(seg, texts={"d": " Hello all. "})
    >>> out["scope"].tolist(), n
    (['document', 'span'], 1)
    """
    out = segments.copy()
    if "scope" not in out.columns:
        out["scope"] = "span"
    if out.empty:
        return out, 0
    lo, hi, total = {}, {}, {}
    for doc, text in (texts or {}).items():
        stripped = text.strip()
        lo[doc] = len(text) - len(text.lstrip()) if stripped else 0
        hi[doc] = len(text.rstrip()) if stripped else len(text)
        total[doc] = len(text)
    for doc, n in (lengths or {}).items():
        lo.setdefault(str(doc), 0)
        hi.setdefault(str(doc), int(n))
        total.setdefault(str(doc), int(n))
    docs = out["document_id"].astype(str)
    first, last, size = (pd.to_numeric(docs.map(m), errors="coerce") for m in (lo, hi, total))
    st = pd.to_numeric(out["start"], errors="coerce")
    en = pd.to_numeric(out["end"], errors="coerce")
    # (a span past the end is left alone: the caller reports it as an error)
    whole = ((out["scope"] == "span") & first.notna() & st.notna() & en.notna()
             & (st <= first) & (en >= last) & (en <= size)).to_numpy(dtype=bool)
    if whole.any():
        out.loc[whole, "scope"] = "document"
        out.loc[whole, "text"] = ""
        out["start"] = out["start"].astype("Int64")
        out["end"] = out["end"].astype("Int64")
        out.loc[whole, ["start", "end"]] = pd.NA
    return out, int(whole.sum())


def reconcile(segments: pd.DataFrame, codebook: Codebook | None,
              documents: set[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split segments into those usable and a counted exclusion table.

    Parameters
    ----------
    segments:
        A validated segments table.
    codebook:
        Codes not in it are excluded (reason ``code not in codebook``). None: keep all codes.
    documents:
        Known document ids; segments citing others are excluded. None: keep all.

    Returns
    -------
    (kept, exclusions)
        ``exclusions`` has columns ``reason, n_segments, detail`` (detail lists the offenders).

    Examples
    --------
    >>> from evaltool.qual.codebook import build_codebook
    >>> cb = build_codebook("t", [{"theme": "a"}], [{"code": "x", "theme": "a"}], "demo")
    >>> df = pd.DataFrame({"document_id": ["d1", "d1"], "participant_id": ["p", "p"], "role": ["GP"] * 2,
    ...     "site": ["A"] * 2, "coder": ["c"] * 2, "code": ["x", "y"], "text": ["a", "b"]})
    >>> kept, excl = reconcile(validate_segments(df), cb)
    >>> len(kept), excl["n_segments"].tolist()
    (1, [1])
    """
    rows = []
    keep = pd.Series(True, index=segments.index)
    if documents is not None:
        bad = ~segments["document_id"].isin(documents)
        if bad.any():
            ids = sorted(segments.loc[bad, "document_id"].unique())
            rows.append({"reason": "document not in project", "n_segments": int(bad.sum()),
                         "detail": ", ".join(ids[:20]) + (" ..." if len(ids) > 20 else "")})
        keep &= ~bad
    if codebook is not None:
        bad = ~segments["code"].isin(set(codebook.codes["code"])) & keep
        if bad.any():
            counts = segments.loc[bad, "code"].value_counts().sort_index()
            rows.append({"reason": "code not in codebook", "n_segments": int(bad.sum()),
                         "detail": ", ".join(f"{k} ({v})" for k, v in counts.items())})
        keep &= ~bad
    # The same code applied twice to the same span by the same coder (a double export or a
    # merge of project copies) would inflate every count. Without offsets, identical text may be
    # said twice in one interview, so only segments with offsets are de-duplicated.
    scope = segments["scope"] if "scope" in segments.columns else pd.Series("span", index=segments.index)
    dup = segments.duplicated(["document_id", "coder", "code", "start", "end", "text"]) & keep \
        & segments["start"].notna() & segments["end"].notna()
    # A code applied to the same whole document twice by one coder is one document-level coding.
    dup |= (scope == "document") & segments.assign(_s=scope).duplicated(["document_id", "coder", "code", "_s"]) & keep
    if dup.any():
        rows.append({"reason": "duplicate coding (same coder, code and span)", "n_segments": int(dup.sum()),
                     "detail": ", ".join(sorted(segments.loc[dup, "document_id"].unique())[:20])})
    keep &= ~dup
    excl = pd.DataFrame(rows, columns=EXCLUSION_COLUMNS) if rows else empty_exclusions()
    excl["n_segments"] = excl["n_segments"].astype("int64")
    return segments.loc[keep].reset_index(drop=True), excl


@dataclass(frozen=True)
class QdaProject(ResultMixin):
    """Coded segments imported from a QDA tool, with their codebook and exclusions.

    Attributes
    ----------
    segments:
        Contract table (``document_id, participant_id, role, site, coder, code, text, start, end``).
    codebook:
        The project's codebook (None when the format carries none).
    documents:
        One row per document: ``document_id, name, n_chars, participant_id, role, site``.
    exclusions:
        Counted table of segments not used and why.
    source_format:
        ``csv``, ``qdpx``, ``qualcoder`` or ``taguette``.
    texts:
        Document plain texts by id (never written to a bundle).
    """

    segments: pd.DataFrame = field(repr=False)
    codebook: Codebook | None = field(repr=False)
    documents: pd.DataFrame = field(repr=False)
    exclusions: pd.DataFrame = field(repr=False)
    source_format: str = "csv"
    texts: dict[str, str] = field(default_factory=dict, repr=False)

    def summary(self) -> Summary:
        s = self.segments
        return Summary(
            title=f"Coded segments ({self.source_format})",
            lines=(("segments", str(len(s))), ("documents", str(s["document_id"].nunique())),
                   ("coders", str(s["coder"].nunique())), ("codes used", str(s["code"].nunique())),
                   ("segments excluded", str(int(self.exclusions["n_segments"].sum())))),
            tables=(("Exclusions", self.exclusions),) if len(self.exclusions) else (),
        )

    def to_frame(self) -> pd.DataFrame:
        return self.segments.copy()

    def to_dict(self) -> dict[str, Any]:
        s = self.segments
        return {
            "source_format": self.source_format,
            "n_segments": int(len(s)),
            "n_documents": int(s["document_id"].nunique()),
            "coders": sorted(s["coder"].dropna().unique().tolist()),
            "segments_by_code": {k: int(v) for k, v in s["code"].value_counts().sort_index().items()},
            "exclusions": self.exclusions.to_dict(orient="records"),
        }

    def plot(self):
        from plotnine import aes, coord_flip, geom_col, ggplot, labs

        from evaltool.plotting import NHS_BLUE, theme_evaltool

        d = self.segments["code"].value_counts().rename_axis("code").reset_index(name="n_segments")
        return (ggplot(d, aes("reorder(code, n_segments)", "n_segments")) + geom_col(fill=NHS_BLUE)
                + coord_flip() + labs(x="", y="Coded segments") + theme_evaltool())


def documents_from_segments(segments: pd.DataFrame) -> pd.DataFrame:
    """Document table derived from the segments (when the format carries no document list)."""
    cols = ["participant_id", "role", "site"]
    d = segments.groupby("document_id", sort=True)[cols].first().reset_index()
    d.insert(1, "name", d["document_id"])
    d.insert(2, "n_chars", pd.array(
        segments.groupby("document_id", sort=True)["end"].max().reindex(d["document_id"]).to_numpy(),
        dtype="Int64"))
    return d


def _read_table(path: Path, **kw) -> pd.DataFrame:
    return read_tabular(path, "segments file", **kw)


def read_tabular(path: str | Path, what: str, **kw) -> pd.DataFrame:
    """Read a CSV (UTF-8), XLSX or Parquet file as text columns; unreadable files raise a message naming them.

    Examples
    --------
    >>> read_tabular("nope.csv", "participants file")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    evaltool.errors.DataValidationError: participants file `nope.csv` does not exist
    """
    import zipfile

    path = Path(path)
    if not path.is_file():
        raise DataValidationError(f"{what} `{path}` does not exist" if not path.exists()
                                  else f"{what} `{path}` is a folder, not a file")
    suffix = path.suffix.lower()
    try:
        if suffix in (".xlsx", ".xlsm"):
            return pd.read_excel(path, dtype=str, keep_default_na=False, **kw)
        if suffix == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig", **kw)
    except UnicodeDecodeError as err:
        raise DataValidationError(f"{what} `{path}` is not UTF-8 text (byte 0x{err.object[err.start]:02x} at "
                                  f"offset {err.start}); save it as CSV UTF-8") from None
    except pd.errors.EmptyDataError:
        raise DataValidationError(f"{what} `{path}` is empty; expected a header row and data rows") from None
    except pd.errors.ParserError as err:
        raise DataValidationError(f"{what} `{path}` cannot be read as CSV: {' '.join(str(err).split())[:200]}") from None
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as err:
        raise DataValidationError(f"{what} `{path}` cannot be read ({type(err).__name__}: "
                                  f"{' '.join(str(err).split())[:160]})") from None


def read_segments(path: str | Path, codebook: Codebook | None = None,
                  participants: pd.DataFrame | None = None) -> QdaProject:
    """Read a segments table in evaltool's contract (CSV, XLSX or Parquet).

    Parameters
    ----------
    path:
        File with columns ``document_id, participant_id, role, site, coder, code, text[, start, end]``.
    codebook:
        Codes outside it are excluded and counted.
    participants:
        Optional table (``participant_id, role, site``) filling blank role/site values.

    Examples
    --------
    >>> # project = read_segments("segments.csv", codebook=read_codebook("codebook.yaml"))
    """
    path = Path(path)
    raw = _read_table(path)
    raw = raw.replace({"": None})
    for c in ("start", "end"):
        if c in raw.columns and raw[c].isna().all():
            raw = raw.drop(columns=c)
    seg = validate_segments(_fill_participants(raw, participants), str(path))
    kept, excl = reconcile(seg, codebook, known_documents(participants))
    return QdaProject(kept, codebook, documents_from_segments(kept), excl, "csv")


def known_documents(participants: pd.DataFrame | None) -> set[str] | None:
    """Document ids listed in a participants table (None when it has no ``document_id``)."""
    if participants is None or "document_id" not in participants.columns:
        return None
    return set(participants["document_id"].dropna().astype(str))


def _fill_participants(seg: pd.DataFrame, participants: pd.DataFrame | None) -> pd.DataFrame:
    if participants is None:
        return seg
    p = participants[["participant_id", "role", "site"]].astype(str).drop_duplicates("participant_id")
    out = seg.copy()
    if "participant_id" not in out.columns:
        return out
    m = out[["participant_id"]].merge(p, on="participant_id", how="left")
    for c in ("role", "site"):
        if c not in out.columns:
            out[c] = m[c].to_numpy()
        else:
            out[c] = out[c].where(out[c].notna() & (out[c] != ""), m[c].to_numpy())
    return out
