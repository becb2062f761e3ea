"""`make run` on a small sandbox: the whole pipeline through Dagster, twice, on the embedded
PostgreSQL and on a server named by environment variables."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest

from warehouse import database
from warehouse.settings import CONNECTION_VARIABLES, EMBEDDED_MARKER, DatabaseSettings

ROOT = Path(__file__).resolve().parents[1]
ORDERS = 1500


def _run_pipeline(env: dict[str, str]) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "warehouse", "run", "--orders", str(ORDERS)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, f"make run failed:\n{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
    return result


def _counts(db: DatabaseSettings) -> dict[str, int]:
    counts = database.table_row_counts(("raw_olist", "staging", "marts"), db)
    # the CLV step keeps a history of its model runs: one more per run, by design
    for history in ("marts.clv_model_runs", "marts.clv_holdout_by_frequency"):
        counts.pop(history, None)
    with psycopg2.connect(**db.dsn()) as conn, conn.cursor() as cur:
        cur.execute("select count(*) from staging.stg_olist__orders")
        counts["staging.stg_olist__orders"] = cur.fetchone()[0]
    return counts


def _env(local: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in (*CONNECTION_VARIABLES, EMBEDDED_MARKER, "LANDING_URL")
    }
    env.update(WAREHOUSE_LOCAL_DIR=str(local), DAGSTER_HOME=str(local / "dagster"), **extra)
    return env


@pytest.mark.slow
def test_make_run_twice_on_the_embedded_database(tmp_path: Path) -> None:
    local = tmp_path / "local"
    first = _run_pipeline(_env(local))
    assert "Loaded (rows per raw table)" in first.stdout and "checks" in first.stdout
    db = database.start_embedded(local / "pgdata")
    try:
        counts = _counts(db)
        assert counts["marts.fct_orders"] > 0
        assert counts["raw_olist.orders"] == counts["staging.stg_olist__orders"]
        _run_pipeline(_env(local))
        assert _counts(db) == counts, "a second run changed the row counts"
        assert (ROOT / "dbt_project" / "target" / "catalog.json").exists()
        _a_bad_file_stops_the_models_and_the_marts_keep_the_last_good_data(local, db, counts)
    finally:
        database.stop_embedded(local / "pgdata")


@pytest.mark.slow
def test_make_run_on_a_server_given_by_environment_variables(tmp_path: Path) -> None:
    # A second embedded server plays the part of the user's own PostgreSQL.
    server = database.start_embedded(tmp_path / "their-postgres", databases=("shop",))
    local = tmp_path / "local"
    try:
        env = _env(
            local,
            PGHOST=server.host,
            PGPORT=str(server.port),
            PGUSER=server.user,
            PGDATABASE="shop",
            LANDING_URL="",
        )
        # the sandbox data for LANDING_URL-less runs lives under WAREHOUSE_LOCAL_DIR
        _run_pipeline(env)
        counts = _counts(DatabaseSettings(server.host, server.port, server.user, "", "shop"))
        assert counts["marts.fct_orders"] > 0
        assert not (local / "pgdata").exists(), "an embedded server was started although one was configured"
    finally:
        database.stop_embedded(tmp_path / "their-postgres")


def _a_bad_file_stops_the_models_and_the_marts_keep_the_last_good_data(
    local: Path, db: DatabaseSettings, counts: dict[str, int]
) -> None:
    """A file whose rows read fine but break a rule of the gate (an order status outside Olist's
    set): the load takes it, the gate fails, the dbt models do not run, the marts stay as they were."""
    customer_id = database.query("select customer_id from raw_olist.customers limit 1", None, db)[0][0]
    bad = local / "sandbox" / "landing" / "batch_9999"
    bad.mkdir(parents=True)
    (bad / "olist_orders_dataset.csv").write_text(
        '"order_id","customer_id","order_status","order_purchase_timestamp","order_approved_at",'
        '"order_delivered_carrier_date","order_delivered_customer_date","order_estimated_delivery_date"\n'
        f'"ffffffffffffffffffffffffffffffff","{customer_id}","entregue","2018-10-01 10:00:00","","","",""\n'
    )
    result = subprocess.run(
        [sys.executable, "-m", "warehouse", "run"],
        cwd=ROOT,
        env=_env(local),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 1, result.stdout[-3000:]
    assert "gate_olist" in result.stdout and "order_status" in result.stdout + result.stderr
    assert database.query(
        "select count(*) from raw_olist.orders where order_status = 'entregue'", None, db
    ) == [(1,)]
    assert database.query("select count(*) from marts.fct_orders", None, db) == [
        (counts["marts.fct_orders"],)
    ]
