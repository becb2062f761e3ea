"""`make bench-ingest SCALE=<orders>`: the file ingestion against PostgreSQL's own COPY.

Generates the sandbox files at the given scale (reused when already there), then, on one server,
loads them (1) with plain ``COPY ... FROM STDIN (FORMAT csv)`` into text tables, the floor, and
(2) with the project's dlt pipeline into a fresh dataset; prints both wall times and the ratio."""

from __future__ import annotations

import argparse
import csv
import json
import logging
import time
import uuid
from pathlib import Path

from psycopg2 import sql

from ingestion.destination import make_pipeline
from ingestion.olist_files import TABLES
from ingestion.pipelines import load_olist_files
from warehouse import database
from warehouse.paths import local_dir

log = logging.getLogger(__name__)


def bench_files(orders: int, seed: int = 42) -> Path:
    out = local_dir() / "bench" / f"orders_{orders}"
    if not (out / "manifest.json").exists():
        from sandbox.generate import generate

        generate(out=out, orders=orders, seed=seed, progress=True)
    return out / "landing"


def copy_load(landing: Path, schema: str, new_tables: bool = False) -> tuple[float, int]:
    """Plain COPY of every Olist file into text tables of ``schema``; returns seconds and rows.

    By default the tables exist (created and committed first, outside the timing), as the raw tables
    do for every load after the first: the COPY writes WAL like the loader's. ``new_tables`` creates
    each table in the COPY's own transaction, which PostgreSQL with ``wal_level = minimal`` (the
    embedded server's setting) loads without writing WAL: faster than any load into existing tables.
    """
    files = sorted(p for spec in TABLES.values() for p in landing.rglob(f"{spec.file_stem}.csv"))
    targets = []
    for path in files:
        table = next(s.table for s in TABLES.values() if path.name == f"{s.file_stem}.csv")
        with path.open(newline="", encoding="utf-8") as handle:
            header = next(csv.reader(handle))
        columns = sql.SQL(", ").join(sql.SQL("{} text").format(sql.Identifier(c)) for c in header)
        create = sql.SQL("create table if not exists {} ({})").format(sql.Identifier(schema, table), columns)
        targets.append((path, sql.Identifier(schema, table), create))
    with database.connect() as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("create schema {}").format(sql.Identifier(schema)))
        if not new_tables:
            for _, _, create in targets:
                cur.execute(create)
        conn.commit()
    started = time.perf_counter()
    rows = 0
    with database.connect() as conn, conn.cursor() as cur:
        for path, target, create in targets:
            if new_tables:
                cur.execute(create)
            with path.open("rb") as handle:
                statement = sql.SQL("copy {} from stdin with (format csv, header true)").format(target)
                cur.copy_expert(statement.as_string(conn), handle)
            rows += cur.rowcount
        conn.commit()
    return time.perf_counter() - started, rows


def pipeline_load(landing: Path, dataset: str) -> tuple[float, int, int]:
    pipeline = make_pipeline(dataset, dataset)
    started = time.perf_counter()
    _, summary = load_olist_files(str(landing), pipeline=pipeline)
    return time.perf_counter() - started, summary.rows_loaded, summary.rows_rejected


def _timing(seconds: float, rows: int) -> str:
    return f"{seconds:8.1f} s  {rows:>12,} rows  {rows / seconds:>12,.0f} rows/s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark schemas afterwards")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    db = database.ensure()
    landing = bench_files(args.orders)
    size_mb = sum(p.stat().st_size for p in landing.rglob("*.csv")) / 1e6
    tag = uuid.uuid4().hex[:6]
    copy_schema, dataset = f"bench_copy_{tag}", f"bench_dlt_{tag}"
    print(f"Database: {db.describe()}")
    print(f"Files: {landing} ({size_mb:,.0f} MB of CSV, {args.orders:,} orders)")
    try:
        copy_seconds, copy_rows = copy_load(landing, copy_schema)
        print(f"  plain COPY         {_timing(copy_seconds, copy_rows)}  (into existing tables, the floor)")
        new_seconds, _ = copy_load(landing, f"{copy_schema}_new", new_tables=True)
        print(f"  plain COPY         {_timing(new_seconds, copy_rows)}  (new tables: no WAL)")
        dlt_seconds, dlt_rows, rejected = pipeline_load(landing, dataset)
        print(f"  ingestion pipeline {_timing(dlt_seconds, dlt_rows)}  ({rejected:,} rejected)")
        ratio = dlt_seconds / copy_seconds
        print(f"  ratio pipeline / COPY: {ratio:.2f}x (target: at most 2x at 1M orders)")
        result = {
            "orders": args.orders,
            "csv_mb": round(size_mb, 1),
            "copy_seconds": round(copy_seconds, 2),
            "copy_new_tables_seconds": round(new_seconds, 2),
            "copy_rows": copy_rows,
            "pipeline_seconds": round(dlt_seconds, 2),
            "pipeline_rows": dlt_rows,
            "ratio": round(ratio, 2),
        }
        print(json.dumps(result))
    finally:
        if not args.keep:
            for schema in (copy_schema, f"{copy_schema}_new", dataset, f"{dataset}_staging"):
                database.query(f'drop schema if exists "{schema}" cascade')  # names we generated above
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
