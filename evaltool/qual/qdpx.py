"""REFI-QDA project exchange (.qdpx) importer.

A .qdpx file is a zip holding ``project.qde`` (XML, namespace urn:QDA-XML:project:1.0) and a
``sources/`` folder with the documents. Text selections give ``startPosition``/``endPosition``
as Unicode code-point offsets into the plain text with an exclusive end, so Python string
slicing ``text[start:end]`` is exactly right (no byte arithmetic).

Vendor deviations tolerated:

* the .qde file not named ``project.qde`` (any single ``*.qde`` in the archive is used);
* Windows line endings in sources: some tools count CR LF as one position. With
  ``line_endings="auto"`` both readings are tried per document and the one whose selections
  match the selection names (which tools fill with the selected text) is kept;
* ``{...}``-braced or lower-case GUIDs; sources referenced as ``internal://`` or ``relative://``;
* hierarchy written as ``Theme::code`` in flat code names (ATLAS.ti).

Malformed input raises :class:`~evaltool.errors.DataValidationError` naming the problem: bad XML,
selections past the end of their document, codings citing unknown code GUIDs, missing sources.
"""
from __future__ import annotations

import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Literal

import pandas as pd

from evaltool.errors import DataValidationError

from ._xml import child, children, iter_local, local, parse_xml
from .codebook import Codebook, codebook_from_refi
from .qualcoder import strip_doc_extension
from .segments import EXCLUSION_COLUMNS, QdaProject, mark_whole_document, reconcile, validate_segments

#: Largest archive member evaltool will inflate (text sources and project.qde are far smaller).
MAX_MEMBER_BYTES = 1 << 30
#: Everything read from an archive may inflate to at most this many times the archive's size
#: (with a floor for small archives): text and XML compress ~3-20x, a zip bomb ~1000x.
MAX_INFLATION = 100
MIN_BUDGET_BYTES = 64 << 20


class _Budget:
    """Decompressed bytes still allowed from one archive; reads are streamed and stopped at the limit."""

    def __init__(self, path: Path, archive_bytes: int):
        self.path = path
        self.left = min(MAX_MEMBER_BYTES, max(MIN_BUDGET_BYTES, MAX_INFLATION * archive_bytes))
        self.total = self.left

    def read(self, zf: zipfile.ZipFile, name: str) -> bytes:
        chunks = []
        with zf.open(name) as fh:
            while True:
                chunk = fh.read(1 << 20)
                if not chunk:
                    break
                self.left -= len(chunk)
                if self.left < 0:
                    raise DataValidationError(
                        f"`{self.path}`: member `{name[:100]}` inflates beyond {self.total >> 20} MiB "
                        f"({MAX_INFLATION} times the archive's size); refusing to read it (a damaged or "
                        "hostile archive, or very large media: keep media outside the project)")
                chunks.append(chunk)
        return b"".join(chunks)


NON_TEXT_SOURCES = ("PictureSource", "PDFSource", "AudioSource", "VideoSource")


def _guid(value: str | None) -> str:
    return (value or "").strip().strip("{}").upper()


def _find_qde(zf: zipfile.ZipFile, path: Path) -> str:
    names = zf.namelist()
    exact = [n for n in names if n.lower() == "project.qde"]
    if exact:
        return exact[0]
    qde = [n for n in names if n.lower().endswith(".qde")]
    if len(qde) == 1:
        return qde[0]  # vendor deviation: differently named .qde
    if not qde:
        raise DataValidationError(
            f"`{path}`: no project.qde (or any .qde file) inside the archive; found {names[:10]}. "
            "Is this a REFI-QDA project export (.qdpx)?"
        )
    raise DataValidationError(f"`{path}`: several .qde files in the archive ({qde}); expected one")


