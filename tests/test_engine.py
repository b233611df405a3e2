"""The engine boundary: connections, sources as Ibis tables, data that never leave the engine whole."""
from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import yaml

from evaltool import engine
from evaltool.engine import EngineConfig, Source, connect, read_source
from evaltool.errors import DataValidationError, SpecError
from evaltool.inputs import load_inputs, validate_frames
from evaltool.spec import load_spec, parse_spec

ROOT = Path(__file__).resolve().parents[1]


def _spec_without_report_files(raw: dict) -> dict:
    """The Southvale spec without its report's narrative files (they live beside the shipped spec)."""
    for k in ("narrative", "logic_model", "brand", "reference_docx"):
        raw.get("report", {}).pop(k, None)
    return raw
WINDOW = ("2021-04-01", "2025-03-31")


def test_duckdb_settings_from_config_and_environment(tmp_path, monkeypatch):
    eng = connect(memory_limit="1GB", threads=1, temp_directory=tmp_path / "spill")
    q = eng.con.sql("SELECT current_setting('memory_limit') AS m, current_setting('threads') AS t, "
                    "current_setting('temp_directory') AS d")
    row = eng.execute(q).iloc[0]
    assert int(row["t"]) == 1 and row["d"] == str(tmp_path / "spill")
    assert row["m"].replace(" ", "") in {"1.0GiB", "953.6MiB", "1.0GB", "953.6MB"}
    monkeypatch.setenv("EVALTOOL_THREADS", "1")
    assert EngineConfig().resolved().threads == 1 and EngineConfig().resolved().backend == "duckdb"
    with pytest.raises(ValueError, match="expected a size"):
        EngineConfig(memory_limit="8 gigs; DROP")


def test_sources_of_every_kind_read_as_tables(tmp_path):
    df = pd.DataFrame({"person_id": ["007", "b"], "n": [1, 2]})
    df.to_csv(tmp_path / "x.csv", index=False)
    df.to_csv(tmp_path / "x.csv.gz", index=False, compression="gzip")
    (tmp_path / "ds").mkdir()
    df.iloc[:1].to_parquet(tmp_path / "ds" / "part-0.parquet")
    df.iloc[1:].to_parquet(tmp_path / "ds" / "part-1.parquet")
    with pd.ExcelWriter(tmp_path / "x.xlsx") as xw:
        pd.DataFrame({"note": ["read me"]}).to_excel(xw, sheet_name="README", index=False)
        df.to_excel(xw, sheet_name="data", index=False)
    db = tmp_path / "w.duckdb"
    with duckdb.connect(str(db)) as c:
        c.execute("CREATE TABLE pop AS SELECT * FROM df")
    eng = connect()
    for src in (tmp_path / "x.csv", tmp_path / "x.csv.gz", tmp_path / "ds", Source(path=tmp_path / "x.xlsx", sheet="data"),
                Source(duckdb=db, table="pop"), Source(duckdb=db, sql="SELECT * FROM pop WHERE n > 0")):
        t = read_source(eng, src)
        assert engine.is_table(t)
        got = t.execute().sort_values("person_id")
        assert got["person_id"].tolist() == ["007", "b"], src  # ids stay text: "007" keeps its zeros
    with pytest.raises(DataValidationError, match="unsupported file type '.xls'"):
        p = tmp_path / "x.xls"
        p.write_text("nope")
        read_source(eng, p)
    with pytest.raises(ValueError, match="one SELECT"):
        Source(duckdb=db, sql="DELETE FROM pop")


def test_spec_engine_section_and_database_sources(tmp_path):
    data = ROOT / "example_data" / "southvale"
    raw = _spec_without_report_files(yaml.safe_load((ROOT / "analyses" / "southvale.yaml").read_text()))
    raw["engine"] = {"backend": "duckdb", "memory_limit": "2GB", "threads": 1}
    db = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(db)) as c:
        for name in ("population", "activity", "practices"):
            c.execute(f"CREATE TABLE {name} AS SELECT * FROM read_parquet(?)", [str(data / f"{name}.parquet")])
    raw["data"] = {"population": {"duckdb": "warehouse.duckdb", "table": "population"},
                   "activity": {"duckdb": "warehouse.duckdb", "sql": "SELECT * FROM activity"},
                   "practices": {"duckdb": "warehouse.duckdb", "table": "practices"}}
    for k in ("matching", "effects", "rollout", "proms", "qualitative", "economics"):
        raw.pop(k, None)
    spec = parse_spec(raw, base_dir=tmp_path)
    assert spec.engine.threads == 1 and spec.data.source("activity").kind == "duckdb"
    from_db = load_inputs(spec)
    from_files = load_inputs(load_spec(ROOT / "analyses" / "southvale.yaml"))
    cols = ["step", "n_remaining", "n_excluded", "reason"]
    assert from_db.flow_frame()[cols].equals(from_files.flow_frame()[cols])
    assert from_db.activity_flow_frame()[cols].equals(from_files.activity_flow_frame()[cols])
    assert from_db.flow_frame()["description"].iloc[0] == "People in warehouse.duckdb:population"
    bad = dict(raw, engine={"backend": "oracle"})
    with pytest.raises(SpecError, match="engine.backend"):
        parse_spec(bad, base_dir=tmp_path)


