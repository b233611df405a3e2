"""``evaltool check-publish``: audit a rendered report before it is released.

Reads every output in a report folder (the report and the technical appendix as HTML, PDF and Word,
and ``report_tables.xlsx``; or one file given directly) and looks for:

* **person identifiers**: any value of the input id columns (``person_id``, ``respondent_id``,
  ``participant_id``, ...). They are known without the bundle holding them: from ``--ids`` (a file, one
  per line), from the input files named in ``manifest.inputs`` when they are still there and their
  SHA-256 matches, or from ``results/identifiers.json`` (keyed hashes the pipeline writes, no ids);
* **small counts**: a count of people from 1 to ``min_count - 1`` in a workbook count column, or in
  text ("3 patients", "n = 4", "2/5");
* **suppressed cells published**: a cell the publication gate suppressed that holds a number in the
  workbook (when the folder is a results bundle);
* **exact percentages**: percentages given to two or more decimal places (more precision than
  rounded counts support; ``33.33`` is one person in three);

and lists every cell the gate suppressed, with its rule. ``passed`` is True only with no finding; the
CLI exits 1 on a finding.
"""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pandas as pd

from evaltool._result import ResultMixin, Summary
from evaltool.errors import ReportError
from evaltool.identifiers import ID_COLUMNS
from evaltool.report.rules import DisclosureRules

__all__ = ["Finding", "PublishCheck", "check_publish", "identifier_digest", "scan_text"]

OUTPUTS = ("report.html", "report.pdf", "report.docx", "appendix.html", "appendix.pdf", "appendix.docx",
           "report_tables.xlsx")
_PEOPLE = (r"people|persons?|patients?|participants?|respondents?|responses?|residents?|carers?|members? of staff|"
           r"individuals?|users?|men|women|interviewees?|deaths?|service users?|clients?|pupils?|children")
_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9}
_COUNT_HEAD = re.compile(r"^(n|count|responses|admissions|registered|events.*|n_.*|.*_n|participants.*)$", re.I)
_PCT_HEAD = re.compile(r"^(pct|percent|%).*|.*(_pct|percent|%)$", re.I)


@dataclass(frozen=True)
class Finding:
    """One problem found in a published file."""

    file: str
    where: str     # "sheet!B7", "line 120"
    kind: str      # identifier | small_count | suppressed_published | exact_percentage | unreadable
    rule: str
    text: str

    def describe(self) -> str:
        return f"{self.file} {self.where}: {self.kind} ({self.rule}): {self.text}"


@dataclass(frozen=True)
class PublishCheck(ResultMixin):
    """The result of :func:`check_publish`."""

    root: Path
    files: tuple[str, ...]
    findings: tuple[Finding, ...]
    suppressed: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)
    n_identifiers: int = 0
    identifier_source: str = "none"
    notes: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return not self.findings

    def summary(self) -> Summary:
        lines = [("files", ", ".join(self.files) or "(none)"), ("findings", str(len(self.findings))),
                 ("identifiers searched", f"{self.n_identifiers:,} ({self.identifier_source})"),
                 ("suppressed cells", str(len(self.suppressed))), ("result", "passed" if self.passed else "FAILED")]
        lines += [("note", n) for n in self.notes]
        return Summary("Publication check", tuple(lines), (("findings", self.to_frame()),))

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([f.__dict__ for f in self.findings], columns=["file", "where", "kind", "rule", "text"])

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "files": list(self.files), "findings": self.to_frame().to_dict("records"),
                "n_suppressed": len(self.suppressed), "identifier_source": self.identifier_source,
                "n_identifiers": self.n_identifiers, "notes": list(self.notes)}

    def plot(self):
        from plotnine import aes, geom_col, ggplot, labs

        from evaltool.plotting import theme_evaltool

        f = self.to_frame()
        d = f.groupby("kind").size().rename("n").reset_index() if len(f) else pd.DataFrame({"kind": ["none"], "n": [0]})
        return ggplot(d, aes("kind", "n")) + geom_col() + labs(x="", y="findings") + theme_evaltool()


# ---------------------------------------------------------------------------------------------
# identifiers


def identifier_digest(value: str, key: bytes, chars: int = 64) -> str:
    """Keyed SHA-256 of one identifier, its first ``chars`` hex characters (see :mod:`evaltool.identifiers`)."""
    from evaltool.identifiers import digest

    return digest(value, key, chars)


