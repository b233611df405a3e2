"""Render a saved results bundle: the report, the technical appendix and the workbook.

``render_report(bundle_dir)`` reads only the bundle. It builds two Quarto documents from the
report sections (:mod:`evaltool.report.sections`) -- the programme-team report and the separate
technical appendix -- keeps them with their figures, brand and styles in
``<bundle>/report_source/`` (so an analyst can edit ``report.qmd`` and run ``quarto render``
there unchanged), then renders them with ``quarto render`` when Quarto is on PATH (and ``engine``
allows), otherwise with pandoc from the ``pypandoc-binary`` wheel (HTML, Word) and Typst from
the ``typst`` wheel (PDF). ``filters/crossref.lua`` gives plain pandoc Quarto's numbering and
cross-references.

Outputs: ``report.{html,pdf,docx}``, ``appendix.{html,pdf,docx}`` and ``report_tables.xlsx``.

Reproducibility: the only time shown is ``manifest.created``; DOCX/PDF metadata and the
workbook's zip entries take the same time, so re-rendering a saved bundle gives the same files.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from evaltool import figure_workers
from evaltool._result import ResultMixin, Summary
from evaltool.errors import ReportError
from evaltool.report.brand import Brand, load_brand
from evaltool.report.bundle_io import Bundle, load_bundle
from evaltool.report.context import ReportContext, Section, write_figures
from evaltool.report.escape import escape_markdown, yaml_markdown_string
from evaltool.report.evidence import assess
from evaltool.report.gate import published
from evaltool.report.labels import bundle_outcome_labels, glossary_entries, run_labels
from evaltool.report.narrative import NARRATIVE_KEYS, read_narrative
from evaltool.report.run_record import read_run_record
from evaltool.report.typst_pdf import compile_pdf

__all__ = ["FORMATS", "ReportResult", "build_documents", "load_bundle", "render_report"]

FORMATS = ("html", "pdf", "docx", "xlsx")
OUTPUT_NAMES = {"html": "report.html", "pdf": "report.pdf", "docx": "report.docx", "xlsx": "report_tables.xlsx"}
APPENDIX_NAMES = {"html": "appendix.html", "pdf": "appendix.pdf", "docx": "appendix.docx"}
SOURCE_DIR = "report_source"
#: Where a run copies the spec's report materials (brand, narrative, reference document) in the bundle.
MATERIALS_DIR = "report_inputs"
_HERE = Path(__file__).parent
ASSETS = _HERE / "assets"
FILTER = _HERE / "filters" / "crossref.lua"


@dataclass(frozen=True)
class ReportResult(ResultMixin):
    """What :func:`render_report` wrote.

    Attributes
    ----------
    paths : dict
        Format -> report path (``appendix_<format>`` for the appendix documents).
    seconds : dict
        Format -> render time in seconds (wall clock).
    engine : str
        ``"quarto"`` or ``"pandoc"``.
    hidden_cells : int
        Table cells hidden by disclosure control.
    warnings : tuple of str
    """

    paths: dict[str, Path]
    seconds: dict[str, float]
    engine: str
    hidden_cells: int = 0
    warnings: tuple[str, ...] = field(default=())

    def summary(self) -> Summary:
        lines = [("engine", self.engine), ("cells hidden (disclosure)", str(self.hidden_cells))]
        lines += [(f, f"{p} ({self.seconds.get(f, float('nan')):.2f} s)") for f, p in self.paths.items()]
        lines += [("warning", w) for w in self.warnings]
        return Summary(title="Report rendered", lines=tuple(lines))

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"format": list(self.paths), "path": [str(p) for p in self.paths.values()],
                             "seconds": [self.seconds.get(f) for f in self.paths]})

    def to_dict(self) -> dict[str, Any]:
        return {"paths": {k: str(v) for k, v in self.paths.items()}, "seconds": dict(self.seconds),
                "engine": self.engine, "hidden_cells": self.hidden_cells, "warnings": list(self.warnings)}

    def plot(self):
        """Render time by format (a bar chart)."""
        from plotnine import aes, coord_flip, geom_col, ggplot, labs

        from evaltool.plotting import NHS_BLUE, theme_evaltool

        return (ggplot(self.to_frame(), aes("format", "seconds")) + geom_col(fill=NHS_BLUE) + coord_flip()
                + labs(x="", y="seconds") + theme_evaltool())


# ---------------------------------------------------------------------------------------------
# materials (brand, narrative) from the bundle


def _inside(root: Path, rel: str, what: str) -> Path:
    from evaltool.report.bundle_io import _inside as inside

    return inside(root, str(rel), f"`manifest.report.materials.{what}`")


def _materials(bundle: Bundle) -> dict[str, Any]:
    mat = ((bundle.manifest.get("report") or {}).get("materials") or {})
    return mat if isinstance(mat, dict) else {}


def _brand(bundle: Bundle) -> Brand:
    rel = _materials(bundle).get("brand")
    return load_brand(_inside(bundle.root, rel, "brand") if rel else None)


def _narrative(bundle: Bundle) -> tuple[dict[str, str], Path | None]:
    mat = _materials(bundle)
    out: dict[str, str] = {}
    for k, rel in (mat.get("narrative") or {}).items():
        if k in NARRATIVE_KEYS and rel:
            out[k] = read_narrative(_inside(bundle.root, rel, f"narrative.{k}"), level=1)
    lm = mat.get("logic_model")
    logic = _inside(bundle.root, lm, "logic_model") if lm else None
    if logic is not None and logic.suffix.lower() in (".md", ".markdown", ".txt"):
        out["logic_model"] = read_narrative(logic, level=1)
        logic = None
    if "summary" not in out and "programme" in out:
        # The key points open with the first paragraph of the programme description.
        first = out["programme"].split("\n\n")[0]
        if not first.startswith("#"):
            out["summary"] = first
    return out, logic


# ---------------------------------------------------------------------------------------------
# building the documents


def _created(m: dict[str, Any]) -> datetime:
    raw = str(m.get("created", ""))
    try:
        dt = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as err:
        raise ReportError(f"`manifest.created` must be an ISO 8601 time like 2026-11-22T16:00:00Z, found {raw!r}") from err
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def _front(title: str, subtitle: str, date: str, brand: Brand, toc_title: str = "Contents") -> str:
    org = brand.name
    lines = ["---", f"title: {yaml_markdown_string(title)}"]
    if subtitle:
        lines.append(f"subtitle: {yaml_markdown_string(subtitle)}")
    lines += [f"date: {yaml_markdown_string(date)}", "lang: en-GB"]
    if org:
        lines.append(f"author: {yaml_markdown_string(org)}")
    lines += [
        "format:",
        "  html:\n    embed-resources: true\n    number-sections: true\n    css: [report.css, brand.css]",
        "  typst:\n    papersize: a4\n    number-sections: true\n    template: report.typst",
        "  docx:\n    reference-doc: reference.docx\n    number-sections: true",
        "---", ""]
    return "\n".join(lines)


_OPENXML_TOC = (
    '<w:p><w:pPr><w:pStyle w:val="TOCHeading"/></w:pPr><w:r><w:t>Contents</w:t></w:r></w:p>'
    '<w:p><w:r><w:fldChar w:fldCharType="begin" w:dirty="true"/></w:r><w:r><w:instrText xml:space="preserve">'
    ' TOC \\o "1-2" \\h \\z \\u </w:instrText></w:r><w:r><w:fldChar w:fldCharType="separate"/></w:r><w:r><w:t>'
    'The table of contents updates when the document is opened (or press F9).</w:t></w:r><w:r>'
    '<w:fldChar w:fldCharType="end"/></w:r></w:p><w:p><w:r><w:br w:type="page"/></w:r></w:p>')


def _toc(sections: list[Section]) -> str:
    """Contents after the key points: Typst outline, a Word TOC field, an HTML list of links."""
    items = "".join(f'<li><a href="#sec-{s.key}">{escape_markdown_html(s.heading)}</a></li>'
                    for s in sections if not s.unnumbered)
    return ("```{=typst}\n#pagebreak(weak: true)\n#outline(title: [Contents], depth: 2)\n#pagebreak(weak: true)\n```\n\n"
            "```{=openxml}\n" + _OPENXML_TOC + "\n```\n\n"
            '```{=html}\n<nav id="TOC" role="doc-toc" aria-label="Contents"><h2 id="toc-title">Contents</h2><ul>'
            + items + "</ul></nav>\n```\n")


def escape_markdown_html(text: str) -> str:
    import html

    return html.escape(str(text), quote=True)


def _logo(ctx: ReportContext) -> str:
    if ctx.brand.logo is None:
        return ""
    dest = ctx.workdir / "figures" / ("logo" + ctx.brand.logo.suffix.lower())
    dest.parent.mkdir(exist_ok=True)
    shutil.copyfile(ctx.brand.logo, dest)
    # A non-breaking space after the image keeps it inline (not a numbered figure).
    return f"![{escape_markdown(ctx.brand.logo_alt)}](figures/{dest.name}){{height=\"14mm\"}}\\ \n\n"


def _assemble(sections: list[Section], *, appendix: bool, toc: bool) -> str:
    out = []
    for i, s in enumerate(sections):
        cls = " .unnumbered" if s.unnumbered else ""
        if appendix and i == 0:
            cls += " .appendix"
        out.append(f"# {escape_markdown(s.heading)} {{#sec-{s.key}{cls}}}\n\n{s.body}\n")
        if toc and i == 0:
            out.append(_toc(sections))
    return "\n".join(out)


def _glossary(text: str) -> Section | None:
    entries = glossary_entries(re.sub(r"\\(.)", r"\1", text))
    if not entries:
        return None
    body = "\n\n".join(f"**{escape_markdown(t[:1].upper() + t[1:])}.** {escape_markdown(d)}" for t, d in entries)
    return Section("glossary", "Glossary", body)


def _run_labels(bundle: Bundle) -> Any:
    """The labels of codes this run defined (coded outcomes, from ``outcome_labels``), for one render."""
    labels, units = bundle_outcome_labels(bundle.table("outcome_labels"))
    return run_labels(labels, units)


def build_documents(bundle: Bundle, workdir: Path, *, wait_figures: bool = True,
                    on_report: Callable[[str, ReportContext], None] | None = None) -> tuple[str, str, ReportContext]:
    """The report and appendix as Quarto Markdown, and the context (figures are written to ``workdir``;
    with ``wait_figures=False`` only once ``ctx.finish_figures()`` is called). ``on_report(report, ctx)``
    is called with the finished report before the appendix is written (the render starts on it)."""
    with _run_labels(bundle):
        return _build_documents(bundle, workdir, wait_figures=wait_figures, on_report=on_report)


def _build_documents(bundle: Bundle, workdir: Path, *, wait_figures: bool = True,
                     on_report: Callable[[str, ReportContext], None] | None = None) -> tuple[str, str, ReportContext]:
    from evaltool.report.sections import APPENDIX, MAIN

    workdir = Path(workdir)
    (workdir / "figures").mkdir(parents=True, exist_ok=True)
    pub = published(bundle)
    record = read_run_record(bundle)
    m = bundle.manifest
    narrative, logic = _narrative(bundle)
    ctx = ReportContext(bundle=bundle, pub=pub, record=record, evidence=assess(pub, record, m), brand=_brand(bundle),
                        workdir=workdir, narrative=narrative, logic_model=logic)
    ctx.warnings += list(ctx.brand.warnings)
    if logic is not None:
        shutil.copyfile(logic, workdir / "figures" / logic.name)
    main = [s for s in (fn(ctx) for fn in MAIN) if s is not None and s.body.strip()]
    gl = _glossary("\n".join(s.body for s in main))
    if gl is not None:
        main.append(gl)
    created = _created(m)
    date = f"{created.day} {created:%B %Y}"
    title = str(m.get("title") or m.get("name"))
    logo = _logo(ctx)
    report = _front(title, "Evaluation report", date, ctx.brand) + logo + _assemble(main, appendix=False, toc=True)
    if on_report is not None:
        on_report(report, ctx)
    ctx.document = "appendix"
    app = [s for s in (fn(ctx) for fn in APPENDIX) if s is not None and s.body.strip()]
    appendix = (_front(title, "Technical appendix", date, ctx.brand) + logo + _assemble(app, appendix=True, toc=True))
    if wait_figures:
        ctx.finish_figures()
    return report, appendix, ctx


# ---------------------------------------------------------------------------------------------
# engines


def _pandoc() -> str:
    import pypandoc

    return pypandoc.get_pandoc_path()


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> list[str]:
    """Run pandoc or Quarto; a failure is a ReportError with its cause in one line. Returns the warnings it
    printed while succeeding (:func:`_tool_warnings`), which the render passes on instead of dropping."""
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env, check=False)
    except OSError as err:
        raise ReportError(f"`{Path(cmd[0]).name}` could not be started: {err.strerror or err}") from None
    if proc.returncode != 0:
        raise ReportError(f"`{Path(cmd[0]).name}` failed (exit {proc.returncode}): {_first_error_line(proc.stderr)}")
    return _tool_warnings(Path(cmd[0]).name, proc.stderr)


def _tool_warnings(tool: str, stderr: str, limit: int = 10) -> list[str]:
    """pandoc's ``[WARNING] ...`` and Quarto's ``WARNING ...``/``WARN ...`` lines (not their continuation lines)
    as ``"<tool>: <message>"``, at most ``limit`` of them and a count of the rest (tests/test_render_warnings.py).
    """
    name = "Quarto" if tool.startswith("quarto") else tool
    found = []
    for line in (stderr or "").splitlines():
        m = re.match(r"^\s*(?:\[WARNING\]|WARNING\b|WARN\b)[:\s]*(.*)$", line)
        if m and m.group(1).strip():
            found.append(f"{name}: {m.group(1).strip()[:300]}")
    if len(found) > limit:
        found = found[:limit] + [f"{name}: ... and {len(found) - limit} more warning(s)"]
    return found


def _say_once(said: list[str], new: Iterable[str]) -> None:
    """Add the renderers' warnings to ``said`` (the render warnings), each once: the report and the appendix
    usually warn alike."""
    for w in new:
        if w not in said:
            said.append(w)


def _first_error_line(stderr: str) -> str:
    """The cause in one line, never a pandoc/Haskell backtrace (``CallStack (from HasCallStack)`` etc.)."""
    for line in (stderr or "").splitlines():
        t = line.strip()
        if t and not t.startswith(("CallStack", "error, called at", "HasCallStack", "[WARNING]")):
            return t if len(t) <= 300 else t[:297] + "..."
    return "no message"


def _pandoc_render(fmt: str, src: Path, out: Path, workdir: Path, epoch: int, brand: Brand,
                   typst: tuple[Path, list[str]] | None = None) -> list[str]:
    """Render one document; returns what pandoc and Typst warned about (:func:`_tool_warnings`, the PDF's font
    substitutions). ``typst``: the PDF's Typst source already written by :func:`_pandoc_typst` (and its warnings)."""
    env = dict(os.environ, SOURCE_DATE_EPOCH=str(epoch))
    base = _pandoc_base(src)
    if fmt == "html":
        return _run(base + ["--to", "html5", "--embed-resources", "--css", "report.css", "--css", "brand.css",
                            "--metadata", "link-citations=false", "-o", str(out)], workdir, env)
    elif fmt == "docx":
        return _run(base + ["--to", "docx", "--reference-doc", "reference.docx", "-o", str(out)], workdir, env)
    elif fmt == "pdf":
        typ, warned = typst if typst is not None else _pandoc_typst(src, workdir, epoch, brand)
        return warned + compile_pdf(typ, out, workdir, epoch, brand.font)
    raise ReportError(f"unknown format {fmt!r}")  # pragma: no cover - guarded by render_report


