"""QualCoder coded-text exports (Reports > Coding reports, exported as CSV or XLSX) into the coded-segments contract.

QualCoder writes one row per coding, in one of two shapes (read from its source, ``report_codes.py``
``export_csv_file``/``export_xlsx_file``; ccbogel/QualCoder at c3204641):

* results by file: ``File, Coder, Coded, Id, Codename, Coded_Memo, Category ..., FileVar_<name> ...``;
* results by case: ``Case, Filename, Coder, Coded, Id, Codename, Coded_Memo, Category ..., FileVar_<name> ...,
  CaseVar_<name> ...``.

``Coded`` is the coded text (``image`` or ``a/v`` for media codings, whose ``Id`` is ``imid:N`` or
``avid:N``; text codings have ``ctid:N``). One ``Category`` column is written per level of the deepest
code's category path. File and case attributes (with "export variables" ticked) follow as
``FileVar_``/``CaseVar_`` columns sorted by name, so a participant's role and site arrive as
``CaseVar_Role``/``CaseVar_Site`` (or ``FileVar_``...) when the project records them as attributes. The CSV
is UTF-8 with a byte-order mark and every cell quoted; rows of codes with fewer categories than the
deepest are *shorter* than the header (the attribute values move left), which this reader re-aligns.

Headers are matched case-insensitively; older or hand-made exports are accepted through aliases:

=============  ================================================================
contract       accepted headers
=============  ================================================================
code           Codename, code, code name
document_id    File (by-file results), Filename (by-case results), document
coder          Coder, owner
text           Coded, coded text, text, seltext
participant_id Case, case name, participant, participant_id
role, site     CaseVar_<role_attribute>, FileVar_<role_attribute> (and site)
start, end     pos0, pos1 (QualCoder does not export them)
=============  ================================================================

Media codings are excluded and counted. A ``participants`` table (``participant_id, role, site``,
optionally ``document_id``) fills what the export does not carry.
"""
from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from evaltool.errors import DataValidationError

from .codebook import Codebook
from .segments import (
    EXCLUSION_COLUMNS,
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
    "start": ("pos0", "start"),
    "end": ("pos1", "end"),
    "_id": ("id",),
}
_ATTRIBUTE_PREFIXES = ("casevar_", "filevar_")
_MEDIA_IDS = ("imid:", "avid:")


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


def _read_csv_realigned(path: Path) -> pd.DataFrame:
    """A QualCoder CSV with short rows re-aligned: attribute values are the last fields of every row."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.reader(fh))
    except UnicodeDecodeError as err:
        raise DataValidationError(f"segments file `{path}` is not UTF-8 text (byte 0x{err.object[err.start]:02x} "
                                  f"at offset {err.start}); save it as CSV UTF-8") from None
    except csv.Error as err:
        raise DataValidationError(f"segments file `{path}` cannot be read as CSV: {str(err)[:200]}") from None
    if not rows:
        raise DataValidationError(f"segments file `{path}` is empty; expected a header row and data rows")
    header, body = rows[0], [r for r in rows[1:] if any(c.strip() for c in r)]
    n_attr = 0
    for h in reversed(header):
        if not h.strip().lower().startswith(_ATTRIBUTE_PREFIXES):
            break
        n_attr += 1
    width, fixed = len(header), len(header) - n_attr
    out = []
    for i, r in enumerate(body):
        if len(r) > width:
            raise DataValidationError(
                f"segments file `{path}`: row {i + 2} has {len(r)} fields but the header has {width}; "
                "expected a QualCoder coded-text export")
        if len(r) < width and n_attr:  # fewer categories than the deepest code: attributes moved left
            attrs = r[len(r) - n_attr:] if len(r) >= n_attr else [""] * n_attr
            r = (r[:len(r) - n_attr] + [""] * width)[:fixed] + attrs
        out.append(r + [""] * (width - len(r)))
    names = [h if header.count(h) == 1 else f"{h}.{header[:j].count(h)}" for j, h in enumerate(header)]
    return pd.DataFrame(out, columns=names, dtype=object)


def _attribute(raw: pd.DataFrame, name: str) -> pd.Series | None:
    """The CaseVar_<name> column (else FileVar_<name>), matched case-insensitively."""
    lower = {str(c).strip().lower(): c for c in raw.columns}
    for prefix in _ATTRIBUTE_PREFIXES:
        col = lower.get(prefix + name.strip().lower())
        if col is not None:
            return raw[col]
    return None


def read_qualcoder(path: str | Path, codebook: Codebook | None = None,
                   participants: pd.DataFrame | None = None, *, role_attribute: str = "role",
                   site_attribute: str = "site") -> QdaProject:
    """Read a QualCoder coded-text export (CSV or XLSX; see module docs for its two shapes).

    Parameters
    ----------
    path:
        The export.
    codebook:
        Codes not in it are excluded and counted.
    participants:
        ``participant_id, role, site`` (optionally ``document_id``) to fill what the export lacks.
    role_attribute, site_attribute:
        Names of the QualCoder case (or file) attributes holding role and site: read from the
        ``CaseVar_<name>``/``FileVar_<name>`` columns, any case.

    Examples
    --------
    >>> # project = read_qualcoder("coding_report.csv", participants=pd.read_csv("participants.csv"))
    """
    path = Path(path)
    if path.suffix.lower() == ".csv" and path.is_file():
        raw = _read_csv_realigned(path)
    else:
        raw = _read_table(path)
    raw = raw.replace({"": None})
    seg = map_columns(raw, QUALCODER_ALIASES, str(path), ("code", "document_id", "coder", "text"))
    for target, name in (("role", role_attribute), ("site", site_attribute)):
        col = _attribute(raw, name)
        if col is not None:
            seg[target] = col.to_numpy()
    excl = []
    if "_id" in seg.columns:
        media = seg["_id"].astype("string").str.strip().str.lower().str.startswith(_MEDIA_IDS).fillna(False)
        media = media.to_numpy(dtype=bool)
        if media.any():
            kinds = seg.loc[media, "_id"].astype(str).str.split(":").str[0].map(
                {"imid": "image", "avid": "audio/video"}).value_counts().sort_index()
            excl.append({"reason": "coding of an image or audio/video (QualCoder export)",
                         "n_segments": int(media.sum()),
                         "detail": ", ".join(f"{k} ({v})" for k, v in kinds.items())})
            seg = seg.loc[~media]
        seg = seg.drop(columns="_id")
    seg["document_id"] = strip_doc_extension(seg["document_id"])
    seg = attach_participants(seg, participants, str(path))
    seg = validate_segments(seg, str(path))
    kept, more = reconcile(seg, codebook, known_documents(participants))
    exclusions = pd.concat([pd.DataFrame(excl, columns=EXCLUSION_COLUMNS), more], ignore_index=True) \
        if excl else more
    exclusions["n_segments"] = exclusions["n_segments"].astype("int64")
    return QdaProject(kept, codebook, documents_from_segments(kept), exclusions, "qualcoder")
