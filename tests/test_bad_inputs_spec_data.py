"""Bad and hostile inputs, part 1: the spec, the output folder and the input data (issue 10's corpus).

Every case runs the CLI as a user would (in-process, from the project folder, relative paths) and asserts the
exit code, that the message names the file/key/column and rows, that no traceback is shown, that the inputs are
unchanged and that no partial bundle or temporary folder is left. Part 2 (tests/test_bad_inputs_run.py) covers
qualitative and PROM inputs, received bundles, render failures, interrupted runs and partial results.
"""
from __future__ import annotations

import shutil
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest

from _tiny_project import invoke, leftovers, snapshot, spec_edit, write_tiny_project


@dataclass
class Case:
    id: str
    code: int
    needles: tuple[str, ...]
    setup: Callable[[Path], list[str]]
    bundle: str = "none"  # "none": no bundle may exist afterwards; "any": a complete bundle may exist
    check: Callable[[Path, object], None] | None = None
    max_output: int = 20_000
    absent: tuple[str, ...] = field(default_factory=tuple)


CASES: list[Case] = []


def case(id: str, code: int, *needles: str, **kw):
    def deco(fn):
        CASES.append(Case(id, code, needles, fn, **kw))
        return fn
    return deco


def csv_edit(root: Path, table: str, fn) -> None:
    p = root / "data" / f"{table}.csv"
    df = pd.read_csv(p, dtype=str, keep_default_na=False)
    df = fn(df) if fn(df) is not None else df
    df.to_csv(p, index=False)


def set_cell(table: str, row: int, col: str, value: str):
    """Set data row ``row`` (1-based, as messages count) of ``col``."""
    def fn(root: Path) -> None:
        def edit(df):
            df.loc[row - 1, col] = value
            return df
        p = root / "data" / f"{table}.csv"
        df = pd.read_csv(p, dtype=str, keep_default_na=False)
        edit(df).to_csv(p, index=False)
    return fn


RUN = ["run", "analyses/tiny.yaml", "--no-report"]
VALIDATE = ["validate", "analyses/tiny.yaml"]


# ---- the spec file -----------------------------------------------------------------------------------
@case("spec_missing", 2, "analyses/nope.yaml: spec file not found")
def _(root):
    return ["run", "analyses/nope.yaml"]


@case("spec_is_a_folder", 2, "analyses: is a folder; expected a YAML spec file")
def _(root):
    return ["run", "analyses"]


@case("spec_not_utf8", 2, "tiny.yaml: not UTF-8 text (byte 0xe9 at line 2)")
def _(root):
    (root / "analyses" / "tiny.yaml").write_bytes(b"name: tiny\ntitle: Caf\xe9 evaluation\n")
    return RUN


@case("spec_nul_byte", 2, "tiny.yaml: holds a NUL character")
def _(root):
    (root / "analyses" / "tiny.yaml").write_bytes(b"name: tiny\x00\n")
    return RUN


@case("spec_binary_file", 2, "tiny.yaml: not UTF-8 text")
def _(root):
    (root / "analyses" / "tiny.yaml").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    return RUN


@case("spec_too_large", 2, "tiny.yaml: the spec is 1,200,", "a spec is at most 1,000,000 bytes")
def _(root):
    p = root / "analyses" / "tiny.yaml"
    p.write_text(p.read_text() + "#" + "x" * 1_200_000 + "\n")
    return RUN


@case("yaml_alias_bomb", 2, "the spec expands to more than 100,000 values (YAML aliases?)")
def _(root):
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i, name in enumerate("bcdefghi"):
        prev = "abcdefghi"[i]
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    (root / "analyses" / "tiny.yaml").write_text("\n".join(lines) + "\n")
    return RUN


@case("yaml_too_many_aliases", 2, "more than 100 YAML aliases (`*name`) at line 2")
def _(root):
    (root / "analyses" / "tiny.yaml").write_text("a: &a x\nb: [" + ", ".join(["*a"] * 150) + "]\n")
    return RUN


@case("yaml_alias_expansion", 2, "the spec expands to more than 100,000 values")
def _(root):
    lines = ["a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]"]
    for i, name in enumerate("bcdefg"):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{'abcdefg'[i]}"] * 10) + "]")
    (root / "analyses" / "tiny.yaml").write_text("\n".join(lines) + "\n")
    return RUN


@case("yaml_syntax_error", 2, "tiny.yaml: not valid YAML: expected ',' or ']'", "at line 3, column 1")
def _(root):
    (root / "analyses" / "tiny.yaml").write_text("name: tiny\ntitle: [unclosed\n")
    return RUN


