"""Time the quality gates on generated tables of a chosen size, or on loaded tables.

    python -m quality.bench --rows 1000000
    python -m quality.bench --schema raw_olist --scope both

The first form creates ``orders``, ``order_items`` and ``geolocation`` shaped like the Olist raw
tables (text columns, lineage columns) with ``generate_series`` in a scratch schema, validates each
against its raw_olist suite, and prints, side by side, the gate's time and the time of one plain
aggregate scan of the same table (``count(*)`` with ``count(distinct`` of the key), so the gate's
cost reads as a multiple of a scan. The scratch schema is dropped at the end unless ``--keep``.

The second runs the gates of every table of an existing schema (loaded by the project's loader, so
with ``_dlt_load_id``), whole tables and/or only the rows of the newest load (or of ``--load-id``),
against the suites of ``--suite-schema`` (default: the schema's own), and prints the seconds per
table; :func:`time_gates` is the same from Python.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

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


def latest_load_id(db, schema: str) -> str:
    """The newest completed dlt load of a dataset (its ``_dlt_loads`` table)."""
    statement = sql.SQL("select load_id from {} where status = 0 order by load_id desc limit 1").format(
        sql.Identifier(schema, "_dlt_loads")
    )
    with database.connect(db) as conn, conn.cursor() as cur:
        cur.execute(statement)
        row = cur.fetchone()
    if row is None:
        raise ValueError(f"{schema}._dlt_loads holds no completed load")
    return row[0]


def time_gates(
    db,
    schema: str,
    *,
    load_id: str | Sequence[str] | None = None,
    suite_schema: str | None = None,
    tables: Sequence[str] | None = None,
) -> tuple[float, list]:
    """Run the quality gates of ``schema``'s tables (whole tables, or only the rows of dlt loads
    ``load_id``) as the Dagster check does, without rendering Data Docs. Returns the wall seconds
    of the whole call (Great Expectations' context included) and the :class:`GateResult` of each
    table, whose ``seconds`` is that table's validation and ``rows`` the rows it validated."""
    from quality.gates import validate_schema

    started = time.perf_counter()
    results = validate_schema(
        db, schema, load_id=load_id, suite_schema=suite_schema, tables=tables, data_docs=False
    )
    return time.perf_counter() - started, results


def _print_gates(label: str, seconds: float, results: list) -> None:
    print(f"{label}: {seconds:.1f} s in all")
    print(f"  {'table':<36} {'rows':>11} {'gate s':>7}  result")
    for result in results:
        rows = f"{result.rows:,}" if result.rows is not None else "-"
        outcome = "passed" if result.success else f"failed: {[f['expectation'] for f in result.failed]}"
        print(f"  {result.table:<36} {rows:>11} {result.seconds:>7.2f}  {outcome}")


def bench_schema(args: argparse.Namespace) -> None:
    db = database.ensure()
    started = time.perf_counter()
    import quality.gates  # noqa: F401  (Great Expectations' import, timed on its own)

    print(f"imported Great Expectations in {time.perf_counter() - started:.1f}s")
    if args.scope in ("table", "both"):
        _print_gates("whole tables", *time_gates(db, args.schema, suite_schema=args.suite_schema))
    if args.scope in ("load", "both"):
        load_ids = args.load_id or [latest_load_id(db, args.schema)]
        seconds, results = time_gates(db, args.schema, load_id=load_ids, suite_schema=args.suite_schema)
        _print_gates(f"rows of load {', '.join(load_ids)}", seconds, results)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help=f"keep the {SCHEMA} schema")
    parser.add_argument("--schema", help="time the gates of this existing schema instead")
    parser.add_argument("--suite-schema", help="with --schema: whose suites (default: the schema's own)")
    parser.add_argument("--scope", choices=("table", "load", "both"), default="both")
    parser.add_argument("--load-id", action="append", help="with --schema: this load (default: the newest)")
    args = parser.parse_args(argv)
    if args.schema:
        bench_schema(args)
        return

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
