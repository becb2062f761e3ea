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

Fast path (1.3M cost rows): from a PostgreSQL ERP, dlt's query (incremental filter included) runs as
``COPY (...) TO STDOUT`` in CSV and Arrow's CSV reader turns it into the same typed tables the
pyarrow backend builds from fetched rows (:class:`CopyTableLoader`), several times less CPU. After
the checks, the good rows go to dlt as CSV files it imports as they are and loads with COPY
(:func:`as_csv_import`), and the first load of a table that is empty in the warehouse appends
instead of merging, when the ERP's primary key makes the rows unique on the merge key.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dlt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import sqlalchemy as sa
from dlt.common.configuration.container import Container
from dlt.common.destination import DestinationCapabilitiesContext
from dlt.common.libs.pyarrow import get_py_arrow_datatype, py_arrow_to_table_schema_columns
from dlt.common.pipeline import LoadInfo
from dlt.common.storages.load_package import CurrentLoadPackageStateNotAvailable
from dlt.extract import DltResource
from dlt.extract.items_transform import YieldMapItem
from dlt.sources.sql_database import sql_table
from dlt.sources.sql_database.helpers import TableLoader
from sqlalchemy.exc import NoSuchTableError, OperationalError

from ingestion.destination import make_pipeline, table_is_empty
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
LOAD_ID = "_dlt_load_id"

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


# ------------------------------------------------------------------------------------------ read

# dlt data types whose PostgreSQL CSV text Arrow's CSV reader parses into the pyarrow backend's types
COPY_TYPES = frozenset({"text", "bigint", "double", "bool", "date", "timestamp", "decimal"})
COPY_BLOCK_BYTES = 16 << 20  # CSV bytes per Arrow batch: ~200k cost rows


class CopyTableLoader(TableLoader):
    """sql_table's pyarrow backend, reading the rows with PostgreSQL's ``COPY (query) TO STDOUT`` in
    CSV and parsing them with Arrow's CSV reader, instead of fetching Python tuples through
    SQLAlchemy and converting them to Arrow (that was 80% of the ERP load's extraction).

    It runs dlt's own query, incremental filter included, and yields Arrow tables with the types
    the pyarrow backend gives: same columns, numeric precision, timestamp precision and time zone,
    nullability. Another database or driver, a column type outside :data:`COPY_TYPES` (json, binary,
    time, ...) or a query it cannot render take the pyarrow backend's own path."""

    def _load_rows(self, query: Any, backend_kwargs: dict[str, Any]) -> Iterator[Any]:
        schema = self._arrow_schema(query, backend_kwargs.get("tz", "UTC"))
        if schema is None:
            yield from super()._load_rows(query, backend_kwargs)
            return
        compiled = query.compile(dialect=self.engine.dialect)
        if "POSTCOMPILE" in str(compiled):
            yield from super()._load_rows(query, backend_kwargs)
            return
        with tempfile.TemporaryFile() as spool:
            if not self._copy(compiled, spool):
                yield from super()._load_rows(query, backend_kwargs)
                return
            spool.seek(0)
            yield from self._parse(spool, schema)

    def _copy(self, compiled: Any, spool: Any) -> bool:
        """COPY the query's rows into ``spool`` as CSV; False (nothing copied) when the connection
        does not speak UTF-8, which Arrow's reader expects."""
        with self.engine.connect() as conn:
            dbapi = conn.connection.dbapi_connection
            if dbapi.encoding != "UTF8":
                return False
            with dbapi.cursor() as cursor:
                select = cursor.mogrify(str(compiled), compiled.params).decode("utf-8")
                # the text COPY writes: ISO dates, timestamps with their offset from UTC
                cursor.execute("set local datestyle to 'ISO, YMD'; set local timezone to 'UTC'")
                cursor.copy_expert(f"copy ({select}) to stdout with (format csv, header true)", spool)
        return True

    def _arrow_schema(self, query: Any, tz: str) -> pa.Schema | None:
        """The Arrow schema of the query's rows, as the pyarrow backend would type them; None when
        this loader cannot read them."""
        dialect = self.engine.dialect
        if self.backend != "pyarrow" or dialect.name != "postgresql" or dialect.driver != "psycopg2":
            return None
        caps = Container().get(DestinationCapabilitiesContext)
        caps = caps or DestinationCapabilitiesContext.generic_capabilities()
        names = [column.name for column in query.selected_columns]
        if len(set(names)) != len(names):
            return None
        fields = []
        for name in names:
            column = self.columns.get(name)
            if not column or column.get("data_type") not in COPY_TYPES:
                return None
            arrow_type = get_py_arrow_datatype(column, caps, tz)
            fields.append(pa.field(name, arrow_type, nullable=column.get("nullable", True)))
        return pa.schema(fields)

    def _parse(self, spool: Any, schema: pa.Schema) -> Iterator[pa.Table]:
        reader = pacsv.open_csv(
            spool,
            read_options=pacsv.ReadOptions(block_size=COPY_BLOCK_BYTES),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={field.name: field.type for field in schema},
                # COPY writes NULL as an empty field and an empty string as ""
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
                true_values=["t"],
                false_values=["f"],
            ),
        )
        if reader.schema.names != schema.names:
            raise RuntimeError(f"ERP COPY returned columns {reader.schema.names}, expected {schema.names}")
        for batch in reader:
            if batch.num_rows:
                yield pa.Table.from_batches([batch]).cast(schema)


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


