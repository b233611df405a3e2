"""Taguette highlight exports (CSV or XLSX) into the coded-segments contract.

Taguette exports one row per highlight and tag with headers ``id, document, tag, content``.
It records no coder and no offsets; the coder is set from the ``coder`` argument and
participant, role and site come from a participants table keyed by ``document_id``.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from .codebook import Codebook
from .qualcoder import attach_participants, map_columns, strip_doc_extension
from .segments import (
    QdaProject,
    _read_table,
    documents_from_segments,
    known_documents,
    reconcile,
    validate_segments,
)

TAGUETTE_ALIASES = {
    "code": ("tag", "tags", "code"),
    "document_id": ("document", "document name", "document_id"),
    "text": ("content", "highlight", "text"),
}


def read_taguette(path: str | Path, codebook: Codebook | None = None,
                  participants: pd.DataFrame | None = None, coder: str = "unknown") -> QdaProject:
    """Read a Taguette highlights export (CSV or XLSX).

    Parameters
    ----------
    path:
        The export (``id, document, tag, content``).
    codebook:
        Codes not in it are excluded and counted.
    participants:
        ``document_id, participant_id, role, site`` to attach participants.
    coder:
        Name recorded as the coder (Taguette does not export one).

    Examples
    --------
    >>> # project = read_taguette("taguette_highlights.csv", coder="Coder A")
    """
    path = Path(path)
    raw = _read_table(path).replace({"": None})
    seg = map_columns(raw, TAGUETTE_ALIASES, str(path), ("code", "document_id", "text"))
    seg["document_id"] = strip_doc_extension(seg["document_id"])
    seg["coder"] = coder
    seg = attach_participants(seg, participants, str(path))
    seg = validate_segments(seg, str(path))
    kept, excl = reconcile(seg, codebook, known_documents(participants))
    return QdaProject(kept, codebook, documents_from_segments(kept), excl, "taguette")
