"""QualCoder-style coded-text exports (CSV or XLSX) into the coded-segments contract.

QualCoder's coding reports export one row per coded text with the code name, the file, the
coder, the coded text and (when cases are used) the case. Headers vary between versions, so
columns are matched case-insensitively against aliases:

=============  ===============================================
contract       accepted headers
=============  ===============================================
code           codename, code, code name
document_id    file, filename, file name, document
coder          coder, owner
text           coded text, coded_text, text, seltext
participant_id case, case name, participant, participant_id
start, end     pos0, pos1 (when present; usually not exported)
=============  ===============================================

The exports carry no offsets and no role/site: pass ``participants`` (``participant_id, role,
site``, optionally ``document_id`` to map documents to participants when no case column exists).
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
    "text": ("coded text", "coded_text", "text", "seltext"),
    "participant_id": ("case", "case name", "case_name", "participant", "participant_id"),
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
    seg["document_id"] = strip_doc_extension(seg["document_id"])
    seg = attach_participants(seg, participants, str(path))
    seg = validate_segments(seg, str(path))
    kept, excl = reconcile(seg, codebook, known_documents(participants))
    return QdaProject(kept, codebook, documents_from_segments(kept), excl, "qualcoder")
