"""Time the quality gates on generated tables of a chosen size.

    python -m quality.bench --rows 1000000

Creates ``orders``, ``order_items`` and ``geolocation`` shaped like the Olist raw tables (text
columns, lineage columns) with ``generate_series`` in a scratch schema, validates each against its
raw_olist suite, and prints, side by side, the gate's time and the time of one plain aggregate
scan of the same table (``count(*)`` with ``count(distinct`` of the key), so the gate's cost reads
as a multiple of a scan. The scratch schema is dropped at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import time

from psycopg2 import sql

from warehouse import database

SCHEMA = "quality_bench"

TABLES = {
    "orders": """
        select
          md5(i::text) as order_id,
          md5('c' || i) as customer_id,
          (array['delivered', 'shipped', 'canceled', 'unavailable', 'invoiced', 'processing',
                 'created', 'approved'])[1 + i % 8] as order_status,
          to_char(timestamp '2017-01-01' + i * interval '1 minute', 'YYYY-MM-DD HH24:MI:SS')
            as order_purchase_timestamp,
          to_char(timestamp '2017-01-01' + i * interval '1 minute' + interval '1 hour',
                  'YYYY-MM-DD HH24:MI:SS') as order_approved_at,
          case when i % 3 > 0 then to_char(timestamp '2017-01-02' + i * interval '1 minute',
                                           'YYYY-MM-DD HH24:MI:SS') end as order_delivered_carrier_date,
          case when i % 3 > 0 then to_char(timestamp '2017-01-05' + i * interval '1 minute',
                                           'YYYY-MM-DD HH24:MI:SS') end as order_delivered_customer_date,
          to_char(date '2017-01-20' + i / 1440, 'YYYY-MM-DD') || ' 00:00:00' as order_estimated_delivery_date,
          'landing/olist_orders_dataset.csv' as _source_file,
          i + 1 as _source_row,
          '1732262211.123456' as _dlt_load_id
        from generate_series(1, {rows}) as i
    """,
    "order_items": """
        select
          md5((i / 2)::text) as order_id,
          (1 + i % 2)::text as order_item_id,
          md5('p' || i % 30000) as product_id,
          md5('s' || i % 3000) as seller_id,
          to_char(timestamp '2017-01-01' + i * interval '1 minute', 'YYYY-MM-DD HH24:MI:SS')
            as shipping_limit_date,
          round((random() * 500)::numeric, 2)::text as price,
          round((random() * 50)::numeric, 2)::text as freight_value,
          'landing/olist_order_items_dataset.csv' as _source_file,
          i + 1 as _source_row,
          '1732262211.123456' as _dlt_load_id
        from generate_series(1, {rows}) as i
    """,
    "geolocation": """
        select
          lpad((1000 + i % 98000)::text, 5, '0') as geolocation_zip_code_prefix,
          (-23.5 + random())::text as geolocation_lat,
          (-46.6 + random())::text as geolocation_lng,
          'sao paulo' as geolocation_city,
          (array['SP', 'RJ', 'MG', 'RS'])[1 + i % 4] as geolocation_state,
          'landing/olist_geolocation_dataset.csv' as _source_file,
          i + 1 as _source_row,
          '1732262211.123456' as _dlt_load_id
        from generate_series(1, {rows}) as i
    """,
}
KEYS = {"orders": "order_id", "order_items": "order_id", "geolocation": "geolocation_zip_code_prefix"}


def create_tables(db, rows: int) -> None:
    with database.connect(db) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(SCHEMA)))
        cur.execute(sql.SQL("create schema {}").format(sql.Identifier(SCHEMA)))
        for table, select in TABLES.items():
            target = sql.Identifier(SCHEMA, table)
            cur.execute(
                sql.SQL("create table {} as ").format(target) + sql.SQL(select).format(rows=sql.Literal(rows))
            )
            cur.execute(sql.SQL("analyze {}").format(target))


def scan_seconds(db, table: str) -> float:
    statement = sql.SQL("select count(*), count(distinct {}) from {}").format(
        sql.Identifier(KEYS[table]), sql.Identifier(SCHEMA, table)
    )
    with database.connect(db) as conn, conn.cursor() as cur:
        started = time.perf_counter()
        cur.execute(statement)
        cur.fetchall()
        return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help=f"keep the {SCHEMA} schema")
    args = parser.parse_args(argv)

    db = database.ensure()
    started = time.perf_counter()
    create_tables(db, args.rows)
    print(f"created {len(TABLES)} tables of {args.rows:,} rows in {time.perf_counter() - started:.1f}s")

    started = time.perf_counter()
    from quality.gates import validate_table

    print(f"imported Great Expectations in {time.perf_counter() - started:.1f}s")
    print(f"{'table':<14} {'gate s':>7} {'scan s':>7} {'ratio':>6}  expectations  result")
    try:
        for table in TABLES:
            result = validate_table(db, SCHEMA, table, suite=f"raw_olist.{table}")
            scan = scan_seconds(db, table)
            outcome = "passed" if result.success else f"failed: {[f['expectation'] for f in result.failed]}"
            print(
                f"{table:<14} {result.seconds:>7.2f} {scan:>7.2f} {result.seconds / scan:>6.1f}"
                f"  {result.evaluated:>12}  {outcome}"
            )
    finally:
        if not args.keep:
            with database.connect(db) as conn, conn.cursor() as cur:
                cur.execute(sql.SQL("drop schema {} cascade").format(sql.Identifier(SCHEMA)))


if __name__ == "__main__":
    main()