def _pandoc_base(src: Path) -> list[str]:
    # ``src`` is the document's Markdown, or the pandoc AST parsed from it once for all formats (.json)
    reader = "json" if src.suffix == ".json" else "markdown"
    return [_pandoc(), str(src), "--from", reader, "--lua-filter", str(FILTER), "--standalone",
            "--number-sections", "--metadata", "lang=en-GB"]


def _pandoc_typst(src: Path, workdir: Path, epoch: int, brand: Brand) -> tuple[Path, list[str]]:
    """The PDF's first half: pandoc writes the document as Typst (``<workdir>/<stem>.typ``), which needs no figure
    (the images are read when Typst compiles it), so it can be done while the figures are being drawn."""
    env = dict(os.environ, SOURCE_DATE_EPOCH=str(epoch))
    typ = workdir / (src.stem + ".typ")
    var = []
    for k, v in brand.typst_vars().items():
        var += ["-V", f"{k}={v}"]
    warned = _run(_pandoc_base(src) + ["--to", "typst", "--template", "report.typst", *var, "-o", str(typ)],
                  workdir, env)
    return typ, warned


def _pandoc_parse(src: Path, out: Path, workdir: Path) -> tuple[Path, list[str]]:
    """Parse a document's Markdown once into pandoc's AST (JSON), which each format then reads: the same
    output, byte for byte, as reading the Markdown for every format (checked for HTML, Word and Typst).
    The cross-reference filter's first pass (numbering, the same in every format) is done here, once; each
    format runs only its second pass (``filters/crossref.lua``). Returns the AST's path and pandoc's warnings."""
    return out, _run([_pandoc(), str(src), "--from", "markdown", "--lua-filter", str(FILTER), "--to", "json",
                      "-o", str(out)], workdir)


