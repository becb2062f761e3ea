"""The CLV step on a real warehouse: a 3,000-order sandbox loaded and built with dbt, then `run_clv`.

One module-scoped build in a database of its own (the loaders and dbt helpers of tests/models). The tests
check what an engineer would after a run: one prediction per person of every source, sane values, the
fitted parameters and the holdout report stored with the run, the analyst reading the tables, a rerun
replacing the predictions but keeping the history, the dbt mart customer_churn (null P(alive) before any run)
putting the predictions' P(alive) beside the threshold rule once rebuilt, a tiny source skipped with its
reason, and the Dagster asset doing the same.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import psycopg2
import pytest
import yaml
from psycopg2 import sql

from clv.warehouse import HOLDOUT, MODEL_RUNS, PREDICTIONS, SCHEMA, ClvRun, run_clv
from tests.models.sandbox_loading import load_sandbox
from tests.models.test_marts import ORDERS, _dbt, _query
from warehouse import database
from warehouse.settings import EMBEDDED_MARKER, DatabaseSettings

ROOT = Path(__file__).resolve().parents[2]
SOURCES_YAML = ROOT / "dbt_project" / "models" / "marts" / "customers" / "_clv__sources.yml"
TEST_DATABASE = "clv_test"
PEOPLE_PER_SOURCE = (
    "select transaction_source, count(distinct customer_unique_id) as people "
    "from intermediate.int_customer_transactions_unioned group by 1 order by 1"
)


@pytest.fixture(scope="module")
def db(
    warehouse_db: DatabaseSettings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DatabaseSettings]:
    """A database of its own with the sandbox loaded and the models customer_churn needs built."""
    from sandbox.generate import generate

    root = tmp_path_factory.mktemp("clv")
    generate(out=root / "sandbox", orders=ORDERS, progress=False)
    database.ensure_database(warehouse_db, TEST_DATABASE)
    built = dataclasses.replace(warehouse_db, dbname=TEST_DATABASE)
    load_sandbox(root / "sandbox", db=built, pipelines_dir=root / "dlt", erp_database=f"{TEST_DATABASE}_erp")
    # The models and seeds customer_churn needs, and the transactions per person the CLV step reads;
    # testing them is the job of tests/models.
    result = _dbt(
        built,
        root / "target",
        "build",
        "--select",
        "+customer_churn +int_customer_transactions_unioned",
        "--resource-type",
        "model",
        "--resource-type",
        "seed",
    )
    assert result.returncode == 0, f"dbt build failed:\n{result.stdout[-8000:]}\n{result.stderr[-3000:]}"
    # No CLV run yet, so no source table: customer_churn is built without predictions.
    assert _query(built, "select count(p_alive) as n from marts.customer_churn").loc[0, "n"] == 0
    yield built


@pytest.fixture(scope="module")
def first_run(db: DatabaseSettings) -> ClvRun:
    return run_clv(db)


def _rows(db: DatabaseSettings, table: str, where: str = "true") -> int:
    return int(_query(db, f"select count(*) as n from {SCHEMA}.{table} where {where}").loc[0, "n"])


def test_one_prediction_per_person_of_every_source(db: DatabaseSettings, first_run: ClvRun) -> None:
    people = _query(db, PEOPLE_PER_SOURCE)
    assert people["transaction_source"].tolist() == ["byo", "olist"]
    for source, expected in zip(people["transaction_source"], people["people"], strict=True):
        assert first_run.sources[source].status == "fitted", first_run.sources[source].reason
        assert _rows(db, PREDICTIONS, f"transaction_source = '{source}'") == expected
    checks = _query(
        db,
        f"""
        select
            count(*) filter (where p_alive < 0 or p_alive > 1) as p_alive_out_of_range,
            count(*) filter (where predicted_clv is null or predicted_clv < 0) as clv_missing_or_negative,
            count(*) filter (where expected_purchases_30d > expected_purchases_90d
                or expected_purchases_90d > expected_purchases_365d) as horizons_out_of_order,
            count(*) filter (where frequency = 0 and p_alive <> 1) as one_time_buyers_not_alive,
            count(distinct model_run_id) as runs,
            min(model_run_id::text) as run_id,
            sum(predicted_clv) as total_clv
        from {SCHEMA}.{PREDICTIONS}
        """,
    ).iloc[0]
    assert checks["p_alive_out_of_range"] == 0
    assert checks["clv_missing_or_negative"] == 0
    assert checks["horizons_out_of_order"] == 0
    assert checks["one_time_buyers_not_alive"] == 0
    assert checks["runs"] == 1 and checks["run_id"] == first_run.run_id
    assert float(checks["total_clv"]) > 0


def test_the_fitted_parameters_and_the_holdout_report_are_stored_with_the_run(
    db: DatabaseSettings, first_run: ClvRun
) -> None:
    runs = _query(db, f"select * from {SCHEMA}.{MODEL_RUNS} where model_run_id = '{first_run.run_id}'")
    assert len(runs) == 6  # two sources x (bgnbd, gamma_gamma, bgnbd_calibration)
    assert set(runs["status"]) == {"fitted"}
    bgnbd = runs[runs["model"] == "bgnbd"]
    assert bgnbd[["r", "alpha", "a", "b", "log_likelihood"]].notna().all().all()
    assert bgnbd["converged"].all()
    assert runs.loc[runs["model"] == "gamma_gamma", ["p", "q", "gamma"]].notna().all().all()
    calibration = runs[runs["model"] == "bgnbd_calibration"]
    assert (
        calibration[["holdout_mae", "holdout_rmse", "holdout_total_actual", "holdout_total_predicted"]]
        .notna()
        .all()
        .all()
    )
    assert (calibration["holdout_days"] == 180).all()

    groups = _query(
        db,
        f"select transaction_source, sum(n_people) as people, count(*) as groups, "
        f"sum(n_people * actual_mean) as actual from {SCHEMA}.{HOLDOUT} "
        f"where model_run_id = '{first_run.run_id}' group by 1 order by 1",
    )
    calibration = calibration.sort_values("transaction_source")
    assert groups["groups"].tolist() == [8, 8]  # 0, 1, ... 6, 7+
    assert groups["people"].tolist() == calibration["n_people"].tolist()
    assert [float(v) for v in groups["actual"]] == pytest.approx(calibration["holdout_total_actual"].tolist())


def test_the_analyst_reads_the_clv_tables(db: DatabaseSettings, first_run: ClvRun) -> None:
    assert first_run.written.analyst_granted
    conn = psycopg2.connect(**db.dsn())
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("set role analyst")
            for table in (PREDICTIONS, MODEL_RUNS, HOLDOUT):
                cur.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(SCHEMA, table)))
                assert cur.fetchone()[0] > 0, table
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute(f"delete from {SCHEMA}.{PREDICTIONS}")
    finally:
        conn.close()


def test_customer_churn_puts_p_alive_beside_the_threshold_rule(
    db: DatabaseSettings, first_run: ClvRun, tmp_path: Path
) -> None:
    """Rebuilt after the run (as the second dbt step does), customer_churn reads the predictions."""
    result = _dbt(db, tmp_path / "target", "run", "--select", "customer_churn")
    assert result.returncode == 0, f"dbt run failed:\n{result.stdout[-8000:]}"
    joined = _query(
        db,
        f"""
        select
            count(*) as people,
            count(churn.p_alive) as with_p_alive,
            count(*) filter (where churn.p_alive is distinct from predictions.p_alive
                or churn.expected_purchases_90d is distinct from predictions.expected_purchases_90d
                or churn.predicted_clv is distinct from predictions.predicted_clv
                or churn.clv_model_run_id is distinct from predictions.model_run_id) as differs,
            count(*) filter (where churn.clv_as_of_date <> churn.as_of_date) as other_as_of
        from marts.customer_churn as churn
        left join {SCHEMA}.{PREDICTIONS} as predictions using (transaction_source, customer_unique_id)
        """,
    ).iloc[0]
    assert joined["with_p_alive"] == first_run.predictions_written == joined["people"]
    assert joined["differs"] == 0 and joined["other_as_of"] == 0


def test_a_rerun_replaces_the_predictions_and_keeps_the_history(
    db: DatabaseSettings, first_run: ClvRun
) -> None:
    before = _rows(db, PREDICTIONS)
    runs_before = _rows(db, MODEL_RUNS)
    # the table earlier versions wrote (customer_churn with P(alive)) is dropped: nothing refreshes it now
    database.query(f"create table {SCHEMA}.customer_churn_scored (p_alive double precision)", db=db)
    second = run_clv(db, unit="W", horizon_months=6, monthly_discount_rate=0.02, holdout_days=120)
    assert database.query(f"select to_regclass('{SCHEMA}.customer_churn_scored')", db=db) == [(None,)]
    assert _rows(db, PREDICTIONS) == before == second.predictions_written
    assert _rows(db, PREDICTIONS, f"model_run_id = '{second.run_id}' and time_unit = 'W'") == before
    assert _rows(db, MODEL_RUNS) == runs_before + 6
    assert _rows(db, MODEL_RUNS, f"model_run_id = '{first_run.run_id}'") == 6
    assert _rows(db, HOLDOUT, f"model_run_id = '{second.run_id}' and holdout_days = 120") == 16


def test_a_rerun_swaps_in_a_new_predictions_table_unless_a_view_reads_it(
    db: DatabaseSettings, first_run: ClvRun
) -> None:
    """A run that replaces every prediction writes a new table and swaps it in, with the old table's
    constraint and index names and the analyst's grant; when a view reads the table (an analyst's own),
    it replaces the rows in place, so the view keeps working."""
    table = f"{SCHEMA}.{PREDICTIONS}"
    names = (
        f"select conname::text from pg_constraint where conrelid = '{table}'::regclass "
        f"union select indexrelid::regclass::text from pg_index where indrelid = '{table}'::regclass "
        "order by 1"
    )
    oid = f"select '{table}'::regclass::oid"
    names_before, oid_before = database.query(names, db=db), database.query(oid, db=db)
    assert len(names_before) >= 12  # the primary key, the ranking index, ten checks

    swapped = run_clv(db)
    oid_swapped = database.query(oid, db=db)
    assert oid_swapped != oid_before
    assert database.query(names, db=db) == names_before
    assert database.query(f"select to_regclass('{table}__new')", db=db) == [(None,)]
    assert _rows(db, PREDICTIONS, f"model_run_id = '{swapped.run_id}'") == swapped.predictions_written
    analyst = database.query(f"select has_table_privilege('analyst', '{table}', 'select')", db=db)
    assert analyst == [(True,)]

    view = f"{SCHEMA}.clv_predictions_test_view"
    database.query(f"create view {view} as select model_run_id from {table}", db=db)
    try:
        in_place = run_clv(db)
        assert database.query(oid, db=db) == oid_swapped
        counted = database.query(
            f"select count(*), count(*) filter (where model_run_id = '{in_place.run_id}') from {view}", db=db
        )
        assert counted == [(in_place.predictions_written, in_place.predictions_written)]
    finally:
        database.query(f"drop view if exists {view}", db=db)


def test_a_tiny_source_is_skipped_with_its_reason(db: DatabaseSettings, first_run: ClvRun) -> None:
    """Twenty orders of a third source: no fit, a model-run row per model saying why, no predictions;
    the other sources' predictions are untouched when only the tiny one is run."""
    # The table under the int_customer_transactions_unioned view (which adds the as-of date).
    relation = "intermediate.int_customer_transactions"
    before = _rows(db, PREDICTIONS)
    database.query(
        f"insert into {relation} (transaction_source, customer_unique_id, order_id, purchased_at, "
        "purchase_date, net_revenue) "
        "select 'tiny', 'person_' || (i % 12), 'order_' || i, timestamp '2018-01-01' + i * interval '9 days', "
        "date '2018-01-01' + i * 9, 50 from generate_series(1, 20) as i",
        db=db,
    )
    try:
        run = run_clv(db, sources=["tiny"])
    finally:
        database.query(f"delete from {relation} where transaction_source = 'tiny'", db=db)
    tiny = run.sources["tiny"]
    assert tiny.status == "skipped" and "12 people" in tiny.reason and "at least 50" in tiny.reason
    rows = _query(
        db,
        f"select model, status, status_reason, n_people from {SCHEMA}.{MODEL_RUNS} "
        f"where model_run_id = '{run.run_id}' order by model",
    )
    assert rows["model"].tolist() == ["bgnbd", "bgnbd_calibration", "gamma_gamma"]
    assert set(rows["status"]) == {"skipped"} and (rows["n_people"] == 12).all()
    assert rows["status_reason"].str.contains("12 people").all()
    assert _rows(db, PREDICTIONS, "transaction_source = 'tiny'") == 0
    assert _rows(db, PREDICTIONS) == before


