"""The `evaltool` command line: a thin layer over the public API.

Exit codes (:class:`evaltool.errors.ExitCode`; README "Exit codes"):

* 0 -- done: every planned analysis produced its result (or partial results were allowed);
* 1 -- ``validate``: problems in the data stop a run;
* 2 -- usage error, invalid spec, invalid input data or unusable output folder: nothing was written;
* 3 -- partial results: the bundle was written, but a planned analysis or a stage failed
  (``--allow-partial`` or the spec's ``allow_partial: true`` make this 0; the failure is still recorded);
* 4 -- the report could not be rendered; the results bundle is complete and kept;
* 70 -- an unexpected internal error (a bug); 130 -- interrupted (Ctrl-C); 143 -- terminated (SIGTERM).

User text (file names, values, messages) is never interpreted as Rich markup or emoji.

Global options go before the command: ``evaltool -v run SPEC`` (more detail), ``evaltool -q run SPEC``
(errors, warnings and the files written only), ``evaltool --version``. ``python -m evaltool`` is the
same program. Shell completion: ``evaltool --install-completion``.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from evaltool import DISTRIBUTION, __version__
from evaltool._cli_output import OUTPUT, concise_warnings, group_missing, progress_bars
from evaltool._cli_output import plain as _plain
from evaltool.errors import ExitCode

EXIT_CODES_HELP = (
    "Exit codes: 0 done; 1 data problems (validate); 2 invalid spec, data, usage or output folder (nothing "
    "written); 3 partial results (bundle written, a planned analysis failed; see --allow-partial); 4 report not "
    "rendered (results kept); 70 internal error; 130 interrupted; 143 terminated."
)

app = typer.Typer(
    name="evaltool",
    help="Evaluate integrated health and social care programmes: matched controls, difference-in-differences, "
    "PROMs/PREMs, qualitative coding and a rendered report.\n\n"
    "Start here: [bold]evaltool init my_eval[/] (a new project), [bold]evaltool check[/] (is this machine "
    "ready?), [bold]evaltool run analyses/my_eval.yaml[/].",
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=True,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)
console = OUTPUT.err = Console(stderr=True, emoji=False, highlight=False)
out = OUTPUT.out = Console(emoji=False, highlight=False)


def _conventional_help() -> None:
    """Help in the usual Unix form: ``evaltool run [OPTIONS] SPEC``, no ``<bool>`` beside flags.

    Recent typer versions print required arguments as ``{SPEC}`` and a ``<bool>`` type beside every
    flag; neither tells the reader anything. Both hooks are checked before use (older typer lacks them).
    """
    from typer import core

    orig = getattr(core.TyperOption, "display_type_rich", None)
    if orig is not None and not getattr(orig, "_evaltool", False):
        def display_type_rich(self, ctx):  # noqa: ANN001, ANN202 - typer's signature
            return None if getattr(self, "is_flag", False) else orig(self, ctx)

        display_type_rich._evaltool = True  # type: ignore[attr-defined]
        core.TyperOption.display_type_rich = display_type_rich
    if hasattr(core.TyperArgument, "_usage_display_name"):
        def _usage_display_name(self):  # noqa: ANN001, ANN202
            name = self.display_name_raw if self.required else f"[{self.display_name_raw}]"
            return name + ("..." if self.nargs != 1 else "")

        core.TyperArgument._usage_display_name = _usage_display_name


_conventional_help()


def _version(value: bool) -> None:
    if value:
        import platform

        out.print(Text(f"evaltool {__version__} ({DISTRIBUTION}; Python {platform.python_version()})"))
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[Optional[bool], typer.Option(
        "--version", "-V", callback=_version, is_eager=True, metavar="", help="Show the version and exit.")] = None,
    verbose: Annotated[int, typer.Option(
        "--verbose", "-v", count=True, metavar="", show_default=False,
        help="More detail: stage timings, where each warning came from (-vv: library notices too).")] = 0,
    quiet: Annotated[bool, typer.Option(
        "--quiet", "-q", metavar="", help="Only errors, warnings and the files written.")] = False,
) -> None:
    """Global options (before the command)."""
    OUTPUT.verbosity = -1 if quiet else verbose

def _fail(err: Exception, code: int = ExitCode.ERROR) -> None:
    console.print(Text.assemble(("error", "bold red"), f": {type(err).__name__}"))
    console.print(_plain(str(err)))
    raise typer.Exit(int(code))


class _Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: temporary folders are removed, the previous bundle is kept."""


