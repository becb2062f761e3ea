"""Order files in the public Olist format, from a landing folder (local path or any fsspec URL).

Each of the nine Olist tables is one dlt resource. A resource finds its files anywhere under the
landing folder (``**/olist_orders_dataset.csv``, ``.parquet``, ``.jsonl``, optionally gzipped), reads
them with Arrow, checks every row and yields two kinds of tables:

* ``<table>``: the rows as delivered, every value as text (typing is staging's job), plus
  ``_source_file`` and ``_source_row`` (the record's number in its file, the header being row 1);
* ``<table>__rejected``: rows that cannot be used, with the reason and the column at fault.

A file is loaded once: the resource keeps the fingerprints (size and modification time, or the
object store's ETag) of the files it has loaded in dlt state, committed with the load itself.
A file that lacks a required column fails the load with a message naming the file and columns.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import posixpath
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dlt
import fsspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

log = logging.getLogger(__name__)

SOURCE_NAME = "olist"
DATASET = "raw_olist"
FORMATS = (".csv", ".csv.gz", ".parquet", ".jsonl", ".jsonl.gz", ".json")
TIMESTAMP_PATTERN = r"^\d{4}-\d{2}-\d{2}( \d{2}:\d{2}:\d{2})?$"
NUMBER_PATTERN = r"^-?\d+(\.\d+)?$"


class SourceFileError(ValueError):
    """A file that cannot be loaded at all; the message names the file and what is wrong."""


@dataclass(frozen=True)
class TableSpec:
    table: str
    file_stem: str
    columns: tuple[str, ...]
    primary_key: tuple[str, ...]
    write_disposition: str = "merge"
    timestamps: tuple[str, ...] = ()
    non_negative: tuple[str, ...] = ()
    integers: tuple[str, ...] = ()
    required: tuple[str, ...] = field(default=())

    @property
    def required_values(self) -> tuple[str, ...]:
        return self.required or self.primary_key


TABLES: dict[str, TableSpec] = {
    spec.table: spec
    for spec in (
        TableSpec(
            "customers",
            "olist_customers_dataset",
            (
                "customer_id",
                "customer_unique_id",
                "customer_zip_code_prefix",
                "customer_city",
                "customer_state",
            ),
            ("customer_id",),
            required=("customer_id", "customer_unique_id"),
        ),
        TableSpec(
            "orders",
            "olist_orders_dataset",
            (
                "order_id",
                "customer_id",
                "order_status",
                "order_purchase_timestamp",
                "order_approved_at",
                "order_delivered_carrier_date",
                "order_delivered_customer_date",
                "order_estimated_delivery_date",
            ),
            ("order_id",),
            timestamps=(
                "order_purchase_timestamp",
                "order_approved_at",
                "order_delivered_carrier_date",
                "order_delivered_customer_date",
                "order_estimated_delivery_date",
            ),
            required=("order_id", "customer_id", "order_status", "order_purchase_timestamp"),
        ),
        TableSpec(
            "order_items",
            "olist_order_items_dataset",
            (
                "order_id",
                "order_item_id",
                "product_id",
                "seller_id",
                "shipping_limit_date",
                "price",
                "freight_value",
            ),
            ("order_id", "order_item_id"),
            timestamps=("shipping_limit_date",),
            non_negative=("price", "freight_value"),
            integers=("order_item_id",),
            required=("order_id", "order_item_id", "product_id", "seller_id", "price"),
        ),
        TableSpec(
            "order_payments",
            "olist_order_payments_dataset",
            ("order_id", "payment_sequential", "payment_type", "payment_installments", "payment_value"),
            ("order_id", "payment_sequential"),
            non_negative=("payment_value", "payment_installments"),
            integers=("payment_sequential", "payment_installments"),
            required=("order_id", "payment_sequential", "payment_type", "payment_value"),
        ),
        TableSpec(
            "order_reviews",
            "olist_order_reviews_dataset",
            (
                "review_id",
                "order_id",
                "review_score",
                "review_comment_title",
                "review_comment_message",
                "review_creation_date",
                "review_answer_timestamp",
            ),
            # review_id alone is not unique in Olist: the same review can cover several orders.
            ("review_id", "order_id"),
            timestamps=("review_creation_date", "review_answer_timestamp"),
            integers=("review_score",),
        ),
        TableSpec(
            "products",
            "olist_products_dataset",
            (
                "product_id",
                "product_category_name",
                "product_name_lenght",
                "product_description_lenght",
                "product_photos_qty",
                "product_weight_g",
                "product_length_cm",
                "product_height_cm",
                "product_width_cm",
            ),
            ("product_id",),
            non_negative=(
                "product_name_lenght",
                "product_description_lenght",
                "product_photos_qty",
                "product_weight_g",
                "product_length_cm",
                "product_height_cm",
                "product_width_cm",
            ),
        ),
        TableSpec(
            "sellers",
            "olist_sellers_dataset",
            ("seller_id", "seller_zip_code_prefix", "seller_city", "seller_state"),
            ("seller_id",),
        ),
        TableSpec(
            "geolocation",
            "olist_geolocation_dataset",
            (
                "geolocation_zip_code_prefix",
                "geolocation_lat",
                "geolocation_lng",
                "geolocation_city",
                "geolocation_state",
            ),
            (),
            # Many rows per zip prefix and no key: it only grows, one file at a time.
            write_disposition="append",
            required=("geolocation_zip_code_prefix", "geolocation_lat", "geolocation_lng"),
        ),
        TableSpec(
            "product_category_name_translation",
            "product_category_name_translation",
            ("product_category_name", "product_category_name_english"),
            ("product_category_name",),
        ),
    )
}

REJECTED_COLUMNS = {
    "source_file": {"data_type": "text", "nullable": False},
    "source_row": {"data_type": "bigint", "nullable": True},
    "column_name": {"data_type": "text", "nullable": True},
    "reason": {"data_type": "text", "nullable": False},
    "record": {"data_type": "text", "nullable": True},
}


# --------------------------------------------------------------------------------------------- files


def storage_options(url: str) -> dict:
    """Object-store settings from the environment (S3_ENDPOINT_URL makes MinIO and others work)."""
    if not url.startswith("s3://"):
        return {}
    options: dict = {}
    endpoint = os.environ.get("S3_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        options["client_kwargs"] = {"endpoint_url": endpoint}
    if os.environ.get("AWS_ACCESS_KEY_ID"):
        options["key"] = os.environ["AWS_ACCESS_KEY_ID"]
        options["secret"] = os.environ.get("AWS_SECRET_ACCESS_KEY", "")
    return options


def filesystem(landing_url: str) -> tuple[fsspec.AbstractFileSystem, str]:
    fs, root = fsspec.core.url_to_fs(landing_url, **storage_options(landing_url))
    return fs, root.rstrip("/")


def find_files(landing_url: str, spec: TableSpec) -> list[tuple[str, str]]:
    """(path, fingerprint) of every file of ``spec`` under the landing folder, in path order, so
    batch folders (``batch_0001``, ``2018-09-01``…) load in the order they were written."""
    fs, root = filesystem(landing_url)
    if not fs.exists(root):
        return []
    names = {spec.file_stem + ext for ext in FORMATS}
    found = []
    for path, info in fs.find(root, detail=True).items():
        if posixpath.basename(path) not in names:
            continue
        etag = info.get("ETag") or info.get("etag")
        modified = info.get("mtime") or info.get("LastModified") or info.get("created")
        found.append((path, str(etag) if etag else f"{info.get('size')}:{modified}"))
    return sorted(found)


def read_file(fs: fsspec.AbstractFileSystem, path: str) -> tuple[pa.Table, list[dict]]:
    """One file as an all-text Arrow table with ``_source_row``, plus the records that could not be
    split into the header's fields. Raises SourceFileError when the file cannot be read at all."""
    name = path.lower()
    try:
        with fs.open(path, "rb", compression="gzip" if name.endswith(".gz") else None) as handle:
            data = handle.read()
        if ".parquet" in name:
            table = pq.read_table(pa.BufferReader(data))
            table = table.append_column("_source_row", _row_numbers(2, table.num_rows))
            rejected: list[dict] = []
        elif ".json" in name:
            table = pajson.read_json(pa.BufferReader(data))
            table = table.append_column("_source_row", _row_numbers(1, table.num_rows))
            rejected = []
        else:
            _check_utf8(data, path)
            table, rejected = read_csv(data, path)
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError, csv.Error) as exc:
        raise SourceFileError(f"{path}: the file cannot be read ({exc})") from exc
    return _as_text(table), rejected


