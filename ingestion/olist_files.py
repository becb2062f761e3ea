"""Order files in the public Olist format, from a landing folder (local path or any fsspec URL).

Each of the nine Olist tables is one dlt resource. A resource finds its files anywhere under the
landing folder (``**/olist_orders_dataset.csv``, ``.parquet``, ``.jsonl``, optionally gzipped), reads
them with Arrow in batches of a few MB (memory does not grow with a file's size), checks every row
and yields two kinds of tables:

* ``<table>``: the rows as delivered, every value as text (typing is staging's job), plus
  ``_source_file`` and ``_source_row`` (the record's number in its file, the header being row 1);
* ``<table>__rejected``: rows that cannot be used, with the reason and the column at fault.

A file is loaded once: the resource keeps the fingerprints (size and modification time, or the
object store's ETag) of the files it has loaded in dlt state, committed with the load itself.
A file that lacks a required column fails the load with a message naming the file and columns.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import logging
import os
import posixpath
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

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
# Files are read, checked and written in batches, so memory does not grow with a file's size:
BATCH_BYTES = 4 << 20  # CSV and JSON Lines: bytes read at a time (a record must fit in it)
BATCH_ROWS = 100_000  # Parquet and the row-by-row CSV reader: rows at a time; rejected rows per item
# Tables read, checked and written at the same time, each in a thread of dlt's extract pool: the
# work is in Arrow, which releases the GIL, so two tables keep two cores busy. Two at most, so
# memory stays bounded (about two tables' batches and keys, or two dedups: about 170 MB each at 1M rows).
PARALLEL_TABLES = 2
# Keys of a table's later files read ahead, so that an earlier file is written without the rows they
# supersede; above this many, the dedup at the end rewrites the earlier file's CSV instead.
SUPERSEDING_KEYS_MAX = 200_000


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


def _open(fs: fsspec.AbstractFileSystem, path: str):
    return fs.open(path, "rb", compression="gzip" if path.lower().endswith(".gz") else None)


class NeedsRowByRow(Exception):
    """A CSV record does not have the header's number of fields: Arrow cannot say which record it
    was, so the file must be read again with :func:`read_csv_row_by_row`."""


def read_batches(
    fs: fsspec.AbstractFileSystem, path: str, seen: set[str]
) -> Iterator[tuple[pa.Table, list[dict]]]:
    """One file in batches of at most about :data:`BATCH_BYTES` (or :data:`BATCH_ROWS` rows): each an
    all-text Arrow table with ``_source_row``, plus the records that could not be split into the
    header's fields. ``seen`` receives the file's column names as they become known (CSV header
    and Parquet schema before the first batch, JSON keys batch by batch).

    Raises SourceFileError when the file cannot be read at all, and NeedsRowByRow when a CSV file
    must be read row by row; both can come after some batches, which the caller then undoes."""
    name = path.lower()
    try:
        if ".parquet" in name:
            yield from _parquet_batches(fs, path, seen)
        elif ".json" in name:
            yield from _json_batches(fs, path, seen)
        else:
            yield from _csv_batches(fs, path, seen)
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError, csv.Error) as exc:
        if ".parquet" not in name and ".json" not in name:
            _check_utf8(fs, path)
        raise SourceFileError(f"{path}: the file cannot be read ({exc})") from exc


def _parquet_batches(
    fs: fsspec.AbstractFileSystem, path: str, seen: set[str]
) -> Iterator[tuple[pa.Table, list]]:
    with _open(fs, path) as handle:
        parquet = pq.ParquetFile(handle)
        seen.update(_column_name(name) for name in parquet.schema_arrow.names)
        next_row = 2
        for batch in parquet.iter_batches(batch_size=BATCH_ROWS):
            yield _numbered(pa.Table.from_batches([batch]), next_row), []
            next_row += batch.num_rows


def _json_batches(
    fs: fsspec.AbstractFileSystem, path: str, seen: set[str]
) -> Iterator[tuple[pa.Table, list]]:
    """JSON Lines in chunks of whole lines; blank lines are not records, as for Arrow's reader."""
    with _open(fs, path) as handle:
        next_row = 1
        first = True
        while True:
            chunk = handle.read(BATCH_BYTES)
            if not chunk and not first:
                break
            chunk += handle.readline()
            if chunk.strip() or first:  # an empty file fails as it does read whole
                table = pajson.read_json(pa.BufferReader(chunk))
                seen.update(_column_name(name) for name in table.column_names)
                yield _numbered(table, next_row), []
                next_row += table.num_rows
            first = False