def _on_sigterm(signum, frame) -> None:  # noqa: ANN001 - signal handler signature
    raise _Terminated()


@contextmanager
def _guard(expected: dict[type[BaseException], int]) -> Iterator[None]:
    """Map exceptions to exit codes with a one-line message; never a traceback for the user."""
    from evaltool.errors import EvaltoolError

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    except typer.Exit:
        raise
    except _Terminated:
        console.print("terminated (SIGTERM): nothing was replaced; the previous results, if any, are unchanged")
        raise typer.Exit(int(ExitCode.TERMINATED)) from None
    except KeyboardInterrupt:
        console.print("interrupted: nothing was replaced; the previous results, if any, are unchanged")
        raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
    except EvaltoolError as err:
        code = next((c for t, c in expected.items() if isinstance(err, t)), ExitCode.ERROR)
        _fail(err, code)
    except Exception as err:  # noqa: BLE001 - the last line of defence: one line, never a traceback
        from evaltool.runlog import one_line

        console.print(Text.assemble(("internal error", "bold red"), f": {type(err).__name__}: {one_line(err)}"))
        if os.environ.get("EVALTOOL_DEBUG"):
            console.print(_plain(traceback.format_exc()))
        else:
            console.print("This is a bug in evaltool; set EVALTOOL_DEBUG=1 to see the traceback, and please report it.")
        raise typer.Exit(int(ExitCode.INTERNAL)) from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


_STYLE = {"warning": ("!", "yellow"), "error": ("✗", "red")}


def _print_event(ev) -> None:  # noqa: ANN001 - evaltool.runlog.Event
    """Warnings and errors as they happen: one line each, the stage first."""
    if ev.severity == "info" or ev.code in ("stage_failed", "stage_partial", "planned_analysis_missing",
                                            "planned_analysis_partial"):
        return  # shown by the progress line or the end-of-run summary
    icon, colour = _STYLE[ev.severity]
    console.print(Text.assemble((f"{icon} ", colour), (f"{ev.stage:<9} ", "bold"), _plain(ev.line())))


