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

from evaltool.errors import ExitCode

EXIT_CODES_HELP = (
    "Exit codes: 0 done; 1 data problems (validate); 2 invalid spec, data, usage or output folder (nothing "
    "written); 3 partial results (bundle written, a planned analysis failed; see --allow-partial); 4 report not "
    "rendered (results kept); 70 internal error; 130 interrupted; 143 terminated."
)

app = typer.Typer(
    name="evaltool",
    help="Evaluate integrated health and social care programmes: matched controls, difference-in-differences, "
    "PROMs/PREMs, qualitative coding and a rendered report.",
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)
console = Console(stderr=True, emoji=False, highlight=False)
out = Console(emoji=False, highlight=False)

#: At most this many lines of an error message are printed (a spec error lists one problem a line).
_MAX_LINES = 40
_MAX_LINE_CHARS = 400


def _plain(text: str) -> Text:
    """User-derived text as a Rich Text: never parsed as markup or emoji, long lines cut."""
    lines = str(text).splitlines() or [""]
    shown = [ln if len(ln) <= _MAX_LINE_CHARS else ln[:_MAX_LINE_CHARS - 3] + "..." for ln in lines[:_MAX_LINES]]
    if len(lines) > _MAX_LINES:
        shown.append(f"... and {len(lines) - _MAX_LINES} more line(s)")
    return Text("\n".join(shown))


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
    spec: Annotated[Path, typer.Argument(help="The analysis spec (YAML).", exists=False)],
    formats: Annotated[Optional[str], typer.Option("--format", "-f", help="Report formats, comma-separated: html,pdf,docx,xlsx.")] = None,
    no_report: Annotated[bool, typer.Option("--no-report", help="Write the results bundle only.")] = False,
    output_dir: Annotated[Optional[Path], typer.Option("--output-dir", "-o", help="Where <name>/ is written (default: the spec's output_dir, normally reports/).")] = None,
    allow_partial: Annotated[bool, typer.Option("--allow-partial", help="Exit 0 even if a planned analysis could not be produced (it is still printed, logged and reported).")] = False,
) -> None:
    """Run every stage of an evaluation and render its report.

    Warnings and failures are printed as they happen and recorded in results/run_log.jsonl.

    Example: [bold]evaltool run analyses/southvale.yaml --format html,pdf[/]
    """
    from evaltool.errors import DataValidationError, OutputError, SpecError
    from evaltool.pipeline import run as run_pipeline
    from evaltool.runlog import RunRecord

    fmts = tuple(f.strip() for f in formats.split(",")) if formats else None
    if fmts:
        bad = [f for f in fmts if f not in {"html", "pdf", "docx", "xlsx"}]
        if bad:
            console.print(Text(f"--format: expected html, pdf, docx or xlsx, got {', '.join(bad)}"))
            raise typer.Exit(int(ExitCode.ERROR))
    icons = {"start": ("…", "cyan"), "ok": ("✓", "green"), "skipped": ("–", "yellow"), "failed": ("✗", "red"),
             "partial": ("◐", "yellow")}

    def progress(stage: str, status: str, detail: str) -> None:
        icon, colour = icons.get(status, (" ", ""))
        console.print(Text.assemble((f"{icon} ", colour), (f"{stage:<9} ", "bold"), f"{status:<8} ", _plain(detail)))

    record = RunRecord(listeners=[_print_event])
    with _guard({SpecError: ExitCode.ERROR, DataValidationError: ExitCode.ERROR, OutputError: ExitCode.ERROR}):
        res = run_pipeline(spec, formats=fmts, render=not no_report, output_dir=output_dir, progress=progress,
                           record=record, allow_partial=True if allow_partial else None)
    table = Table(title=f"evaltool run: {res.spec.name} ({res.seconds:.1f} s)")
    table.add_column("stage")
    table.add_column("status")
    table.add_column("detail")
    for name, st in res.stages.items():
        table.add_row(name, st["status"], _plain(str(st.get("reason", f"{st.get('seconds', '')} s"))))
    out.print(table)
    out.print(Text(f"Results bundle: {res.bundle_dir}"))
    for fmt, path in res.report_files.items():
        out.print(Text(f"  {fmt}: {path}"))
    missing = res.record.failed_analyses()
    if missing:
        console.print(Text(f"{len(missing)} planned result(s) missing or incomplete"
                           f"{' (allowed: --allow-partial / allow_partial)' if res.allow_partial else ''}:",
                           style="bold yellow" if res.allow_partial else "bold red"))
        for line in _group_missing(missing):
            console.print(_plain(line))
        console.print(Text(f"Details: {res.bundle_dir / 'results' / 'run_log.jsonl'}"))
    if res.report_error:
        console.print(Text.assemble(("report not rendered", "bold red"), ": ", _plain(res.report_error)))
        console.print(Text(f"The results bundle is complete: re-render with `evaltool report {res.bundle_dir}`."))
        raise typer.Exit(int(ExitCode.RENDER_FAILED))
    if res.status != "complete" and not res.allow_partial:
        raise typer.Exit(int(ExitCode.PARTIAL))


