"""QualCoder coded-text exports (CSV or XLSX) into the coded-segments contract.

QualCoder's coding report (Reports > Coding reports, export as CSV or XLSX; ``report_codes.py``) writes one
row per coding with the headers ``File, Coder, Coded, Id, Codename, Coded_Memo`` -- or, for a report by
case, ``Case, Filename, Coder, Coded, Id, Codename, Coded_Memo`` -- then one ``Category`` column per level of
the code's categories and, when "export variables" is ticked, ``FileVar_<name>`` and ``CaseVar_<name>``
columns (CSV: every cell quoted, UTF-8 with a byte-order mark). ``Coded`` holds the coded text, or
``image`` / ``a/v`` for image and audio/video codings (``Id`` ``imid:...`` / ``avid:...``): those are not text
and are set aside with a count. Case or file attributes named ``role`` and ``site`` fill those columns.
Columns are matched case-insensitively against aliases (older exports and hand-made tables vary):

=============  ===============================================
contract       accepted headers
=============  ===============================================
code           codename, code, code name
document_id    file, filename, file name, document
coder          coder, owner
text           coded, coded text, coded_text, text, seltext
participant_id case, case name, participant, participant_id
role, site     casevar_role / casevar_site, filevar_role / filevar_site, role / site
start, end     pos0, pos1 (when present; usually not exported)
=============  ===============================================

The exports carry no offsets. Without role and site attributes, pass ``participants`` (``participant_id,
role, site``, optionally ``document_id`` to map documents to participants when no case column exists).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from evaltool.errors import DataValidationError

from .codebook import Codebook
from .segments import (
    QdaProject,
    _read_table,
    documents_from_segments,
    known_documents,
    reconcile,
    validate_segments,
)

DOC_EXTENSIONS = (".txt", ".docx", ".doc", ".odt", ".pdf", ".rtf", ".md", ".htm", ".html")

QUALCODER_ALIASES = {
    "code": ("codename", "code", "code name", "code_name"),
    "document_id": ("file", "filename", "file name", "document", "document_id"),
    "coder": ("coder", "owner"),
    "text": ("coded", "coded text", "coded_text", "text", "seltext"),
    "participant_id": ("case", "case name", "case_name", "participant", "participant_id"),
    "role": ("casevar_role", "filevar_role", "role"),
    "site": ("casevar_site", "filevar_site", "site"),
    "_id": ("id",),
    "start": ("pos0", "start"),
    "end": ("pos1", "end"),
}


def strip_doc_extension(names: pd.Series) -> pd.Series:
    """Document ids without a known document-file extension (``D01.txt`` -> ``D01``)."""
    s = names.astype(str).str.strip()
    pattern = r"(?i)(" + "|".join(e.replace(".", r"\.") for e in DOC_EXTENSIONS) + r")$"
    return s.str.replace(pattern, "", regex=True)


def map_columns(raw: pd.DataFrame, aliases: dict[str, tuple[str, ...]], source: str,
                required: tuple[str, ...]) -> pd.DataFrame:
    """Rename columns by case-insensitive aliases; raise naming what is missing."""
    lower = {str(c).strip().lower(): c for c in raw.columns}
    out = {}
    for target, names in aliases.items():
        for n in names:
            if n in lower:
                out[target] = raw[lower[n]]
                break
    missing = [t for t in required if t not in out]
    if missing:
        raise DataValidationError(
            f"`{source}`: cannot find column(s) for {missing}; expected one of "
            f"{[list(aliases[m]) for m in missing]}, found {list(raw.columns)}"
        )
    return pd.DataFrame(out)


def attach_participants(seg: pd.DataFrame, participants: pd.DataFrame | None, source: str) -> pd.DataFrame:
    """Fill participant_id (via document_id), role and site from a participants table."""
    out = seg.copy()
    for c in ("participant_id", "role", "site"):
        if c not in out.columns:
            out[c] = None
    if participants is None:
        return out
    p = participants.copy()
    p.columns = [str(c).strip().lower() for c in p.columns]
    if "document_id" in p.columns:
        by_doc = p.drop_duplicates("document_id").set_index("document_id")["participant_id"].astype(str)
        out["participant_id"] = out["participant_id"].where(out["participant_id"].notna(),
                                                            out["document_id"].map(by_doc))
    meta = p.drop_duplicates("participant_id").set_index("participant_id")
    for c in ("role", "site"):
        if c in meta.columns:
            out[c] = out[c].where(out[c].notna(), out["participant_id"].map(meta[c].astype(str)))
    return out


def read_qualcoder(path: str | Path, codebook: Codebook | None = None,
                   participants: pd.DataFrame | None = None) -> QdaProject:
    """Read a QualCoder coded-text export (CSV or XLSX).

    Parameters
    ----------
    path:
        The export (see module docs for accepted headers).
    codebook:
        Codes not in it are excluded and counted.
    participants:
        ``participant_id, role, site`` (optionally ``document_id``) to fill role and site.

    Examples
    --------
    >>> # project = read_qualcoder("qualcoder_export.csv", participants=pd.read_csv("participants.csv"))
    """
    path = Path(path)
    raw = _read_table(path).replace({"": None})
    seg = map_columns(raw, QUALCODER_ALIASES, str(path), ("code", "document_id", "coder", "text"))
    # Image and audio/video codings have no text: set aside, counted.
    ids = seg["_id"].astype("string").str.lower() if "_id" in seg.columns else pd.Series(pd.NA, index=seg.index)
    non_text = (ids.str.startswith("imid:") | ids.str.startswith("avid:")).fillna(False) \
        | seg["text"].astype("string").str.strip().isin(["image", "a/v"]).fillna(False) & ids.notna()
    set_aside = pd.DataFrame(columns=["reason", "n_segments", "detail"])
    if non_text.any():
        set_aside = pd.DataFrame([{"reason": "image or audio/video coding (no text)", "n_segments": int(non_text.sum()),
                                   "detail": ", ".join(sorted(seg.loc[non_text, "document_id"].astype(str).unique())[:20])}])
    seg = seg.loc[~non_text].drop(columns=[c for c in ("_id",) if c in seg.columns]).reset_index(drop=True)
    seg["document_id"] = strip_doc_extension(seg["document_id"])
    seg = attach_participants(seg, participants, str(path))
    seg = validate_segments(seg, str(path))
    kept, excl = reconcile(seg, codebook, known_documents(participants))
    if len(set_aside):
        excl = pd.concat([excl, set_aside.astype({"n_segments": "int64"})], ignore_index=True)
    return QdaProject(kept, codebook, documents_from_segments(kept), excl, "qualcoder")
