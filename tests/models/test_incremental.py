"""Incremental builds give the same warehouse as a full rebuild, and read only the new loads.

A 3,000-order sandbox with 2% dirty rows is loaded and built; then the sandbox's second weekly
batch (new orders, status changes of older orders, new leads, costs and refunds) is loaded and
`dbt build` runs again, incrementally. Every table dbt builds must then hold exactly the rows a
`--full-refresh` of the same raw data produces (the `_built_at` stamps aside), and the staging
models must have read only the second batch's rows.

Then a load edits a few rows the way a source can, on the paths an incremental model could miss:
a sale moves to another month, an order loses its purchase date (it leaves the facts), a sale is
cancelled, an item changes product, a product changes category, a payment changes type. The next
incremental build must again equal a full rebuild.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

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
# The dlt load id of the edits (after every real one).
EDIT_LOAD_ID = "9999999999.000001"
TIMESTAMP = r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$"
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


def _scalar(db: DatabaseSettings, query: str, *params: object) -> Any:
    with psycopg2.connect(**db.dsn()) as conn, conn.cursor() as cur:
        cur.execute(query, params or None)
        return cur.fetchone()[0]


def _edit_raw_rows(db: DatabaseSettings) -> dict[str, str]:
    """Change a few raw rows as a new load would (dlt's merge replaces a row and stamps its load id).

    Returns the ids picked: distinct delivered orders with a clean purchase timestamp and items,
    sales in the facts."""
    with psycopg2.connect(**db.dsn()) as conn, conn.cursor() as cur:
        cur.execute(
            """
            select order_id from raw_olist.orders as o
            where order_status = 'delivered' and order_purchase_timestamp ~ %s
                and exists (select 1 from marts.fct_orders as f where f.order_id = o.order_id and f.is_sale)
                and exists (select 1 from marts.fct_order_items as i where i.order_id = o.order_id)
            order by order_id
            limit 4
            """,
            (TIMESTAMP,),
        )
        moved, vanished, cancelled, re_itemed = (row[0] for row in cur.fetchall())
        load = {"load": EDIT_LOAD_ID}
        cur.execute(
            "update raw_olist.orders set _dlt_load_id = %(load)s, order_purchase_timestamp = to_char("
            "order_purchase_timestamp::timestamp - interval '61 days', 'YYYY-MM-DD HH24:MI:SS') "
            "where order_id = %(id)s",
            {**load, "id": moved},
        )
        cur.execute(
            "update raw_olist.orders set _dlt_load_id = %(load)s, order_purchase_timestamp = null "
            "where order_id = %(id)s",
            {**load, "id": vanished},
        )
        cur.execute(
            "update raw_olist.orders set _dlt_load_id = %(load)s, order_status = 'canceled' "
            "where order_id = %(id)s",
            {**load, "id": cancelled},
        )
        # An item of a sale takes another product; that product changes category.
        cur.execute(
            """
            update raw_olist.order_items as i
            set _dlt_load_id = %(load)s,
                product_id = (
                    select p.product_id from raw_olist.products as p
                    where p.product_id <> i.product_id and p.product_category_name is not null
                    order by p.product_id limit 1
                )
            where i.order_id = %(id)s and i.order_item_id = (
                select min(order_item_id) from raw_olist.order_items where order_id = %(id)s
            )
            returning i.product_id
            """,
            {**load, "id": re_itemed},
        )
        (new_product,) = cur.fetchone()
        cur.execute(
            """
            update raw_olist.products as p
            set _dlt_load_id = %(load)s,
                product_category_name = (
                    select other.product_category_name from raw_olist.products as other
                    where other.product_category_name <> p.product_category_name
                    order by other.product_category_name limit 1
                )
            where p.product_id = %(product)s
            """,
            {**load, "product": new_product},
        )
        # The last payment of an order paid in several parts changes type, not amount.
        cur.execute(
            """
            update raw_olist.order_payments as pay
            set _dlt_load_id = %(load)s,
                payment_type = case when pay.payment_type = 'voucher' then 'credit_card' else 'voucher' end
            where (pay.order_id, pay.payment_sequential) = (
                select order_id, max(payment_sequential) from raw_olist.order_payments
                group by order_id having count(*) > 1 order by order_id limit 1
            )
            returning pay.order_id
            """,
            load,
        )
        (repaid,) = cur.fetchone()
    return {
        "moved": moved, "vanished": vanished, "cancelled": cancelled, "re_itemed": re_itemed,
        "new_product": new_product, "repaid": repaid,
    }  # fmt: skip


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
    full_contents = _contents(db)

    purchase_date = "select purchase_date from marts.fct_orders where order_id = %s"
    edits = _edit_raw_rows(db)
    moved_from = _scalar(db, purchase_date, edits["moved"])
    edited = _dbt(db, target, "build")
    assert edited.returncode == 0, f"dbt build after the edits failed:\n{edited.stdout[-8000:]}"
    after_edits = {
        "contents": _contents(db),
        "moved_days": (moved_from - _scalar(db, purchase_date, edits["moved"])).days,
        "vanished": _scalar(db, "select count(*) from marts.fct_orders where order_id = %s", edits["vanished"]),
        "cancelled_is_sale": _scalar(db, "select is_sale from marts.fct_orders where order_id = %s", edits["cancelled"]),
        "item_product": _scalar(
            db,
            "select product_id from marts.fct_order_items where order_id = %s order by order_item_id limit 1",
            edits["re_itemed"],
        ),
    }  # fmt: skip
    refreshed = _dbt(db, target, "run", "--full-refresh")
    assert refreshed.returncode == 0, f"dbt run --full-refresh failed:\n{refreshed.stdout[-8000:]}"
    full_after_edits = _contents(db)

    # Tables an older version wrote: one without the build stamp, one without a documented column.
    with psycopg2.connect(**db.dsn()) as conn, conn.cursor() as cur:
        cur.execute("alter table intermediate.int_orders_enriched drop column _built_at")
        cur.execute("alter table marts.fct_orders drop column customer_state")
    upgraded = _dbt(db, target, "build")
    assert upgraded.returncode == 0, f"dbt build over the older tables failed:\n{upgraded.stdout[-8000:]}"
    return {
        "incremental": after_incremental,
        "full": full_contents,
        "edits": edits,
        "after_edits": after_edits,
        "full_after_edits": full_after_edits,
        "builds_rebuilding_whole": {
            name: [
                line.split(" lacks ")[0].split()[-1]
                for line in run.stdout.splitlines()
                if "rebuilding it whole" in line
            ]
            for name, run in (
                ("first", first),
                ("incremental", incremental),
                ("edited", edited),
                ("upgraded", upgraded),
            )
        },
        "after_upgrade": _contents(db),
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


def test_edits_on_the_paths_an_incremental_build_could_miss_equal_a_full_rebuild(
    incremental_then_full: dict,
) -> None:
    after, full = incremental_then_full["after_edits"], incremental_then_full["full_after_edits"]
    edits = incremental_then_full["edits"]
    # The edits reached the facts.
    assert after["moved_days"] == 61
    assert after["vanished"] == 0
    assert after["cancelled_is_sale"] is False
    assert after["item_product"] == edits["new_product"]
    incremental = after["contents"]
    assert incremental.keys() == full.keys()
    different = {t: (incremental[t], full[t]) for t in full if incremental[t] != full[t]}
    assert not different, (
        f"tables that differ from a full rebuild after the edits (rows, digest): {different}"
    )
    # The edits reached the marts.
    before = incremental_then_full["full"]
    for table in ("marts.sales_monthly_by_dimension", "marts.product_sales_ranking", "marts.fct_orders"):
        assert full[table] != before[table], table


def test_a_table_lacking_a_column_of_its_model_is_rebuilt_whole(incremental_then_full: dict) -> None:
    """macros/full_refresh.sql: a table from an older version is rebuilt, not failed on or left with nulls,
    and no table is rebuilt whole for nothing."""
    rebuilt = incremental_then_full["builds_rebuilding_whole"]
    assert rebuilt["first"] == rebuilt["incremental"] == rebuilt["edited"] == []
    assert sorted(rebuilt["upgraded"]) == [
        '"incremental_test"."intermediate"."int_orders_enriched"',
        '"incremental_test"."marts"."fct_orders"',
    ]
    after, full = incremental_then_full["after_upgrade"], incremental_then_full["full_after_edits"]
    assert after.keys() == full.keys()
    different = {t: (after[t], full[t]) for t in full if after[t] != full[t]}
    assert not different, (
        f"tables that differ from a full rebuild after the upgrade (rows, digest): {different}"
    )


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