def _csv_batches(fs: fsspec.AbstractFileSystem, path: str, seen: set[str]) -> Iterator[tuple[pa.Table, list]]:
    """Olist CSV: quoted fields that may hold line breaks; empty string means missing. Arrow's
    streaming reader, one block at a time; a record with the wrong number of fields raises
    NeedsRowByRow before any batch after it is handed out."""
    with _open(fs, path) as handle:
        header = _csv_header(handle.readline())
        seen.update(_column_name(name) for name in header)
        handle.seek(0)
        invalid: list[str] = []
        reader = pacsv.open_csv(
            handle,
            read_options=pacsv.ReadOptions(block_size=BATCH_BYTES),
            parse_options=pacsv.ParseOptions(
                newlines_in_values=True,
                invalid_row_handler=lambda row: invalid.append(row.text) or "skip",
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in header},
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
                null_values=[""],
            ),
        )
        next_row = 2
        for batch in reader:
            if invalid:
                break
            yield _numbered(pa.Table.from_batches([batch]), next_row), []
            next_row += batch.num_rows
    if invalid:
        raise NeedsRowByRow(path)


def read_csv_row_by_row(fs: fsspec.AbstractFileSystem, path: str) -> Iterator[tuple[pa.Table, list[dict]]]:
    """A CSV file read with the csv module, in batches of :data:`BATCH_ROWS` records, so that each
    record that does not have the header's number of fields is rejected with its exact row number."""
    try:
        with _open(fs, path) as handle:
            header = _csv_header(handle.readline())
            handle.seek(0)
            reader = csv.reader(io.TextIOWrapper(handle, encoding="utf-8-sig", newline=""))
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
                else:
                    row_numbers.append(row_number)
                    for values, value in zip(columns, record, strict=True):
                        values.append(value if value != "" else None)
                if len(row_numbers) + len(rejected) >= BATCH_ROWS:
                    yield _row_batch(header, columns, row_numbers), rejected
                    columns, row_numbers, rejected = [[] for _ in header], [], []
            yield _row_batch(header, columns, row_numbers), rejected
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError, csv.Error) as exc:
        _check_utf8(fs, path)
        raise SourceFileError(f"{path}: the file cannot be read ({exc})") from exc


def _row_batch(header: list[str], columns: list[list[str | None]], row_numbers: list[int]) -> pa.Table:
    arrays = [pa.array(values, pa.string()) for values in columns]
    table = pa.table(arrays + [pa.array(row_numbers, pa.int64())], names=header + ["_source_row"])
    return _as_text(table)


def _numbered(table: pa.Table, first_row: int) -> pa.Table:
    return _as_text(table.append_column("_source_row", _row_numbers(first_row, table.num_rows)))