@app.command(epilog=EXIT_CODES_HELP)
def run(
    spec: Annotated[Path, typer.Argument(help="The analysis spec (YAML).", metavar="SPEC")],
    formats: Annotated[Optional[str], typer.Option(
        "--format", "-f", metavar="FORMATS",
        help="Report formats, comma-separated: html,pdf,docx,xlsx (default: the spec's report.formats).")] = None,
    no_report: Annotated[bool, typer.Option("--no-report", metavar="", help="Write the results bundle only.")] = False,
    output_dir: Annotated[Optional[Path], typer.Option(
        "--output-dir", "-o", metavar="DIR",
        help="Where <name>/ is written (default: the spec's output_dir, normally reports/).")] = None,
    only: Annotated[Optional[str], typer.Option(
        "--only", metavar="STAGES",
        help="Re-run only these stages (comma-separated: matching, effects, rollout, proms, qual) and reuse the "
             "others from the saved results bundle, if it is still valid for this spec and data.")] = None,
    allow_partial: Annotated[bool, typer.Option(
        "--allow-partial", metavar="",
        help="Exit 0 even if a planned analysis could not be produced (it is still printed, logged and "
             "reported).")] = False,
    engine: Annotated[Optional[str], typer.Option(
        "--engine", "-e", metavar="ENGINE",
        help="Where data preparation runs: duckdb or spark (default: the spec's engine section, else duckdb).")] = None,
) -> None:
    """Run every stage of an evaluation and render its report.

    Warnings and failures are printed as they happen and recorded in results/run_log.jsonl.

    Examples:

    [bold]evaltool run analyses/southvale.yaml[/]

    [bold]evaltool run analyses/southvale.yaml --format html,pdf -o out[/]

    [bold]evaltool -v run analyses/southvale.yaml[/]   (stage timings, warnings' sources)

    [bold]evaltool run analyses/southvale.yaml --only proms[/]   (re-run one stage, reuse the rest)
    """
    from evaltool.errors import DataValidationError, OutputError, SpecError

    _start_helpers()
    from evaltool.pipeline import run as run_pipeline
    from evaltool.runlog import RunRecord

    _freeze_imports()
    _check_engine(engine)
    fmts = tuple(f.strip() for f in formats.split(",")) if formats else None
    if fmts:
        bad = [f for f in fmts if f not in {"html", "pdf", "docx", "xlsx"}]
        if bad:
            console.print(Text(f"--format: expected html, pdf, docx or xlsx, got {', '.join(bad)}"))
            raise typer.Exit(int(ExitCode.ERROR))
    icons = {"start": ("…", "cyan"), "ok": ("✓", "green"), "skipped": ("–", "yellow"), "failed": ("✗", "red"),
             "partial": ("◐", "yellow")}

    def progress(stage: str, status: str, detail: str) -> None:
        if OUTPUT.verbosity < 0 and status not in ("failed", "partial"):
            return
        icon, colour = icons.get(status, (" ", ""))
        console.print(Text.assemble((f"{icon} ", colour), (f"{stage:<9} ", "bold"), f"{status:<8} ", _plain(detail)))

    record = RunRecord(listeners=[_print_event])
    bars, steps = progress_bars()
    with _guard({SpecError: ExitCode.ERROR, DataValidationError: ExitCode.ERROR, OutputError: ExitCode.ERROR}), \
            concise_warnings(), bars:
        res = run_pipeline(spec, formats=fmts, render=not no_report, output_dir=output_dir, progress=progress,
                           record=record, allow_partial=True if allow_partial else None, steps=steps, only=only,
                           engine=engine)
    table = Table(title=f"evaltool run: {res.spec.name} ({res.seconds:.1f} s)")
    table.add_column("stage")
    table.add_column("status")
    table.add_column("detail")
    for name, st in res.stages.items():
        table.add_row(name, st["status"], _plain(str(st.get("reason", f"{st.get('seconds', '')} s"))))
    if OUTPUT.verbosity >= 0:
        out.print(table)
    out.print(Text(f"Results bundle: {res.bundle_dir}"))
    for fmt, path in res.report_files.items():
        out.print(Text(f"  {fmt}: {path}"))
    missing = res.record.failed_analyses()
    if missing:
        console.print(Text(f"{len(missing)} planned result(s) missing or incomplete"
                           f"{' (allowed: --allow-partial / allow_partial)' if res.allow_partial else ''}:",
                           style="bold yellow" if res.allow_partial else "bold red"))
        for line in group_missing(missing):
            console.print(_plain(line))
        console.print(Text(f"Details: {res.bundle_dir / 'results' / 'run_log.jsonl'}"))
    if res.report_error:
        console.print(Text.assemble(("report not rendered", "bold red"), ": ", _plain(res.report_error)))
        console.print(Text(f"The results bundle is complete: re-render with `evaltool report {res.bundle_dir}`."))
        raise typer.Exit(int(ExitCode.RENDER_FAILED))
    if res.status != "complete" and not res.allow_partial:
        raise typer.Exit(int(ExitCode.PARTIAL))


def _check_engine(engine: str | None) -> None:
    if engine is not None and engine not in ("duckdb", "spark"):
        from evaltool.runlog import excerpt

        console.print(Text.assemble(("--engine", "red"), ": expected duckdb or spark, got "), _plain(excerpt(engine)))
        raise typer.Exit(int(ExitCode.ERROR))


