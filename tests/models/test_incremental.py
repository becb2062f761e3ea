"""Incremental builds give the same warehouse as a full rebuild, and read only the new loads.

A 3,000-order sandbox with 2% dirty rows is loaded and built; then the sandbox's second weekly
batch (new orders, status changes of older orders, new leads, costs and refunds) is loaded and
`dbt build` runs again, incrementally. Every table dbt builds must then hold exactly the rows a
`--full-refresh` of the same raw data produces (the `_built_at` stamps aside), and the staging
models must have read only the second batch's rows.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import psycopg2
import pytest

from tests.models.sandbox_loading import load_sandbox
from tests.models.test_marts import _dbt
from warehouse import database
from warehouse.settings import DatabaseSettings

ORDERS = 3_000
DIRTY_SHARE = 0.02
TEST_DATABASE = "incremental_test"
SCHEMAS = ("staging", "intermediate", "marts")
# Columns that say when a row was written, not what it holds.
BUILD_STAMPS = ("_built_at",)


def _tables(db: DatabaseSettings) -> dict[str, list[str]]:
    """Every table dbt builds (schema.table -> its columns but the build stamps)."""
    with psycopg2.connect(**db.dsn()) as conn, conn.cursor() as cur:
        cur.execute(
            """
            select c.table_schema || '.' || c.table_name, c.column_name
            from information_schema.columns as c
            join information_schema.tables as t using (table_schema, table_name)
            where c.table_schema = any(%s) and t.table_type = 'BASE TABLE'
            order by 1, c.ordinal_position
            """,
            (list(SCHEMAS),),
        )
        tables: dict[str, list[str]] = {}
        for table, column in cur.fetchall():
            if column not in BUILD_STAMPS:
                tables.setdefault(table, []).append(column)
    return tables


def _contents(db: DatabaseSettings) -> dict[str, tuple[int, str]]:
    """Row count and a digest of the sorted rows of every table dbt builds."""
    out = {}
    with psycopg2.connect(**db.dsn()) as conn, conn.cursor() as cur:
        for table, columns in _tables(db).items():
            listed = ", ".join(f'"{c}"' for c in columns)
            cur.execute(
                f"select count(*), coalesce(md5(string_agg(r::text, E'\\n' order by r::text)), '') "
                f"from (select {listed} from {table}) as r"
            )
            out[table] = cur.fetchone()
    return out


def _rows_written(target: Path) -> dict[str, int]:
    results = json.loads((target / "run_results.json").read_text())["results"]
    return {
        r["unique_id"].split(".")[-1]: r["adapter_response"].get("rows_affected", 0)
        for r in results
        if r["unique_id"].startswith("model.")
    }


def _scalar(db: DatabaseSettings, query: str) -> int:
    with psycopg2.connect(**db.dsn()) as conn, conn.cursor() as cur:
        cur.execute(query)
        return cur.fetchone()[0]


@pytest.fixture(scope="module")
def incremental_then_full(warehouse_db: DatabaseSettings, tmp_path_factory: pytest.TempPathFactory) -> dict:
    from sandbox.generate import generate

    root = tmp_path_factory.mktemp("incremental")
    sandbox, pipelines, target = root / "sandbox", root / "dlt", root / "target"
    database.ensure_database(warehouse_db, TEST_DATABASE)
    db = dataclasses.replace(warehouse_db, dbname=TEST_DATABASE)

    generate(out=sandbox, orders=ORDERS, dirty_share=DIRTY_SHARE, progress=False)
    load_sandbox(sandbox, db=db, pipelines_dir=pipelines, erp_database=f"{TEST_DATABASE}_erp")
    first = _dbt(db, target, "build")
    assert first.returncode == 0, f"first dbt build failed:\n{first.stdout[-8000:]}"
    raw_orders_before = _scalar(db, "select count(*) from raw_olist.orders")

    generate(out=sandbox, orders=ORDERS, dirty_share=DIRTY_SHARE, batch=2, progress=False)
    load_sandbox(sandbox, db=db, pipelines_dir=pipelines, erp_database=f"{TEST_DATABASE}_erp")
    second_batch_orders = _scalar(
        db,
        "select count(*) from raw_olist.orders "
        "where _dlt_load_id = (select max(_dlt_load_id) from raw_olist.orders)",
    )
    incremental = _dbt(db, target, "build")
    assert incremental.returncode == 0, f"incremental dbt build failed:\n{incremental.stdout[-8000:]}"
    written = _rows_written(target)
    after_incremental = _contents(db)

    full = _dbt(db, target, "run", "--full-refresh")
    assert full.returncode == 0, f"dbt run --full-refresh failed:\n{full.stdout[-8000:]}"
    return {
        "incremental": after_incremental,
        "full": _contents(db),
        "written": written,
        "raw_orders_before": raw_orders_before,
        "second_batch_orders": second_batch_orders,
    }


def test_an_incremental_build_equals_a_full_rebuild(incremental_then_full: dict) -> None:
    incremental, full = incremental_then_full["incremental"], incremental_then_full["full"]
    assert incremental.keys() == full.keys()
    assert len(full) > 30
    different = {t: (incremental[t], full[t]) for t in full if incremental[t] != full[t]}
    assert not different, f"tables that differ from a full rebuild (rows, digest): {different}"
    assert full["marts.fct_orders"][0] > 0.9 * ORDERS


def test_staging_reads_only_the_new_loads(incremental_then_full: dict) -> None:
    written = incremental_then_full["written"]
    new_orders = incremental_then_full["second_batch_orders"]
    assert 0 < new_orders < incremental_then_full["raw_orders_before"] / 2
    # The second batch's orders (new ones and status changes), not the history.
    assert 0 < written["stg_olist__orders"] <= new_orders
    # Downstream, the orders and people those rows touch.
    history = incremental_then_full["raw_orders_before"]
    for model in (
        "int_orders_enriched",
        "fct_orders",
        "fct_order_items",
        "int_customer_orders",
        "int_customer_transactions",
    ):
        assert 0 < written[model] < history / 2, (model, written[model])