def test_the_dagster_asset_materializes_the_three_tables(db: DatabaseSettings, first_run: ClvRun) -> None:
    from dagster import materialize

    from orchestration.assets.clv import (
        HOLDOUT_KEY,
        MODEL_RUNS_KEY,
        PREDICTIONS_KEY,
        clv_predictions,
    )

    # The asset resolves the database like every command (a configured server here) and exports its PG*
    # variables: the whole environment is restored afterwards.
    with mock.patch.dict(os.environ, {"DATABASE_URL": db.url(), "CLV_HOLDOUT_DAYS": "90"}):
        os.environ.pop(EMBEDDED_MARKER, None)
        result = materialize([clv_predictions])
    assert result.success
    materialized = {event.asset_key: event for event in result.get_asset_materialization_events()}
    assert set(materialized) == {PREDICTIONS_KEY, MODEL_RUNS_KEY, HOLDOUT_KEY}
    metadata = {
        key: event.step_materialization_data.materialization.metadata for key, event in materialized.items()
    }
    assert metadata[PREDICTIONS_KEY]["rows"].value == _rows(db, PREDICTIONS)
    assert metadata[PREDICTIONS_KEY]["olist_people"].value == _rows(
        db, PREDICTIONS, "transaction_source = 'olist'"
    )
    assert metadata[MODEL_RUNS_KEY]["olist_bgnbd"].value["status"] == "fitted"
    assert metadata[HOLDOUT_KEY]["olist_holdout_mae"].value >= 0
    assert metadata[HOLDOUT_KEY]["holdout_days"].value == 90


def test_the_dbt_source_documents_every_column_in_table_order(
    db: DatabaseSettings, first_run: ClvRun
) -> None:
    """The docs site shows the tables from _clv__sources.yml: it must list the columns the step writes."""
    spec = yaml.safe_load(SOURCES_YAML.read_text())
    (source,) = spec["sources"]
    documented = {
        table["name"]: [column["name"] for column in table["columns"]] for table in source["tables"]
    }
    assert set(documented) == {PREDICTIONS, MODEL_RUNS, HOLDOUT}
    for table, columns in documented.items():
        actual = _query(
            db,
            "select column_name from information_schema.columns "
            f"where table_schema = '{SCHEMA}' and table_name = '{table}' order by ordinal_position",
        )["column_name"].tolist()
        assert columns == actual, table