def _quarto_render(fmt: str, src: Path, out: Path, workdir: Path, epoch: int, brand: Brand) -> list[str]:
    qfmt = {"html": "html", "pdf": "typst", "docx": "docx"}[fmt]
    env = dict(os.environ, SOURCE_DATE_EPOCH=str(epoch))
    warned = _run(["quarto", "render", src.name, "--to", qfmt, "--output", out.name], workdir, env)
    produced = workdir / out.name
    if produced != out:
        os.replace(produced, out)
    return warned


def _write_source(ctx: ReportContext, work: Path, report: str) -> None:
    """The editable source: report.qmd, styles, brand, reference document (appendix.qmd is written once it
    is finished, the figures as they are drawn)."""
    (work / "report.qmd").write_text(report, encoding="utf-8")
    shutil.copyfile(ASSETS / "report.css", work / "report.css")
    (work / "brand.css").write_text(ctx.brand.css(), encoding="utf-8")
    shutil.copyfile(ASSETS / "report.typst", work / "report.typst")
    ref = _materials(ctx.bundle).get("reference_docx")
    if ref:
        shutil.copyfile(_inside(ctx.bundle.root, ref, "reference_docx"), work / "reference.docx")
    else:
        from evaltool.report._reference_docx import branded

        branded(ctx.brand, work / "reference.docx")
    if ctx.brand.source is not None:
        shutil.copyfile(ctx.brand.source, work / "_brand.yml")
        if ctx.brand.logo is not None and ctx.brand.logo.parent == ctx.brand.source.parent:
            dest = work / ctx.brand.logo.relative_to(ctx.brand.source.parent)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(ctx.brand.logo, dest)
    (work / "README.md").write_text(
        "# Report source\n\nThe evaltool report as Quarto documents. Edit `report.qmd` or `appendix.qmd` and run\n"
        "`quarto render report.qmd` here (styles: `report.css`, `brand.css`, `report.typst`, `reference.docx`;\n"
        "brand: `_brand.yml`). Numbers in it came through disclosure control: keep them as they are.\n",
        encoding="utf-8")