@case("yaml_deep_nesting", 2, "tiny.yaml:")
def _(root):
    (root / "analyses" / "tiny.yaml").write_text("name: " + "[" * 3000 + "]" * 3000 + "\n")
    return RUN


@case("spec_top_level_list", 2, "expected a YAML mapping at the top level, got list")
def _(root):
    (root / "analyses" / "tiny.yaml").write_text("- name: tiny\n- title: x\n")
    return RUN


@case("spec_empty", 2, "tiny.yaml: the spec is empty")
def _(root):
    (root / "analyses" / "tiny.yaml").write_text("# nothing here\n")
    return RUN


@case("spec_duplicate_key", 2, "duplicate key 'name' at line 2 (first at line 1)")
def _(root):
    p = root / "analyses" / "tiny.yaml"
    p.write_text(p.read_text().replace("title:", "name: again\ntitle:", 1))
    return RUN


@case("spec_unknown_key", 2, "windw: unknown key (did you mean 'window'?)")
def _(root):
    spec_edit(root, lambda r: r.update(windw=r.pop("window")))
    return RUN


@case("spec_negative_caliper", 2, "matching.caliper: expected a number > 0, got -1")
def _(root):
    spec_edit(root, lambda r: r.update(matching={"caliper": -1}))
    return RUN


@case("spec_ratio_1e9", 2, "matching.ratio", "expected an integer from 1 to 100")
def _(root):
    spec_edit(root, lambda r: r.update(matching={"ratio": 1e9}))
    return RUN


@case("spec_infinite_caliper", 2, "matching.caliper: expected a finite number, got inf")
def _(root):
    p = root / "analyses" / "tiny.yaml"
    p.write_text(p.read_text() + "matching:\n  caliper: .inf\n")
    return RUN


@case("spec_window_reversed", 2, "window: end (2020-01-01) must be after start (2021-04-01)")
def _(root):
    spec_edit(root, lambda r: r["window"].update(end="2020-01-01"))
    return RUN


@case("spec_name_path_traversal", 2, "name: expected letters, digits, '_' or '-'", "got '../../evil'")
def _(root):
    spec_edit(root, lambda r: r.update(name="../../evil"))
    return RUN


@case("spec_data_file_missing", 2, "data.activity: file not found")
def _(root):
    spec_edit(root, lambda r: r["data"].update(activity="../data/nope.csv"))
    return RUN


@case("spec_data_path_is_folder", 2, "data.activity: is a folder, not a file")
def _(root):
    spec_edit(root, lambda r: r["data"].update(activity="../data"))
    return RUN


@case("spec_unknown_check", 2, "validation.actions", "unknown check 'activity_after_deaht' (did you mean "
      "'activity_after_death'?)")
def _(root):
    spec_edit(root, lambda r: r.update(validation={"actions": {"activity_after_deaht": "exclude"}}))
    return RUN


@case("spec_negative_seed", 2, "seed: expected a number >= 0, got -5")
def _(root):
    spec_edit(root, lambda r: r.update(seed=-5))
    return RUN


@case("spec_huge_value_is_quoted_short", 2, "seed: expected a number", "...", max_output=3000)
def _(root):
    spec_edit(root, lambda r: r.update(seed="9" * 3 + "x" * 900_000))
    return RUN


@case("spec_markup_and_emoji_in_key", 2, "[bold red]x[/]:thumbs_up:: unknown key", absent=("\U0001F44D",))
def _(root):
    spec_edit(root, lambda r: r.update({"[bold red]x[/]:thumbs_up:": 1}))
    return RUN


@case("spec_prem_map_missing", 2, "proms.prem_surveys", absent=())
def _(root):
    spec_edit(root, lambda r: r.update(proms={"prem_surveys": "not a mapping"}))
    return RUN


# ---- the output folder --------------------------------------------------------------------------------
@case("output_root_is_filesystem_root", 2, "output folder `/`: refusing to write bundles directly into the "
      "filesystem root")
def _(root):
    return RUN + ["-o", "/"]


@case("output_root_is_home", 2, "refusing to write bundles directly into your home folder")
def _(root):
    return RUN + ["-o", str(Path.home())]


@case("output_dir_in_spec_is_root", 2, "refusing to write bundles directly into the filesystem root")
def _(root):
    spec_edit(root, lambda r: r.update(output_dir="/"))
    return RUN


