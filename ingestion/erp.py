"""The ERP database (product costs and refunds), read with dlt's ``sql_database`` source.

The ERP is a PostgreSQL database: ``ERP_DATABASE_URL`` if set, else the database ``erp`` on the
warehouse's own server (where the sandbox creates it). Two tables are loaded into ``raw_erp``:

* ``product_costs``: merged on (product_id, valid_from);
* ``refunds``: merged on refund_id.

Both are incremental on ``updated_at``: a run selects ``updated_at >= <last cursor>`` (a closed
range, so rows that share the last cursor value but were committed after the previous run are not
lost) and drops the rows it has already loaded at exactly that value. dlt recognises those rows by
a hash; here the hash covers the whole row, not only the primary key, so a row changed again
without moving ``updated_at`` past the cursor is still picked up. A re-run therefore loads nothing,
and the merge on the primary key keeps one row per key whatever is loaded twice.

Rows are read with the pyarrow backend (typed Arrow tables, numerics as decimals) and checked
with Arrow compute. Rows that cannot be used go to ``<table>__rejected`` with the reason:
a refund without order_id or with a negative amount, a cost with a negative unit_cost, and a row
without ``updated_at`` (which an incremental load cannot place; it is reported on every run until
the ERP fills it in). A row that was loaded and is later changed into a bad one is rejected, and
the warehouse keeps its last good version.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import dlt
import pyarrow as pa
import pyarrow.compute as pc
from dlt.common.pipeline import LoadInfo
from dlt.extract import DltResource
from dlt.extract.items_transform import YieldMapItem
from dlt.sources.sql_database import sql_table
from sqlalchemy.exc import NoSuchTableError, OperationalError

from ingestion.destination import make_pipeline
from warehouse import database
from warehouse.settings import DatabaseSettings

if TYPE_CHECKING:
    from ingestion.pipelines import LoadSummary

log = logging.getLogger(__name__)

SOURCE_NAME = "erp"
DATASET = "raw_erp"
PIPELINE_NAME = "erp"
ERP_DATABASE = "erp"
URL_VARIABLE = "ERP_DATABASE_URL"
CURSOR = "updated_at"

REJECTED_COLUMNS = {
    "source_table": {"data_type": "text", "nullable": False},
    "record_key": {"data_type": "text", "nullable": True},
    "column_name": {"data_type": "text", "nullable": True},
    "reason": {"data_type": "text", "nullable": False},
    "record": {"data_type": "text", "nullable": True},
}

# A check: (column at fault, reason, function giving a boolean mask of the bad rows).
Check = tuple[str, str, Callable[[pa.Table], pa.ChunkedArray]]


def _missing(column: str) -> Callable[[pa.Table], pa.ChunkedArray]:
    return lambda table: pc.is_null(table[column])


def _negative(column: str) -> Callable[[pa.Table], pa.ChunkedArray]:
    return lambda table: pc.less(table[column], pa.scalar(0, table.schema.field(column).type))


@dataclass(frozen=True)
class ErpTable:
    name: str
    primary_key: tuple[str, ...]
    checks: tuple[Check, ...]


CURSOR_CHECK: Check = (
    CURSOR,
    "missing updated_at (an incremental load cannot place the row)",
    _missing(CURSOR),
)

TABLES: dict[str, ErpTable] = {
    spec.name: spec
    for spec in (
        ErpTable(
            "product_costs",
            ("product_id", "valid_from"),
            (CURSOR_CHECK, ("unit_cost", "negative unit_cost", _negative("unit_cost"))),
        ),
        ErpTable(
            "refunds",
            ("refund_id",),
            (
                CURSOR_CHECK,
                ("order_id", "missing order_id", _missing("order_id")),
                ("amount", "negative amount", _negative("amount")),
            ),
        ),
    )
}


# ----------------------------------------------------------------------------------------- where


def sqlalchemy_url(url: str) -> str:
    """SQLAlchemy 2.1 reads a bare ``postgresql://`` as psycopg 3, which is not installed: name
    psycopg2 explicitly. URLs of other databases (or with a driver) are returned unchanged."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix) :]
    return url


def resolve_erp_url(db: DatabaseSettings | None = None) -> str:
    """``ERP_DATABASE_URL`` if set, else the ``erp`` database on the warehouse's server."""
    configured = os.environ.get(URL_VARIABLE)
    if configured:
        return sqlalchemy_url(configured)
    db = db or database.resolve()
    return db.url(dbname=ERP_DATABASE, driver="postgresql+psycopg2")


# ---------------------------------------------------------------------------------------- checks


def _whole_row(item: Any) -> list[str]:
    """The incremental's deduplication key: every column of the row (or Arrow table)."""
    return list(item.schema.names) if isinstance(item, pa.Table | pa.RecordBatch) else list(item)


def split_rows(table: pa.Table, spec: ErpTable) -> tuple[pa.Table, list[dict]]:
    """Rows that load and rejected rows (with source table, key, column, reason and the record)."""
    if table.num_rows == 0:
        return table, []
    masks = [(column, reason, pc.fill_null(check(table), False)) for column, reason, check in spec.checks]
    any_bad = masks[0][2]
    for _, _, mask in masks[1:]:
        any_bad = pc.or_(any_bad, mask)
    if not pc.any(any_bad).as_py():
        return table, []
    bad_rows = table.filter(any_bad).to_pylist()
    flags = [(column, reason, mask.filter(any_bad).to_pylist()) for column, reason, mask in masks]
    rejected = []
    for index, record in enumerate(bad_rows):
        column, reason = next((c, r) for c, r, bad in flags if bad[index])
        value = record.get(column)
        rejected.append(
            {
                "source_table": spec.name,
                "record_key": json.dumps([record.get(k) for k in spec.primary_key], default=str),
                "column_name": column,
                "reason": f"{reason}: {value}" if value is not None else reason,
                "record": json.dumps(record, default=str, ensure_ascii=False)[:4000],
            }
        )
    return table.filter(pc.invert(any_bad)), rejected