def render_report(bundle_dir: str | Path, formats: tuple[str, ...] | list[str] = FORMATS, *,
                  engine: Literal["auto", "quarto", "pandoc"] = "auto") -> ReportResult:
    """Render the report, the technical appendix and the workbook of a saved results bundle.

    Parameters
    ----------
    bundle_dir : path
        A results bundle (``results/manifest.json``, ``results/*.csv``, ``figures/*.png``).
    formats : sequence of {"html", "pdf", "docx", "xlsx"}
        What to write: ``report.<fmt>`` and ``appendix.<fmt>`` for html/pdf/docx, and
        ``report_tables.xlsx`` (each written to a temporary file and moved into place).
        The editable source is always kept in ``report_source/``.
    engine : {"auto", "quarto", "pandoc"}
        ``auto`` uses Quarto when ``quarto`` is on PATH, otherwise pandoc + Typst.

    Returns
    -------
    ReportResult

    Examples
    --------
    >>> res = render_report("tests/fixtures/bundle", formats=("html",))  # doctest: +SKIP
    >>> sorted(res.paths)  # doctest: +SKIP
    ['appendix_html', 'html']
    """
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ReportError(f"`formats` must be among {list(FORMATS)}, found {bad}")
    if engine not in ("auto", "quarto", "pandoc"):
        raise ReportError(f"`engine` must be 'auto', 'quarto' or 'pandoc', found {engine!r}")
    has_quarto = shutil.which("quarto") is not None
    if engine == "quarto" and not has_quarto:
        raise ReportError("`engine='quarto'` but `quarto` is not on PATH; install Quarto or use engine='pandoc'")
    used = "quarto" if (engine == "quarto" or (engine == "auto" and has_quarto)) else "pandoc"
    bundle = load_bundle(bundle_dir)
    figure_workers.start()  # figures drawn by helper processes while the sections are written
    with _run_labels(bundle):
        return _render_bundle(bundle, formats, used)


