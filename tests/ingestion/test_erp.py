"""The ERP database loaded incrementally with dlt's sql_database source into the embedded PostgreSQL."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

import dlt
import pendulum
import psycopg2
import pyarrow as pa
import pytest
from dlt.sources.sql_database import sql_table

from ingestion import erp
from ingestion.destination import make_pipeline
from ingestion.erp import load_erp
from ingestion.pipelines import LoadSummary
from warehouse import database

ERP_TABLES = """
create table product_costs (
    product_id text not null,
    valid_from date not null,
    valid_to date null,
    unit_cost numeric(12, 2),
    currency text,
    updated_at timestamptz,
    primary key (product_id, valid_from)
);
create table refunds (
    refund_id text primary key,
    order_id text,
    amount numeric(12, 2),
    refunded_at timestamptz,
    reason text,
    updated_at timestamptz
);
"""

COSTS = [
    ("p1", "2024-01-01", "2024-06-30", "10.00", "BRL", "2024-07-01 09:00:00+00"),
    ("p1", "2024-07-01", None, "11.50", "BRL", "2024-07-01 09:00:00+00"),
    ("p2", "2024-01-01", None, "3.33", "BRL", "2024-07-01 10:00:00+00"),
]
REFUNDS = [
    ("r1", "o1", "19.90", "2024-07-02 12:00:00+00", "damaged", "2024-07-02 12:00:00+00"),
    ("r2", "o2", "0.10", "2024-07-02 13:00:00+00", "late", "2024-07-02 13:00:00+00"),
    ("r3", "o3", "0.20", "2024-07-03 08:00:00+00", "wrong item", "2024-07-03 08:00:00+00"),
]


@pytest.fixture
def erp_db(warehouse_db) -> str:
    """A fresh ERP database of its own per test (the sandbox's ``erp`` may hold other data);
    returns its SQLAlchemy URL."""
    name = f"erp_test_{uuid.uuid4().hex[:8]}"
    database.ensure_database(warehouse_db, name)
    url = warehouse_db.url(dbname=name)
    execute(url, ERP_TABLES)
    return url


def execute(url: str, sql: str, params: list | tuple | None = None, many: bool = False) -> None:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        if many:
            cur.executemany(sql, params)
        else:
            cur.execute(sql, params)
    conn.close()


def seed(url: str, costs=COSTS, refunds=REFUNDS) -> None:
    if costs:
        execute(url, "insert into product_costs values (%s, %s, %s, %s, %s, %s)", costs, many=True)
    if refunds:
        execute(url, "insert into refunds values (%s, %s, %s, %s, %s, %s)", refunds, many=True)


def source_rows(url: str, sql: str) -> list[tuple]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql)
        result = cur.fetchall()
    conn.close()
    return result


def rows(pipeline, sql: str) -> list[tuple]:
    return database.query(sql.replace("{ds}", pipeline.dataset_name))


REFUND_COLUMNS = "refund_id, order_id, amount, refunded_at, reason, updated_at"
COST_COLUMNS = "product_id, valid_from, valid_to, unit_cost, currency, updated_at"


@pytest.mark.parametrize("defer_reflection", [False, True], ids=["reflect-when-built", "reflect-on-run"])
def test_first_load_equals_the_source(erp_db: str, pipeline, defer_reflection: bool) -> None:
    seed(erp_db)
    if defer_reflection:
        counts: dict = {}
        source = erp.erp(erp.sqlalchemy_url(erp_db), counts=counts, defer_reflection=True)
        pipeline.run(source, loader_file_format="csv")
        summary = LoadSummary("erp", pipeline.dataset_name, {k: vars(v) for k, v in counts.items()})
    else:
        _, summary = load_erp(erp_url=erp_db, pipeline=pipeline)

    assert summary.source == "erp" and summary.dataset == pipeline.dataset_name
    assert summary.tables == {
        "product_costs": {"rows": 3, "rejected": 0},
        "refunds": {"rows": 3, "rejected": 0},
    }
    for table, columns, key in (
        ("refunds", REFUND_COLUMNS, "refund_id"),
        ("product_costs", COST_COLUMNS, "1, 2"),
    ):
        loaded = rows(pipeline, f"select {columns} from {{ds}}.{table} order by {key}")
        assert loaded == source_rows(erp_db, f"select {columns} from {table} order by {key}")
    assert rows(pipeline, "select sum(amount) from {ds}.refunds") == [(Decimal("20.20"),)]
    assert rows(pipeline, "select sum(unit_cost) from {ds}.product_costs") == [(Decimal("24.83"),)]
    types = dict(
        rows(
            pipeline,
            "select table_name || '.' || column_name, data_type || coalesce('(' || numeric_precision || ','"
            " || numeric_scale || ')', '') from information_schema.columns where table_schema = '{ds}'",
        )
    )
    assert types["refunds.amount"] == "numeric(12,2)"
    assert types["product_costs.valid_from"] == "date"
    assert types["refunds.updated_at"] == "timestamp with time zone"


def test_second_load_merges_updates_and_a_third_changes_nothing(erp_db: str, pipeline) -> None:
    seed(erp_db)
    load_erp(erp_url=erp_db, pipeline=pipeline)

    execute(
        erp_db, "update refunds set amount = 25.00, updated_at = '2024-07-05 10:00+00' where refund_id = 'r1'"
    )
    execute(
        erp_db,
        "update product_costs set valid_to = '2024-12-31', updated_at = '2024-07-05 11:00+00' "
        "where product_id = 'p2'",
    )
    seed(
        erp_db,
        costs=[("p2", "2025-01-01", None, "3.50", "BRL", "2024-07-05 11:00:00+00")],
        refunds=[("r4", "o4", "7.00", "2024-07-05 09:00:00+00", "damaged", "2024-07-05 09:00:00+00")],
    )
    _, second = load_erp(erp_url=erp_db, pipeline=pipeline)

    # only the changed and new rows were read
    assert second.tables == {
        "product_costs": {"rows": 2, "rejected": 0},
        "refunds": {"rows": 2, "rejected": 0},
    }
    assert rows(pipeline, "select amount from {ds}.refunds where refund_id = 'r1'") == [(Decimal("25.00"),)]
    assert rows(pipeline, "select count(*), count(distinct refund_id), sum(amount) from {ds}.refunds") == [
        (4, 4, Decimal("32.30"))
    ]
    assert rows(pipeline, "select count(*) from {ds}.product_costs") == [(4,)]
    for table, columns, key in (
        ("refunds", REFUND_COLUMNS, "refund_id"),
        ("product_costs", COST_COLUMNS, "1, 2"),
    ):
        assert rows(pipeline, f"select {columns} from {{ds}}.{table} order by {key}") == source_rows(
            erp_db, f"select {columns} from {table} order by {key}"
        )

    snapshot = rows(pipeline, "select *, _dlt_load_id from {ds}.refunds order by refund_id")
    _, third = load_erp(erp_url=erp_db, pipeline=pipeline)
    assert third.rows_loaded == 0 and third.rows_rejected == 0
    assert rows(pipeline, "select *, _dlt_load_id from {ds}.refunds order by refund_id") == snapshot


def test_rows_at_the_last_cursor_value_are_not_lost(erp_db: str, pipeline) -> None:
    seed(erp_db)
    load_erp(erp_url=erp_db, pipeline=pipeline)
    last_cursor = "2024-07-03 08:00:00+00"  # r3's updated_at, the refunds cursor after the first load

    # committed after the first run with the same timestamp as the cursor...
    seed(erp_db, costs=[], refunds=[("r5", "o5", "1.00", last_cursor, "late", last_cursor)])
    # ...and a row changed again without its updated_at moving past the cursor
    execute(erp_db, "update refunds set reason = 'wrong colour' where refund_id = 'r3'")
    _, second = load_erp(erp_url=erp_db, pipeline=pipeline)

    assert second.tables["refunds"]["rows"] == 2
    assert rows(
        pipeline, "select refund_id, reason from {ds}.refunds where refund_id in ('r3', 'r5') order by 1"
    ) == [
        ("r3", "wrong colour"),
        ("r5", "late"),
    ]
    assert rows(pipeline, "select count(*) from {ds}.refunds") == [(4,)]
    _, third = load_erp(erp_url=erp_db, pipeline=pipeline)
    assert third.rows_loaded == 0


def test_bad_rows_are_quarantined_with_reasons(erp_db: str, pipeline) -> None:
    seed(
        erp_db,
        costs=[*COSTS, ("p3", "2024-01-01", None, "-1.00", "BRL", "2024-07-01 09:00:00+00")],
        refunds=[
            *REFUNDS,
            ("r8", None, "5.00", "2024-07-02 12:00:00+00", "damaged", "2024-07-02 12:00:00+00"),
            ("r9", "o9", "-5.00", "2024-07-02 12:00:00+00", "damaged", "2024-07-02 12:00:00+00"),
            ("r10", "o10", "5.00", "2024-07-02 12:00:00+00", "damaged", None),
        ],
    )
    _, summary = load_erp(erp_url=erp_db, pipeline=pipeline)

    assert summary.tables == {
        "product_costs": {"rows": 3, "rejected": 1},
        "refunds": {"rows": 3, "rejected": 3},
    }
    assert summary.rows_rejected == 4
    # dlt's own counts (Dagster's metadata) say rows, not fields
    assert pipeline.last_trace.last_normalize_info.row_counts["refunds__rejected"] == 3
    assert rows(pipeline, "select refund_id from {ds}.refunds order by 1") == [("r1",), ("r2",), ("r3",)]
    rejected = rows(
        pipeline, "select record_key, column_name, reason, record from {ds}.refunds__rejected order by 1"
    )
    assert [(key, column, reason) for key, column, reason, _ in rejected] == [
        ('["r10"]', "updated_at", "missing updated_at (an incremental load cannot place the row)"),
        ('["r8"]', "order_id", "missing order_id"),
        ('["r9"]', "amount", "negative amount: -5.00"),
    ]
    assert json.loads(rejected[2][3])["order_id"] == "o9"
    assert rows(
        pipeline, "select source_table, record_key, column_name, reason from {ds}.product_costs__rejected"
    ) == [("product_costs", '["p3", "2024-01-01"]', "unit_cost", "negative unit_cost: -1.00")]

    # the ERP fixes a refund: it loads on the next run
    execute(
        erp_db, "update refunds set amount = 5.00, updated_at = '2024-07-09 10:00+00' where refund_id = 'r9'"
    )
    _, second = load_erp(erp_url=erp_db, pipeline=pipeline)
    # r9 loads; r10, still without updated_at, is read and reported again
    assert second.tables["refunds"] == {"rows": 1, "rejected": 1}
    assert rows(pipeline, "select amount from {ds}.refunds where refund_id = 'r9'") == [(Decimal("5.00"),)]


def test_the_erp_url_comes_from_the_environment_or_the_warehouse_server(
    erp_db: str, pipeline, warehouse_db, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(erp.URL_VARIABLE, raising=False)
    assert erp.resolve_erp_url(warehouse_db) == warehouse_db.url(dbname="erp", driver="postgresql+psycopg2")

    seed(erp_db)
    monkeypatch.setenv(erp.URL_VARIABLE, erp_db)  # a plain postgresql:// URL, as users write it
    assert erp.resolve_erp_url().startswith("postgresql+psycopg2://")
    _, summary = load_erp(pipeline=pipeline)
    assert summary.rows_loaded == 6


def test_a_missing_erp_table_fails_with_a_clear_message(warehouse_db, pipeline) -> None:
    name = f"erp_empty_{uuid.uuid4().hex[:8]}"
    database.ensure_database(warehouse_db, name)
    with pytest.raises(RuntimeError, match="ERP table product_costs not found"):
        load_erp(erp_url=warehouse_db.url(dbname=name), pipeline=pipeline)


# --------------------------------------------------------------------------------- the fast path

TYPES_TABLE = """
create table copy_types (
    id integer primary key,
    label text,
    code varchar(10),
    amount numeric(12, 2),
    big bigint,
    flag boolean,
    day date,
    at_utc timestamptz,
    at_local timestamp,
    updated_at timestamptz
);
insert into copy_types values
    (1, 'plain', 'a', 1.50, 9007199254740993, true, '2024-01-31',
     '2024-07-01 09:00:00.123456+00', '2024-07-01 09:00:00', '2024-07-01 09:00+00'),
    (2, e'comma, "quote"\\nnew line', '', -0.01, -1, false, '1999-12-31',
     '2024-07-01 12:00:00-03', '2024-07-01 23:59:59.5', '2024-07-02 09:00+00'),
    (3, '', null, null, null, null, null, null, null, null),
    (4, null, 'ç é 漢', 0, 0, true, '2024-02-29', '1970-01-01 00:00:00+00', '2100-01-01', null);
"""


def read_with(url: str, table: str, loader_class=None, **kwargs) -> pa.Table:
    resource = sql_table(
        credentials=erp.sqlalchemy_url(url),
        table=table,
        backend="pyarrow",
        reflection_level="full_with_precision",
        table_loader_class=loader_class,
        **kwargs,
    )
    return pa.concat_tables(item for item in resource if isinstance(item, pa.Table))


@pytest.fixture
def copies(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The statements the COPY reader ran."""
    statements: list[str] = []
    copy = erp.CopyTableLoader._copy

    def spy(self, compiled, spool):
        statements.append(str(compiled))
        return copy(self, compiled, spool)

    monkeypatch.setattr(erp.CopyTableLoader, "_copy", spy)
    return statements


def test_the_copy_reader_gives_the_pyarrow_backends_tables(erp_db: str, copies: list[str]) -> None:
    execute(erp_db, TYPES_TABLE)

    fetched = read_with(erp_db, "copy_types")
    copied = read_with(erp_db, "copy_types", erp.CopyTableLoader)

    assert len(copies) == 1
    assert copied.schema == fetched.schema
    assert copied.sort_by("id").equals(fetched.sort_by("id"))
    by_id = {row["id"]: row for row in copied.to_pylist()}
    assert by_id[2]["label"] == 'comma, "quote"\nnew line' and by_id[2]["code"] == ""
    assert by_id[3]["label"] == "" and by_id[3]["code"] is None and by_id[4]["label"] is None
    assert str(copied.schema.field("amount").type) == "decimal128(12, 2)"
    assert copied.schema.field("at_utc").type == pa.timestamp("us", "UTC")


def test_the_copy_reader_applies_the_incremental_filter(erp_db: str, copies: list[str]) -> None:
    execute(erp_db, TYPES_TABLE)
    since = dlt.sources.incremental("updated_at", initial_value=pendulum.datetime(2024, 7, 2, 9))
    copied = read_with(erp_db, "copy_types", erp.CopyTableLoader, incremental=since)
    fetched = read_with(
        erp_db,
        "copy_types",
        incremental=dlt.sources.incremental("updated_at", initial_value=pendulum.datetime(2024, 7, 2, 9)),
    )
    assert copies and "updated_at >=" in copies[0]
    assert sorted(copied["id"].to_pylist()) == sorted(fetched["id"].to_pylist()) == [2]


def test_columns_the_copy_reader_does_not_parse_take_the_pyarrow_backend(
    erp_db: str, copies: list[str]
) -> None:
    execute(erp_db, "create table with_json (id integer primary key, doc jsonb, updated_at timestamptz)")
    execute(erp_db, """insert into with_json values (1, '{"a": [1, 2]}', now()), (2, null, null)""")

    copied = read_with(erp_db, "with_json", erp.CopyTableLoader)

    assert copies == []
    assert copied.sort_by("id").equals(read_with(erp_db, "with_json").sort_by("id"))


def staging_tables(pipeline) -> list[tuple]:
    return database.query(
        "select table_name from information_schema.tables where table_schema = %s",
        (f"{pipeline.dataset_name}_staging",),
    )


def test_first_load_appends_over_copy_and_later_loads_merge(erp_db: str, pipeline, copies: list[str]) -> None:
    seed(erp_db)
    _, first = load_erp(erp_url=erp_db, pipeline=pipeline)

    assert len(copies) == 2  # both tables read with COPY
    assert first.rows_loaded == 6
    schema = pipeline.default_schema
    assert schema.get_table("product_costs")["write_disposition"] == "append"
    assert schema.get_table("refunds")["write_disposition"] == "append"
    assert staging_tables(pipeline) == []

    execute(
        erp_db, "update refunds set amount = 1.00, updated_at = '2024-07-05 10:00+00' where refund_id = 'r1'"
    )
    _, second = load_erp(erp_url=erp_db, pipeline=pipeline)

    assert second.tables["refunds"] == {"rows": 1, "rejected": 0}
    assert pipeline.default_schema.get_table("refunds")["write_disposition"] == "merge"
    assert rows(pipeline, "select count(*), sum(amount) from {ds}.refunds") == [(3, Decimal("1.30"))]


def test_a_table_without_a_primary_key_in_the_erp_merges_on_its_first_load(erp_db: str, pipeline) -> None:
    execute(erp_db, "alter table refunds drop constraint refunds_pkey")
    seed(erp_db)
    seed(erp_db, costs=[], refunds=[REFUNDS[0]])  # the same refund twice: only a merge keeps one

    _, summary = load_erp(erp_url=erp_db, pipeline=pipeline)

    assert pipeline.default_schema.get_table("refunds")["write_disposition"] == "merge"
    assert pipeline.default_schema.get_table("product_costs")["write_disposition"] == "append"
    assert rows(pipeline, "select count(*), count(distinct refund_id) from {ds}.refunds") == [(3, 3)]


def test_a_table_that_holds_rows_is_merged_even_without_dlt_state(
    erp_db: str, pipeline, warehouse_db
) -> None:
    seed(erp_db)
    load_erp(erp_url=erp_db, pipeline=pipeline)
    # Another pipeline (no state, no cursor) into the same dataset: it reads everything again, and
    # the rows already there must not be doubled.
    other = make_pipeline(f"{pipeline.pipeline_name}_other", pipeline.dataset_name, warehouse_db)

    _, summary = load_erp(erp_url=erp_db, pipeline=other)

    assert summary.rows_loaded == 6
    assert other.default_schema.get_table("refunds")["write_disposition"] == "merge"
    assert rows(pipeline, "select count(*), count(distinct refund_id) from {ds}.refunds") == [(3, 3)]
    assert rows(pipeline, "select count(*) from {ds}.product_costs") == [(3,)]