def _check_utf8(fs: fsspec.AbstractFileSystem, path: str) -> None:
    """Raise the file's first byte that is not UTF-8, with its line; the file is read in chunks."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = lines = 0  # bytes and line breaks before the decoder's pending bytes
    try:
        with _open(fs, path) as handle:
            while True:
                chunk = handle.read(BATCH_BYTES)
                pending = decoder.getstate()[0]
                try:
                    decoder.decode(chunk, final=not chunk)
                except UnicodeDecodeError as exc:
                    data = pending + chunk
                    byte, line = offset + exc.start, lines + data.count(b"\n", 0, exc.start) + 1
                    raise SourceFileError(
                        f"{path}: the file cannot be read: not UTF-8 (byte {byte}, line {line}); "
                        "save it as UTF-8 and drop it in the landing folder again"
                    ) from None
                if not chunk:
                    return
                data = pending + chunk
                kept = len(decoder.getstate()[0])
                offset += len(data) - kept
                lines += data.count(b"\n", 0, len(data) - kept)
    except (OSError, EOFError):
        return  # not readable as bytes either: the caller's error says so


def _row_numbers(first: int, count: int) -> pa.Array:
    """first, first + 1, ... (count numbers), built in Arrow: a Python range costs 0.3 s a million."""
    if not count:
        return pa.array([], pa.int64())
    return pc.cumulative_sum(
        pa.repeat(pa.scalar(1, pa.int64()), count), start=pa.scalar(first - 1, pa.int64())
    )


def _column_name(name: str) -> str:
    return name.strip().lower()


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
    return pa.table(columns, names=[_column_name(name) for name in table.column_names])


def _csv_header(first_line: bytes) -> list[str]:
    line = first_line.split(b"\n", 1)[0].decode("utf-8-sig").rstrip("\r")
    return next(csv.reader([line]))


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


@dataclass
class _Slots:
    """What the tables of one extract share: how many are read, checked or deduplicated at a time."""

    tables: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(PARALLEL_TABLES))


def _table_resource(
    landing_url: str,
    spec: TableSpec,
    counts: dict[str, TableCounts],
    first_load: bool,
    slots: _Slots | None = None,
):
    """One Olist table. ``first_load``: the raw table is empty, so rows are appended by COPY alone;
    otherwise merge tables go through dlt's staging table and merge on their primary key.

    The resource is extracted in a thread of dlt's pool, beside other tables (``slots`` bounds how
    many); it does its work between yields while holding a slot, never across a yield."""
    slots = slots or _Slots()
    rejected_table = f"{spec.table}__rejected"
    rejected_hints = dlt.mark.make_hints(
        table_name=rejected_table, write_disposition="append", columns=REJECTED_COLUMNS, primary_key=[]
    )
    merges = bool(spec.primary_key) and spec.write_disposition == "merge"

    @dlt.resource(
        name=spec.table,
        write_disposition="merge" if merges and not first_load else "append",
        primary_key=list(spec.primary_key) or None,
        parallelized=True,
    )
    def table_rows() -> Iterator[object]:
        state = dlt.current.resource_state(spec.table)  # named: this runs in a thread of the pool
        loaded: dict[str, str] = state.setdefault("loaded_files", {})
        tally = counts.setdefault(spec.table, TableCounts())
        fs, _ = filesystem(landing_url)
        output = CsvImport(spec)
        files = find_files(landing_url, spec)
        with slots.tables:
            superseding = superseding_keys(fs, spec, [p for p, f in files if loaded.get(p) != f])
        for path, fingerprint in files:
            if loaded.get(path) == fingerprint:
                tally.skipped_files += 1
                continue
            with RejectedRows() as rejected:
                mark = output.mark()
                try:
                    with slots.tables:
                        seen, rows = _check_file(fs, path, spec, output, rejected, superseding.get(path))
                except SourceFileError as exc:
                    log.error("%s", exc)
                    output.rollback(mark)
                    rejected.clear()
                    rejected.add([_file_rejection(path, str(exc))])
                    seen, rows = None, 0
                if seen is not None:
                    missing = [name for name in spec.columns if name not in seen]
                    if missing:
                        raise SourceFileError(
                            f"{path}: missing required column(s) {', '.join(missing)}; the Olist file "
                            f"{spec.file_stem} has the header {', '.join(spec.columns)}"
                        )
                tally.rows += rows
                if len(rejected):
                    tally.rejected += len(rejected)
                    log.warning("%s: %d row(s) rejected into %s", path, len(rejected), rejected_table)
                    for chunk in rejected.chunks():
                        yield dlt.mark.with_hints(chunk, rejected_hints, create_table_variant=True)
            tally.files += 1
            loaded[path] = fingerprint
        with slots.tables:
            output.finish()
        yield from output.imports()

    return table_rows


def _check_file(
    fs: fsspec.AbstractFileSystem,
    path: str,
    spec: TableSpec,
    output: CsvImport,
    rejected: RejectedRows,
    superseding: pa.Table | None = None,
) -> tuple[set[str], int]:
    """Read, check and write one file batch by batch; returns its column names and the rows accepted.
    A CSV record with the wrong number of fields makes the whole file be read again, row by row.
    Accepted rows whose key is in ``superseding`` (keys a later file of this load accepts) are
    counted but not written: the dedup would drop them anyway."""
    mark = output.mark()
    seen: set[str] = set()
    try:
        batches = read_batches(fs, path, seen)
        return seen, _check_batches(batches, spec, path, output, rejected, superseding)
    except NeedsRowByRow:
        output.rollback(mark)
        rejected.clear()
        batches = read_csv_row_by_row(fs, path)
        return seen, _check_batches(batches, spec, path, output, rejected, superseding)


def _check_batches(
    batches: Iterator[tuple[pa.Table, list[dict]]],
    spec: TableSpec,
    path: str,
    output: CsvImport,
    rejected: RejectedRows | None,
    superseding: pa.Table | None = None,
) -> int:
    accepted = 0
    for table in _accepted_batches(batches, spec, path, rejected):
        accepted += table.num_rows
        if superseding is not None:
            table = _without_keys(table, superseding, spec.primary_key)
        output.write(table, path)
    return accepted


def _accepted_batches(
    batches: Iterator[tuple[pa.Table, list[dict]]], spec: TableSpec, path: str, rejected: RejectedRows | None
) -> Iterator[pa.Table]:
    """The rows of each batch that pass :func:`validate`; the others go to ``rejected`` (if given)."""
    for table, unsplit in batches:
        if rejected is not None:
            rejected.add(unsplit)
        # a JSON batch may lack a key that other lines of the file have: missing values, as read whole
        for name in spec.columns:
            if name not in table.column_names:
                table = table.append_column(name, pa.nulls(table.num_rows, pa.string()))
        table, invalid = validate(table, spec, path)
        if rejected is not None:
            rejected.add(invalid)
        yield table


def superseding_keys(fs: fsspec.AbstractFileSystem, spec: TableSpec, paths: list[str]) -> dict[str, pa.Table]:
    """For each file of ``paths`` (the new files of one table, in load order) but the last, the keys
    of the rows that the files after it accept: its rows with those keys are superseded (the last
    file wins). Knowing them before a file is written spares rewriting its CSV after the dedup, which
    reads and writes the whole file again for a few changed rows. Empty when there is no key, one
    file, later files holding more than :data:`SUPERSEDING_KEYS_MAX` keys, or a later file that
    cannot be read (the dedup at the end then does all the work, as it always can)."""
    if not spec.primary_key or len(paths) < 2:
        return {}
    key_names = list(spec.primary_key)
    per_file: list[list[pa.Table]] = []
    total = 0
    for path in paths[1:]:
        keys: list[pa.Table] = []
        try:
            try:
                batches = _accepted_batches(read_batches(fs, path, set()), spec, path, None)
                keys = [table.select(key_names) for table in batches]
            except NeedsRowByRow:
                batches = _accepted_batches(read_csv_row_by_row(fs, path), spec, path, None)
                keys = [table.select(key_names) for table in batches]
        except Exception as exc:  # noqa: BLE001 - the file's own load reports what is wrong with it
            log.debug("%s: keys not read ahead (%s)", path, exc)
            return {}
        total += sum(table.num_rows for table in keys)
        if total > SUPERSEDING_KEYS_MAX:
            return {}
        per_file.append(keys)
    result: dict[str, pa.Table] = {}
    later: list[pa.Table] = []
    for path, keys in zip(reversed(paths[:-1]), reversed(per_file), strict=True):
        later = keys + later
        if later:
            result[path] = pa.concat_tables(later).combine_chunks()
    return result


def _without_keys(table: pa.Table, keys: pa.Table, key_names: tuple[str, ...]) -> pa.Table:
    """``table`` without the rows whose key is in ``keys``, in its order. Accepted rows have every key
    value (key columns are required), so the join's null semantics do not matter."""
    if not table.num_rows or not keys.num_rows:
        return table
    position = _row_numbers(0, table.num_rows)
    probe = table.select(list(key_names)).append_column("_position", position)
    hits = probe.join(keys, keys=list(key_names), join_type="left semi", use_threads=False)["_position"]
    if not len(hits):
        return table
    return table.filter(pc.invert(pc.is_in(position, value_set=hits.combine_chunks())))


