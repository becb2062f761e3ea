"""Predicted CLV and P(alive) in the warehouse: read the transactions, score every source, write the results.

:func:`run_clv` reads ``intermediate.int_customer_transactions_unioned`` in one ``COPY ... TO STDOUT``
(parsed by Arrow with explicit types), scores each transaction source with :func:`clv.scoring.score_source`
(BG/NBD + Gamma-Gamma fits, predictions, calibration/holdout check) and writes, in one transaction and
with ``COPY``:

* ``marts.customer_clv_predictions``: one row per source and person, from the latest run only;
* ``marts.clv_model_runs``: one row per run, source and model, every run kept;
* ``marts.clv_holdout_by_frequency``: actual and predicted mean holdout purchases per number of calibration
  purchases (Fader, Hardie & Lee 2005, figure 5), every run kept;

then grants ``select`` on them to the ``analyst`` role. dbt declares the tables as the source ``clv``
(dbt_project/models/marts/customers/_clv__sources.yml); the mart ``customer_churn`` reads the predictions,
so P(alive) sits beside the threshold churn state. orchestration/assets/clv.py is the Dagster asset.
Run without Dagster: ``python -m warehouse exec -- python -m clv.warehouse``.
"""

from __future__ import annotations

import logging
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import IO

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg2 import sql

from clv.scoring import (
    DEFAULT_HOLDOUT_DAYS,
    MIN_PEOPLE,
    MIN_SPEND_BUYERS,
    ClvSettings,
    SourceResult,
    score_source,
)
from warehouse import database
from warehouse.settings import DatabaseSettings

log = logging.getLogger(__name__)

TRANSACTIONS = ("intermediate", "int_customer_transactions_unioned")
SCHEMA = "marts"
PREDICTIONS = "customer_clv_predictions"
MODEL_RUNS = "clv_model_runs"
HOLDOUT = "clv_holdout_by_frequency"
# Written by earlier versions (customer_churn with P(alive)); dbt's customer_churn carries P(alive) now.
RETIRED_TABLES = ("customer_churn_scored",)
ANALYST_ROLE = "analyst"

# (column, type[, constraints]); the tuple after the columns is the primary key.
Columns = tuple[tuple[str, ...], ...]
PREDICTION_COLUMNS: Columns = (
    ("transaction_source", "text", "not null"),
    ("customer_unique_id", "text", "not null"),
    ("model_run_id", "uuid", "not null"),
    ("as_of_date", "date", "not null"),
    ("time_unit", "text", "not null"),
    ("first_purchase_date", "date", "not null"),
    ("frequency", "integer", "not null check (frequency >= 0)"),
    ("recency", "double precision", "not null check (recency >= 0)"),
    ("t", "double precision", "not null check (t >= 0)"),
    ("monetary_value", "numeric(18,2)", "not null check (monetary_value >= 0)"),
    ("expected_purchases_30d", "double precision", "not null check (expected_purchases_30d >= 0)"),
    ("expected_purchases_90d", "double precision", "not null check (expected_purchases_90d >= 0)"),
    ("expected_purchases_365d", "double precision", "not null check (expected_purchases_365d >= 0)"),
    ("p_alive", "double precision", "not null check (p_alive between 0 and 1)"),
    ("expected_average_spend", "numeric(18,2)", "check (expected_average_spend >= 0)"),
    ("predicted_clv", "numeric(18,2)", "check (predicted_clv >= 0)"),
    ("horizon_months", "integer", "not null"),
    ("monthly_discount_rate", "double precision", "not null"),
)
MODEL_RUN_COLUMNS: Columns = (
    ("model_run_id", "uuid", "not null"),
    ("transaction_source", "text", "not null"),
    ("model", "text", "not null check (model in ('bgnbd', 'gamma_gamma', 'bgnbd_calibration'))"),
    ("run_at", "timestamptz", "not null"),
    ("status", "text", "not null check (status in ('fitted', 'skipped', 'failed'))"),
    ("status_reason", "text"),
    ("as_of_date", "date"),
    ("time_unit", "text", "not null"),
    ("n_people", "integer", "not null"),
    ("n_repeat_buyers", "integer", "not null"),
    ("r", "double precision"),
    ("alpha", "double precision"),
    ("a", "double precision"),
    ("b", "double precision"),
    ("p", "double precision"),
    ("q", "double precision"),
    ("gamma", "double precision"),
    ("log_likelihood", "double precision"),
    ("converged", "boolean"),
    ("n_iterations", "integer"),
    ("fit_seconds", "double precision"),
    ("spend_frequency_correlation", "double precision"),
    ("horizon_months", "integer", "not null"),
    ("monthly_discount_rate", "double precision", "not null"),
    ("calibration_end_date", "date"),
    ("holdout_days", "integer"),
    ("holdout_total_actual", "double precision"),
    ("holdout_total_predicted", "double precision"),
    ("holdout_total_error_pct", "double precision"),
    ("holdout_mae", "double precision"),
    ("holdout_rmse", "double precision"),
    ("holdout_bias", "double precision"),
    ("holdout_binned_mae", "double precision"),
)
HOLDOUT_COLUMNS: Columns = (
    ("model_run_id", "uuid", "not null"),
    ("transaction_source", "text", "not null"),
    ("calibration_frequency", "integer", "not null check (calibration_frequency >= 0)"),
    ("frequency_label", "text", "not null"),
    ("n_people", "integer", "not null check (n_people >= 0)"),
    ("actual_mean", "double precision"),
    ("predicted_mean", "double precision"),
    ("calibration_end_date", "date", "not null"),
    ("holdout_days", "integer", "not null"),
)
TABLES: dict[str, tuple[Columns, tuple[str, ...]]] = {
    PREDICTIONS: (PREDICTION_COLUMNS, ("transaction_source", "customer_unique_id")),
    MODEL_RUNS: (MODEL_RUN_COLUMNS, ("model_run_id", "transaction_source", "model")),
    HOLDOUT: (HOLDOUT_COLUMNS, ("model_run_id", "transaction_source", "calibration_frequency")),
}