@case("output_root_is_a_file", 2, "output folder `out`: `out` is a file, not a folder")
def _(root):
    (root / "out").write_text("I am a file")
    return RUN + ["-o", "out"]


def _thesis_survives(root: Path, outcome) -> None:
    assert (root / "reports" / "tiny" / "thesis.docx").read_bytes() == b"three years of work"
    assert sorted(p.name for p in (root / "reports" / "tiny").iterdir()) == ["thesis.docx"]


@case("output_folder_holds_thesis", 2, "reports/tiny` exists and is not an evaltool results bundle (it holds "
      "thesis.docx)", "replaces only folders it wrote itself", bundle="any", check=_thesis_survives)
def _(root):
    (root / "reports" / "tiny").mkdir(parents=True)
    (root / "reports" / "tiny" / "thesis.docx").write_bytes(b"three years of work")
    return RUN


@case("output_target_is_a_symlink", 2, "exists and is not a folder (a file or a link)", bundle="any")
def _(root):
    (root / "elsewhere").mkdir()
    (root / "reports").mkdir()
    (root / "reports" / "tiny").symlink_to(root / "elsewhere", target_is_directory=True)
    return RUN


# ---- input data ---------------------------------------------------------------------------------------
@case("missing_required_column", 1, "population.csv, column `sex`: required column `sex` is missing")
def _(root):
    csv_edit(root, "population", lambda d: d.drop(columns="sex"))
    return VALIDATE


@case("population_not_utf8", 2, "population.csv: cannot be read as CSV")
def _(root):
    p = root / "data" / "population.csv"
    p.write_bytes(p.read_bytes().replace(b"GP1,", b"G\xe9P1,", 1))
    return RUN


@case("population_empty_file", 1, "population.csv: the file is empty")
def _(root):
    (root / "data" / "population.csv").write_text("")
    return VALIDATE


@case("population_header_only", 1, "population.csv: no data rows (only a header)")
def _(root):
    p = root / "data" / "population.csv"
    p.write_text(p.read_text().splitlines()[0] + "\n")
    return VALIDATE


@case("corrupt_xlsx", 1, "population.xlsx: cannot be read as XLSX", "export it as CSV")
def _(root):
    (root / "data" / "population.xlsx").write_bytes(b"PK\x03\x04" + b"not really a workbook" * 50)
    spec_edit(root, lambda r: r["data"].update(population="../data/population.xlsx"))
    return VALIDATE


@case("corrupt_parquet", 1, "activity.parquet: cannot be read as PARQUET")
def _(root):
    (root / "data" / "activity.parquet").write_bytes(b"PAR1 garbage garbage PAR1")
    spec_edit(root, lambda r: r["data"].update(activity="../data/activity.parquet"))
    return VALIDATE


@case("unsupported_file_type", 1, "activity.json: unsupported file type '.json'")
def _(root):
    (root / "data" / "activity.json").write_text("[]")
    spec_edit(root, lambda r: r["data"].update(activity="../data/activity.json"))
    return VALIDATE


def _xlsx_population(root: Path, formula_cached: str | None) -> None:
    """population.xlsx whose risk_score in data row 2 is a formula (with or without a saved value)."""
    from openpyxl import Workbook

    df = pd.read_csv(root / "data" / "population.csv", dtype=str, keep_default_na=False)
    wb = Workbook()
    ws = wb.active
    ws.append(list(df.columns))
    for r in df.itertuples(index=False):
        ws.append(list(r))
    col = list(df.columns).index("risk_score") + 1
    ws.cell(row=3, column=col).value = "=0.25+0.25"
    p = root / "data" / "population.xlsx"
    wb.save(p)
    if formula_cached is not None:  # what Excel does on save: keep the formula and its result
        with zipfile.ZipFile(p) as zf:
            members = {n: zf.read(n) for n in zf.namelist()}
        sheet = "xl/worksheets/sheet1.xml"
        members[sheet] = members[sheet].replace(b"<f>0.25+0.25</f><v></v>", b"<f>0.25+0.25</f>").replace(
            b"<f>0.25+0.25</f>", b"<f>0.25+0.25</f><v>" + formula_cached.encode() + b"</v>")
        with zipfile.ZipFile(p, "w") as zf:
            for n, b in members.items():
                zf.writestr(n, b)
    spec_edit(root, lambda r: r["data"].update(population="../data/population.xlsx"))


@case("xlsx_formula_without_saved_value", 1, "population.xlsx: 1 formula cell(s) have no saved value (H3)",
      "open and save the workbook in Excel")