def _check_utf8(data: bytes, path: str) -> None:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise SourceFileError(
            f"{path}: the file cannot be read: not UTF-8 (byte {exc.start}, line {line}); "
            "save it as UTF-8 and drop it in the landing folder again"
        ) from None


def _row_numbers(first: int, count: int) -> pa.Array:
    return pa.array(range(first, first + count), pa.int64())


def _as_text(table: pa.Table) -> pa.Table:
    """Every column as text, exactly as delivered; column names trimmed and lower-cased."""
    columns = []
    for name in table.column_names:
        column = table[name]
        if name == "_source_row" or pa.types.is_string(column.type):
            pass
        elif pa.types.is_timestamp(column.type):
            # typed files (Parquet) carry timestamps; write them the way the Olist CSVs do
            seconds = pc.cast(column, pa.timestamp("s", column.type.tz), safe=False)  # %S would print .000
            column = pc.strftime(seconds, format="%Y-%m-%d %H:%M:%S")
        else:
            column = pc.cast(column, pa.string())
        columns.append(column)
    return pa.table(columns, names=[name.strip().lower() for name in table.column_names])


def _csv_header(data: bytes) -> list[str]:
    first_line = data.split(b"\n", 1)[0].decode("utf-8-sig").rstrip("\r")
    return next(csv.reader([first_line]))