# How each column type is written to the CSV that COPY reads.
_ARROW_TYPES = {
    "text": pa.string(),
    "uuid": pa.string(),
    "date": pa.date32(),
    "integer": pa.int64(),
    "double precision": pa.float64(),
    "numeric(18,2)": pa.float64(),
    "boolean": pa.bool_(),
    "timestamptz": pa.timestamp("us", tz="UTC"),
}
_READ_TYPES = {
    "transaction_source": pa.dictionary(pa.int32(), pa.string()),
    "customer_unique_id": pa.string(),
    "purchase_date": pa.date32(),
    "amount": pa.float64(),
    "as_of_date": pa.date32(),
}


@dataclass(frozen=True)
class Written:
    """What :func:`write_results` wrote: rows per table and whether the analyst role was granted select."""

    rows: dict[str, int]
    analyst_granted: bool


@dataclass
class ClvRun:
    """One call of :func:`run_clv`: the run id, what happened per source, where the time went."""

    run_id: str
    run_at: datetime
    settings: ClvSettings
    sources: dict[str, SourceResult]
    seconds: dict[str, float]
    written: Written

    @property
    def predictions_written(self) -> int:
        return sum(len(result.predictions) for result in self.sources.values())


def _spooled() -> IO[bytes]:
    return tempfile.SpooledTemporaryFile(max_size=256 * 2**20)


def _table(name: str) -> sql.Composable:
    return sql.Identifier(SCHEMA, name)