def _render_bundle(bundle: Bundle, formats: tuple[str, ...] | list[str], used: str) -> ReportResult:
    root = bundle.root.absolute()  # pandoc runs with cwd= the build folder: every path it gets is absolute
    epoch = int(_created(bundle.manifest).timestamp())
    paths: dict[str, Path] = {}
    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix=".report-build-", dir=root) as tmp, \
            ThreadPoolExecutor(max_workers=3) as pool:
        # Absolute: pandoc and Typst run with this as their working directory, so a relative bundle
        # path (`evaltool run spec.yaml -o out`) would otherwise point nowhere.
        work = Path(tmp).resolve() / SOURCE_DIR
        work.mkdir()
        t0 = time.perf_counter()
        docs = ("report", "appendix")
        jobs = {d: [] for d in docs}
        for fmt in formats:
            if fmt != "xlsx":
                for doc, names in zip(docs, (OUTPUT_NAMES, APPENDIX_NAMES)):
                    jobs[doc].append((fmt, doc, work / f"{doc}.qmd", Path(tmp) / f"out.{names[fmt]}", root / names[fmt]))
        listed = {j[4]: i for i, j in enumerate(j for fmt_jobs in zip(*jobs.values()) for j in fmt_jobs)}
        # Longest first (PDF before HTML before Word).
        cost = {"pdf": 0, "html": 1, "docx": 2}
        for d in docs:
            jobs[d].sort(key=lambda j: cost.get(j[0], 3))

        def parse(doc: str, brand: Brand) -> tuple[Path | None, list[str], tuple | None]:
            # pandoc reads the Markdown once per document, and writes the PDF's Typst source: neither needs a
            # figure, so both go on while the figures are being drawn.
            if used == "quarto" or not jobs[doc]:
                return None, [], None
            ast, warned = _pandoc_parse(work / f"{doc}.qmd", Path(tmp) / f"{doc}.json", work)
            typst = None
            if any(j[0] == "pdf" for j in jobs[doc]):
                t = time.perf_counter()
                typst = (*_pandoc_typst(ast, work, epoch, brand), time.perf_counter() - t)
            return ast, warned, typst

        def one(job, ast: Path | None, brand: Brand, typst: tuple | None):
            fmt, _, src, out, _ = job
            t = time.perf_counter()
            before = 0.0
            if used == "quarto":
                warned = _quarto_render(fmt, src, out, work, epoch, brand)
            else:
                pdf_typst = typst[:2] if typst is not None and fmt == "pdf" else None
                before = typst[2] if pdf_typst is not None else 0.0
                warned = _pandoc_render(fmt, ast or src, out, work, epoch, brand, typst=pdf_typst)
            return job, time.perf_counter() - t + before, warned

        def report_part(taken: list, brand: Brand):
            # The report parsed (and its Typst written) while its figures are drawn, then its figures written and
            # the report rendered in each format, while the appendix is being written.
            ast, warned, typst = parse("report", brand)
            write_figures(taken)
            return warned, [one(j, ast, brand, typst) for j in jobs["report"]]

        started: list = []

        def on_report(report: str, ctx: ReportContext) -> None:
            _write_source(ctx, work, report)
            started.append(pool.submit(report_part, ctx.take_figures(), ctx.brand))

        _, appendix, ctx = build_documents(bundle, work, wait_figures=False, on_report=on_report)
        (work / "appendix.qmd").write_text(appendix, encoding="utf-8")
        prep = time.perf_counter() - t0
        # The workbook needs no image: it is queued for the helpers behind the figures, so the first helper
        # done with them writes it while the other finishes its last figure and the documents render (done
        # here instead if no helper has started it by then).
        book_call = None
        if "xlsx" in formats:
            from evaltool.report.workbook import workbook_bytes

            book_call = figure_workers.call(workbook_bytes, ctx.workbook, bundle.manifest, ctx.pub.statement(),
                                            _created(bundle.manifest), ctx.brand, what="the report's workbook")
        # pandoc parses the appendix while the helpers finish the figures (this process waits, leaving them its
        # core); then the appendix is rendered.
        parsing = pool.submit(parse, "appendix", ctx.brand)
        app_ast, app_parse_warned, app_typst = parsing.result()
        ctx.finish_figures()
        rendering = [pool.submit(one, j, app_ast, ctx.brand, app_typst) for j in jobs["appendix"]]
        book = None
        if book_call is not None:
            book_call.take_back()
            data, secs = book_call.result()
            out = Path(tmp) / "out.report_tables.xlsx"
            out.write_bytes(data)
            book = (("xlsx", "report", None, out, root / OUTPUT_NAMES["xlsx"]), secs)
        report_parse_warned, rendered = started[0].result()
        rendered = sorted(rendered + [r.result() for r in rendering], key=lambda d: listed[d[0][4]])
        # Said once, in this order: pandoc's reading of the documents, the helpers' trouble, what pandoc,
        # Quarto and Typst warned about while rendering (the PDF's fonts, a resource not found).
        _say_once(ctx.warnings, app_parse_warned + report_parse_warned)
        ctx.warnings += figure_workers.take_notices()  # helper trouble: same images, more time; said
        _say_once(ctx.warnings, (w for *_, warned in rendered for w in warned))
        done = [(job, secs) for job, secs, _ in rendered]
        if book is not None:
            done.append(book)
        share = prep / max(1, len(formats))
        for (fmt, doc, _, out, final), secs in done:
            os.replace(out, final)
            key = fmt if doc == "report" else f"appendix_{fmt}"
            paths[key] = final
            seconds[key] = round(secs + (share if doc == "report" else 0), 3)
        # Keep the editable source (replacing an older one) beside the outputs.
        src_final = root / SOURCE_DIR
        for p in work.glob("*.typ"):
            p.unlink()
        if src_final.exists():
            old = root / f".{SOURCE_DIR}.old"
            shutil.rmtree(old, ignore_errors=True)
            os.replace(src_final, old)
            os.replace(work, src_final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(work, src_final)
        hidden = int(getattr(ctx.pub, "n_primary", 0) + getattr(ctx.pub, "n_secondary", 0))
    (root / SOURCE_DIR / "render.json").write_text(json.dumps({"warnings": ctx.warnings}, indent=2) + "\n",
                                                   encoding="utf-8")
    return ReportResult(paths, seconds, used, hidden, tuple(ctx.warnings))