def _source_bytes(zf: zipfile.ZipFile, ref: str, sources_dir: Path | None, budget: _Budget) -> bytes | None:
    """Bytes of a source referenced as internal://, relative:// or a path; None if absent.

    Sources are read from the archive. Only when the caller names ``sources_dir`` are
    ``relative://`` (or bare) references looked up on disk, and only inside that folder: an
    archive from elsewhere must not make evaltool read arbitrary local files into a report.
    """
    members = {n.lower(): n for n in zf.namelist()}
    for prefix in ("internal://", "relative://", "file://"):
        if ref.startswith(prefix):
            rel = ref[len(prefix):]
            break
    else:
        rel = ref
    candidates = [f"sources/{rel}", rel, f"sources/{PurePosixPath(rel).name}"]
    for c in candidates:
        if c.lower() in members:
            return budget.read(zf, members[c.lower()])
    # Some exporters place sources in a differently-cased or nested folder.
    tail = PurePosixPath(rel).name.lower()
    hits = [n for lo, n in members.items() if lo.endswith("/" + tail)]
    if len(hits) == 1:
        return budget.read(zf, hits[0])
    if sources_dir is not None and not ref.startswith("internal://"):
        root = Path(sources_dir).resolve()
        cand = (root / rel.lstrip("/")).resolve()
        if cand.is_relative_to(root) and cand.is_file():
            return cand.read_bytes()
    return None