@app.command()
def validate(
    spec: Annotated[Path, typer.Argument(help="The analysis spec (YAML).", metavar="SPEC")],
    engine: Annotated[Optional[str], typer.Option(
        "--engine", "-e", metavar="ENGINE",
        help="Where data preparation runs: duckdb or spark (default: the spec's engine section, else duckdb).")] = None,
) -> None:
    """Check the spec and the input data; print the cohort flow and every problem.

    Exit 0 when the data can be analysed, 1 when problems stop the run, 2 when the spec or a file is invalid.

    Example: [bold]evaltool validate analyses/southvale.yaml[/]
    """
    from evaltool.inputs import load_inputs
    from evaltool.spec import load_spec

    from evaltool.errors import DataValidationError

    with _guard({}):
        s = load_spec(spec)
    _check_engine(engine)
    with _guard({DataValidationError: ExitCode.PROBLEMS}), concise_warnings():
        v = load_inputs(s, engine=engine)
    if s.data.person_level:
        flow = Table(title="Cohort flow")
        for c in ("step", "description", "n_remaining", "n_excluded"):
            flow.add_column(c)
        for f in v.flow:
            flow.add_row(f.step, f.description, f"{f.n_remaining:,}", f"{f.n_excluded:,}")
        out.print(flow)
    if v.problems:
        out.print(Text(f"{len(v.problems)} problem(s):", style="bold"))
        for p in v.problems:
            out.print(_plain(p.describe()))
    from evaltool._cli_design import print_design_support

    area_ok = print_design_support(s, v, out)
    if not v.ok or not area_ok:
        out.print(Text(f"{len(v.errors) + (not area_ok)} problem(s) stop the run.", style="red"))
        raise typer.Exit(int(ExitCode.PROBLEMS))
    out.print(Text("The spec and data are valid.", style="green"))


@app.command("example-data")
def example_data(
    directory: Annotated[Path, typer.Argument(help="Where to write the Southvale files.", metavar="DIR")] = Path(
        "example_data/southvale"),
    seed: Annotated[int, typer.Option(help="Random seed.", metavar="INT")] = 20261122,
    scale: Annotated[float, typer.Option(
        help="Population scale (1.0 = ~166,000 people; 0.08 = ~13,000, a one-minute run).", metavar="FLOAT",
        min=0.005, max=4.0)] = 1.0,
) -> None:
    """(Re)generate the fictional Southvale example data with known true effects.

    Examples:

    [bold]evaltool example-data example_data/southvale[/]

    [bold]evaltool example-data data --scale 0.08[/]   (small and quick, for trying things out)
    """
    from evaltool.datasets.example import write_example_data

    with _guard({}):
        paths = write_example_data(directory, seed=seed, scale=scale)
    for name, p in paths.items():
        out.print(Text(f"{name}: {p}"))


@app.command()
def init(
    name: Annotated[str, typer.Argument(help="Short name of the evaluation (letters, digits, _ or -).", metavar="NAME")],
    directory: Annotated[Optional[Path], typer.Option(
        help="Project directory to create (default: ./NAME).", metavar="DIR")] = None,
) -> None:
    """Start a new evaluation project (NHS RAP Silver): spec, README, pinned requirements, tests, CI, git.

    Writes NAME/ with analyses/NAME.yaml (a commented starter spec), README.md (install and run steps),
    requirements.txt (exact versions), tests/ (a re-run on synthetic data), a CI workflow, a QA
    checklist and a run log, then makes the first git commit.

    Example: [bold]evaltool init frailty_mdt && cd frailty_mdt[/]
    """
    from evaltool.scaffold import init_project

    try:
        res = init_project(name, directory)
    except (ValueError, OSError) as err:
        _fail(err, ExitCode.ERROR)
    for p in res.written:
        out.print(Text(f"wrote {p}"))
    if res.commit:
        out.print(Text(f"git: first commit {res.commit}"))
    for note in res.notes:
        console.print(Text(f"note: {note}"))
    out.print(Text.assemble("\nNext: ", (f"cd {res.root}", "bold"),
                            " and follow README.md (install, try it on synthetic data, run the tests)."))


@app.command(epilog=EXIT_CODES_HELP)
def report(
    bundle_dir: Annotated[Path, typer.Argument(help="A saved results bundle, e.g. reports/southvale.", metavar="BUNDLE")],
    formats: Annotated[str, typer.Option(
        "--format", "-f", metavar="FORMATS", help="Comma-separated: html,pdf,docx,xlsx.")] = "html,pdf,docx,xlsx",
    engine: Annotated[str, typer.Option(help="auto, quarto or pandoc.", metavar="ENGINE")] = "auto",
) -> None:
    """Re-render the report from a saved results bundle without recomputing.

    Example: [bold]evaltool report reports/southvale --format html,pdf,docx[/]
    """
    from evaltool.errors import BundleError, ReportError
    from evaltool.report import render_report

    fmts = tuple(f.strip() for f in formats.split(","))
    bad = [f for f in fmts if f not in {"html", "pdf", "docx", "xlsx"}]
    if bad or engine not in ("auto", "quarto", "pandoc"):
        console.print(Text(f"--format: expected html, pdf, docx or xlsx, got {', '.join(bad)}" if bad
                           else f"--engine: expected auto, quarto or pandoc, got {engine}"))
        raise typer.Exit(int(ExitCode.ERROR))
    with _guard({BundleError: ExitCode.ERROR, ReportError: ExitCode.RENDER_FAILED}), concise_warnings():
        res = render_report(bundle_dir, formats=fmts, engine=engine)
    for w in getattr(res, "warnings", ()):  # also in report_source/render.json
        console.print(Text.assemble(("! ", "yellow"), (f"{'report':<9} ", "bold"), _plain(w)))
    for fmt, path in getattr(res, "paths", {}).items():
        out.print(Text(f"{fmt}: {path}"))