def read_csv(data: bytes, path: str) -> tuple[pa.Table, list[dict]]:
    """Olist CSV: quoted fields that may hold line breaks; empty string means missing.

    The fast path is Arrow's multi-threaded reader. When a record does not have the header's
    number of fields, Arrow cannot say which record it was, so the file is read again with the
    csv module to give each rejected record its exact row number."""
    header = _csv_header(data)
    invalid: list[str] = []
    table = pacsv.read_csv(
        pa.BufferReader(data),
        read_options=pacsv.ReadOptions(block_size=16 << 20),
        parse_options=pacsv.ParseOptions(
            newlines_in_values=True, invalid_row_handler=lambda row: invalid.append(row.text) or "skip"
        ),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in header},
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
            null_values=[""],
        ),
    )
    if not invalid:
        return table.append_column("_source_row", _row_numbers(2, table.num_rows)), []
    return _read_csv_row_by_row(data, path, header)


def _read_csv_row_by_row(data: bytes, path: str, header: list[str]) -> tuple[pa.Table, list[dict]]:
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    next(reader)
    columns: list[list[str | None]] = [[] for _ in header]
    row_numbers: list[int] = []
    rejected: list[dict] = []
    for row_number, record in enumerate(reader, start=2):
        if len(record) != len(header):
            rejected.append(
                {
                    "source_file": path,
                    "source_row": row_number,
                    "column_name": None,
                    "reason": f"row has {len(record)} fields, the header has {len(header)}",
                    "record": json.dumps(record, ensure_ascii=False)[:4000],
                }
            )
            continue
        row_numbers.append(row_number)
        for values, value in zip(columns, record, strict=True):
            values.append(value if value != "" else None)
    arrays = [pa.array(values, pa.string()) for values in columns]
    table = pa.table(arrays + [pa.array(row_numbers, pa.int64())], names=header + ["_source_row"])
    return table, rejected


# ---------------------------------------------------------------------------------------- validation