class _Ids:
    """Identifier membership, from plain values or from keyed hashes."""

    def __init__(self, plain: set[str] | None = None, hashed: set[str] | None = None, key: bytes = b"",
                 chars: int = 64):
        self.plain = {p for p in (plain or set()) if p}
        self.hashed = hashed or set()
        self.key = key
        self.chars = chars

    def __len__(self) -> int:
        return len(self.plain) + len(self.hashed)

    def __contains__(self, token: str) -> bool:
        return token in self.plain or (bool(self.hashed)
                                       and identifier_digest(token, self.key, self.chars) in self.hashed)

    @property
    def short_numeric(self) -> int:
        return sum(1 for p in self.plain if p.isdigit() and len(p) < 6)


def _read_ids_file(path: Path) -> set[str]:
    text = path.read_text(encoding="utf-8-sig")
    return {line.split(",")[0].strip() for line in text.splitlines() if line.strip()}


def _ids_from_inputs(manifest: dict[str, Any], notes: list[str]) -> set[str]:
    out: set[str] = set()
    for name, meta in (manifest.get("inputs") or {}).items():
        p = Path(str((meta or {}).get("path", "")))
        if not p.is_file():
            continue
        want = (meta or {}).get("sha256")
        if want:
            h = hashlib.sha256(p.read_bytes()).hexdigest()
            if h != want:
                notes.append(f"input `{p}` has changed since the run (SHA-256 differs): its ids were not used")
                continue
        try:
            if p.suffix.lower() == ".parquet":
                import pyarrow.parquet as pq

                cols = [c for c in pq.read_schema(p).names if c in ID_COLUMNS]
                df = pd.read_parquet(p, columns=cols) if cols else pd.DataFrame()
            elif p.suffix.lower() in (".csv", ".txt"):
                df = pd.read_csv(p, dtype=str, usecols=lambda c: c in ID_COLUMNS)
            elif p.suffix.lower() in (".xlsx", ".xls"):
                df = pd.read_excel(p, dtype=str)
                df = df[[c for c in df.columns if c in ID_COLUMNS]]
            else:
                continue
        except (OSError, ValueError) as err:
            notes.append(f"input `{p}` could not be read for identifiers: {err}")
            continue
        for c in df.columns:
            out.update(df[c].dropna().astype(str).str.strip())
    return out


def _identifiers(root: Path, manifest: dict[str, Any] | None, ids: Iterable[str] | None,
                 notes: list[str]) -> tuple[_Ids, str]:
    if ids is not None:
        return _Ids(plain={str(x).strip() for x in ids}), "given"
    if manifest:
        plain = _ids_from_inputs(manifest, notes)
        if plain:
            return _Ids(plain=plain), "input files named in the manifest"
    hp = root / "results" / "identifiers.json"
    if hp.exists():
        try:
            data = json.loads(hp.read_text(encoding="utf-8"))
            return (_Ids(hashed=set(data["digests"]), key=bytes.fromhex(data["key"]),
                         chars=int(data.get("digest_chars", 64))), "results/identifiers.json")
        except (ValueError, KeyError) as err:
            notes.append(f"`{hp}` is not a valid identifier list: {err}")
    notes.append("no identifier list was available (no --ids, inputs moved, no results/identifiers.json): "
                 "person identifiers were not searched")
    return _Ids(), "none"


# ---------------------------------------------------------------------------------------------
# reading outputs


