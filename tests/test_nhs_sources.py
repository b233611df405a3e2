"""The same extracts read from files, from tables in a DuckDB file and from a PostgreSQL server
give byte-identical results tables (the pipeline run without the report; the slow test adds the roll-out);
the mapped run counts every episode collapsed, duplicate removed and invalid NHS number exactly as
the generator made them; its emergency-admission estimates equal the contract-shaped run's."""
from __future__ import annotations

import filecmp
import json
import re
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml

from evaltool.datasets import write_southvale
from evaltool.datasets.southvale_nhs import write_southvale_extracts
from evaltool.inputs import load_inputs
from evaltool.spec import load_spec

from pg_server import pg_bin, postgres_server

ROOT = Path(__file__).resolve().parents[1]
TABLES = {"hes_apc": "hes_apc.csv.gz", "hes_op": "hes_op.csv.gz", "ecds": "ecds.parquet", "gp_list": "gp_list.csv.gz",
          "caseload": "caseload.csv", "lsoa_imd": "lsoa_imd.csv"}
SCALE = 0.08  # the smallest Southvale whose matching runs (about 230 enrolled people)


def _frames(folder: Path) -> dict[str, pd.DataFrame]:
    out = {}
    for name, f in TABLES.items():
        p = folder / f
        out[name] = pd.read_parquet(p) if f.endswith(".parquet") else pd.read_csv(p, dtype=str, keep_default_na=False)
    out["practices"] = pd.read_excel(folder / "practices.xlsx", sheet_name="practices", dtype=str)
    return out


def _spec(folder: Path, out: Path, where: str, extra_profile: Path | None = None, *, full: bool = False) -> Path:
    spec = yaml.safe_load((ROOT / "analyses" / "southvale_hes.yaml").read_text())
    data = spec["data"]

    def point(entry: dict | str, table: str) -> dict:
        e = {"path": entry} if isinstance(entry, str) else dict(entry)
        e.pop("path", None)
        e.pop("sheet", None)
        if where == "files":
            e["path"] = str(folder / (TABLES.get(table) or "practices.xlsx"))
            if table == "practices":
                e["sheet"] = "practices"
        elif where == "duckdb":
            e.update(duckdb=str(folder / "warehouse.duckdb"), table=table)
        else:
            e.update(connection="pgtest", table=table)
        return e

    data["population"] = point(data["population"], "gp_list")
    data["enrolment"] = point(data["enrolment"], "caseload")
    data["lsoa_lookup"] = point(data["lsoa_lookup"], "lsoa_imd")
    data["activity"] = [point(a, t) for a, t in zip(data["activity"], ("hes_apc", "ecds", "hes_op"))]
    data["practices"] = point(data["practices"], "practices")
    spec["output_dir"] = str(out / "reports")
    if not full:
        spec.pop("rollout")
    else:
        spec["rollout"]["bootstrap_reps"] = 99
    p = out / f"hes_{where}.yaml"
    p.write_text(yaml.safe_dump(spec, sort_keys=False))
    return p


def _warehouses(folder: Path, scale: float) -> dict[str, pd.DataFrame]:
    """Extracts written as files, then loaded as tables into a DuckDB file."""
    write_southvale_extracts(folder, scale=scale)
    frames = _frames(folder)
    with duckdb.connect(str(folder / "warehouse.duckdb")) as con:
        for name, df in frames.items():
            con.register("df", df)
            con.execute(f"CREATE TABLE {name} AS SELECT * FROM df")
            con.unregister("df")
    return frames


def _load_postgres(srv: dict, frames: dict[str, pd.DataFrame], profiles: Path) -> None:
    import ibis

    con = ibis.postgres.connect(**srv)
    for name, df in frames.items():
        con.create_table(name, df)
    con.disconnect()
    profiles.write_text(yaml.safe_dump({"pgtest": {"backend": "postgres", **srv}}))


@pytest.fixture(scope="module")
def extracts(tmp_path_factory):
    folder = tmp_path_factory.mktemp("southvale_nhs")
    return folder, _warehouses(folder, SCALE)


def _inputs(spec: Path):
    v = load_inputs(load_spec(spec))
    v.raise_for_errors()
    pop = v.population.reset_index(drop=True)
    act = v.activity.sort_values(["person_id", "date", "setting", "spell_id"], kind="stable").reset_index(drop=True)
    return v, pop, act


