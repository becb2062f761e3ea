"""The quality gates against the tests' embedded PostgreSQL: small raw tables in a schema of their
own, validated with the suites of the real raw tables (``suite=``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from psycopg2 import sql

from ingestion.olist_files import TABLES as OLIST_TABLES
from quality import RAW_TABLES, gates
from quality.suites import NUMBER_SUFFIX, SUITES
from warehouse import database
from warehouse.settings import DatabaseSettings

LINEAGE = {"_source_file": "text", "_source_row": "bigint", "_dlt_load_id": "text"}
LOAD = "1732262211.123456"


def order(number: int, **values: str | None) -> dict:
    row = {
        "order_id": f"{number:032x}",
        "customer_id": f"c{number:031x}",
        "order_status": "delivered",
        "order_purchase_timestamp": "2017-10-02 10:56:33",
        "order_approved_at": "2017-10-02 11:07:15",
        "order_delivered_carrier_date": "2017-10-04 19:55:00",
        "order_delivered_customer_date": None,
        "order_estimated_delivery_date": "2017-10-18 00:00:00",
    }
    return {**row, **values}


def item(number: int, **values: str | None) -> dict:
    row = {
        "order_id": f"{number:032x}",
        "order_item_id": "1",
        "product_id": f"p{number:031x}",
        "seller_id": f"s{number:031x}",
        "shipping_limit_date": "2017-10-06 11:07:15",
        "price": "58.90",
        "freight_value": "13.29",
    }
    return {**row, **values}


def customer(number: int, **values: str | None) -> dict:
    row = {
        "customer_id": f"c{number:031x}",
        "customer_unique_id": f"u{number:031x}",
        "customer_zip_code_prefix": "01037",
        "customer_city": "sao paulo",
        "customer_state": "SP",
    }
    return {**row, **values}


ROWS = {"orders": order, "order_items": item, "customers": customer}


@pytest.fixture
def schema(warehouse_db: DatabaseSettings) -> Iterator[str]:
    name = f"qtest_{uuid.uuid4().hex[:10]}"
    with database.connect(warehouse_db) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("create schema {}").format(sql.Identifier(name)))
    yield name
    with database.connect(warehouse_db) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("drop schema {} cascade").format(sql.Identifier(name)))


def create_table(
    db: DatabaseSettings, schema: str, table: str, columns: dict[str, str], rows: list[dict]
) -> None:
    with database.connect(db) as conn, conn.cursor() as cur:
        definition = sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(kind)) for name, kind in columns.items()
        )
        cur.execute(sql.SQL("create table {} ({})").format(sql.Identifier(schema, table), definition))
        for row in rows:
            names = list(row)
            cur.execute(
                sql.SQL("insert into {} ({}) values ({})").format(
                    sql.Identifier(schema, table),
                    sql.SQL(", ").join(map(sql.Identifier, names)),
                    sql.SQL(", ").join(sql.Placeholder() * len(names)),
                ),
                [row[name] for name in names],
            )


def create_olist_table(
    db: DatabaseSettings, schema: str, table: str, rows: list[dict], load: str = LOAD
) -> None:
    """An Olist raw table as the loader writes it: every column text, plus the lineage columns."""
    columns = {name: "text" for name in OLIST_TABLES[table].columns} | LINEAGE
    lineage = [
        {"_source_file": f"landing/{table}.csv", "_source_row": number, "_dlt_load_id": load}
        for number in range(2, len(rows) + 2)
    ]
    create_table(
        db, schema, table, columns, [{**row, **extra} for row, extra in zip(rows, lineage, strict=True)]
    )


def failures(result) -> set[tuple[str, str | None]]:
    return {(failure["expectation"], failure["column"]) for failure in result.failed}


# --------------------------------------------------------------------------------------------- suites


def test_every_raw_table_has_a_suite_and_no_suite_is_orphaned() -> None:
    assert set(SUITES) == set(RAW_TABLES)
    assert len(RAW_TABLES) == len(set(RAW_TABLES))


@pytest.mark.parametrize("name", sorted(SUITES))
def test_suite_builds_with_row_count_columns_and_a_key_or_required_values(name: str) -> None:
    table_suite = SUITES[name]
    suite = table_suite.suite()
    assert suite.name == name
    types = [expectation.expectation_type for expectation in suite.expectations]
    assert types[0] == "expect_table_columns_to_match_set"
    assert "expect_table_row_count_to_be_between" in types
    assert "expect_column_values_to_not_be_null" in types
    table_suite.read_as()  # no column is read two ways


@pytest.mark.parametrize(
    ("name", "columns"),
    [
        ("raw_olist.orders", ("order_id",)),
        ("raw_olist.customers", ("customer_id",)),
        ("raw_olist.order_items", ("order_id", "order_item_id")),
        ("raw_olist.order_payments", ("order_id", "payment_sequential")),
        ("raw_olist.products", ("product_id",)),
        ("raw_olist.sellers", ("seller_id",)),
        ("raw_olist.product_category_name_translation", ("product_category_name",)),
        ("raw_marketing.leads", ("lead_id",)),
        ("raw_marketing.ad_spend", ("spend_id",)),
        ("raw_erp.refunds", ("refund_id",)),
        ("raw_erp.product_costs", ("product_id", "valid_from")),
        ("raw_bcb.series_values", ("series_code", "data")),
    ],
)
def test_keys_are_unique(name: str, columns: tuple[str, ...]) -> None:
    keys = []
    for expectation in SUITES[name].expectations():
        if expectation.expectation_type == "expect_column_values_to_be_unique":
            meta = expectation.meta
            keys.append(tuple(meta["columns"]) if meta["read_as"] == "key" else (expectation.column,))
    assert columns in keys


def test_projection_reads_numbers_with_a_text_twin_and_typed_timestamps_as_text() -> None:
    suite = SUITES["raw_erp.refunds"]
    columns = {
        "refund_id": "text",
        "order_id": "text",
        "amount": "numeric",
        "refunded_at": "timestamp with time zone",
        "reason": "text",
        "updated_at": "text",
    }
    query = gates.projection(suite, "raw_erp", "refunds", columns, load_id=None, server_version=160000)
    assert f'"amount"::numeric end as "amount{NUMBER_SUFFIX}"' in query
    assert '"amount"::text collate "C" as "amount"' in query
    assert 'to_char("refunded_at", \'YYYY-MM-DD HH24:MI:SS\') as "refunded_at"' in query
    assert 'from "raw_erp"."refunds"' in query
    old = gates.projection(
        SUITES["raw_olist.order_items"], "s", "order_items", {"price": "text"}, "L1", 150000
    )
    assert "pg_input_is_valid" not in old and '"price" ~ \'' in old
    assert old.endswith("where \"_dlt_load_id\" = 'L1'")


# ----------------------------------------------------------------------------------------------- gates


def test_good_orders_pass_and_the_run_is_in_data_docs(
    warehouse_db: DatabaseSettings, schema: str, capfd: pytest.CaptureFixture[str]
) -> None:
    create_olist_table(warehouse_db, schema, "orders", [order(1), order(2), order(3, order_status="shipped")])

    result = gates.validate_table(warehouse_db, schema, "orders", suite="raw_olist.orders")

    assert result.success, result.describe()
    assert result.failed == []
    assert result.suite == "raw_olist.orders" and result.table == f"{schema}.orders"
    assert result.evaluated == len(SUITES["raw_olist.orders"].expectations())
    page = Path(result.data_docs_path)
    assert page.suffix == ".html" and page.exists()
    assert gates.data_docs_index().exists()
    assert "Calculating Metrics" not in capfd.readouterr().err  # GX's progress bars are off
    # the run's view is gone again
    views = database.query("select count(*) from information_schema.views where table_schema = %s",
                           (gates.VIEW_SCHEMA,), warehouse_db)  # fmt: skip
    assert views == [(0,)]


# Each case: rows with several defects, and for each defect the (expectation, column) that must
# fail with an example of the bad value. One validation per table keeps the tests quick.
BAD_ROWS = {
    "orders": (
        [
            order(1),
            order(2),
            order(1),
            order(3, order_status="lost"),
            order(4, order_approved_at="2017/10/02 11:07"),
        ],
        {
            ("expect_column_values_to_be_unique", "order_id"): f"{1:032x}",
            ("expect_column_values_to_be_in_set", "order_status"): "lost",
            ("expect_column_values_to_match_regex", "order_approved_at"): "2017/10/02 11:07",
        },
    ),
    "order_items": (
        [item(1), item(1), item(2, price="-5.00"), item(3, price="12,50")],
        {
            ("expect_column_values_to_be_unique", "order_id, order_item_id"): f"({1:032x},1)",
            ("expect_column_values_to_be_between", "price"): -5,
            ("expect_column_values_to_match_regex", "price"): "12,50",  # not a number
        },
    ),
    "customers": (
        [customer(1), customer(2, customer_state="XX")],
        {("expect_column_values_to_be_in_set", "customer_state"): "XX"},
    ),
}


@pytest.mark.parametrize("table", sorted(BAD_ROWS))
def test_bad_rows_fail_the_gate_naming_expectation_and_column(
    warehouse_db: DatabaseSettings, schema: str, table: str
) -> None:
    rows, expected = BAD_ROWS[table]
    create_olist_table(warehouse_db, schema, table, rows)

    result = gates.validate_table(warehouse_db, schema, table, suite=f"raw_olist.{table}", data_docs=False)

    assert not result.success
    assert failures(result) == set(expected), result.describe()
    described = result.describe()
    for failure in result.failed:
        assert failure["unexpected_count"] >= 1
        assert expected[failure["expectation"], failure["column"]] in failure["unexpected_examples"], failure
        assert f"{failure['expectation']}({failure['column']})" in described


def test_a_missing_table_is_a_failed_result_not_an_error(warehouse_db: DatabaseSettings, schema: str) -> None:
    result = gates.validate_table(warehouse_db, schema, "orders", suite="raw_olist.orders")

    assert not result.success
    assert result.data_docs_path == str(gates.data_docs_index())
    assert result.evaluated == 0
    assert result.failed == [
        {"expectation": "table_exists", "column": None, "summary": f"table {schema}.orders does not exist"}
    ]
    assert "does not exist" in result.describe()


def test_a_table_without_a_suite_is_an_error(warehouse_db: DatabaseSettings) -> None:
    with pytest.raises(KeyError, match="no quality suite for raw_olist.nope"):
        gates.validate_table(warehouse_db, "raw_olist", "nope")


def test_a_missing_column_fails_the_column_set_expectation(
    warehouse_db: DatabaseSettings, schema: str
) -> None:
    columns = {name: "text" for name in OLIST_TABLES["sellers"].columns if name != "seller_state"} | LINEAGE
    create_table(
        warehouse_db, schema, "sellers", columns, [{"seller_id": "s1", "seller_zip_code_prefix": "01037"}]
    )

    result = gates.validate_table(warehouse_db, schema, "sellers", suite="raw_olist.sellers", data_docs=False)

    assert not result.success
    found = failures(result)
    assert ("expect_table_columns_to_match_set", None) in found
    assert ("expect_column_values_to_be_in_set", "seller_state") in found  # cannot be evaluated
    summaries = " ".join(failure["summary"] for failure in result.failed)
    assert "seller_state" in summaries


def test_load_id_validates_one_load_and_only_the_whole_table_sees_keys_repeated_across_loads(
    warehouse_db: DatabaseSettings, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gates, "KEEP_RUNS", 2)
    rows = [order(1), order(2), order(1), order(3, order_status="lost")]
    create_olist_table(warehouse_db, schema, "orders", rows)
    with database.connect(warehouse_db) as conn, conn.cursor() as cur:
        cur.execute(
            sql.SQL("update {} set _dlt_load_id = 'L2' where _source_row >= 4").format(
                sql.Identifier(schema, "orders")
            )
        )

    first = gates.validate_table(
        warehouse_db, schema, "orders", load_id=LOAD, suite="raw_olist.orders", data_docs=False
    )
    second = gates.validate_table(
        warehouse_db, schema, "orders", load_id="L2", suite="raw_olist.orders", data_docs=False
    )
    whole = gates.validate_table(warehouse_db, schema, "orders", suite="raw_olist.orders")

    assert first.success, first.describe()
    assert first.load_id == LOAD
    assert failures(second) == {("expect_column_values_to_be_in_set", "order_status")}
    assert failures(whole) == {
        ("expect_column_values_to_be_in_set", "order_status"),
        ("expect_column_values_to_be_unique", "order_id"),
    }
    # Only the newest KEEP_RUNS results (and their pages) of the suite are kept.
    results = gates.project_dir() / "uncommitted" / "validations" / "raw_olist" / "orders"
    kept = {path.relative_to(results).with_suffix("") for path in results.glob("*/*/*.json")}
    assert len(kept) == 2
    pages = gates.data_docs_index().parent / "validations" / "raw_olist" / "orders"
    rendered = {path.relative_to(pages).with_suffix("") for path in pages.glob("*/*/*.html")}
    assert rendered <= kept  # the pages of removed results are gone too
    assert Path(whole.data_docs_path).exists()
    with pytest.raises(ValueError, match="not a dlt load id"):
        gates.validate_table(warehouse_db, schema, "orders", load_id="x' or '1'='1", suite="raw_olist.orders")


def test_several_load_ids_and_a_schema_validated_against_another_schemas_suites(
    warehouse_db: DatabaseSettings, schema: str
) -> None:
    rows = [order(1), order(2), order(1), order(3, order_status="lost")]
    create_olist_table(warehouse_db, schema, "orders", rows)
    with database.connect(warehouse_db) as conn, conn.cursor() as cur:
        cur.execute(
            sql.SQL("update {} set _dlt_load_id = 'L2' where _source_row >= 4").format(
                sql.Identifier(schema, "orders")
            )
        )

    both = gates.validate_table(
        warehouse_db, schema, "orders", load_id=[LOAD, "L2"], suite="raw_olist.orders", data_docs=False
    )
    (second,) = gates.validate_schema(
        warehouse_db, schema, suite_schema="raw_olist", tables=["orders"], load_id=("L2",), data_docs=False
    )

    assert failures(both) == {
        ("expect_column_values_to_be_in_set", "order_status"),
        ("expect_column_values_to_be_unique", "order_id"),
    }
    assert (both.rows, both.scope) == (4, f"loads {LOAD}, L2")
    assert second.table == f"{schema}.orders" and second.suite == "raw_olist.orders"
    assert (second.rows, second.scope) == (2, "load L2")
    assert failures(second) == {("expect_column_values_to_be_in_set", "order_status")}
    where = gates.projection(SUITES["raw_olist.orders"], schema, "orders", {"order_id": "text"}, ["a", "b"])
    assert where.endswith("where \"_dlt_load_id\" in ('a', 'b')")
    with pytest.raises(ValueError, match="no load ids"):
        gates.validate_table(warehouse_db, schema, "orders", load_id=[], suite="raw_olist.orders")
    with pytest.raises(KeyError, match="no quality suites for"):
        gates.validate_schema(warehouse_db, schema, suite_schema="raw_olist", tables=["nope"])


def test_typed_columns_pass_the_same_suite_as_text(warehouse_db: DatabaseSettings, schema: str) -> None:
    columns = {
        "product_id": "text",
        "valid_from": "date",
        "valid_to": "date",
        "unit_cost": "numeric(12, 2)",
        "currency": "char(3)",
        "updated_at": "timestamp with time zone",
    }
    rows = [
        {"product_id": "p1", "valid_from": "2017-01-01", "valid_to": "2017-06-30", "unit_cost": 10.5,
         "currency": "BRL", "updated_at": "2017-01-01 12:00:00+00"},
        {"product_id": "p1", "valid_from": "2017-07-01", "valid_to": None, "unit_cost": 11,
         "currency": "BRL", "updated_at": "2017-07-01 12:00:00+00"},
    ]  # fmt: skip
    create_table(warehouse_db, schema, "product_costs", columns, rows)

    result = gates.validate_table(
        warehouse_db, schema, "product_costs", suite="raw_erp.product_costs", data_docs=False
    )

    assert result.success, result.describe()


def test_ipca_outside_its_range_fails_only_the_ipca_expectation(
    warehouse_db: DatabaseSettings, schema: str
) -> None:
    columns = {
        "series_code": "integer",
        "series_name": "text",
        "data": "text",
        "valor": "text",
        "reference_date": "date",
    }
    rows = [
        {"series_code": 433, "series_name": "IPCA", "data": "01/01/2017", "valor": "0.38", "reference_date": "2017-01-01"},
        {"series_code": 433, "series_name": "IPCA", "data": "01/02/2017", "valor": "33", "reference_date": "2017-02-01"},
        {"series_code": 432, "series_name": "Selic", "data": "01/02/2017", "valor": "13.00",
         "reference_date": "2017-02-01"},
    ]  # fmt: skip
    create_table(warehouse_db, schema, "series_values", columns, rows)

    result = gates.validate_table(
        warehouse_db, schema, "series_values", suite="raw_bcb.series_values", data_docs=False
    )

    assert failures(result) == {("expect_column_values_to_be_between", "valor")}, result.describe()
    assert result.failed[0]["unexpected_count"] == 1


def test_validate_schema_runs_every_suite_of_the_schema(warehouse_db: DatabaseSettings) -> None:
    """On the real schema name; only the tables that exist, with skip_missing."""
    name = "raw_erp"
    existing = gates.column_types(warehouse_db, name, "refunds")
    if existing:
        pytest.skip("raw_erp.refunds exists in this test database; not overwriting it")
    with database.connect(warehouse_db) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(name)))
    columns = {c: "text" for c in ("refund_id", "order_id", "amount", "refunded_at", "reason", "updated_at")}
    row = {"refund_id": "r1", "order_id": "o1", "amount": "10.00", "refunded_at": "2018-01-01T10:00:00Z"}
    create_table(warehouse_db, name, "refunds", columns, [row])
    try:
        results = gates.validate_schema(warehouse_db, name, skip_missing=True, data_docs=False)
        by_table = {result.table: result for result in results}
        assert by_table["raw_erp.refunds"].success, by_table["raw_erp.refunds"].describe()
        # every other suite of the schema ran only if its table exists
        exists = bool(gates.column_types(warehouse_db, name, "product_costs"))
        assert ("raw_erp.product_costs" in by_table) == exists
    finally:
        with database.connect(warehouse_db) as conn, conn.cursor() as cur:
            cur.execute(sql.SQL("drop table {}").format(sql.Identifier(name, "refunds")))

    index = gates.build_data_docs()
    assert index == gates.data_docs_index() and index.exists()
    assert "raw_erp.refunds" in index.read_text()