class RejectedRows:
    """The rejected rows of one file, spooled to a temporary file, so that a file full of bad rows
    does not have to fit in memory, and dropped at once when the file turns out to be unreadable."""

    def __init__(self) -> None:
        self._spool: IO[bytes] | None = None
        self._count = 0

    def __enter__(self) -> RejectedRows:
        return self

    def __exit__(self, *exc: object) -> None:
        self.clear()

    def __len__(self) -> int:
        return self._count

    def add(self, rows: list[dict]) -> None:
        if not rows:
            return
        if self._spool is None:
            self._spool = tempfile.TemporaryFile()  # noqa: SIM115 - kept open across calls, closed by clear()
        self._spool.write(b"".join(json.dumps(row).encode() + b"\n" for row in rows))
        self._count += len(rows)

    def chunks(self) -> Iterator[list[dict]]:
        if self._spool is None:
            return
        self._spool.seek(0)
        chunk: list[dict] = []
        for line in self._spool:
            chunk.append(json.loads(line))
            if len(chunk) >= BATCH_ROWS:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def clear(self) -> None:
        if self._spool is not None:
            self._spool.close()
        self._spool, self._count = None, 0


@dataclass
class _Part:
    path: Path
    columns: list[str]
    first_position: int
    rows: int = 0


@dataclass(frozen=True)
class _Mark:
    parts: int
    part_bytes: int
    part_rows: int
    batches: int
    rows: int
    columns: tuple[str, ...]