class _Text(HTMLParser):
    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        if tag in ("p", "br", "tr", "li", "h1", "h2", "h3", "h4", "div", "table", "figcaption"):
            self.parts.append("\n")
        if tag in ("td", "th"):
            self.parts.append(" | ")
        for k, v in attrs:
            if k in ("alt", "title", "aria-label") and v:
                self.parts.append(f"\n{v}\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def _html_text(path: Path) -> str:
    p = _Text()
    p.feed(path.read_text(encoding="utf-8", errors="replace"))
    return "".join(p.parts)


def _pdf_text(path: Path) -> str:
    exe = shutil.which("pdftotext")
    if exe:
        proc = subprocess.run([exe, "-layout", str(path), "-"], capture_output=True, text=True, check=False)
        if proc.returncode == 0:
            return proc.stdout
    try:
        from pdfminer.high_level import extract_text
    except ImportError as err:
        raise ReportError(f"cannot read `{path}`: install poppler-utils (pdftotext) or pdfminer.six") from err
    return extract_text(str(path))


def _docx_text(path: Path) -> str:
    import xml.etree.ElementTree as ET

    ns = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
    out: list[str] = []
    with zipfile.ZipFile(path) as z:
        names = [n for n in z.namelist() if re.match(r"word/(document|footnotes|header\d*|footer\d*)\.xml$", n)]
        for n in names:
            root = ET.fromstring(z.read(n))
            for para in root.iter(f"{ns}p"):
                out.append("".join(t.text or "" for t in para.iter(f"{ns}t")))
            for d in root.iter("{http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing}docPr"):
                if d.get("descr"):
                    out.append(d.get("descr"))
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# scans

_SMALL_TEXT = [
    re.compile(rf"\b([1-9]|{'|'.join(_WORDS)})\s+(?:of\s+(?:the\s+)?[\d,]+\s+|more\s+|other\s+|enrolled\s+|"
               rf"comparison\s+)?({_PEOPLE})\b", re.I),
    re.compile(r"\bn\s*=\s*([1-9])\b(?!\s*[,.]\d)", re.I),
    re.compile(r"\(([1-9]) participants?(?:,|\))", re.I),
]
_FRACTION = re.compile(r"(?<![\d./,])([0-9])\s*/\s*([0-9]{1,3})(?![\d./])")
_PCT = re.compile(r"(?<![\d.])(\d{1,3}\.\d{2,})\s*%")
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]{2,}")


def scan_text(text: str, file: str, rules: DisclosureRules, ids: _Ids | None = None) -> list[Finding]:
    """Findings in the text of one output (identifiers, small counts, exact percentages).

    Examples
    --------
    >>> [f.kind for f in scan_text("Among 3 patients, 33.33% improved.", "x", DisclosureRules())]
    ['small_count', 'exact_percentage']
    >>> scan_text("Among 10 patients (fewer than 8 responded).", "x", DisclosureRules())
    []
    """
    small = rules.min_count
    out: list[Finding] = []
    low = text.lower()

    def line_of(pos: int) -> tuple[str, str]:
        a = text.rfind("\n", 0, pos) + 1
        b = text.find("\n", pos)
        return f"line {text.count(chr(10), 0, pos) + 1}", " ".join(text[a:b if b >= 0 else len(text)].split())[:160]

    for rx in _SMALL_TEXT:
        for m in rx.finditer(text):
            raw = m.group(1).lower()
            v = _WORDS.get(raw) if not raw.isdigit() else int(raw)
            if v is None or not (0 < v < small):
                continue
            # A section number before a heading ("7 Patients' outcomes and experience") is not a count.
            line_start = text.rfind("\n", 0, m.start()) + 1
            if not text[line_start:m.start()].strip() and m.group(m.lastindex)[:1].isupper():
                continue
            # "fewer than 8 people", "1 to 4 responses" (a rule's range), "point to one person".
            before = " ".join(low[max(0, m.start() - 24):m.start()].split())
            if any(w in before[-14:] for w in ("fewer than", "less than", "under", "at least", "more than")) \
                    or before.endswith((" to", "-", "\u2013")):
                continue
            where, line = line_of(m.start())
            out.append(Finding(file, where, "small_count", f"hes: 1 to {small - 1} suppressed", line))
    for m in _FRACTION.finditer(text):
        k, n = int(m.group(1)), int(m.group(2))
        if 0 < k <= n and (k < small or n < small):
            ctx = low[max(0, m.start() - 20):m.end() + 20]
            if any(w in ctx for w in ("ci", "page", "figure", "table", "http", "date", "per ", "ratio")):
                continue
            where, line = line_of(m.start())
            out.append(Finding(file, where, "small_count", f"qual/hes: counts 1 to {small - 1}", line))
    for m in _PCT.finditer(text):
        where, line = line_of(m.start())
        out.append(Finding(file, where, "exact_percentage", "percentages from rounded counts, whole numbers",
                           f"{m.group(0)} in: {line[:140]}"))
    if ids is not None and len(ids):
        for m in _TOKEN.finditer(text):
            tok = m.group(0)
            if tok.isdigit() and len(tok) < 6:
                continue  # short numbers cannot be told from counts
            if tok in ids:
                where, _ = line_of(m.start())
                out.append(Finding(file, where, "identifier", "no person identifiers", f"identifier {tok!r} appears"))
    return out


