"""Seeding the sandbox ERP database, against a real (embedded) PostgreSQL."""

from __future__ import annotations

import csv
import json
from collections import Counter
from decimal import Decimal
from pathlib import Path

import psycopg2
import pytest

from sandbox.erp import seed_erp
from sandbox.generate import generate
from warehouse.database import start_embedded, stop_embedded

ORDERS = 2000
SEED = 11


@pytest.fixture(scope="module")
def erp_db(tmp_path_factory):
    pgdata = tmp_path_factory.mktemp("erp") / "pg"
    db = start_embedded(pgdata, databases=("erp",))
    try:
        yield db
    finally:
        stop_embedded(pgdata)


def query(db, statement: str, params=None) -> list[tuple]:
    conn = psycopg2.connect(**db.dsn())
    try:
        with conn, conn.cursor() as cur:
            cur.execute(statement, params)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def file_rows(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_seed_is_idempotent_and_follows_batches(erp_db, tmp_path: Path) -> None:
    for table in ("product_costs", "refunds"):
        query(erp_db, f"drop table if exists {table}")
    data = tmp_path / "sandbox"
    generate(data, orders=ORDERS, seed=SEED, batch=1, progress=False)
    first = seed_erp(erp_db.dsn(), data)
    costs = file_rows(data / "erp" / "product_costs.csv")
    refunds = file_rows(data / "erp" / "refunds.csv")
    assert first["product_costs"]["inserted"] == len(costs) == first["product_costs"]["rows_in_table"]
    assert first["refunds"]["inserted"] == len(refunds) == first["refunds"]["rows_in_table"]

    again = seed_erp(erp_db.dsn(), data)
    assert {name: (r["inserted"], r["updated"]) for name, r in again.items()} == {
        "product_costs": (0, 0),
        "refunds": (0, 0),
    }
    assert again["product_costs"]["rows_in_table"] == len(costs)
    assert query(erp_db, "select count(*) from product_costs")[0][0] == len(costs)

    # Batch 2: new cost periods and refunds, and the periods they close get a valid_to.
    generate(data, orders=ORDERS, seed=SEED, batch=2, progress=False)
    second = seed_erp(erp_db.dsn(), data)
    costs2 = file_rows(data / "erp" / "product_costs.csv")
    assert second["product_costs"]["rows_in_table"] == len(costs2) > len(costs)
    assert second["product_costs"]["updated"] > 0 and second["product_costs"]["inserted"] > 0
    assert second["refunds"]["rows_in_table"] == len(file_rows(data / "erp" / "refunds.csv"))
    closed = [r for r in costs2 if r["valid_to"] and r["updated_at"] >= "2018-10-18"]
    assert closed
    row = closed[0]
    got = query(
        erp_db,
        "select valid_to::text, unit_cost, to_char(updated_at at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
        " from product_costs where product_id = %s and valid_from = %s",
        (row["product_id"], row["valid_from"]),
    )
    assert got == [(row["valid_to"], Decimal(row["unit_cost"]), row["updated_at"])]
    # Open periods have no valid_to; one open period per product.
    open_periods = query(
        erp_db, "select product_id, count(*) from product_costs where valid_to is null group by 1"
    )
    assert open_periods and all(n == 1 for _, n in open_periods)
    assert seed_erp(erp_db.dsn(), data)["product_costs"]["updated"] == 0


def test_seed_accepts_dirty_refunds_and_a_connection_string(erp_db, tmp_path: Path) -> None:
    data = tmp_path / "dirty"
    generate(data, orders=ORDERS, seed=SEED, dirty_share=0.1, progress=False)
    query(erp_db, "drop table if exists refunds")
    dsn = erp_db.dsn()
    conninfo = f"host={dsn['host']} port={dsn['port']} user={dsn['user']} dbname={dsn['dbname']}"
    result = seed_erp(conninfo, data / "erp")
    assert result["refunds"]["rows_in_table"] == len(file_rows(data / "erp" / "refunds.csv"))
    problems = json.loads((data / "dirty_manifest.json").read_text())["problems"]
    spoiled = Counter(p["kind"] for p in problems if p["file"] == "erp/refunds.csv")
    assert spoiled["negative_value"] > 0
    assert query(erp_db, "select count(*) from refunds where amount < 0")[0][0] == spoiled["negative_value"]
    assert (
        query(erp_db, "select count(*) from refunds where order_id is null")[0][0] == spoiled["missing_value"]
    )


def test_missing_files_are_reported(erp_db, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="product_costs.csv"):
        seed_erp(erp_db.dsn(), tmp_path)