class CsvImport:
    """The accepted rows of one table in this load, written batch by batch as CSV files that dlt
    imports as they are and loads with COPY: no parquet round trip through extract and normalize.

    Rows are deduplicated on the primary key (the last file, then the last row, wins) across the
    whole load; only the keys are kept in memory for that, and a CSV file that holds rows a later
    row supersedes is rewritten without them. Each row carries dlt's load id like every raw row.
    A file is written after the previous one, in the same CSV file while the columns allow it;
    :meth:`mark` and :meth:`rollback` undo a file that fails halfway."""

    def __init__(self, spec: TableSpec) -> None:
        self.spec = spec
        self.parts: list[_Part] = []
        self.keys: dict[str, list[pa.ChunkedArray]] = {name: [] for name in spec.primary_key}
        self.batches = 0  # batches written, each with its keys
        self.rows = 0
        self.columns: dict[str, None] = {}  # every column written, in order of first appearance
        self._handle: IO[bytes] | None = None
        self._load_id: str | None = None
        self._finished = False

    def mark(self) -> _Mark:
        self._close()
        last = self.parts[-1] if self.parts else None
        return _Mark(
            parts=len(self.parts),
            part_bytes=last.path.stat().st_size if last else 0,
            part_rows=last.rows if last else 0,
            batches=self.batches,
            rows=self.rows,
            columns=tuple(self.columns),
        )

    def rollback(self, mark: _Mark) -> None:
        self._close()
        for part in self.parts[mark.parts :]:
            part.path.unlink(missing_ok=True)
        del self.parts[mark.parts :]
        if self.parts:
            os.truncate(self.parts[-1].path, mark.part_bytes)
            self.parts[-1].rows = mark.part_rows
        for arrays in self.keys.values():
            del arrays[mark.batches :]
        self.batches = mark.batches
        self.rows = mark.rows
        self.columns = dict.fromkeys(mark.columns)

    def write(self, table: pa.Table, path: str) -> None:
        if not table.num_rows:
            return
        rows = table.num_rows
        table = table.append_column("_source_file", pa.repeat(pa.scalar(path), rows))
        table = table.append_column("_dlt_load_id", pa.repeat(pa.scalar(self.load_id), rows))
        self.columns.update(dict.fromkeys(table.column_names))
        part = self.parts[-1] if self.parts else None
        if part is None or not set(table.column_names) <= set(part.columns):
            self._close()
            folder = import_dir() / self.load_id
            folder.mkdir(parents=True, exist_ok=True)
            part = _Part(folder / f"{self.spec.table}.{len(self.parts)}.csv", list(self.columns), self.rows)
            part.path.write_bytes(b"")
            self.parts.append(part)
        table = _with_columns(table, part.columns)
        if self._handle is None:
            self._handle = part.path.open("ab")
        self._handle.write(_csv_bytes(table, header=part.rows == 0))
        for name, arrays in self.keys.items():
            arrays.append(table[name])
        self.batches += 1
        part.rows += rows
        self.rows += rows

    @property
    def load_id(self) -> str:
        if self._load_id is None:
            self._load_id = dlt.current.load_package_state()["load_id"]
        return self._load_id

    def finish(self) -> None:
        """Close the files and drop the rows that a later row of the same key supersedes."""
        self._close()
        if self.rows and self.spec.primary_key and not self._finished:
            self._drop_superseded_rows()
        self._finished = True

    def imports(self) -> Iterator[object]:
        """The files for dlt to import, each with the hints of the whole table."""
        self.finish()
        if not self.rows:
            return
        names = [name for name in self.columns if name != "_dlt_load_id"] + ["_dlt_load_id"]
        hints = pa.schema(
            [
                pa.field(
                    name,
                    pa.int64() if name == "_source_row" else pa.string(),
                    nullable=name not in self.spec.primary_key,
                )
                for name in names
            ]
        ).empty_table()
        for part in self.parts:
            if part.rows:
                yield dlt.mark.with_file_import(str(part.path), "csv", items_count=part.rows, hints=hints)

    def _drop_superseded_rows(self) -> None:
        keep = _last_row_per_key(self.keys, self.rows)
        if keep is None:
            return
        for part in self.parts:
            part_keep = keep.slice(part.first_position, part.rows)
            if pc.all(part_keep).as_py():
                continue
            part.rows = _rewrite_csv(part, part_keep)

    def _close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def _last_row_per_key(keys: dict[str, list[pa.ChunkedArray]], rows: int) -> pa.Array | None:
    """Which rows are the last of their primary key, in file and row order (a later batch carries
    the newer state); None when every row is. ``keys`` holds each key column batch by batch and is
    emptied on the way: each column becomes a dictionary code as soon as it is read, so the strings
    of only one column and one hash table are in memory at a time."""
    code: pa.ChunkedArray | None = None
    distinct = 0  # distinct keys so far: the codes run from 0 to distinct - 1
    for name in list(keys):
        encoded = pc.dictionary_encode(
            pa.chunked_array([chunk for array in keys.pop(name) for chunk in array.chunks], pa.string()),
            null_encoding="encode",
        )
        size = len(encoded.chunk(0).dictionary) if encoded.num_chunks else 0
        indices = pa.chunked_array([chunk.indices for chunk in encoded.chunks], pa.int32()).cast(pa.int64())
        del encoded
        if code is None:
            code, distinct = indices, size
        else:  # codes stay below the number of rows: re-encoding the pair keeps them dense
            pair = pc.add(pc.multiply(code, size), indices)
            encoded = pc.dictionary_encode(pair)
            distinct = len(encoded.chunk(0).dictionary) if encoded.num_chunks else 0
            code = pa.chunked_array([chunk.indices for chunk in encoded.chunks], pa.int32()).cast(pa.int64())
            del encoded
        if distinct == rows:  # as many distinct keys as rows: no row is superseded, skip the grouping
            return None
    indexed = pa.table({"code": code, "position": _row_numbers(0, rows)})
    last = indexed.group_by("code", use_threads=False).aggregate([("position", "max")])
    return pc.is_in(indexed["position"], value_set=last["position_max"]).combine_chunks()