_COUNT_LABEL = re.compile(r"^(n|number\b|count|people|participants|respondents|responses|admissions|events|"
                          r"patients|interviews|segments|valid answers|registered)", re.I)
_NON_TABLE_SHEETS = ("about", "cover", "contents", "notes")
_SUPPRESSED_MARKS = ("*", "[c]")


def _sheet_table(sheet: str, pub) -> Any:
    """The published table a workbook sheet holds (sheets are named ``Tnn_<table>``, cut to 31 characters)."""
    if pub is None:
        return None
    name = re.sub(r"^T\d{2,}_", "", sheet)
    if name in pub.tables:
        return pub.tables[name]
    cands = [n for n in pub.tables if n.startswith(name) or n[:31] == sheet[:31]]
    return pub.tables[cands[0]] if len(cands) == 1 else None


def _column_map(header: list[str], pt) -> dict[int, str]:
    """Workbook column index -> table column, through the label registry (headers are words)."""
    if pt is None:
        return {}
    from evaltool.report.labels import column_label

    by_label: dict[str, str] = {}
    for c in pt.display.columns:
        for lab in (str(c), column_label(c), column_label(c, short=True)):
            by_label.setdefault(lab.strip().lower(), c)
    return {j: by_label[h.strip().lower()] for j, h in enumerate(header) if h.strip().lower() in by_label}


def _scan_workbook(path: Path, rules: DisclosureRules, ids: _Ids | None, pub) -> list[Finding]:
    from openpyxl import load_workbook
    from openpyxl.utils import get_column_letter

    wb = load_workbook(path, data_only=True)
    out: list[Finding] = []
    fname = path.name
    for ws in wb.worksheets:
        # Row numbers as in Excel.
        numbered = [(cells[0].row, [c.value for c in cells]) for cells in ws.iter_rows() if cells and
                    hasattr(cells[0], "row")]
        by_row = dict(numbered)
        width = max((len(v) for _, v in numbered), default=0)
        rows = [by_row.get(r, [None] * width) for r in range(1, (max(by_row) if by_row else 0) + 1)]
        if ws.title.lower() in _NON_TABLE_SHEETS:
            out += scan_text("\n".join(" ".join(str(c) for c in r if c is not None) for r in rows), fname, rules, ids)
            continue
        # The workbook's layout: title in row 1, a line in row 2, headers in row 3.
        hdr_i = 2 if len(rows) >= 3 and any(c is not None for c in rows[2]) and \
            all(isinstance(c, str) for c in rows[2] if c is not None) else 0
        header = [str(c) if c is not None else "" for c in rows[hdr_i]] if rows else []
        pt = _sheet_table(ws.title, pub)
        colmap = _column_map(header, pt)
        rule_key = pt.rule if pt is not None else rules.rule_for(re.sub(r"^T\d{2,}_", "", ws.title), None)
        r = rules.count_rule(rule_key) if rule_key != "none" else None
        body = rows[hdr_i + 1:]
        # Cell-by-cell comparison with the gate only when the sheet holds the table's rows as published.
        aligned = pt is not None and len(body) == len(pt.display)
        for i, row in enumerate(body):
            excel_row = hdr_i + 2 + i
            for j, v in enumerate(row):
                head = header[j] if j < len(header) else ""
                col = colmap.get(j)
                where = f"{ws.title}!{get_column_letter(j + 1)}{excel_row}"
                number = isinstance(v, (int, float)) and not isinstance(v, bool)
                if aligned and col is not None and col in pt.hidden.columns and bool(pt.hidden[col].iloc[i]) \
                        and number:
                    why = next((c.reason for c in pt.cells if c.row == i and c.column == col), "")
                    out.append(Finding(fname, where, "suppressed_published", f"{pt.rule}: {why or 'suppressed'}",
                                       f"{head} = {v} should be suppressed"))
                    continue
                is_count = (col in pt.count_columns) if (pt is not None and col is not None) else (
                    bool(_COUNT_HEAD.match(head)) or bool(_COUNT_LABEL.match(head)))
                if r is not None and is_count and number and 0 < v < r.min_count:
                    out.append(Finding(fname, where, "small_count", f"{rule_key}: 1 to {r.min_count - 1} suppressed",
                                       f"{head} = {v:g}"))
                # "% positive", "% of participants", "percent": a percentage column ("95% CI" is not).
                pct_head = bool(_PCT_HEAD.match(col)) if col is not None else bool(
                    _PCT_HEAD.match(head) or "% of" in head)
                if r is not None and isinstance(v, float) and pct_head and abs(v * 10 - round(v * 10)) > 1e-9:
                    out.append(Finding(fname, where, "exact_percentage", "percentages from rounded counts",
                                       f"{head} = {v!r}"))
                if isinstance(v, str):
                    if v.strip() not in _SUPPRESSED_MARKS:
                        out += [Finding(fname, where, f.kind, f.rule, f.text) for f in scan_text(v, fname, rules, ids)]
                elif ids is not None and len(ids) and v is not None and not isinstance(v, float) and str(v) in ids \
                        and not (str(v).isdigit() and len(str(v)) < 6):
                    out.append(Finding(fname, where, "identifier", "no person identifiers", f"identifier {v!r}"))
    return out


