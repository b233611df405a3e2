"""Bad inputs, part 3: the area-by-month panel of an area-only evaluation (issue 10's corpus style).

A tiny area-only project (8 areas x 36 months, no person-level tables) is broken one way per case and run
through the CLI from the project folder with relative paths, as ``run`` and as ``validate``. Each case asserts
the exit code (``run``: 2, nothing written; ``validate``: 1), that the message names the file, the column and
the rows (1-based data rows: row 1 is line 2 of the CSV) and says what was expected, that no traceback is
shown and that the inputs are byte-identical afterwards.
"""
from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from _tiny_project import invoke, leftovers, snapshot

N_AREAS, MONTHS = 8, pd.date_range("2021-01-01", periods=36, freq="MS")


def write_area_project(root: Path) -> None:
    """data/area_panel.csv (area A is evaluated from 2023-01) and analyses/area.yaml."""
    rng = np.random.default_rng(3)
    rows = []
    for i in range(N_AREAS):
        aid = "A" if i == 0 else f"D{i}"
        pop = int(rng.integers(50_000, 150_000))
        for m in MONTHS:
            rows.append({"area_id": aid, "month": m.strftime("%Y-%m-%d"),
                         "events": int(rng.poisson(pop * 0.008)), "population": pop,
                         "go_live_date": "2023-01-01" if aid == "A" else ""})
    (root / "data").mkdir(parents=True)
    pd.DataFrame(rows).to_csv(root / "data" / "area_panel.csv", index=False)
    spec = {"name": "area", "title": "Area-only test", "seed": 3,
            "window": {"start": "2021-01-01", "end": "2023-12-31"},
            "data": {"area_panel": "../data/area_panel.csv"},
            "area": {"treated_area": "A", "min_pre_months": 12, "min_donors": 5, "placebo_replications": 20},
            "report": {"formats": ["html"]}}
    (root / "analyses").mkdir()
    (root / "analyses" / "area.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))


@dataclass
class Case:
    id: str
    needles: tuple[str, ...]
    setup: Callable[[Path], None]
    spec_error: bool = False  # a spec problem: exit 2 for validate too


CASES: list[Case] = []


def case(id: str, *needles: str, spec_error: bool = False):
    def deco(fn):
        CASES.append(Case(id, needles, fn, spec_error))
        return fn
    return deco


def edit_panel(root: Path, fn) -> None:
    p = root / "data" / "area_panel.csv"
    df = pd.read_csv(p, dtype=str, keep_default_na=False)
    df = fn(df)
    df.to_csv(p, index=False)


def edit_spec(root: Path, fn) -> None:
    p = root / "analyses" / "area.yaml"
    raw = yaml.safe_load(p.read_text())
    fn(raw)
    p.write_text(yaml.safe_dump(raw, sort_keys=False))


def cell(row: int, col: str, value: str):
    """Set data row ``row`` (1-based, as messages count) of ``col``."""
    def fn(df):
        df.loc[row - 1, col] = value
        return df
    return fn


@case("duplicate_area_month", "area_panel.csv: repeated (area_id, month) pairs in rows 1, 3 (2 rows in all)",
      "(e.g. 'A', 2021-01)", "one row per area and month")
def _(root):
    edit_panel(root, cell(3, "month", "2021-01-01"))


@case("negative_events", "area_panel.csv, column `events`: expected a count >= 0 in row 5 (1 row in all)",
      "(found '-3')")
def _(root):
    edit_panel(root, cell(5, "events", "-3"))


@case("fractional_events", "area_panel.csv, column `events`: expected whole numbers (counts) in rows 7, 40",
      "(found '12.5'")
def _(root):
    edit_panel(root, lambda d: cell(40, "events", "3.25")(cell(7, "events", "12.5")(d)))


@case("text_events", "column `events`: expected a count >= 0 in row 9", "(found 'n/a')")
def _(root):
    edit_panel(root, cell(9, "events", "n/a"))


@case("zero_population", "area_panel.csv, column `population`: expected a number > 0 (a rate needs the "
      "population at risk) in row 11", "(found '0')")
def _(root):
    edit_panel(root, cell(11, "population", "0"))


@case("blank_population", "column `population`: expected a number > 0", "rows 12, 13 (2 rows in all)",
      "(found blank)")
def _(root):
    edit_panel(root, lambda d: cell(13, "population", "")(cell(12, "population", "")(d)))


@case("missing_month_one_area", "area_panel.csv, column `month`: 1 area(s) lack some months between 2021-01 and "
      "2023-12", "'D2' lacks 2022-03", "every area needs every month")
def _(root):
    edit_panel(root, lambda d: d[~((d["area_id"] == "D2") & (d["month"] == "2022-03-01"))])


@case("months_not_contiguous", "area_panel.csv, column `month`: the months are not contiguous: no area has "
      "2022-06, 2022-07", "(2 month(s) missing between 2021-01 and 2023-12)")
def _(root):
    edit_panel(root, lambda d: d[~d["month"].isin(["2022-06-01", "2022-07-01"])])


@case("bad_month", "area_panel.csv, column `month`: expected dates as YYYY-MM-DD in row 4 (1 row in all)",
      "(found '2021-13-01')")
def _(root):
    edit_panel(root, cell(4, "month", "2021-13-01"))


@case("missing_events_column", "area_panel.csv: required column(s) missing: events",
      "found: area_id, month, population, go_live_date")
def _(root):
    edit_panel(root, lambda d: d.drop(columns="events"))


@case("no_population_column", "required column(s) missing: population or person_years")
def _(root):
    edit_panel(root, lambda d: d.drop(columns="population"))


@case("blank_area_id", "area_panel.csv, column `area_id`: blank area ids in row 20 (1 row in all)")
def _(root):
    edit_panel(root, cell(20, "area_id", ""))


@case("bad_go_live", "area_panel.csv, column `go_live_date`: expected YYYY-MM-DD or blank in row 2",
      "(found 'soon')")
def _(root):
    edit_panel(root, cell(2, "go_live_date", "soon"))


@case("two_go_lives", "column `go_live_date`: areas ['A'] have more than one go-live date", "give one per area")
def _(root):
    edit_panel(root, cell(3, "go_live_date", "2023-02-01"))


@case("go_live_after_panel", "area_panel.csv, column `go_live_date`: the evaluated area 'A' goes live in 2024-06, "
      "after the last month of the panel in the study window (2021-01 to 2023-12)",
      "need months both before and after go-live")
def _(root):
    edit_panel(root, lambda d: d.assign(go_live_date=d["go_live_date"].replace("2023-01-01", "2024-06-01")))


@case("no_pre_period", "the evaluated area 'A' goes live in 2021-01, on or before the first month of the panel")
def _(root):
    edit_panel(root, lambda d: d.assign(go_live_date=d["go_live_date"].replace("2023-01-01", "2021-01-01")))


@case("go_live_in_spec_outside", "area.go_live in the spec: the evaluated area 'A' goes live in 2020-06")
def _(root):
    edit_spec(root, lambda r: r["area"].update(go_live="2020-06-01"))


@case("no_go_live", "area_panel.csv, column `go_live_date`: no go-live date for the evaluated area 'A'",
      "give it on the area's rows or as area.go_live in the spec")
def _(root):
    edit_panel(root, lambda d: d.drop(columns="go_live_date"))


@case("treated_not_in_panel", "area_panel.csv, column `area_id`: the evaluated area 'a' (area.treated_area) is "
      "not in the panel (did you mean 'A'?)")
def _(root):
    edit_spec(root, lambda r: r["area"].update(treated_area="a"))


@case("too_few_donors", "area_panel.csv: none of the planned whole-area designs (sdid, did) can run",
      "7 comparison areas without a go-live date (area.min_donors: at least 10)")
def _(root):
    edit_spec(root, lambda r: r["area"].update(methods=["sdid", "did"], min_donors=10))


@case("too_short_for_its", "none of the planned whole-area designs (its) can run",
      "only 24 months before go-live (2023-01) in the study window (area.min_pre_months: at least 30)")
def _(root):
    edit_spec(root, lambda r: r["area"].update(methods=["its"], min_pre_months=30))


@case("panel_outside_window", "area_panel.csv, column `month`: no month of the panel (2021-01 to 2023-12) is "
      "inside the study window (2025-01 to 2025-12")
def _(root):
    edit_spec(root, lambda r: r.update(window={"start": "2025-01-01", "end": "2025-12-31"}))


@case("activity_without_population", "population is given but activity is not", spec_error=True)
def _(root):
    edit_spec(root, lambda r: r["data"].update(population="../data/area_panel.csv"))


@case("person_section_in_area_only_spec", "matching: need(s) the person-level tables", spec_error=True)
def _(root):
    edit_spec(root, lambda r: r.update(matching={"caliper": 0.2}))


@case("build_from_person_data_without_people", "area.build_from_person_data: true needs `data.population`",
      spec_error=True)
def _(root):
    edit_spec(root, lambda r: r["area"].update(build_from_person_data=True))


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("area_template") / "project"
    write_area_project(root)
    return root


@pytest.mark.parametrize("command", ["run", "validate"])
@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_area_corpus(c: Case, command: str, template: Path, tmp_path: Path):
    root = tmp_path / "project"
    shutil.copytree(template, root)
    c.setup(root)
    before = snapshot(root)
    args = ["run", "analyses/area.yaml", "--no-report"] if command == "run" else ["validate", "analyses/area.yaml"]
    out = invoke(args, root)
    expected = 2 if command == "run" or c.spec_error else 1
    assert out.code == expected, out.output[:3000]
    flat = " ".join(out.output.split())
    for n in c.needles:
        assert " ".join(n.split()) in flat, f"message lacks {n!r}:\n{out.output[:3000]}"
    assert "Traceback" not in out.output and 'File "' not in out.output
    assert snapshot(root) == before, "an input file changed"
    assert not (root / "reports").exists() and leftovers(root) == []


def test_the_unbroken_project_runs(template: Path, tmp_path: Path):
    """The corpus' starting point is valid: each case breaks exactly one thing."""
    root = tmp_path / "project"
    shutil.copytree(template, root)
    out = invoke(["validate", "analyses/area.yaml"], root)
    assert out.code == 0, out.output[:3000]
    assert "The spec and data are valid." in out.output
