"""The dbt marts on a small sandbox, checked against an independent computation.

One module-scoped build: a 3,000-order sandbox is generated, loaded with the project's loaders
into a database of its own, and `dbt build` runs through `python -m warehouse exec`. The tests
then recompute, in pandas and from the raw tables only, what an analyst would check in the marts
(RFM segment counts, a cohort's retention, the churn rate, total net revenue) and find the same
numbers; and they show that the `analyst` role reads every mart and nothing else.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg2
import pytest
from psycopg2 import errors, sql

from tests.models.sandbox_loading import load_sandbox
from warehouse import database
from warehouse.settings import CONNECTION_VARIABLES, EMBEDDED_MARKER, DatabaseSettings

ROOT = Path(__file__).resolve().parents[2]
ORDERS = 3_000
TEST_DATABASE = "models_test"
EXCLUDED_STATUSES = ("canceled", "unavailable")
CHURN_THRESHOLD_DAYS = 180
FREQUENCY_BANDS = (1, 2, 3, 4, 5)


@dataclasses.dataclass(frozen=True)
class BuiltWarehouse:
    db: DatabaseSettings
    sandbox: Path


def _dbt_env(db: DatabaseSettings, target_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in (*CONNECTION_VARIABLES, EMBEDDED_MARKER)}
    # A configured server (this test's database on the session's embedded PostgreSQL).
    env.update(
        DATABASE_URL=db.url(),
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        DBT_TARGET_PATH=str(target_path),
        DBT_LOG_PATH=str(target_path / "logs"),
    )
    return env


def _dbt(db: DatabaseSettings, target_path: Path, *args: str) -> subprocess.CompletedProcess:
    command = [
        sys.executable, "-m", "warehouse", "exec", "--",
        str(Path(sys.executable).with_name("dbt")), *args,
        "--project-dir", str(ROOT / "dbt_project"), "--profiles-dir", str(ROOT / "profiles"),
    ]  # fmt: skip
    return subprocess.run(
        command, cwd=ROOT, env=_dbt_env(db, target_path), capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def built(
    warehouse_db: DatabaseSettings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BuiltWarehouse]:
    from sandbox.generate import generate

    root = tmp_path_factory.mktemp("marts")
    sandbox = root / "sandbox"
    generate(out=sandbox, orders=ORDERS, progress=False)
    database.ensure_database(warehouse_db, TEST_DATABASE)
    db = dataclasses.replace(warehouse_db, dbname=TEST_DATABASE)
    load_sandbox(sandbox, db=db, pipelines_dir=root / "dlt", erp_database=f"{TEST_DATABASE}_erp")
    result = _dbt(db, root / "target", "build")
    assert result.returncode == 0, f"dbt build failed:\n{result.stdout[-8000:]}\n{result.stderr[-3000:]}"
    yield BuiltWarehouse(db=db, sandbox=sandbox)


def _query(db: DatabaseSettings, query: str) -> pd.DataFrame:
    with psycopg2.connect(**db.dsn()) as conn, conn.cursor() as cur:
        cur.execute(query)
        columns = [c.name for c in cur.description]
        return pd.DataFrame(cur.fetchall(), columns=columns)


# ------------------------------------------------------------------ the independent computation


def _latest(frame: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    """One row per key, the latest load winning (the loader already merges; this is a guard)."""
    return frame.sort_values("_dlt_load_id").drop_duplicates(key, keep="last")


def olist_sales(db: DatabaseSettings) -> pd.DataFrame:
    """One row per Olist sale (order not canceled or unavailable, customer known) with its person,
    purchase time and net revenue (items + freight - ERP refunds), from the raw tables."""
    orders = _latest(_query(db, "select * from raw_olist.orders"), ["order_id"])
    customers = _latest(_query(db, "select * from raw_olist.customers"), ["customer_id"])
    items = _latest(_query(db, "select * from raw_olist.order_items"), ["order_id", "order_item_id"])
    refunds = _query(db, "select order_id, amount from raw_erp.refunds where order_id is not null")

    items["revenue"] = items["price"].astype(float) + items["freight_value"].fillna("0").astype(float)
    revenue = items.groupby("order_id")["revenue"].sum()
    refunded = refunds.assign(amount=refunds["amount"].astype(float)).groupby("order_id")["amount"].sum()

    sales = orders[~orders["order_status"].str.lower().isin(EXCLUDED_STATUSES)]
    sales = sales.merge(customers[["customer_id", "customer_unique_id"]], on="customer_id", how="inner")
    sales = sales.assign(
        purchased_at=pd.to_datetime(sales["order_purchase_timestamp"]),
        gross=sales["order_id"].map(revenue).fillna(0.0),
        refunds=sales["order_id"].map(refunded).fillna(0.0),
    )
    sales["net"] = sales["gross"] - sales["refunds"]
    return sales[["order_id", "customer_unique_id", "purchased_at", "net"]].rename(
        columns={"customer_unique_id": "person"}
    )


def byo_sales(db: DatabaseSettings) -> pd.DataFrame:
    """The BYO lines grouped into orders (person = the file's customer id), from raw_byo."""
    lines = _query(db, "select customer_id, order_id, purchased_at, amount from raw_byo.transactions")
    lines["amount"] = lines["amount"].astype(float)
    orders = lines.groupby(["customer_id", "order_id"], as_index=False).agg(
        purchased_at=("purchased_at", "min"), net=("amount", "sum")
    )
    return orders.rename(columns={"customer_id": "person"})


def per_person(sales: pd.DataFrame) -> pd.DataFrame:
    sales = sales.assign(purchase_date=sales["purchased_at"].dt.normalize())
    people = sales.groupby("person").agg(
        first=("purchase_date", "min"), last=("purchase_date", "max"), frequency=("order_id", "size"),
        monetary=("net", "sum"),
    )  # fmt: skip
    people["as_of"] = sales["purchase_date"].max()
    return people


def quintile_scores(values: pd.Series) -> pd.Series:
    """1 + floor(5 (rank - 1) / n) with ties sharing the lowest rank (the documented rule)."""
    rank = values.rank(method="min").astype(int)
    return 1 + (5 * (rank - 1)) // len(values)


def rfm_segment_counts(people: pd.DataFrame) -> dict[str, int]:
    segments = pd.read_csv(ROOT / "seeds" / "rfm_segments.csv")
    grid = {(r.recency_score, r.frequency_score): r.rfm_segment for r in segments.itertuples()}
    recency = quintile_scores(people["last"])
    frequency = sum((people["frequency"] >= bound).astype(int) for bound in FREQUENCY_BANDS)
    segment = [grid[(r, f)] for r, f in zip(recency, frequency, strict=True)]
    return pd.Series(segment).value_counts().to_dict()


def month_index(dates: pd.Series) -> pd.Series:
    return dates.dt.year * 12 + dates.dt.month


# --------------------------------------------------------------------------------------- tests


def test_rfm_segment_counts_match_an_independent_computation(built: BuiltWarehouse) -> None:
    for source, sales in (("olist", olist_sales(built.db)), ("byo", byo_sales(built.db))):
        expected = rfm_segment_counts(per_person(sales))
        marts = _query(
            built.db,
            "select rfm_segment, count(*) as people from marts.customer_rfm "
            f"where transaction_source = '{source}' group by 1",
        )
        assert dict(zip(marts["rfm_segment"], marts["people"], strict=True)) == expected, source


def test_a_cohorts_retention_matches_an_independent_computation(built: BuiltWarehouse) -> None:
    sales = olist_sales(built.db)
    people = per_person(sales)
    # The largest cohort, two months after its first purchase.
    cohort_month = people["first"].dt.to_period("M").value_counts().idxmax()
    members = people.index[people["first"].dt.to_period("M") == cohort_month]
    month = cohort_month + 2
    active = sales[sales["person"].isin(members) & (sales["purchased_at"].dt.to_period("M") == month)]
    expected_active = active["person"].nunique()

    row = _query(
        built.db,
        "select cohort_size, customers_active, retention_rate from marts.customer_cohorts "
        "where transaction_source = 'olist' and cohort_month_number = 2 "
        f"and cohort_month = '{cohort_month.start_time.date()}'",
    )
    assert len(row) == 1
    assert row.loc[0, "cohort_size"] == len(members)
    assert row.loc[0, "customers_active"] == expected_active
    assert float(row.loc[0, "retention_rate"]) == round(expected_active / len(members), 4)
    # Every month from the cohort month to the as-of month is present, activity or not.
    months = _query(
        built.db,
        "select count(*) as months from marts.customer_cohorts where transaction_source = 'olist' "
        f"and cohort_month = '{cohort_month.start_time.date()}'",
    )
    as_of = people["as_of"].iloc[0]
    expected_months = (
        month_index(pd.Series([as_of])).iloc[0] - (cohort_month.year * 12 + cohort_month.month) + 1
    )
    assert months.loc[0, "months"] == expected_months


def test_churn_rate_matches_an_independent_computation(built: BuiltWarehouse) -> None:
    people = per_person(olist_sales(built.db))
    days_since = (people["as_of"] - people["last"]).dt.days
    expected = (days_since > CHURN_THRESHOLD_DAYS).mean()
    marts = _query(
        built.db,
        "select avg(case when is_churned then 1.0 else 0.0 end) as churn_rate, count(*) as people "
        "from marts.customer_churn where transaction_source = 'olist'",
    )
    assert marts.loc[0, "people"] == len(people)
    assert float(marts.loc[0, "churn_rate"]) == pytest.approx(expected, abs=1e-9)
    assert 0 < expected < 1


def test_a_plain_dbt_build_before_any_clv_run_has_no_p_alive(built: BuiltWarehouse) -> None:
    """`dbt build` on a fresh database: the CLV step's table does not exist, the marts build anyway."""
    row = _query(
        built.db,
        "select to_regclass('marts.customer_clv_predictions') as predictions, "
        "(select count(*) from marts.customer_churn) as people, "
        "(select count(p_alive) + count(predicted_clv) from marts.customer_churn) as churn_scored, "
        "(select count(p_alive) from marts.dim_customers) as dim_scored",
    ).iloc[0]
    assert row["predictions"] is None
    assert row["people"] > 0 and row["churn_scored"] == 0 and row["dim_scored"] == 0


def test_total_net_revenue_matches_an_independent_computation(built: BuiltWarehouse) -> None:
    expected = olist_sales(built.db)["net"].sum()
    marts = _query(
        built.db,
        "select (select sum(net_revenue) from marts.fct_orders where is_sale) as fct_orders, "
        "(select sum(net_revenue) from marts.customer_lifetime_value where transaction_source = 'olist') as clv, "
        "(select sum(net_revenue) from marts.sales_monthly) as monthly",
    )
    for column in ("fct_orders", "clv", "monthly"):
        assert float(marts.loc[0, column]) == pytest.approx(expected, abs=0.01), column
    assert expected > 0 and np.isfinite(expected)


MART_TABLES = "select table_name from information_schema.tables where table_schema = 'marts' order by 1"


def test_analyst_reads_every_mart_and_nothing_else(built: BuiltWarehouse) -> None:
    marts = _query(built.db, MART_TABLES)["table_name"].tolist()
    assert {"fct_orders", "dim_customers", "customer_rfm", "customer_cohorts"} <= set(marts)
    denied = [
        "raw_olist.orders", "raw_marketing.leads", "raw_erp.refunds", "raw_bcb.series_values",
        "raw_byo.transactions", "staging.stg_olist__orders", "staging.stg_byo__transactions",
        "intermediate.int_orders_enriched", "reference.rfm_segments",
    ]  # fmt: skip
    conn = psycopg2.connect(**built.db.dsn())
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("set role analyst")
            cur.execute("select current_user")
            assert cur.fetchone()[0] == "analyst"
            for table in marts:
                cur.execute(sql.SQL("select * from marts.{} limit 1").format(sql.Identifier(table)))
                cur.fetchall()
            for name in denied:
                schema, table = name.split(".")
                with pytest.raises(errors.InsufficientPrivilege):
                    cur.execute(sql.SQL("select * from {}.{} limit 1").format(
                        sql.Identifier(schema), sql.Identifier(table)
                    ))  # fmt: skip
            with pytest.raises(errors.InsufficientPrivilege):
                cur.execute("create table marts.analyst_scratch (x int)")
            with pytest.raises(errors.InsufficientPrivilege):
                cur.execute("delete from marts.fct_orders")
    finally:
        conn.close()


FACT_UNIQUENESS_TESTS = (
    "unique_fct_orders_order_id",
    "unique_combination_of_columns_fct_order_items_order_id__order_item_id",
    "unique_fct_order_items_order_item_key",
)


def _unique_tests_failures(
    built: BuiltWarehouse, tests: tuple[str, ...] = FACT_UNIQUENESS_TESTS
) -> dict[str, int]:
    target = built.sandbox.parent / "target_unique"
    result = _dbt(built.db, target, "test", "--select", " ".join(tests))
    results = json.loads((target / "run_results.json").read_text())["results"]
    results = [r for r in results if r["unique_id"].startswith("test.")]
    assert len(results) == len(tests), result.stdout[-4000:]
    return {r["unique_id"].split(".")[2]: r["failures"] for r in results}


def test_uniqueness_tests_use_a_unique_index_and_still_catch_duplicates_without_one(
    built: BuiltWarehouse,
) -> None:
    """`unique` and `unique_combination_of_columns` trust a valid unique index on exactly their
    columns instead of grouping every row; without it they group and report the duplicate."""
    compiled = next((built.sandbox.parent / "target").rglob("unique_fct_orders_order_id.sql")).read_text()
    assert "pg_index" in compiled and "group by order_id" in compiled

    indexes = _query(
        built.db,
        "select tablename, indexdef from pg_indexes where schemaname = 'marts' "
        "and tablename in ('fct_orders', 'fct_order_items') and indexdef like 'CREATE UNIQUE%'",
    )
    assert sorted(indexes["tablename"]) == ["fct_order_items", "fct_order_items", "fct_orders"]
    assert set(_unique_tests_failures(built).values()) == {0}

    duplicate = {
        "fct_orders": "select * from marts.fct_orders order by order_id limit 1",
        "fct_order_items": "select * from marts.fct_order_items order by order_id, order_item_id limit 1",
    }
    with psycopg2.connect(**built.db.dsn()) as conn, conn.cursor() as cur:
        for indexdef in indexes["indexdef"]:
            name = indexdef.split(" INDEX ")[1].split(" ON ")[0]
            cur.execute(f"drop index marts.{name}")
        for table, row in duplicate.items():
            cur.execute(f"insert into marts.{table} {row}")
    try:
        failures = _unique_tests_failures(built)
        assert failures == {
            "unique_fct_orders_order_id": 1,
            "unique_combination_of_columns_fct_order_items_order_id__order_item_id": 1,
            "unique_fct_order_items_order_item_key": 1,
        }
    finally:
        with psycopg2.connect(**built.db.dsn()) as conn, conn.cursor() as cur:
            for table in duplicate:
                # Drop the copy (the newer row version), then put the indexes back.
                key = "order_id" if table == "fct_orders" else "order_id, order_item_id"
                cur.execute(
                    f"delete from marts.{table} as t where ctid <> (select min(ctid) from marts.{table} "
                    f"as u where ({key}) = (select {key} from ({duplicate[table]}) as d)) "
                    f"and ({key}) = (select {key} from ({duplicate[table]}) as d)"
                )
            for indexdef in indexes["indexdef"]:
                cur.execute(indexdef)
    assert set(_unique_tests_failures(built).values()) == {0}


def test_a_late_status_change_of_an_old_order_reaches_the_incremental_fct_orders(
    built: BuiltWarehouse,
) -> None:
    """Runs last: it loads the sandbox's second weekly batch (new orders, and orders placed weeks
    earlier whose status changed since) and builds again; fct_orders, rebuilt incrementally for
    the orders whose inputs changed, must then hold every order's latest status, old orders included."""
    from ingestion import olist_files
    from ingestion.pipelines import load_olist_files
    from sandbox.generate import generate
    from tests.models.sandbox_loading import _pipeline

    before = _query(built.db, "select order_id, order_status, purchase_date from marts.fct_orders")
    generate(out=built.sandbox, orders=ORDERS, batch=2, progress=False)
    pipeline = _pipeline("olist_files", olist_files.DATASET, built.db, built.sandbox.parent / "dlt")
    load_olist_files(landing_url=str(built.sandbox / "landing"), db=built.db, pipeline=pipeline)
    result = _dbt(
        built.db,
        built.sandbox.parent / "target",
        "build",
        "--select",
        "+fct_orders",
        "--indirect-selection",
        "cautious",
    )
    assert result.returncode == 0, f"dbt build failed:\n{result.stdout[-8000:]}"
    assert "incremental model marts.fct_orders" in result.stdout

    after = _query(built.db, "select order_id, order_status from marts.fct_orders")
    raw = _latest(_query(built.db, "select * from raw_olist.orders"), ["order_id"])
    latest_status = dict(zip(raw["order_id"], raw["order_status"].str.lower(), strict=True))
    assert all(latest_status[o] == s for o, s in zip(after["order_id"], after["order_status"], strict=True))
    changed = before.merge(after, on="order_id", suffixes=("_before", "_after"))
    changed = changed[changed["order_status_before"] != changed["order_status_after"]]
    cutoff = before["purchase_date"].max() - pd.Timedelta(days=30)
    assert (changed["purchase_date"] < cutoff).any(), "no order older than 30 days changed status"
    assert len(after) > len(before)


def test_a_unique_index_on_nullable_columns_leaves_the_rows_with_a_null_to_check(
    built: BuiltWarehouse,
) -> None:
    """A unique index whose columns may be null keeps the rows without a null unique, so
    `unique_combination_of_columns` groups only the rows with a null; two equal ones still fail it."""
    test = "unique_combination_of_columns_stg_olist__order_reviews_review_id__order_id"
    nullable = _query(
        built.db,
        "select count(*) as n from pg_attribute where attrelid = 'staging.stg_olist__order_reviews'::regclass "
        "and attname in ('review_id', 'order_id') and not attnotnull",
    )
    assert nullable.loc[0, "n"] == 2
    assert _unique_tests_failures(built, (test,)) == {test: 0}
    with psycopg2.connect(**built.db.dsn()) as conn, conn.cursor() as cur:
        # The index lets both rows in: nulls are distinct in it.
        cur.execute(
            "insert into staging.stg_olist__order_reviews (review_id, order_id) "
            "values ('duplicate-review', null), ('duplicate-review', null)"
        )
    try:
        assert _unique_tests_failures(built, (test,)) == {test: 1}
    finally:
        with psycopg2.connect(**built.db.dsn()) as conn, conn.cursor() as cur:
            cur.execute("delete from staging.stg_olist__order_reviews where review_id = 'duplicate-review'")