def check_publish(path: str | Path, *, ids: Iterable[str] | None = None, rules: DisclosureRules | None = None) -> PublishCheck:
    """Audit a report folder (or one report file) before release.

    Parameters
    ----------
    path : path
        A report folder (a results bundle with its rendered files) or one of ``report.html``,
        ``report.pdf``, ``report.docx``, ``report_tables.xlsx``.
    ids : iterable of str, optional
        Person identifiers to search for; by default read from the inputs named in the manifest, or
        the bundle's ``results/identifiers.json``.
    rules : DisclosureRules, optional
        Defaults to the manifest's ``report.disclosure`` (or the defaults).

    Returns
    -------
    PublishCheck
    """
    p = Path(path)
    if not p.exists():
        raise ReportError(f"`{p}` does not exist: give a report folder (e.g. reports/southvale) or a report file")
    root = p if p.is_dir() else p.parent
    files = [root / f for f in OUTPUTS if (root / f).exists()] if p.is_dir() else [p]
    if p.is_file() and p.suffix.lower() not in (".html", ".pdf", ".docx", ".xlsx"):
        raise ReportError(f"`{p}`: expected a .html, .pdf, .docx or .xlsx report file")
    if not files:
        raise ReportError(f"`{p}` holds none of {', '.join(OUTPUTS)}: render the report first (`evaltool report`)")
    manifest, pub, notes = None, None, []
    mpath = root / "results" / "manifest.json"
    if mpath.exists():
        from evaltool.report.bundle_io import load_bundle
        from evaltool.report.publish import publish, rules_from_manifest

        bundle = load_bundle(root)
        manifest = bundle.manifest
        rules = rules or rules_from_manifest(manifest)
        pub = publish(bundle, rules)
        if not pub.passed:
            notes.append(f"the gate's own attack could narrow {len(pub.failures)} suppressed cells")
    else:
        notes.append("no results bundle beside the report: suppressed cells could not be listed or compared")
    rules = rules or DisclosureRules()
    idset, source = _identifiers(root, manifest, ids, notes)
    if idset.short_numeric:
        notes.append(f"{idset.short_numeric:,} identifiers are numbers under 6 digits and cannot be told apart from "
                     "counts: they were not searched")
    findings: list[Finding] = []
    for f in files:
        try:
            if f.suffix == ".xlsx":
                findings += _scan_workbook(f, rules, idset, pub)
                continue
            text = {".html": _html_text, ".pdf": _pdf_text, ".docx": _docx_text}[f.suffix.lower()](f)
        except (OSError, zipfile.BadZipFile, ValueError) as err:
            findings.append(Finding(f.name, "-", "unreadable", "every output must be checked", str(err)[:200]))
            continue
        findings += scan_text(text, f.name, rules, idset)
    if pub is not None and pub.failures:
        findings += [Finding("(bundle)", w, "recoverable", "secondary suppression", "attack narrowed this cell")
                     for w in pub.failures]
    suppressed = pub.suppressed_frame() if pub is not None else pd.DataFrame()
    return PublishCheck(root, tuple(f.name for f in files), tuple(findings), suppressed, len(idset), source,
                        tuple(notes))