def _with_columns(table: pa.Table, columns: list[str]) -> pa.Table:
    """``table`` with exactly ``columns``, in that order; the ones it lacks are missing values."""
    if table.column_names == columns:
        return table
    return pa.table(
        [
            table[name] if name in table.column_names else pa.nulls(table.num_rows, pa.string())
            for name in columns
        ],
        names=columns,
    )


def _csv_bytes(table: pa.Table, header: bool) -> pa.Buffer:
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=header, quoting_style="needed"))
    return sink.getvalue()


def _rewrite_csv(part: _Part, keep: pa.Array) -> int:
    """Rewrite ``part`` with only the rows where ``keep`` is true, a batch at a time; returns the rows."""
    reader = pacsv.open_csv(
        part.path,
        read_options=pacsv.ReadOptions(block_size=BATCH_BYTES),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types={
                name: pa.int64() if name == "_source_row" else pa.string() for name in part.columns
            },
            # the writer leaves a missing value empty and quotes an empty string: keep them apart
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            null_values=[""],
        ),
    )
    rewritten = part.path.with_suffix(".tmp")
    position = kept = 0
    with rewritten.open("wb") as handle:
        for batch in reader:
            batch_keep = keep.slice(position, batch.num_rows)
            position += batch.num_rows
            table = pa.Table.from_batches([batch]).filter(batch_keep)
            handle.write(_csv_bytes(table, header=kept == 0 and table.num_rows > 0))
            kept += table.num_rows
    reader.close()
    os.replace(rewritten, part.path)
    return kept


def import_dir() -> Path:
    """Where the CSV files handed to dlt are written; each load's folder is removed after the load."""
    from warehouse.paths import local_dir

    return local_dir() / "dlt" / "imports"


def clean_imports() -> None:
    shutil.rmtree(import_dir(), ignore_errors=True)


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
    slots = _Slots()
    for spec in TABLES.values():
        if tables is None or spec.table in tables:
            first_load = loaded_tables is not None and spec.table not in loaded_tables
            yield _table_resource(landing_url, spec, counts, first_load, slots)


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