@app.command("check-publish")
def check_publish_cmd(
    path: Annotated[Path, typer.Argument(help="A rendered report folder (e.g. reports/southvale) or one report file.")],
    ids: Annotated[Optional[Path], typer.Option("--ids", help="A file of person identifiers to search for, one per line "
                                                               "(default: the inputs named in the manifest, or the bundle's "
                                                               "keyed hashes).")] = None,
    list_cells: Annotated[bool, typer.Option("--list-cells", help="List every suppressed cell with its rule.")] = False,
) -> None:
    """Audit a rendered report before release: person identifiers, small counts, suppressed cells published,
    exact percentages of small bases. Exit 0 when it passes, 1 on any finding, 2 on a usage error.

    Example: [bold]evaltool check-publish reports/southvale --list-cells[/]
    """
    from evaltool.errors import EvaltoolError
    from evaltool.report.check import check_publish

    try:
        id_values = None
        if ids is not None:
            if not ids.is_file():
                raise FileNotFoundError(f"--ids: `{ids}` is not a file")
            id_values = [ln.split(",")[0].strip() for ln in ids.read_text(encoding="utf-8-sig").splitlines() if ln.strip()]
        res = check_publish(path, ids=id_values)
    except (EvaltoolError, OSError) as err:
        _fail(err, 2)
    sup = res.suppressed
    if len(sup):
        t = Table(title=f"Suppressed cells: {len(sup):,}")
        for c in ("table", "primary", "secondary", "derived", "rule"):
            t.add_column(c)
        for (name, rule), g in sup.groupby(["table", "rule"], sort=False):
            k = g["kind"].value_counts()
            t.add_row(name, str(k.get("primary", 0)), str(k.get("secondary", 0)), str(k.get("derived", 0)), rule)
        out.print(t)
        if list_cells:
            for r in sup.itertuples(index=False):
                out.print(f"{r.table} row {r.row} {r.column}: {r.kind} ({r.rule}) {r.reason}", markup=False, highlight=False)
    for n in res.notes:
        out.print(f"note: {n}", markup=False, highlight=False)
    out.print(f"Checked {', '.join(res.files)}; identifiers searched: {res.n_identifiers:,} ({res.identifier_source}).",
              markup=False, highlight=False)
    if res.findings:
        for f in res.findings:
            out.print(f.describe(), markup=False, highlight=False)
        out.print(f"[bold red]{len(res.findings)} finding(s): do not publish.[/]")
        raise typer.Exit(1)
    out.print("[green]Passed: no identifiers, small counts or exact percentages of small bases found.[/]")


@app.command("log")
def log_(
    bundle_dir: Annotated[Path, typer.Argument(help="A saved results bundle, e.g. reports/southvale.", metavar="BUNDLE")],
    all_events: Annotated[bool, typer.Option("--all", "-a", metavar="",
                                             help="Every event, including progress and counts.")] = False,
) -> None:
    """Show a run's log: its warnings and errors (--all: every event) and each planned analysis.

    Reads results/run_log.jsonl (also written as results/run_log.txt).

    Example: [bold]evaltool log reports/southvale[/]
    """
    from evaltool.run_log_text import read_run_log_text

    path = bundle_dir / "results" / "run_log.jsonl"
    if not path.exists():
        console.print(Text(f"{path}: not found (is {bundle_dir} a results bundle from evaltool run?)"))
        raise typer.Exit(int(ExitCode.ERROR))
    with _guard({}):
        text = read_run_log_text(bundle_dir, min_severity="info" if all_events or OUTPUT.verbosity > 0 else "warning")
    out.print(Text(text))


