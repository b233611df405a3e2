"""The `evaltool` command line: a thin layer over the public API.

Exit codes: 0 ok; 1 problems found (invalid data in `validate`, a stage failed in `run`, a required
tool missing in `check`); 2 usage error, invalid spec or an error that stopped the run.

Global options go before the command: ``evaltool -v run SPEC`` (more detail), ``evaltool -q run SPEC``
(errors, warnings and the files written only), ``evaltool --version``. ``python -m evaltool`` is the
same program. Shell completion: ``evaltool --install-completion``.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from evaltool import DISTRIBUTION, __version__
from evaltool._cli_output import OUTPUT, concise_warnings

app = typer.Typer(
    name="evaltool",
    help="Evaluate integrated health and social care programmes: matched controls, difference-in-differences, "
    "PROMs/PREMs, qualitative coding and a rendered report.\n\n"
    "Start here: [bold]evaltool init my_eval[/] (a new project), [bold]evaltool check[/] (is this machine "
    "ready?), [bold]evaltool run analyses/my_eval.yaml[/].",
    no_args_is_help=True,
    add_completion=True,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)
console = OUTPUT.err
out = OUTPUT.out


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

        out.print(f"evaltool {__version__} ({DISTRIBUTION}; Python {platform.python_version()})", highlight=False)
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[Optional[bool], typer.Option(
        "--version", "-V", callback=_version, is_eager=True, metavar="", help="Show the version and exit.")] = None,
    verbose: Annotated[int, typer.Option(
        "--verbose", "-v", count=True, metavar="", show_default=False,
        help="More detail: stage timings, where each warning came from (-vv: library warnings too).")] = 0,
    quiet: Annotated[bool, typer.Option(
        "--quiet", "-q", metavar="", help="Only errors, warnings and the files written.")] = False,
) -> None:
    """Global options (before the command)."""
    OUTPUT.verbosity = -1 if quiet else verbose


def _fail(err: Exception, code: int = 2) -> None:
    console.print(f"[bold red]error[/]: {type(err).__name__}", highlight=False)
    console.print(str(err), markup=False, highlight=False)
    raise typer.Exit(code)


@app.command()
def run(
    spec: Annotated[Path, typer.Argument(help="The analysis spec (YAML).", metavar="SPEC")],
    formats: Annotated[Optional[str], typer.Option(
        "--format", "-f", metavar="FORMATS",
        help="Report formats, comma-separated: html,pdf,docx,xlsx (default: the spec's report.formats).")] = None,
    no_report: Annotated[bool, typer.Option("--no-report", metavar="", help="Write the results bundle only.")] = False,
    output_dir: Annotated[Optional[Path], typer.Option(
        "--output-dir", "-o", metavar="DIR",
        help="Where <name>/ is written (default: the spec's output_dir, normally reports/).")] = None,
) -> None:
    """Run every stage of an evaluation and render its report.

    Examples:

    [bold]evaltool run analyses/southvale.yaml[/]

    [bold]evaltool run analyses/southvale.yaml --format html,pdf -o out[/]

    [bold]evaltool -v run analyses/southvale.yaml[/]   (stage timings, warnings' sources)
    """
    from evaltool.errors import EvaltoolError
    from evaltool.pipeline import run as run_pipeline

    fmts = tuple(f.strip() for f in formats.split(",")) if formats else None
    if fmts:
        bad = [f for f in fmts if f not in {"html", "pdf", "docx", "xlsx"}]
        if bad:
            console.print(f"[red]--format[/]: expected html, pdf, docx or xlsx, got {', '.join(bad)}")
            raise typer.Exit(2)
    icons = {"start": "[cyan]…[/]", "ok": "[green]✓[/]", "skipped": "[yellow]–[/]", "failed": "[red]✗[/]"}

    def progress(stage: str, status: str, detail: str) -> None:
        if OUTPUT.verbosity >= 0 or status == "failed":
            console.print(f"{icons.get(status, ' ')} [bold]{stage:<9}[/] {status:<8} {detail}", highlight=False)

    try:
        with concise_warnings():
            res = run_pipeline(spec, formats=fmts, render=not no_report, output_dir=output_dir, progress=progress)
    except EvaltoolError as err:
        _fail(err)
    table = Table(title=f"evaltool run: {res.spec.name} ({res.seconds:.1f} s)")
    table.add_column("stage")
    table.add_column("status")
    table.add_column("detail")
    for name, st in res.stages.items():
        table.add_row(name, st["status"], str(st.get("reason", f"{st.get('seconds', '')} s")))
    if OUTPUT.verbosity >= 0:
        out.print(table)
    out.print(f"Results bundle: {res.bundle_dir}")
    for fmt, path in res.report_files.items():
        out.print(f"  {fmt}: {path}")
    if any(st["status"] == "failed" for st in res.stages.values()):
        raise typer.Exit(1)


@app.command()
def validate(spec: Annotated[Path, typer.Argument(help="The analysis spec (YAML).", metavar="SPEC")]) -> None:
    """Check the spec and the input data; print the cohort flow and every problem.

    Exit 0 when the data can be analysed, 1 when problems stop the run, 2 when the spec is invalid.

    Example: [bold]evaltool validate analyses/southvale.yaml[/]
    """
    from evaltool.errors import EvaltoolError, SpecError
    from evaltool.inputs import load_inputs
    from evaltool.spec import load_spec

    try:
        s = load_spec(spec)
    except SpecError as err:
        _fail(err, 2)
    try:
        with concise_warnings():
            v = load_inputs(s)
    except EvaltoolError as err:
        _fail(err, 1)
    flow = Table(title="Cohort flow")
    for c in ("step", "description", "n_remaining", "n_excluded"):
        flow.add_column(c)
    for f in v.flow:
        flow.add_row(f.step, f.description, f"{f.n_remaining:,}", f"{f.n_excluded:,}")
    out.print(flow)
    if v.problems:
        out.print(f"[bold]{len(v.problems)} problem(s)[/]:")
        for p in v.problems:
            out.print(p.describe(), markup=False, highlight=False)
    if not v.ok:
        out.print(f"[red]{len(v.errors)} problem(s) stop the run.[/]")
        raise typer.Exit(1)
    out.print("[green]The spec and data are valid.[/]")


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

    paths = write_example_data(directory, seed=seed, scale=scale)
    for name, p in paths.items():
        out.print(f"{name}: {p}")


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
    except (ValueError, FileExistsError) as err:
        _fail(err, 2)
    for p in res.written:
        out.print(f"wrote {p}", highlight=False)
    if res.commit:
        out.print(f"git: first commit {res.commit}", highlight=False)
    for note in res.notes:
        console.print(f"note: {note}", highlight=False)
    out.print(f"\nNext: [bold]cd {res.root}[/] and follow README.md (install, try it on synthetic data, run the tests).",
              highlight=False)


@app.command()
def report(
    bundle_dir: Annotated[Path, typer.Argument(help="A saved results bundle, e.g. reports/southvale.", metavar="BUNDLE")],
    formats: Annotated[str, typer.Option(
        "--format", "-f", metavar="FORMATS", help="Comma-separated: html,pdf,docx,xlsx.")] = "html,pdf,docx,xlsx",
    engine: Annotated[str, typer.Option(help="auto, quarto or pandoc.", metavar="ENGINE")] = "auto",
) -> None:
    """Re-render the report from a saved results bundle without recomputing.

    Example: [bold]evaltool report reports/southvale --format html,pdf,docx[/]
    """
    from evaltool.errors import EvaltoolError
    from evaltool.report import render_report

    fmts = tuple(f.strip() for f in formats.split(","))
    try:
        with concise_warnings():
            res = render_report(bundle_dir, formats=fmts, engine=engine)
    except EvaltoolError as err:
        _fail(err)
    for fmt, path in getattr(res, "paths", {}).items():
        out.print(f"{fmt}: {path}")


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
        table.add_row(c.name + ("" if c.required else " (optional)"), status, c.found, c.purpose)
    out.print(table)
    for c in checks:
        if c.fix and not c.ok:
            out.print(f"[bold]{c.name}[/]: {c.fix}", highlight=False)
    if not required_ok(checks):
        out.print("[red]Something a run needs is missing (above).[/]")
        raise typer.Exit(1)
    out.print("[green]Ready: everything a run needs is here.[/]")


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
        out.print(f"wrote {output}")


def main() -> None:  # pragma: no cover - console script entry
    try:
        app()
    except KeyboardInterrupt:
        console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