def test_mapped_run_counts_every_episode_duplicate_and_invalid_number(extracts):
    folder, _ = extracts
    truth = json.loads((folder / "truth_nhs.json").read_text())["counts"]
    v, pop, act = _inputs(_spec(folder, folder, "files"))
    steps = {(s.source, s.step): s for s in v.source_flow}
    apc = lambda k: steps[("HES APC (hes_apc)", k)]  # noqa: E731
    assert apc("invalid_nhs_number").n_excluded == truth["apc_invalid_nhs_number"]
    assert apc("duplicate_episodes").n_excluded == truth["apc_duplicate_episodes"]
    assert apc("unfinished_episodes").n_excluded == truth["apc_unfinished_episodes"]
    assert apc("episodes_collapsed").n_excluded == truth["apc_episodes_collapsed"]
    assert apc("care_home_admissions").n_affected == truth["apc_transfer_spells_to_care_home"]
    assert apc("invalid_diagnosis_codes").n_excluded == truth["apc_invalid_diagnosis_codes"]
    assert steps[("GP registration list (gp_list)", "invalid_nhs_number")].n_excluded == truth["gp_invalid_nhs_number"]
    assert steps[("GP registration list (gp_list)", "sex_not_known")].n_affected == truth["gp_sex_not_known"]
    assert steps[("ECDS (ecds)", "planned_attendances")].n_excluded == truth["ecds_planned_follow_ups"]
    assert steps[("HES outpatients (hes_op)", "not_attended")].n_excluded == truth["op_not_attended"]
    # ... and the cohort and activity flows carry them.
    flow = {f.step: f for f in v.flow}
    assert flow["invalid_nhs_number"].n_excluded == truth["gp_invalid_nhs_number"]
    aflow = [f for f in v.activity_flow if f.step == "episodes_collapsed"]
    assert aflow and aflow[0].n_excluded == truth["apc_episodes_collapsed"]
    # The mapped population and activity equal the contract tables (ids aside).
    c = write_southvale(folder / "contract", scale=SCALE)
    cpop = pd.read_parquet(c["population"])
    cpop = cpop[cpop["sex"].isin(["F", "M"])].reset_index(drop=True)
    assert len(pop) == len(cpop)
    for col in ("birth_date", "treated", "index_date", "registration_start", "registration_end", "death_date",
                "risk_score"):
        pd.testing.assert_series_equal(pop[col], cpop[col], check_dtype=False, check_names=False)
    assert (pop["imd_quintile"].astype(float) == cpop["imd_quintile"].astype(float)).all()
    cact = pd.read_parquet(c["activity"])
    ids = dict(zip(cpop["person_id"], pop["person_id"]))
    base = act[act["setting"].isin(cact["setting"].unique())]
    assert base.groupby("setting").size().to_dict() == cact.assign(person_id=cact.person_id.map(ids)).dropna(
        subset=["person_id"]).groupby("setting").size().to_dict()


def _results(folder: Path, scale_tag: str, *, full: bool) -> dict[str, Path]:
    """Run the pipeline (no report) from files, the DuckDB file and a PostgreSQL server; the results folders."""
    from evaltool.pipeline import run

    frames = _frames(folder)
    out: dict[str, Path] = {}
    with postgres_server() as srv:
        prof = folder / f"connections_{scale_tag}.yaml"
        _load_postgres(srv, frames, prof)
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("EVALTOOL_CONNECTIONS", str(prof))
            for w in ("files", "duckdb", "postgres"):
                d = folder / f"{scale_tag}_{w}"
                d.mkdir()
                # At this size some planned analyses have no events (the run is `partial`, each one logged).
                res = run(_spec(folder, d, w, full=full), render=False)
                out[w] = res.bundle_dir / "results"
    return out


def _assert_identical_tables(bundles: dict[str, Path]) -> list[str]:
    """Every results table (CSV, Parquet) byte-identical across the three sources; their names."""
    tables = lambda d: sorted(p.relative_to(d).as_posix() for p in d.rglob("*")  # noqa: E731
                              if p.suffix in (".csv", ".parquet"))
    names = tables(bundles["files"])
    for w in ("duckdb", "postgres"):
        assert tables(bundles[w]) == names, w
        match, mismatch, errors = filecmp.cmpfiles(bundles["files"], bundles[w], names, shallow=False)
        assert not mismatch and not errors, (w, mismatch, errors)
    return names