def csv_text(table: pa.Table) -> pa.Table:
    """``table`` ready for Arrow's CSV writer and PostgreSQL's COPY: timestamps with a time zone are
    written as UTC with an explicit ``+00`` offset. Arrow writes those about 25 times slower than
    naive ones (a time zone lookup a value): 5 s for the 1.3M costs' ``updated_at`` alone."""
    columns = []
    for field, column in zip(table.schema, table.columns, strict=True):
        if pa.types.is_timestamp(field.type) and field.type.tz is not None:
            # the cast to a naive timestamp keeps the UTC wall time, whatever the time zone
            utc = pc.cast(column.cast(pa.timestamp(field.type.unit)), pa.string())
            column = pc.binary_join_element_wise(utc, pa.scalar("+00"), "")
        columns.append(column)
    return pa.table(columns, names=table.column_names)


def as_csv_import(table: pa.Table, spec: ErpTable, append: bool = False) -> Iterator[Any]:
    """Good rows as one CSV file that dlt imports as it is and loads with COPY (the olist_files
    trick): no parquet file between extract and normalize, and no Arrow-to-CSV rewrite in normalize,
    which was most of its time. The rows carry dlt's load id, as the Arrow path adds it; the column
    hints are the Arrow schema's. Outside a pipeline run, the Arrow table itself."""
    try:
        load_id = dlt.current.load_package_state()["load_id"]
        folder = Path(dlt.current.pipeline().working_dir) / "erp_imports"
    except CurrentLoadPackageStateNotAvailable:
        yield dlt.mark.with_hints(table, dlt.mark.make_hints(write_disposition="append")) if append else table
        return
    load_ids = pa.repeat(pa.scalar(load_id), table.num_rows)
    table = table.append_column(pa.field(LOAD_ID, pa.string(), nullable=False), load_ids)
    folder.mkdir(parents=True, exist_ok=True)
    handle, path = tempfile.mkstemp(prefix=f"{spec.name}.", suffix=".csv", dir=folder)
    os.close(handle)
    try:
        options = pacsv.WriteOptions(include_header=True, quoting_style="needed")
        pacsv.write_csv(csv_text(table), path, options)
        hints = dlt.mark.make_hints(
            columns=py_arrow_to_table_schema_columns(table.schema),
            write_disposition="append" if append else None,
        )
        yield dlt.mark.with_file_import(path, "csv", items_count=table.num_rows, hints=hints)
    finally:
        # dlt has hard-linked (or copied) the file into its load package by now
        Path(path).unlink(missing_ok=True)


def unique_in_source(credentials: str, schema: str | None, spec: ErpTable) -> bool:
    """Whether the ERP's primary key of the table makes its rows unique on ``spec.primary_key`` (the
    key is a subset of it), so one load's rows can be appended without the merge's deduplication."""
    engine = sa.create_engine(credentials)
    try:
        key = sa.inspect(engine).get_pk_constraint(spec.name, schema).get("constrained_columns") or []
    except Exception as exc:  # noqa: BLE001 - not known to be unique: merge
        log.info("erp %s: primary key not readable (%s)", spec.name, exc)
        return False
    finally:
        engine.dispose()
    return bool(key) and set(key) <= set(spec.primary_key)


def _quarantine(
    spec: ErpTable, counts: dict[str, TableCounts], first_load: Callable[[], bool] = lambda: False
) -> Callable[[Any], Iterator[Any]]:
    """The step that checks each Arrow table: good rows go on (appended when ``first_load()`` says
    the table's first load may skip the merge, asked once), bad rows to ``<table>__rejected``."""
    rejected_table = f"{spec.name}__rejected"
    append: list[bool] = []

    def split(item: Any) -> Iterator[Any]:
        tally = counts.setdefault(spec.name, TableCounts())
        if not isinstance(item, pa.Table | pa.RecordBatch):
            yield item  # the empty hint-carrying items dlt's sql_table may send
            return
        good, rejected = split_rows(pa.table(item) if isinstance(item, pa.RecordBatch) else item, spec)
        tally.rows += good.num_rows
        if good.num_rows:
            if not append:
                append.append(first_load())
                if append[0]:
                    log.info("erp %s: first load into an empty table, appended without a merge", spec.name)
            yield from as_csv_import(good, spec, append=append[0])
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
    # Dicts in the destination's preferred format: dlt 1.30's CSV writer for dicts counts fields, not
    # rows, which inflated the rejected counts dlt reports (and Dagster shows).
    resource.apply_hints(
        table_name=table, create_table_variant=True, columns=REJECTED_COLUMNS, file_format="preferred"
    )


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
                table_loader_class=CopyTableLoader,
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
        first_load = functools.partial(_may_append, credentials, schema, spec)
        yield resource.add_step(AfterIncremental(_quarantine(spec, counts, first_load)))


def _may_append(credentials: str, schema: str | None, spec: ErpTable) -> bool:
    """A first load may append: the warehouse table is empty and the ERP's key makes rows unique."""
    return table_is_empty(spec.name) and unique_in_source(credentials, schema, spec)


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