def _decode(data: bytes, path: Path, doc: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise DataValidationError(
            f"`{path}`: source `{doc}` is not UTF-8 text ({err}); REFI-QDA plain-text sources must be UTF-8"
        ) from None


def _choose_line_endings(text: str, selections: list[tuple[int, int, str]], mode: str) -> str:
    if "\r\n" not in text or mode == "keep":
        return text
    norm = text.replace("\r\n", "\n")
    if mode == "normalise":
        return norm

    def same(a: str, b: str) -> bool:
        # Vendors fill the selection name with the selected text, often truncated: compare the
        # shared prefix with whitespace collapsed.
        a, b = " ".join(a.split()), " ".join(b.split())
        k = min(len(a), len(b))
        return k > 0 and a[:k] == b[:k]

    def score(t: str) -> tuple[int, int]:
        inside = sum(e <= len(t) for _, e, _ in selections)
        match = sum(same(t[s:e], n) for s, e, n in selections)
        return match, inside

    return norm if score(norm) > score(text) else text


def read_qdpx(
    path: str | Path,
    *,
    codebook: Codebook | None = None,
    on_unknown_code: Literal["error", "exclude"] = "error",
    missing_sources: Literal["error", "exclude"] = "error",
    line_endings: Literal["auto", "keep", "normalise"] = "auto",
    sources_dir: str | Path | None = None,
) -> QdaProject:
    """Import a REFI-QDA project (.qdpx) into the coded-segments contract.

    Parameters
    ----------
    path:
        The .qdpx archive.
    codebook:
        Codebook to reconcile codes against; default the project's own code book.
    on_unknown_code:
        A coding citing a code GUID missing from the code book: ``"error"`` (default) raises;
        ``"exclude"`` counts it in :attr:`QdaProject.exclusions`.
    missing_sources:
        A text source whose file is absent from the archive: ``"error"`` raises; ``"exclude"``
        counts its codings as excluded.
    line_endings:
        ``"auto"`` (see module notes), ``"keep"`` CR LF as two positions, ``"normalise"`` to LF.
    sources_dir:
        Folder holding sources stored outside the archive (``relative://`` references, large
        files some tools keep external). Never read unless given; paths may not leave it.

    Returns
    -------
    QdaProject
        ``.segments`` (document_id = source name, participant_id/role/site from the case or
        source variables named participant_id/role/site, coder = user name), ``.codebook``,
        ``.documents``, ``.exclusions``.

    Examples
    --------
    >>> from evaltool.qual import read_qdpx
    >>> # project = read_qdpx("example_data/southvale/qual/southvale.qdpx")
    >>> # project.segments.groupby("code").size()
    """
    path = Path(path)
    if not path.exists():
        raise DataValidationError(f"`{path}` does not exist")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise DataValidationError(f"`{path}` is not a zip archive; a .qdpx is a zip with project.qde and sources/") from None
    budget = _Budget(path, path.stat().st_size)
    with zf:
        big = [i.filename for i in zf.infolist() if i.file_size > MAX_MEMBER_BYTES]
        if big:  # a crafted archive can claim gigabytes from a few kilobytes: refuse before inflating
            raise DataValidationError(
                f"`{path}`: archive member(s) {big[:5]} expand beyond {MAX_MEMBER_BYTES >> 20} MiB; "
                "refusing to read (store very large media outside the project)"
            )
        qde_name = _find_qde(zf, path)
        try:
            root = parse_xml(budget.read(zf, qde_name), f"{path}:{qde_name}")
            if local(root.tag) != "Project":
                raise DataValidationError(
                    f"`{path}:{qde_name}`: expected a <Project> root element, found <{local(root.tag)[:60]}>")
            return _read_project(root, zf, path, codebook, on_unknown_code, missing_sources, line_endings,
                                 Path(sources_dir) if sources_dir is not None else None, budget)
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as err:
            raise DataValidationError(f"`{path}`: the archive is damaged ({str(err)[:120]}); re-export the "
                                      "project") from None


def _position(sel, attr: str, path: Path, name: str) -> int:
    """A selection's ``startPosition``/``endPosition`` as an int, or a message naming the selection."""
    raw = sel.get(attr)
    try:
        value = int(str(raw).strip())
    except (TypeError, ValueError):
        shown = "missing" if raw is None else f"{str(raw)[:40]!r}"
        raise DataValidationError(
            f"`{path}`: selection {str(sel.get('guid'))[:40]} in source `{name[:80]}` has {attr} {shown}; "
            "expected a whole number (a character offset). Re-export the project from the QDA software."
        ) from None
    return value


def _read_project(root, zf, path, codebook, on_unknown_code, missing_sources, line_endings,
                  sources_dir: Path | None, budget: _Budget) -> QdaProject:
    users = {_guid(u.get("guid")): (u.get("name") or u.get("id") or _guid(u.get("guid")))
             for u in iter_local(root, "User")}
    cb_elem = child(root, "CodeBook")
    codes_elem = child(cb_elem, "Codes") if cb_elem is not None else None
    own_cb = (codebook_from_refi(codes_elem, f"{path}:CodeBook", name=root.get("name", path.stem))
              if codes_elem is not None else None)
    code_by_guid = dict(zip(own_cb.codes["guid"], own_cb.codes["code"])) if own_cb is not None else {}
    variables = {_guid(v.get("guid")): (v.get("name") or "").strip().lower()
                 for v in iter_local(root, "Variable")}

    def var_values(elem) -> dict[str, str]:
        out = {}
        for vv in children(elem, "VariableValue"):
            ref = child(vv, "VariableRef")
            name = variables.get(_guid(ref.get("targetGUID"))) if ref is not None else None
            val = next((c.text for c in vv if local(c.tag) != "VariableRef"), None)
            if name and val is not None:
                out[name] = val.strip()
        return out

    case_of_source: dict[str, dict[str, str]] = {}
    cases = child(root, "Cases")
    for case in children(cases, "Case") if cases is not None else []:
        info = {"participant_id": case.get("name") or _guid(case.get("guid")), **var_values(case)}
        for sr in children(case, "SourceRef"):
            case_of_source[_guid(sr.get("targetGUID"))] = info

    rows: list[dict] = []
    docs: list[dict] = []
    texts: dict[str, str] = {}
    excl: list[dict] = []
    sources = child(root, "Sources")
    src_elems = list(sources) if sources is not None else []
    for src in src_elems:
        kind = local(src.tag)
        if kind in NON_TEXT_SOURCES:
            n = sum(1 for _ in iter_local(src, "Coding"))
            if n:
                excl.append({"reason": f"coding of a non-text source ({kind})", "n_segments": n,
                             "detail": src.get("name", "")})
            continue
        if kind != "TextSource":
            continue
        sguid = _guid(src.get("guid"))
        name = src.get("name") or sguid
        doc_id = strip_doc_extension(pd.Series([name])).iloc[0]  # D01.txt -> D01, as other importers
        sels = [(_position(s, "startPosition", path, name), _position(s, "endPosition", path, name),
                 s.get("name") or "", s) for s in children(src, "PlainTextSelection")]
        content = child(src, "PlainTextContent")
        if content is not None and content.text is not None:
            text = content.text
        else:
            ref = src.get("plainTextPath")
            data = _source_bytes(zf, ref, sources_dir, budget) if ref else None
            if data is None:
                if missing_sources == "error":
                    raise DataValidationError(
                        f"`{path}`: text source `{name}` (plainTextPath={ref!r}) is missing from the archive; "
                        "expected it under sources/. Re-export the project with its sources, or pass "
                        "missing_sources='exclude' to count its codings as excluded."
                    )
                n = sum(1 for _ in iter_local(src, "Coding"))
                excl.append({"reason": "source file missing from archive", "n_segments": n, "detail": name})
                continue
            text = _decode(data, path, name)
        text = _choose_line_endings(text, [(s, e, n) for s, e, n, _ in sels], line_endings)
        texts[doc_id] = text
        meta = {**var_values(src), **case_of_source.get(sguid, {})}
        pid = meta.get("participant_id", "")
        docs.append({"document_id": doc_id, "name": name, "n_chars": len(text), "participant_id": pid,
                     "role": meta.get("role", ""), "site": meta.get("site", "")})
        n_uncoded = 0
        for start, end, _, sel in sels:
            if start < 0 or end <= start or end > len(text):
                raise DataValidationError(
                    f"`{path}`: selection {sel.get('guid')} in source `{name}` has startPosition={start}, "
                    f"endPosition={end}; expected 0 <= start < end <= {len(text)} (the document's length "
                    "in code points, exclusive end)"
                )
            codings = children(sel, "Coding")
            if not codings:
                n_uncoded += 1
            for cod in codings:
                cref = child(cod, "CodeRef")
                cguid = _guid(cref.get("targetGUID")) if cref is not None else ""
                user = _guid(cod.get("creatingUser") or sel.get("creatingUser"))
                rows.append({"document_id": doc_id, "participant_id": pid, "role": meta.get("role", ""),
                             "site": meta.get("site", ""), "coder": users.get(user, user or "unknown"),
                             "code": code_by_guid.get(cguid), "text": text[start:end], "start": start,
                             "end": end, "scope": "span", "_guid": cguid})
        for cod in children(src, "Coding"):  # a coding of the whole source, with no text selection
            cref = child(cod, "CodeRef")
            cguid = _guid(cref.get("targetGUID")) if cref is not None else ""
            user = _guid(cod.get("creatingUser"))
            rows.append({"document_id": doc_id, "participant_id": pid, "role": meta.get("role", ""),
                         "site": meta.get("site", ""), "coder": users.get(user, user or "unknown"),
                         "code": code_by_guid.get(cguid), "text": "", "start": None, "end": None,
                         "scope": "document", "_guid": cguid})
        if n_uncoded:
            excl.append({"reason": "selection without a coding (note or quotation only)",
                         "n_segments": n_uncoded, "detail": name})

    seg = pd.DataFrame(rows, columns=["document_id", "participant_id", "role", "site", "coder", "code",
                                      "text", "start", "end", "scope", "_guid"])
    seg, _ = mark_whole_document(seg, texts)  # a selection over the whole text is a whole-document coding
    unknown_mask = seg["code"].isna()
    if unknown_mask.any():
        guids = sorted(seg.loc[unknown_mask, "_guid"].unique())
        if on_unknown_code == "error":
            raise DataValidationError(
                f"`{path}`: {int(unknown_mask.sum())} coding(s) cite code GUID(s) not in the code book: "
                f"{', '.join(guids[:10])}{' ...' if len(guids) > 10 else ''}. Expected every CodeRef "
                "targetGUID to match a <Code guid>; pass on_unknown_code='exclude' to count and skip them."
            )
        excl.append({"reason": "coding cites unknown code GUID", "n_segments": int(unknown_mask.sum()),
                     "detail": ", ".join(guids)})
        seg = seg.loc[~unknown_mask]
    seg = seg.drop(columns="_guid")
    seg[["participant_id", "role", "site"]] = seg[["participant_id", "role", "site"]].replace("", None)
    seg = validate_segments(seg.astype({"start": "Int64", "end": "Int64"}), f"{path}")
    kept, more = reconcile(seg, codebook if codebook is not None else own_cb, set(texts))
    exclusions = pd.concat([pd.DataFrame(excl, columns=EXCLUSION_COLUMNS), more], ignore_index=True) \
        if excl else more
    exclusions["n_segments"] = exclusions["n_segments"].astype("int64")
    documents = pd.DataFrame(docs, columns=["document_id", "name", "n_chars", "participant_id", "role", "site"])
    return QdaProject(kept.sort_values(["document_id", "coder", "start", "code"], kind="stable",
                                       na_position="first").reset_index(drop=True),
                      codebook if codebook is not None else own_cb, documents, exclusions, "qdpx", texts)