needs_pg = pytest.mark.skipif(pg_bin("initdb") is None,
                              reason="PostgreSQL server binaries not installed (apt-get install postgresql)")


@pytest.fixture(scope="module")
def small_bundles(extracts):
    folder, _ = extracts
    return _results(folder, "small", full=False)


@needs_pg
def test_files_duckdb_and_postgres_give_byte_identical_results(small_bundles):
    bundles = small_bundles
    names = _assert_identical_tables(bundles)
    assert {"effects.csv", "cohort_flow.csv", "activity_flow.csv", "source_flow.csv", "code_lists.csv",
            "outcome_labels.csv", "input_problems.csv"} <= set(names)
    eff = pd.read_csv(bundles["postgres"] / "effects.csv")
    assert {"emergency_admission", "acs_chronic_admission", "acs_bardsley_admission"} <= set(eff["outcome"])
    # The flows name each source by the spec's `name:`, never by where it was read from.
    text = "".join((bundles["postgres"] / n).read_text() for n in names if n.endswith(".csv"))
    assert "HES APC (hes_apc)" in text and "warehouse" not in text and "pgtest" not in text
    # The manifest records the profile and table, never a credential.
    man = json.loads((bundles["postgres"] / "manifest.json").read_text())
    assert "password" not in json.dumps(man) and "pgtest" in json.dumps(man)


@needs_pg
def test_report_names_coded_outcomes_by_their_labels(small_bundles, tmp_path):
    from evaltool.report.bundle_io import load_bundle
    from evaltool.report.render import build_documents

    report, appendix, _ = build_documents(load_bundle(small_bundles["files"].parent), tmp_path)
    # Headings and sentences read the code list's title, tables its short label; no raw name is left.
    assert "## Emergency admissions for chronic ambulatory care sensitive conditions {#sec-outcome-acs-chronic" in report
    assert "Emergency admissions in the last 100 days of life" in report
    for raw in ("Acs chronic", "acs chronic admission", "Eol emergency", "acs_chronic_admission",
                "eol_emergency_admission_100d"):
        assert raw not in report, raw
        assert raw not in re.sub(r"````.*?````", "", appendix, flags=re.S), raw  # the spec's text aside
    assert "**Ambulatory care sensitive conditions.**" in report  # and a glossary entry
    # The effects stage's own messages (quoted by the report) use the label too.
    assert "no emergency admissions for chronic ambulatory care sensitive conditions among" in \
        (report + appendix).replace("\\", "")


@pytest.mark.slow
@needs_pg
def test_files_duckdb_and_postgres_give_byte_identical_results_with_rollout(tmp_path_factory):
    folder = tmp_path_factory.mktemp("southvale_nhs_full")
    _warehouses(folder, 0.25)
    names = _assert_identical_tables(_results(folder, "full", full=True))
    assert "rollout_effects.csv" in names or any(n.startswith("rollout") for n in names), names


def test_comorbidity_scores_are_matching_covariates_from_the_spec(extracts, tmp_path):
    """`matching.covariates` naming charlson and hfrs: scored from the HES diagnoses as of each risk set,
    matched on, and reported in the balance table (enrolled people carry more comorbidity)."""
    from evaltool.pipeline import run

    folder, _ = extracts
    p = _spec(folder, tmp_path, "files")
    spec = yaml.safe_load(p.read_text())
    spec["matching"]["covariates"] += ["charlson", "hfrs"]
    spec["effects"]["outcomes"] = ["emergency_admission"]
    spec["effects"]["event_study"] = False
    spec.pop("coded_outcomes")
    p.write_text(yaml.safe_dump(spec, sort_keys=False))
    res = run(p, render=False)
    bal = pd.read_csv(res.bundle_dir / "results" / "balance.csv").set_index("covariate")
    for c in ("charlson", "hfrs"):
        assert bal.loc[c, "mean_treated"] > bal.loc[c, "mean_control_before"] > 0, c
        assert abs(bal.loc[c, "smd_after"]) < abs(bal.loc[c, "smd_before"]), c
    # Without an APC extract there are no diagnoses to score: a clear error, not a missing column.
    from evaltool.errors import DataValidationError
    from evaltool.pipeline import _score_covariates

    class _V:
        nhs: dict = {}

    with pytest.raises(DataValidationError, match="comorbidity scores from prior diagnoses"):
        _score_covariates(load_spec(p), _V(), type("C", (), {"population": pd.DataFrame({"person_id": []})})())
