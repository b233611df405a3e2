"""The `evaltool` command line: a thin layer over the public API.

Exit codes: 0 ok; 1 problems found (invalid data in `validate`, a stage failed in `run`);
2 usage error, invalid spec or an error that stopped the run.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    name="evaltool",
    help="Evaluate integrated health and social care programmes: matched controls, difference-in-differences, "
    "PROMs/PREMs, qualitative coding and a rendered report.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)
console = Console(stderr=True)
out = Console()


def _fail(err: Exception, code: int = 2) -> None:
    console.print(f"[bold red]error[/]: {type(err).__name__}", highlight=False)
    console.print(str(err), markup=False, highlight=False)
    raise typer.Exit(code)


@app.command()
def run(
    spec: Annotated[Path, typer.Argument(help="The analysis spec (YAML).", exists=False)],
    formats: Annotated[Optional[str], typer.Option("--format", "-f", help="Report formats, comma-separated: html,pdf,docx,xlsx.")] = None,
    no_report: Annotated[bool, typer.Option("--no-report", help="Write the results bundle only.")] = False,
    output_dir: Annotated[Optional[Path], typer.Option("--output-dir", "-o", help="Where <name>/ is written (default: the spec's output_dir, normally reports/).")] = None,
) -> None:
    """Run every stage of an evaluation and render its report.

    Example: [bold]evaltool run analyses/southvale.yaml --format html,pdf[/]
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
        console.print(f"{icons.get(status, ' ')} [bold]{stage:<9}[/] {status:<8} {detail}", highlight=False)

    try:
        res = run_pipeline(spec, formats=fmts, render=not no_report, output_dir=output_dir, progress=progress)
    except EvaltoolError as err:
        _fail(err)
    table = Table(title=f"evaltool run: {res.spec.name} ({res.seconds:.1f} s)")
    table.add_column("stage")
    table.add_column("status")
    table.add_column("detail")
    for name, st in res.stages.items():
        table.add_row(name, st["status"], str(st.get("reason", f"{st.get('seconds', '')} s")))
    out.print(table)
    out.print(f"Results bundle: {res.bundle_dir}")
    for fmt, path in res.report_files.items():
        out.print(f"  {fmt}: {path}")
    if any(st["status"] == "failed" for st in res.stages.values()):
        raise typer.Exit(1)


@app.command()
def validate(spec: Annotated[Path, typer.Argument(help="The analysis spec (YAML).")]) -> None:
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
    directory: Annotated[Path, typer.Argument(help="Where to write the Southvale files.")] = Path("example_data/southvale"),
    seed: Annotated[int, typer.Option(help="Random seed.")] = 20261122,
    scale: Annotated[float, typer.Option(help="Population scale (1.0 = ~166,000 people).")] = 1.0,
) -> None:
    """(Re)generate the fictional Southvale example data with known true effects.

    Example: [bold]evaltool example-data example_data/southvale --seed 20261122[/]
    """
    from evaltool.datasets.example import write_example_data

    paths = write_example_data(directory, seed=seed, scale=scale)
    for name, p in paths.items():
        out.print(f"{name}: {p}")


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
    except (ValueError, FileExistsError) as err:
        _fail(err, 2)
    for p in paths:
        out.print(f"wrote {p}")


@app.command()
def report(
    bundle_dir: Annotated[Path, typer.Argument(help="A saved results bundle, e.g. reports/southvale.")],
    formats: Annotated[str, typer.Option("--format", "-f", help="Comma-separated: html,pdf,docx,xlsx.")] = "html,pdf,docx,xlsx",
    engine: Annotated[str, typer.Option(help="auto, quarto or pandoc.")] = "auto",
) -> None:
    """Re-render the report from a saved results bundle without recomputing.

    Example: [bold]evaltool report reports/southvale --format html,pdf,docx[/]
    """
    from evaltool.errors import EvaltoolError
    from evaltool.report import render_report

    fmts = tuple(f.strip() for f in formats.split(","))
    try:
        res = render_report(bundle_dir, formats=fmts, engine=engine)
    except EvaltoolError as err:
        _fail(err)
    for fmt, path in getattr(res, "paths", {}).items():
        out.print(f"{fmt}: {path}")


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


def main() -> None:  # pragma: no cover - console script entry
    try:
        app()
    except KeyboardInterrupt:
        console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