def _group_missing(missing: list) -> list[str]:
    """One line per stage, outcome and reason: "effects care_home_admission: matched_did, event_study failed: ..."."""
    groups: dict[tuple[str, str, str], list[str]] = {}
    for a in missing:
        what = a.analysis + ("" if a.subgroup == "all" else f" by {a.subgroup}") + ("" if a.status == "failed"
                                                                                  else " (partly)")
        groups.setdefault((a.stage, a.outcome, a.reason), []).append(what)
    return [f"  - {stage} {outcome}: {', '.join(whats)}: {reason or 'not produced'}"
            for (stage, outcome, reason), whats in groups.items()]


@app.command()
def validate(spec: Annotated[Path, typer.Argument(help="The analysis spec (YAML).")]) -> None:
    """Check the spec and the input data; print the cohort flow and every problem.

    Exit 0 when the data can be analysed, 1 when problems stop the run, 2 when the spec or a file is invalid.

    Example: [bold]evaltool validate analyses/southvale.yaml[/]
    """
    from evaltool.inputs import load_inputs
    from evaltool.spec import load_spec

    from evaltool.errors import DataValidationError

    with _guard({}):
        s = load_spec(spec)
    with _guard({DataValidationError: ExitCode.PROBLEMS}):
        v = load_inputs(s)
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
    area_ok = _print_design_support(s, v)
    if not v.ok or not area_ok:
        out.print(Text(f"{len(v.errors) + (not area_ok)} problem(s) stop the run.", style="red"))
        raise typer.Exit(int(ExitCode.PROBLEMS))
    out.print(Text("The spec and data are valid.", style="green"))


def _print_design_support(s, v) -> bool:  # noqa: ANN001 - spec and validated data
    """Print which designs the data support; False when the area panel is invalid."""
    from evaltool.area.design import design_support
    from evaltool.area.panel import validate_area_panel
    from evaltool.errors import DataValidationError

    area, panel, ok = s.area, None, True
    if v.extra.get("area_panel") is not None:
        try:
            panel = validate_area_panel(v.extra["area_panel"], file=s.data.area_panel.name,
                                        outcome=area.outcome if area else None,
                                        predictors=area.predictors if area else ())
        except DataValidationError as err:
            out.print(f"[ERROR] {err}", markup=False, highlight=False)
            ok = False
    go = area.go_live if area else None
    if go is None and v.practices is not None and "go_live_date" in v.practices:
        first = v.practices["go_live_date"].dropna()
        go = first.min() if len(first) else None
    t = design_support(population=v.population, practices=v.practices, window=(s.window.start, s.window.end),
                       area_panel=panel, treated_area=area.treated_area if area else None, go_live=go,
                       min_pre_months=area.min_pre_months if area else 24, min_donors=area.min_donors if area else 5)
    tab = Table(title="Designs these data support")
    for c in ("design", "supported", "reason"):
        tab.add_column(c)
    for d, sup, why in t.itertuples(index=False):
        tab.add_row(d.replace("_", " "), "yes" if sup else "no", why)
    out.print(tab)
    return ok


@app.command("example-data")
def example_data(
    directory: Annotated[Path, typer.Argument(help="Where to write the Southvale files.")] = Path("example_data/southvale"),
    seed: Annotated[int, typer.Option(help="Random seed.")] = 20261122,
    scale: Annotated[float, typer.Option(help="Population scale (1.0 = ~166,000 people).")] = 1.0,
) -> None:
    """(Re)generate the fictional Southvale example data with known true effects.

    Example: [bold]evaltool example-data example_data/southvale --seed 20261122[/]
    """
    from evaltool.datasets.example import write_example_data

    with _guard({}):
        paths = write_example_data(directory, seed=seed, scale=scale)
    for name, p in paths.items():
        out.print(Text(f"{name}: {p}"))


@app.command()
def init(
    name: Annotated[str, typer.Argument(help="Short name of the evaluation (letters, digits, _ or -).")],
    directory: Annotated[Path, typer.Option(help="Project directory to create.")] = Path("."),
) -> None:
    """Write a commented starter spec to analyses/NAME.yaml (and a project skeleton).

    Example: [bold]evaltool init frailty_mdt[/]
    """
    from evaltool.scaffold import init_project

    try:
        paths = init_project(name, directory)
    except (ValueError, OSError) as err:
        _fail(err, ExitCode.ERROR)
    for p in paths:
        out.print(Text(f"wrote {p}"))


@app.command(epilog=EXIT_CODES_HELP)
def report(
    bundle_dir: Annotated[Path, typer.Argument(help="A saved results bundle, e.g. reports/southvale.")],
    formats: Annotated[str, typer.Option("--format", "-f", help="Comma-separated: html,pdf,docx,xlsx.")] = "html,pdf,docx,xlsx",
    engine: Annotated[str, typer.Option(help="auto, quarto or pandoc.")] = "auto",
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
    with _guard({BundleError: ExitCode.ERROR, ReportError: ExitCode.RENDER_FAILED}):
        res = render_report(bundle_dir, formats=fmts, engine=engine)
    for fmt, path in getattr(res, "paths", {}).items():
        out.print(Text(f"{fmt}: {path}"))


def main() -> None:  # pragma: no cover - console script entry
    try:
        app()
    except _Terminated:
        console.print("terminated")
        sys.exit(int(ExitCode.TERMINATED))
    except KeyboardInterrupt:
        console.print("interrupted")
        sys.exit(int(ExitCode.INTERRUPTED))


if __name__ == "__main__":  # pragma: no cover
    main()
