"""The whole evaluation on Spark (PySpark local mode) gives the DuckDB run's results tables.

Counts must be equal exactly; estimates to floating-point tolerance (engines sum in different orders).
One Spark session serves the module (starting one costs ~5-25 s). CI installs PySpark (test extras) and
Java (.ci/run), so this runs there; without Java it fails rather than skipping silently.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from evaltool.datasets.example import write_example_data
from evaltool.engine import connect
from evaltool.pipeline import run

ROOT = Path(__file__).resolve().parents[1]


def _spec_without_report_files(raw: dict) -> dict:
    """The Southvale spec without its report's narrative files (they live beside the shipped spec)."""
    for k in ("narrative", "logic_model", "brand", "reference_docx"):
        raw.get("report", {}).pop(k, None)
    return raw


def compare_bundles(a: Path, b: Path, *, rtol: float = 1e-6, atol: float = 1e-9) -> list[str]:
    """Every results table of bundle ``a`` against ``b``: integers and text exactly, floats within tolerance."""
    diffs = []
    names_a = sorted(p.name for p in (a / "results").glob("*.csv"))
    names_b = sorted(p.name for p in (b / "results").glob("*.csv"))
    if names_a != names_b:
        return [f"tables differ: {sorted(set(names_a) ^ set(names_b))}"]
    for name in names_a:
        x, y = pd.read_csv(a / "results" / name), pd.read_csv(b / "results" / name)
        if list(x.columns) != list(y.columns) or len(x) != len(y):
            diffs.append(f"{name}: shape {x.shape} vs {y.shape}")
            continue
        for c in x.columns:
            xc, yc = x[c], y[c]
            if pd.api.types.is_integer_dtype(xc) and pd.api.types.is_integer_dtype(yc):
                if not xc.equals(yc):
                    diffs.append(f"{name}.{c}: counts differ")
            elif pd.api.types.is_numeric_dtype(xc) and pd.api.types.is_numeric_dtype(yc):
                xv, yv = xc.to_numpy(float), yc.to_numpy(float)
                if not np.allclose(xv, yv, rtol=rtol, atol=atol, equal_nan=True):
                    diffs.append(f"{name}.{c}: max difference {np.nanmax(np.abs(xv - yv)):.3g}")
            elif not xc.astype(object).fillna("").astype(str).equals(yc.astype(object).fillna("").astype(str)):
                diffs.append(f"{name}.{c}: text differs")
    return diffs


@pytest.fixture(scope="module")
def spark_engine():
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    if shutil.which("java") is None:
        pytest.fail("Spark needs Java (CI installs openjdk-17-jre-headless in .ci/run)")
    eng = connect("spark")
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def small_spec(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("southvale_spark")
    write_example_data(root / "example_data" / "southvale", seed=7, scale=0.06)
    raw = _spec_without_report_files(yaml.safe_load((ROOT / "analyses" / "southvale.yaml").read_text()))
    raw["rollout"]["bootstrap_reps"] = 99
    # Engine-independent stages (survey and coded-text tables are read whole: small by nature).
    raw.pop("qualitative")
    (root / "analyses").mkdir()
    path = root / "analyses" / "southvale.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_spark_run_equals_duckdb_run(spark_engine, small_spec, tmp_path):
    duck = run(small_spec, output_dir=tmp_path / "duckdb", render=False)
    spark = run(small_spec, output_dir=tmp_path / "spark", render=False, engine=spark_engine)
    assert {k: v["status"] for k, v in spark.stages.items()} == {k: v["status"] for k, v in duck.stages.items()}
    assert all(v["status"] in ("ok", "partial", "not_run") for v in spark.stages.values()), spark.stages
    assert spark.stages["matching"]["status"] == "ok" and spark.stages["effects"]["status"] in ("ok", "partial")
    assert compare_bundles(duck.bundle_dir, spark.bundle_dir) == []
    flow = pd.read_csv(spark.bundle_dir / "results" / "cohort_flow.csv")
    assert flow["n_remaining"].iloc[0] > 5000  # the whole small population went through Spark


def test_compare_bundles_sees_a_changed_count(tmp_path):
    for d in ("a", "b"):
        (tmp_path / d / "results").mkdir(parents=True)
    pd.DataFrame({"n": [1, 2], "x": [0.5, 0.25]}).to_csv(tmp_path / "a" / "results" / "t.csv", index=False)
    pd.DataFrame({"n": [1, 3], "x": [0.5, 0.25 + 1e-12]}).to_csv(tmp_path / "b" / "results" / "t.csv", index=False)
    assert compare_bundles(tmp_path / "a", tmp_path / "b") == ["t.csv.n: counts differ"]