def _(root):
    _xlsx_population(root, None)
    return VALIDATE


def _formula_read_as_value(root: Path, outcome) -> None:
    from evaltool.inputs import read_table

    assert read_table(root / "data" / "population.xlsx").loc[1, "risk_score"] == 0.5


@case("xlsx_formula_with_saved_value", 0, "The spec and data are valid.", check=_formula_read_as_value)
def _(root):
    _xlsx_population(root, "0.5")
    return VALIDATE


@case("sex_word_missing_is_not_M", 1, "population.csv, column `sex`", "found e.g. 'Missing'", "row 3 (1 row in all)")
def _(root):
    set_cell("population", 3, "sex", "Missing")(root)
    return VALIDATE


@case("sex_fish_is_not_F", 1, "column `sex`", "found e.g. 'Fish'", "row 7")
def _(root):
    set_cell("population", 7, "sex", "Fish")(root)
    return VALIDATE


@case("sex_blank", 1, "column `sex`", "found blanks", "row 2 (1 row in all)")
def _(root):
    set_cell("population", 2, "sex", "")(root)
    return VALIDATE


@case("sex_nhs_codes_and_words_accepted", 0, "The spec and data are valid.")
def _(root):
    for row, v in ((1, "1"), (2, "2"), (3, "female"), (4, "MALE"), (5, " f ")):
        set_cell("population", row, "sex", v)(root)
    return VALIDATE


@case("sex_not_known_code_9", 1, "column `sex`: sex recorded as not known (NHS codes 0/9/X or 'unknown')",
      "rows 4, 9 (2 rows in all)")
def _(root):
    set_cell("population", 4, "sex", "9")(root)
    set_cell("population", 9, "sex", "0")(root)
    return VALIDATE


@case("sex_not_known_excluded_by_policy", 0, "[excluded]", "sex recorded as not known", "row 4 (1 row in all)")
def _(root):
    set_cell("population", 4, "sex", "X")(root)
    spec_edit(root, lambda r: r.update(validation={"actions": {"sex_not_known": "exclude"}}))
    return VALIDATE


@case("infinite_risk_score", 1, "population.csv, column `risk_score`: expected a finite number; found infinity "
      "(inf): row 4 (1 row in all)")
def _(root):
    set_cell("population", 4, "risk_score", "inf")(root)
    return VALIDATE


@case("infinite_count", 1, "population.csv, column `ltc_count`: expected a finite number; found infinity (inf): "
      "row 12 (1 row in all)")
def _(root):
    csv_edit(root, "population", lambda d: d.assign(ltc_count="2"))
    set_cell("population", 12, "ltc_count", "inf")(root)
    return VALIDATE


@case("infinite_cost", 1, "activity.csv, column `cost`: expected a finite number", "rows 2, 5 (2 rows in all)")
def _(root):
    set_cell("activity", 2, "cost", "Infinity")(root)
    set_cell("activity", 5, "cost", "1e999")(root)
    return VALIDATE


@case("infinite_age", 1, "column `age`: expected a finite number", "row 1 ")
def _(root):
    csv_edit(root, "population", lambda d: d.drop(columns="birth_date").assign(age="70"))
    set_cell("population", 1, "age", "-inf")(root)
    return VALIDATE


def _first_treated_row(root: Path) -> int:
    df = pd.read_csv(root / "data" / "population.csv", dtype=str, keep_default_na=False)
    return int(df.index[df["treated"] == "1"][0]) + 1


@case("birth_after_index_date", 1, "column `birth_date`: birth_date is after the index (enrolment) date")
def _(root):
    row = _first_treated_row(root)
    set_cell("population", row, "birth_date", "2023-12-31")(root)
    return VALIDATE


@case("death_before_index_date", 0, "[excluded]", "index_date falls outside the person's registration or after "
      "death")
def _(root):
    row = _first_treated_row(root)
    set_cell("population", row, "death_date", "2021-05-01")(root)
    return VALIDATE


@case("death_before_birth", 1, "column `death_date`: death_date is before birth_date", "row 10 (1 row in all)")
def _(root):
    set_cell("population", 10, "death_date", "1920-01-01")(root)
    return VALIDATE


@case("registration_end_before_start", 1, "column `registration_end`: registration_end is before "
      "registration_start", "row 6 (1 row in all)")
def _(root):
    csv_edit(root, "population", lambda d: d.assign(registration_end=""))
    set_cell("population", 6, "registration_end", "2010-01-01")(root)
    return VALIDATE