@app.command()
def check(
    no_r: Annotated[bool, typer.Option("--no-r", metavar="", help="Skip the R check (it starts R).")] = False,
) -> None:
    """Check this machine: Python, dependencies, DuckDB, pandoc, Typst, Quarto, fonts, Chromium, R.

    Exit 0 when everything a run needs is present (optional tools may be missing), 1 otherwise.

    Example: [bold]evaltool check[/]
    """
    from evaltool.envcheck import check_environment, required_ok

    checks = check_environment(include_r=not no_r)
    table = Table(title=f"evaltool {__version__}: environment check", show_lines=False)
    for c in ("check", "status", "found", "for"):
        table.add_column(c, overflow="fold")
    style = {"ok": "[green]ok[/]", "warn": "[yellow]warn[/]", "missing": "[red]missing[/]"}
    for c in checks:
        status = style[c.status] if c.required or c.status != "missing" else "[yellow]absent[/]"
        table.add_row(c.name + ("" if c.required else " (optional)"), status, Text(c.found), c.purpose)
    out.print(table)
    for c in checks:
        if c.fix and not c.ok:
            out.print(Text.assemble((c.name, "bold"), f": {c.fix}"))
    if not required_ok(checks):
        out.print(Text("Something a run needs is missing (above).", style="red"))
        raise typer.Exit(int(ExitCode.PROBLEMS))
    out.print(Text("Ready: everything a run needs is here.", style="green"))


@app.command()
def schema(
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", metavar="FILE", help="Write to FILE instead of printing.")] = None,
) -> None:
    """Print the analysis spec's JSON Schema (for editor completion and validation of YAML specs).

    Point your editor's YAML support at it, e.g. a first line
    [bold]# yaml-language-server: $schema=../spec.schema.json[/] in the spec.

    Example: [bold]evaltool schema -o spec.schema.json[/]
    """
    from evaltool.schema import schema_text

    text = schema_text()
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        out.print(Text(f"wrote {output}"))


_CONSOLE = False  # True in the `evaltool` command's own process (main()), not when the app is called in-process


def _start_helpers() -> None:
    """In the command's own process, the helper processes started before the pipeline is imported: their
    imports (about 3 s of one core) then use the core this process leaves idle while it imports, instead of
    competing with the reading of the inputs. A run that stops before giving them work does not wait for
    them (:func:`evaltool.figure_workers.shutdown`). Inside another program they start with the run."""
    if _CONSOLE:
        from evaltool import figure_workers
        from evaltool.helper_fork import PRELOAD

        figure_workers.start(preload=PRELOAD)


def _freeze_imports() -> None:
    """In the command's own process, the imports settled (:func:`evaltool._memory.settle_imports`): not done
    when the app is called inside another program (a test, a notebook), whose objects and garbage collector
    are not the command's to change."""
    if _CONSOLE:
        from evaltool._memory import settle_imports

        settle_imports()


def main() -> None:  # pragma: no cover - console script entry
    global _CONSOLE
    _CONSOLE = True
    try:
        try:
            app()
        except _Terminated:
            console.print("terminated")
            sys.exit(int(ExitCode.TERMINATED))
        except KeyboardInterrupt:
            console.print("interrupted")
            sys.exit(int(ExitCode.INTERRUPTED))
    except SystemExit as done:
        _exit_now(done.code)
    _exit_now(0)


def _exit_now(code: object) -> None:  # pragma: no cover - console script entry (tests/test_cli_exit.py)
    """End the command once everything is written: the exit handlers run (helpers stopped, logs flushed),
    then the process ends without tearing down every module and object one by one (about a second after a
    Southvale run, all of it memory the system frees at once). Every output was written and closed by then
    (atomically, by the commands themselves), and the engine's connection closed by the run."""
    import atexit

    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:  # sys.exit("message"): printed, status 1, as Python does
        sys.stderr.write(f"{code}\n")
        status = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more can be said on it
            pass
    os._exit(status)


if __name__ == "__main__":  # pragma: no cover
    main()