def read_transactions(conn, sources: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per source, person and order (up to the source's as-of date) from the dbt model, in one COPY.

    Columns: transaction_source (categorical), customer_unique_id, purchase_date, amount, as_of_date.
    ``amount`` is the order's net revenue in BRL floored at 0: a fully refunded sale is still a purchase
    occasion, worth nothing, and the spend model needs amounts >= 0.
    """
    schema, table = TRANSACTIONS
    with conn.cursor() as cur:
        cur.execute("select to_regclass(%s)", (f"{schema}.{table}",))
        if cur.fetchone()[0] is None:
            raise RuntimeError(
                f"{schema}.{table} does not exist in database {conn.info.dbname}: build the dbt models "
                "first (`dbt build`, or materialize the dbt assets in Dagster), then run the CLV step"
            )
        where = sql.SQL("")
        if sources:
            where = sql.SQL("where transaction_source = any({})").format(sql.Literal(list(sources)))
        statement = sql.SQL(
            "copy (select transaction_source, customer_unique_id, purchase_date, "
            "greatest(coalesce(net_revenue, 0), 0)::float8, as_of_date from {} {}) to stdout (format csv)"
        ).format(sql.Identifier(schema, table), where)
        with _spooled() as buffer:
            cur.copy_expert(statement.as_string(conn), buffer)
            buffer.seek(0)
            arrow = pacsv.read_csv(
                buffer,
                read_options=pacsv.ReadOptions(column_names=list(_READ_TYPES)),
                convert_options=pacsv.ConvertOptions(column_types=_READ_TYPES),
            )
    return arrow.to_pandas(date_as_object=False)


def _create_table(cur, table: str, name: str | None = None, *, primary_key: bool = True) -> None:
    """``create table if not exists`` marts.<name> (default ``table``) with the columns of ``table``."""
    columns, key = TABLES[table]
    definition = [
        sql.SQL(" ").join([sql.Identifier(column), *map(sql.SQL, spec)]) for column, *spec in columns
    ]
    if primary_key:
        definition.append(sql.SQL("primary key ({})").format(sql.SQL(", ").join(map(sql.Identifier, key))))
    cur.execute(
        sql.SQL("create table if not exists {} ({})").format(
            _table(name or table), sql.SQL(", ").join(definition)
        )
    )


def _index_predictions(cur, name: str = PREDICTIONS) -> None:
    # "The top people by predicted CLV" is the analysts' first question; without an index it is a
    # sort of every prediction (a few hundred ms at 1M orders), with it a few rows read.
    cur.execute(
        sql.SQL(
            "create index if not exists {} on {} (transaction_source, predicted_clv desc nulls last)"
        ).format(sql.Identifier(f"{name}_by_predicted_clv"), _table(name))
    )


def ensure_tables(cur) -> None:
    """Create the CLV tables when missing, add any column a table from an older version lacks, and drop the
    tables older versions wrote that nothing refreshes any more."""
    cur.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(SCHEMA)))
    for table in RETIRED_TABLES:
        cur.execute(sql.SQL("drop table if exists {}").format(_table(table)))
    for table, (columns, _) in TABLES.items():
        _create_table(cur, table)
        for name, column_type, *_ in columns:
            cur.execute(
                sql.SQL("alter table {} add column if not exists {} {}").format(
                    _table(table), sql.Identifier(name), sql.SQL(column_type)
                )
            )
    _index_predictions(cur)


def _has_dependent_views(cur, table: str) -> bool:
    """Whether a view (or a rule) reads marts.<table>, which would stop it from being dropped."""
    cur.execute(
        """
        select exists (
            select 1
            from pg_depend as dependency
            join pg_rewrite as rewrite on rewrite.oid = dependency.objid
            where dependency.classid = 'pg_rewrite'::regclass
                and dependency.refobjid = %s::regclass
                and rewrite.ev_class <> dependency.refobjid
        )
        """,
        (f"{SCHEMA}.{table}",),
    )
    return cur.fetchone()[0]


def _replace_predictions(cur, frame: pd.DataFrame) -> int:
    """Every prediction replaced by ``frame``: written into a new table, indexed, then swapped in.

    A table created in the writing transaction is filled without WAL (``wal_level = minimal``) and its
    indexes are built once, after the rows. Deleting 700k predictions and inserting as many through
    two indexes took 17.3 s at 1M orders; this takes 7.0 s. Readers keep the old table until the commit."""
    staged = f"{PREDICTIONS}__new"
    cur.execute(sql.SQL("drop table if exists {}").format(_table(staged)))
    _create_table(cur, PREDICTIONS, staged, primary_key=False)
    written = _copy(cur, staged, PREDICTION_COLUMNS, frame)
    _, key = TABLES[PREDICTIONS]
    cur.execute(
        sql.SQL("alter table {} add constraint {} primary key ({})").format(
            _table(staged), sql.Identifier(f"{staged}_pkey"), sql.SQL(", ").join(map(sql.Identifier, key))
        )
    )
    _index_predictions(cur, staged)
    cur.execute(sql.SQL("drop table {}").format(_table(PREDICTIONS)))
    cur.execute(sql.SQL("alter table {} rename to {}").format(_table(staged), sql.Identifier(PREDICTIONS)))
    # The names the table had before: its constraints (renaming the primary key renames its index) and
    # the other index.
    cur.execute(
        "select conname from pg_constraint where conrelid = %s::regclass", (f"{SCHEMA}.{PREDICTIONS}",)
    )
    for (name,) in cur.fetchall():
        cur.execute(
            sql.SQL("alter table {} rename constraint {} to {}").format(
                _table(PREDICTIONS),
                sql.Identifier(name),
                sql.Identifier(name.replace(staged, PREDICTIONS, 1)),
            )
        )
    cur.execute(
        sql.SQL("alter index {} rename to {}").format(
            sql.Identifier(SCHEMA, f"{staged}_by_predicted_clv"),
            sql.Identifier(f"{PREDICTIONS}_by_predicted_clv"),
        )
    )
    return written


def _copy(cur, table: str, columns: Columns, frame: pd.DataFrame) -> int:
    """COPY ``frame`` into marts.<table> through a CSV written by Arrow (NaN and None become NULL)."""
    if frame.empty:
        return 0
    arrays = {}
    for name, column_type, *_ in columns:
        values = frame[name] if name in frame else pd.Series(None, index=frame.index, dtype=object)
        kind = _ARROW_TYPES[column_type]
        if pa.types.is_date32(kind):
            values = pd.to_datetime(values).to_numpy().astype("datetime64[D]")
        arrays[name] = pa.array(values, type=kind, from_pandas=True)
    names = sql.SQL(", ").join(sql.Identifier(column[0]) for column in columns)
    with _spooled() as buffer:
        pacsv.write_csv(pa.table(arrays), buffer, pacsv.WriteOptions(include_header=False))
        buffer.seek(0)
        statement = sql.SQL("copy {} ({}) from stdin (format csv)").format(_table(table), names)
        cur.copy_expert(statement.as_string(cur.connection), buffer)
    return len(frame)


def _grant(cur) -> bool:
    """Grant select on the tables to the analyst role; False (and a warning) when the role does not exist."""
    cur.execute("select 1 from pg_roles where rolname = %s", (ANALYST_ROLE,))
    if cur.fetchone() is None:
        log.warning(
            "CLV: role %s does not exist, so it cannot read the CLV tables yet: `dbt build` creates the "
            "roles (on-run-start), or run `dbt run-operation create_roles`, then run the CLV step again",
            ANALYST_ROLE,
        )
        return False
    tables = sql.SQL(", ").join(_table(table) for table in TABLES)
    cur.execute(sql.SQL("grant select on {} to {}").format(tables, sql.Identifier(ANALYST_ROLE)))
    return True


def _concat(frames: Sequence[pd.DataFrame], **columns: object) -> pd.DataFrame:
    frames = [frame for frame in frames if not frame.empty]
    return pd.concat(frames, ignore_index=True).assign(**columns) if frames else pd.DataFrame()


def write_results(
    conn, run_id: str, run_at: datetime, results: Sequence[SourceResult], replace_all: bool
) -> Written:
    """Write one run in the caller's transaction.

    The predictions of the run's sources are replaced (every prediction when ``replace_all``); model runs
    and holdout groups are appended. Readers see the previous tables until the transaction commits.
    """
    with conn.cursor() as cur:
        ensure_tables(cur)
        # One writer at a time (a second run waits here). Readers are not blocked until the swap of a new
        # predictions table, which holds them from the drop to the commit (milliseconds).
        tables = sql.SQL(", ").join(_table(table) for table in TABLES)
        cur.execute(sql.SQL("lock table {} in share row exclusive mode").format(tables))
        rows: dict[str, int] = {}
        predictions = _concat([result.predictions for result in results], model_run_id=run_id)
        if replace_all and not _has_dependent_views(cur, PREDICTIONS):
            rows[PREDICTIONS] = _replace_predictions(cur, predictions)
        else:
            if replace_all:
                cur.execute(sql.SQL("delete from {}").format(_table(PREDICTIONS)))
            else:
                cur.execute(
                    sql.SQL("delete from {} where transaction_source = any(%s)").format(_table(PREDICTIONS)),
                    ([result.source for result in results],),
                )
            rows[PREDICTIONS] = _copy(cur, PREDICTIONS, PREDICTION_COLUMNS, predictions)
        runs = [
            pd.DataFrame(result.model_runs).assign(transaction_source=result.source)
            for result in results
            if result.model_runs
        ]
        runs_frame = _concat(runs, model_run_id=run_id, run_at=run_at)
        rows[MODEL_RUNS] = _copy(cur, MODEL_RUNS, MODEL_RUN_COLUMNS, runs_frame)
        holdout = [result.holdout_by_frequency.assign(transaction_source=result.source) for result in results]
        rows[HOLDOUT] = _copy(cur, HOLDOUT, HOLDOUT_COLUMNS, _concat(holdout, model_run_id=run_id))
        # customer_churn joins the predictions next: plan that with real statistics.
        cur.execute(sql.SQL("analyze {}").format(_table(PREDICTIONS)))
        return Written(rows=rows, analyst_granted=_grant(cur))


def run_clv(
    db: DatabaseSettings | None = None,
    *,
    sources: str | Sequence[str] | None = None,
    unit: str = "D",
    as_of: date | str | None = None,
    horizon_months: int = 12,
    monthly_discount_rate: float = 0.01,
    holdout_days: int = DEFAULT_HOLDOUT_DAYS,
    min_people: int = MIN_PEOPLE,
    min_spend_buyers: int = MIN_SPEND_BUYERS,
) -> ClvRun:
    """Fit BG/NBD and Gamma-Gamma on every transaction source (or only ``sources``) and write the results.

    ``unit``: the models' time unit, 'D' or 'W'. ``as_of`` (inclusive): default each source's as-of date in
    int_customer_transactions_unioned. ``horizon_months`` and ``monthly_discount_rate``: the predicted CLV.
    ``holdout_days``: the holdout report calibrates on the history up to ``as_of - holdout_days`` (at most
    half the history; 0 = no report). A source with fewer than ``min_people`` people or no repeat buyer is
    skipped; the spend model needs ``min_spend_buyers`` repeat buyers. The predictions of the sources run
    are replaced (all predictions when ``sources`` is None); model runs and holdout groups are kept.
    """
    settings = ClvSettings(
        unit=unit.upper(),
        as_of=date.fromisoformat(as_of) if isinstance(as_of, str) else as_of,
        horizon_months=horizon_months,
        monthly_discount_rate=monthly_discount_rate,
        holdout_days=holdout_days,
        min_people=min_people,
        min_spend_buyers=min_spend_buyers,
    )
    wanted = [sources] if isinstance(sources, str) else None if sources is None else list(sources)
    run_id, run_at = str(uuid.uuid4()), datetime.now(UTC)
    seconds: dict[str, float] = {}
    started_run = started = time.perf_counter()
    with database.connect(db) as conn:
        transactions = read_transactions(conn, wanted)
        seconds["read"] = time.perf_counter() - started
        log.info("CLV: read %d transactions in %.2f s", len(transactions), seconds["read"])

        started = time.perf_counter()
        by_source = dict(iter(transactions.groupby("transaction_source", observed=True)))
        del transactions
        results: dict[str, SourceResult] = {}
        for source in wanted if wanted is not None else sorted(map(str, by_source)):
            rows = by_source.pop(source, None)
            if rows is None:
                rows = pd.DataFrame({"customer_unique_id": [], "purchase_date": [], "amount": []})
            source_as_of = settings.as_of
            if source_as_of is None and len(rows):
                source_as_of = pd.Timestamp(rows["as_of_date"].max()).date()
            results[source] = score_source(rows, source, settings, source_as_of)
        seconds["score"] = time.perf_counter() - started

        started = time.perf_counter()
        written = write_results(conn, run_id, run_at, list(results.values()), replace_all=wanted is None)
        seconds["write"] = time.perf_counter() - started
    seconds["total"] = time.perf_counter() - started_run
    run = ClvRun(run_id, run_at, settings, results, seconds, written)
    log.info(
        "CLV run %s: %d predictions (%s) in %.2f s: read %.2f, score %.2f, write %.2f",
        run_id,
        run.predictions_written,
        ", ".join(f"{source} {result.status}" for source, result in results.items()) or "no source",
        seconds["total"],
        seconds["read"],
        seconds["score"],
        seconds["write"],
    )
    return run


def main() -> None:
    """One run with the CLV_* settings on the configured (or embedded) database, and what it did."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    run = run_clv(database.ensure(), **ClvSettings.from_env().as_kwargs())
    for source, result in run.sources.items():
        print(f"{source}: {result.status}, {result.n_people} people, {result.n_repeat_buyers} repeat buyers")
        for row in result.model_runs:
            print(f"  {row['model']:<18} {row['status']:<8} {row.get('status_reason') or ''}")
    print("seconds: " + ", ".join(f"{key} {value:.2f}" for key, value in run.seconds.items()))


if __name__ == "__main__":
    main()