@case("unparseable_date", 1, "activity.csv, column `date`: expected dates as YYYY-MM-DD; found e.g. '31/02/2022'",
      "row 3 (1 row in all)")
def _(root):
    set_cell("activity", 3, "date", "31/02/2022")(root)
    return VALIDATE


@case("treated_not_0_or_1", 1, "column `treated`: expected 0 or 1; found e.g. '2'", "row 5 (1 row in all)")
def _(root):
    set_cell("population", 5, "treated", "2")(root)
    return VALIDATE


@case("duplicate_person_id", 1, "column `person_id`: person_id appears more than once", "rows 1, 2 (2 rows in all)")
def _(root):
    set_cell("population", 2, "person_id", "P0000")(root)
    return VALIDATE


@case("activity_unknown_person", 1, "activity.csv, column `person_id`: person_id not found in population.csv",
      "row 4 (1 row in all)")
def _(root):
    set_cell("activity", 4, "person_id", "NOBODY")(root)
    return VALIDATE


@case("negative_cost", 1, "activity.csv, column `cost`: cost is negative", "row 8 (1 row in all)")
def _(root):
    set_cell("activity", 8, "cost", "-10")(root)
    return VALIDATE


@case("index_date_for_untreated", 1, "column `index_date`: treated = 0 but index_date is filled")
def _(root):
    df = pd.read_csv(root / "data" / "population.csv", dtype=str, keep_default_na=False)
    row = int(df.index[df["treated"] == "0"][0]) + 1
    set_cell("population", row, "index_date", "2022-01-01")(root)
    return VALIDATE


@case("ten_megabyte_field_is_quoted_short", 1, "data/activity.csv: cannot be read as CSV: Maximum line size of "
      "2000000 bytes exceeded", "(row 2 (1 row in all) longer than 2,000,000 bytes)", max_output=1000)
def _(root):
    set_cell("activity", 2, "setting", "A" * 10_000_000)(root)
    return VALIDATE


@case("one_megabyte_value_is_quoted_short", 1, "activity.csv, column `setting`: expected one of", "found e.g. "
      "'BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB...'", "row 6 (1 row in all)", max_output=3000)
def _(root):
    set_cell("activity", 6, "setting", "B" * 1_000_000)(root)
    return VALIDATE


@case("markup_and_emoji_in_a_value", 1, "found e.g. '[red]boom[/red] :fire:'", absent=("\U0001F525",))
def _(root):
    set_cell("activity", 2, "setting", "[red]boom[/red] :fire:")(root)
    return VALIDATE


@case("activity_outside_window_excluded", 0, "[excluded]", "date outside the study window", "row 3 (1 row in all)")
def _(root):
    set_cell("activity", 3, "date", "2019-01-01")(root)
    return VALIDATE


@case("control_characters_in_labels", 0, "Results bundle", bundle="any")
def _(root):
    csv_edit(root, "population", lambda d: d.assign(practice_id=d["practice_id"].str.replace("GP1", "GP1\x07")))
    csv_edit(root, "practices", lambda d: d.assign(practice_id=d["practice_id"].str.replace("GP1", "GP1\x07")))
    spec_edit(root, lambda r: r.update(title="Tiny \x0b evaluation"))
    return ["run", "analyses/tiny.yaml", "--format", "xlsx"]


# ---- the runner ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tiny_template")
    write_tiny_project(root)
    return root


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_corpus(c: Case, template: Path, tmp_path: Path):
    root = tmp_path / "project"
    shutil.copytree(template, root)
    args = c.setup(root)
    before = snapshot(root)
    t0 = time.perf_counter()
    out = invoke(args, root)
    assert time.perf_counter() - t0 < 60, "a bad input must be refused quickly"
    assert out.code == c.code, out.output[:3000]
    for n in c.needles:
        assert out.says(n), f"message lacks {n!r}:\n{out.output[:3000]}"
    for n in c.absent:
        assert n not in out.output
    assert "Traceback" not in out.output and 'File "' not in out.output
    assert len(out.output) <= c.max_output, f"message too long: {len(out.output)} characters"
    assert snapshot(root) == before, "an input file changed"
    assert leftovers(root / "reports") == [] and leftovers(root) == []
    if c.bundle == "none":  # nothing written at all, not even an empty output folder
        assert not (root / "reports").exists()
    if c.check is not None:
        c.check(root, out)


def test_corpus_size():
    assert len(CASES) >= 55