def test_ibis_sources_never_materialised_whole(tmp_path, monkeypatch):
    """The whole evaluation on tables in a DuckDB file: no query brings the activity table (or the raw
    population) to pandas; the raw tables' own conversions fail if anything tries."""
    import ibis
    from ibis.backends.duckdb import Backend

    from evaltool.datasets.example import write_example_data
    from evaltool.pipeline import run

    data = tmp_path / "data"
    write_example_data(data, seed=7, scale=0.06)
    db = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(db)) as c:
        for name in ("population", "activity", "practices"):
            c.execute(f"CREATE TABLE {name} AS SELECT * FROM read_parquet(?)", [str(data / f"{name}.parquet")])
        n_act = c.execute("SELECT count(*) FROM activity").fetchone()[0]
        n_pop = c.execute("SELECT count(*) FROM population").fetchone()[0]
    raw = _spec_without_report_files(yaml.safe_load((ROOT / "analyses" / "southvale.yaml").read_text()))
    raw["data"] = {k: {"duckdb": str(db), "table": k} for k in ("population", "activity", "practices")}
    for k in ("proms", "qualitative"):
        raw.pop(k)
    raw["rollout"]["bootstrap_reps"] = 99
    raw["report"]["formats"] = ["html"]
    spec = parse_spec(raw, base_dir=tmp_path)

    raw_ops = set()
    eng = connect()
    real_table = Backend.table

    def table(self, name, *a, **kw):
        t = real_table(self, name, *a, **kw)
        if not name.startswith("_evaltool_"):  # a source, not one of the engine's own tables
            raw_ops.add(t.op())
        return t

    biggest = []
    real_execute = Backend.execute

    def execute(self, expr, *a, **kw):
        if isinstance(expr, ibis.expr.types.Table) and _is_projection(expr, raw_ops):
            raise AssertionError(f"a raw source table was converted to pandas whole: {expr.op()}")
        out = real_execute(self, expr, *a, **kw)
        if isinstance(out, pd.DataFrame):
            biggest.append(len(out))
        return out

    from evaltool.matching.person_months import PersonMonths

    # Matching fetches the person-month totals of the risk sets' people (Arrow batches into numpy, not pandas):
    # an aggregate, fewer rows than the activity.
    pm_rows = []
    real_init = PersonMonths.__init__

    def init(self, *a, **kw):
        real_init(self, *a, **kw)
        pm_rows.append(self.n_rows)

    monkeypatch.setattr(PersonMonths, "__init__", init)
    monkeypatch.setattr(Backend, "table", table)
    monkeypatch.setattr(Backend, "execute", execute)
    res = run(spec, engine=eng, output_dir=tmp_path / "out", render=False)
    st = {k: v["status"] for k, v in res.stages.items()}
    assert all(st[k] in ("ok", "partial") for k in ("cohort", "matching", "effects", "rollout")), st
    assert raw_ops, "the sources were not read as tables"
    # Nothing the size of the activity table ever crossed into pandas; the analysed population (one row
    # per person, the risk sets' design matrices) is the largest result.
    assert max(biggest) <= n_pop < n_act
    assert pm_rows and max(pm_rows) < n_act


def _is_projection(expr, raw_ops) -> bool:
    """True when ``expr`` is a raw table with only column selections/casts on top (a whole-table read)."""
    from ibis.expr import operations as ops

    op = expr.op()
    while isinstance(op, ops.Project):
        op = op.parent
    return op in raw_ops


def test_validate_frames_and_tables_agree():
    pop = pd.DataFrame({"person_id": ["a", "b", "c"], "practice_id": ["p"] * 3, "sex": ["F", "M", "zz"],
                        "age": [70, 40, 50], "treated": [1, 0, 0],
                        "index_date": pd.to_datetime(["2023-01-01", None, None])})
    act = pd.DataFrame({"person_id": ["a", "b", "zz"], "date": pd.to_datetime(["2022-01-05"] * 3),
                        "setting": ["ae_attendance"] * 3})
    eng = connect()
    a = validate_frames(pop, act, window=WINDOW, actions={"invalid_sex": "exclude", "activity_unknown_person": "exclude"})
    b = validate_frames(eng.upload(pop, "p"), eng.upload(act, "a"), window=WINDOW, engine=eng,
                        actions={"invalid_sex": "exclude", "activity_unknown_person": "exclude"})
    assert a.flow_frame().equals(b.flow_frame()) and a.activity_flow_frame().equals(b.activity_flow_frame())
    assert [p.describe() for p in a.problems] == [p.describe() for p in b.problems]
    assert b.problems[0].rows == (3,) and len(b.population) == 2
    assert np.array_equal(a.population["birth_date"].to_numpy(), b.population["birth_date"].to_numpy())