class AfterIncremental(YieldMapItem):
    """A yield-map step placed after the incremental filter. ``add_map``/``add_yield_map`` put steps
    before it (dlt lets maps shape the cursor), which would check, count and quarantine rows that
    the incremental then drops as already loaded."""

    placement_affinity = 1.05  # the incremental step has 1, dlt's add_limit step 1.1


@dataclass
class TableCounts:
    rows: int = 0
    rejected: int = 0


def _quarantine(spec: ErpTable, counts: dict[str, TableCounts]) -> Callable[[Any], Iterator[Any]]:
    rejected_table = f"{spec.name}__rejected"

    def split(item: Any) -> Iterator[Any]:
        tally = counts.setdefault(spec.name, TableCounts())
        if not isinstance(item, pa.Table | pa.RecordBatch):
            yield item  # the empty hint-carrying items dlt's sql_table may send
            return
        good, rejected = split_rows(pa.table(item) if isinstance(item, pa.RecordBatch) else item, spec)
        tally.rows += good.num_rows
        if good.num_rows:
            yield good
        if rejected:
            tally.rejected += len(rejected)
            log.warning("erp %s: %d row(s) rejected into %s", spec.name, len(rejected), rejected_table)
            yield dlt.mark.with_table_name(rejected, rejected_table)

    return split


def _add_rejected_table(resource: DltResource, table: str) -> None:
    """Declare ``<table>__rejected`` on ``resource``. A table variant starts from the resource's
    hints, here the reflected ERP columns and the merge key, so those are cleared first."""
    resource.apply_hints(
        table_name=table,
        create_table_variant=True,
        write_disposition="append",
        columns={},
        primary_key=[],
        merge_key=[],
    )
    resource.apply_hints(table_name=table, create_table_variant=True, columns=REJECTED_COLUMNS)


# ------------------------------------------------------------------------------------------- dlt


@dlt.source(name=SOURCE_NAME, max_table_nesting=0)
def erp(
    credentials: str,
    schema: str | None = None,
    tables: list[str] | None = None,
    counts: dict[str, TableCounts] | None = None,
    chunk_size: int = 50_000,
    defer_reflection: bool = False,
):
    """The ERP tables from the database at ``credentials`` (a SQLAlchemy URL). ``counts`` (if
    given) receives rows loaded and rejected per table for the load summary.

    The tables are reflected when the source is built, so a missing table fails early with a clear
    message. ``defer_reflection=True`` reflects them when the load runs instead, for declaring the
    source (e.g. as Dagster assets) without connecting to the ERP."""
    counts = {} if counts is None else counts
    for spec in TABLES.values():
        if tables is not None and spec.name not in tables:
            continue
        counts.setdefault(spec.name, TableCounts())
        try:
            resource = sql_table(
                credentials=credentials,
                table=spec.name,
                schema=schema,
                backend="pyarrow",
                reflection_level="full_with_precision",
                chunk_size=chunk_size,
                defer_table_reflect=defer_reflection,
                incremental=dlt.sources.incremental(
                    CURSOR, on_cursor_value_missing="include", primary_key=_whole_row
                ),
                write_disposition="merge",
                primary_key=list(spec.primary_key),
            )
        except NoSuchTableError as exc:
            raise RuntimeError(
                f"ERP table {spec.name} not found in {_describe(credentials)}: create it "
                f"(the sandbox does) or point {URL_VARIABLE} at the ERP database"
            ) from exc
        except OperationalError as exc:
            raise RuntimeError(
                f"Cannot connect to the ERP at {_describe(credentials)}: {str(exc.orig).strip()}. "
                f"Set {URL_VARIABLE} or create the database {ERP_DATABASE!r} on the warehouse server."
            ) from exc
        _add_rejected_table(resource, f"{spec.name}__rejected")
        yield resource.add_step(AfterIncremental(_quarantine(spec, counts)))


def _describe(url: str) -> str:
    """The URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "the configured ERP database"


def erp_pipeline(db: DatabaseSettings | None = None) -> dlt.Pipeline:
    return make_pipeline(PIPELINE_NAME, DATASET, db)


def load_erp(
    db: DatabaseSettings | None = None,
    erp_url: str | None = None,
    pipeline: dlt.Pipeline | None = None,
) -> tuple[LoadInfo, LoadSummary]:
    """Load the ERP's changes since the last run into ``raw_erp``."""
    from ingestion.pipelines import LoadSummary  # here: pipelines.py may import this module

    url = sqlalchemy_url(erp_url) if erp_url else resolve_erp_url(db)
    counts: dict[str, TableCounts] = {}
    pipeline = pipeline or erp_pipeline(db)
    info = pipeline.run(erp(url, counts=counts), loader_file_format="csv")
    summary = LoadSummary(
        source=SOURCE_NAME,
        dataset=pipeline.dataset_name,
        tables={name: asdict(tally) for name, tally in counts.items()},
        load_ids=list(info.loads_ids),
    )
    log.info("erp: %d rows loaded, %d rejected", summary.rows_loaded, summary.rows_rejected)
    return info, summary


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    _, loaded = load_erp(database.ensure())
    log.info("%s", loaded.as_dict())