def _invalid_timestamp(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """True where a value is present but is not a real ``YYYY-MM-DD HH:MM:SS`` (or ``YYYY-MM-DD``).

    A value is valid when the timestamp parsed from it prints back as the same text: that rejects
    other layouts and impossible dates alike (2018-02-30 must not become 2018-03-02). The fast path
    is Arrow's strict ISO cast of the whole column; only a column with a bad value takes strptime."""
    try:
        parsed = pc.cast(column, pa.timestamp("s"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        parsed = pc.strptime(column, format="%Y-%m-%d %H:%M:%S", unit="s", error_is_null=True)
        date_only = pc.strptime(column, format="%Y-%m-%d", unit="s", error_is_null=True)
        parsed = pc.coalesce(parsed, date_only)
    printed = pc.cast(parsed, pa.string())
    same = pc.equal(printed, column)
    same_date = pc.and_(
        pc.equal(pc.utf8_length(column), 10), pc.equal(pc.utf8_slice_codeunits(printed, 0, 10), column)
    )
    valid = pc.fill_null(pc.or_(same, same_date), False)
    return pc.and_(pc.is_valid(column), pc.invert(valid))


def _invalid_number(column: pa.ChunkedArray, integer: bool, non_negative: bool) -> pa.ChunkedArray:
    """True where a value is present but is not a number (an integer, for counts), or is negative
    where it must not be. Fast path: a cast of the whole column; the regex only when that fails."""
    try:
        values = pc.cast(column, pa.int64() if integer else pa.float64())
        bad = pc.invert(pc.is_finite(values)) if not integer else pc.is_null(values)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        values = None
        pattern = r"^-?\d+$" if integer else NUMBER_PATTERN
        bad = pc.invert(pc.match_substring_regex(column, pattern))
    if non_negative:
        negative = pc.less(values, 0) if values is not None else pc.starts_with(column, "-")
        bad = pc.or_(bad, negative)
    return pc.and_(pc.is_valid(column), pc.fill_null(bad, True))


def validate(table: pa.Table, spec: TableSpec, path: str) -> tuple[pa.Table, list[dict]]:
    """Split rows into those that load and those rejected, each rejected row with its reason.

    Rules: required values present; timestamps ``YYYY-MM-DD HH:MM:SS``; numbers numeric and, for
    prices, values, sizes and counts, not negative. Everything else (foreign keys, accepted values)
    is for the quality gates and dbt tests downstream, on data that did load."""
    checks: list[tuple[str, str, pa.ChunkedArray]] = []
    for name in spec.required_values:
        checks.append((name, "missing required value", pc.is_null(table[name])))
    for name in spec.timestamps:
        checks.append(
            (name, "malformed timestamp (expected YYYY-MM-DD HH:MM:SS)", _invalid_timestamp(table[name]))
        )
    numeric = set(spec.non_negative) | set(spec.integers)
    for name in sorted(numeric):
        reason = "negative or non-numeric value" if name in spec.non_negative else "non-numeric value"
        bad = _invalid_number(table[name], name in spec.integers, name in spec.non_negative)
        checks.append((name, reason, bad))
    if not checks or table.num_rows == 0:
        return table, []

    any_bad = pc.fill_null(checks[0][2], False)
    for _, _, mask in checks[1:]:
        any_bad = pc.or_(any_bad, pc.fill_null(mask, False))
    if not pc.any(any_bad).as_py():
        return table, []

    bad_rows = table.filter(any_bad)
    rejected = []
    reasons = [
        (name, reason, pc.fill_null(mask, False).filter(any_bad).to_pylist()) for name, reason, mask in checks
    ]
    for index, record in enumerate(bad_rows.to_pylist()):
        name, reason = next((n, r) for n, r, flags in reasons if flags[index])
        source_row = record.pop("_source_row")
        rejected.append(
            {
                "source_file": path,
                "source_row": source_row,
                "column_name": name,
                "reason": f"{reason}: {record.get(name)!r}" if record.get(name) is not None else reason,
                "record": json.dumps(record, ensure_ascii=False)[:4000],
            }
        )
    return table.filter(pc.invert(any_bad)), rejected


# ------------------------------------------------------------------------------------------- dlt


@dataclass
class TableCounts:
    files: int = 0
    rows: int = 0
    rejected: int = 0
    skipped_files: int = 0


def _table_resource(landing_url: str, spec: TableSpec, counts: dict[str, TableCounts], first_load: bool):
    """One Olist table. ``first_load``: the raw table is empty, so rows are appended by COPY alone;
    otherwise merge tables go through dlt's staging table and merge on their primary key."""
    rejected_table = f"{spec.table}__rejected"
    rejected_hints = dlt.mark.make_hints(
        table_name=rejected_table, write_disposition="append", columns=REJECTED_COLUMNS, primary_key=[]
    )
    merges = bool(spec.primary_key) and spec.write_disposition == "merge"

    @dlt.resource(
        name=spec.table,
        write_disposition="merge" if merges and not first_load else "append",
        primary_key=list(spec.primary_key) or None,
    )
    def table_rows() -> Iterator[object]:
        state = dlt.current.resource_state()
        loaded: dict[str, str] = state.setdefault("loaded_files", {})
        tally = counts.setdefault(spec.table, TableCounts())
        fs, _ = filesystem(landing_url)
        accepted: list[pa.Table] = []
        for path, fingerprint in find_files(landing_url, spec):
            if loaded.get(path) == fingerprint:
                tally.skipped_files += 1
                continue
            try:
                table, rejected = read_file(fs, path)
            except SourceFileError as exc:
                log.error("%s", exc)
                rejected, table = [_file_rejection(path, str(exc))], None
            if table is not None:
                missing = [name for name in spec.columns if name not in table.column_names]
                if missing:
                    raise SourceFileError(
                        f"{path}: missing required column(s) {', '.join(missing)}; the Olist file "
                        f"{spec.file_stem} has the header {', '.join(spec.columns)}"
                    )
                table, invalid = validate(table, spec, path)
                rejected += invalid
                tally.rows += table.num_rows
                if table.num_rows:
                    accepted.append(
                        table.append_column("_source_file", pa.repeat(pa.scalar(path), table.num_rows))
                    )
            if rejected:
                tally.rejected += len(rejected)
                log.warning("%s: %d row(s) rejected into %s", path, len(rejected), rejected_table)
                yield dlt.mark.with_hints(rejected, rejected_hints, create_table_variant=True)
            tally.files += 1
            loaded[path] = fingerprint
        if accepted:
            yield _as_csv_import(accepted, spec)

    return table_rows


def _as_csv_import(tables: list[pa.Table], spec: TableSpec):
    """The accepted rows of this load as one CSV file that dlt imports as it is and loads with COPY:
    no parquet round trip through extract and normalize. Rows are deduplicated on the primary key
    (the last file, then the last row, wins), and carry dlt's load id like every raw row."""
    table = pa.concat_tables(tables, promote_options="default") if len(tables) > 1 else tables[0]
    if spec.primary_key:
        table = _last_row_per_key(table, spec.primary_key)
    load_id = dlt.current.load_package_state()["load_id"]
    table = _keys_not_nullable(
        table.append_column("_dlt_load_id", pa.repeat(pa.scalar(load_id), table.num_rows)), spec
    )
    folder = import_dir() / load_id
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{spec.table}.csv"
    pacsv.write_csv(table, path, pacsv.WriteOptions(include_header=True, quoting_style="needed"))
    return dlt.mark.with_file_import(
        str(path), "csv", items_count=table.num_rows, hints=table.schema.empty_table()
    )


def _last_row_per_key(table: pa.Table, keys: tuple[str, ...]) -> pa.Table:
    """The last row of each primary key, in file and row order (a later batch carries the newer state)."""
    indexed = table.append_column("__position", pa.array(range(table.num_rows), pa.int64()))
    last = indexed.group_by(list(keys), use_threads=False).aggregate([("__position", "max")])
    if last.num_rows == table.num_rows:
        return table
    positions = pc.sort_indices(last["__position_max"])
    return table.take(pc.take(last["__position_max"], positions))


def import_dir() -> Path:
    """Where the CSV files handed to dlt are written; each load's folder is removed after the load."""
    from warehouse.paths import local_dir

    return local_dir() / "dlt" / "imports"


def clean_imports() -> None:
    shutil.rmtree(import_dir(), ignore_errors=True)


def _keys_not_nullable(table: pa.Table, spec: TableSpec) -> pa.Table:
    """Validation left no null keys; say so in the Arrow schema, as dlt's schema does."""
    fields = [
        field.with_nullable(False) if field.name in spec.primary_key else field for field in table.schema
    ]
    return table.cast(pa.schema(fields, metadata=table.schema.metadata))


def _file_rejection(path: str, reason: str) -> dict:
    return {
        "source_file": path,
        "source_row": None,
        "column_name": None,
        "reason": _printable(reason),
        "record": None,
    }


def _printable(text: str) -> str:
    """PostgreSQL text cannot hold NUL bytes; keep them visible instead."""
    return text.replace("\x00", "\\x00")


@dlt.source(name=SOURCE_NAME, max_table_nesting=0)
def olist_files(
    landing_url: str,
    counts: dict[str, TableCounts] | None = None,
    tables: list[str] | None = None,
    loaded_tables: set[str] | None = None,
):
    """The nine Olist tables from ``landing_url``. ``counts`` (if given) receives files, rows loaded
    and rows rejected per table for the load summary. ``loaded_tables`` names the raw tables that
    already hold rows (see :func:`tables_with_rows`); the others are first loads, appended without
    a merge. None means all of them are treated as loaded (always merge)."""
    counts = {} if counts is None else counts
    for spec in TABLES.values():
        if tables is None or spec.table in tables:
            first_load = loaded_tables is not None and spec.table not in loaded_tables
            yield _table_resource(landing_url, spec, counts, first_load)


def tables_with_rows(db, dataset: str = DATASET) -> set[str]:
    """The tables of ``dataset`` that hold at least one row."""
    from warehouse import database

    names = [
        row[0]
        for row in database.query(
            "select table_name from information_schema.tables where table_schema = %s", (dataset,), db
        )
    ]
    return {
        name
        for name in names
        if database.query(f'select exists (select 1 from "{dataset}"."{name}")', None, db)[0][0]
    }
