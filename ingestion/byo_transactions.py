"""Bring your own transactions: any CSV or Parquet file of purchases, described by a column mapping.

A user with another shop's data gets the customer analytics marts (RFM, CLV, cohorts, churn)
without reshaping it into Olist's format. A small YAML file says where the files are and how to
read them (see ``ingestion/examples/byo_transactions.example.yml``)::

    path: exports/sales_*.csv        # a file, a folder, a glob or an fsspec URL (s3://...)
    delimiter: ";"
    decimal: ","
    thousands: "."
    date_format: "%d/%m/%Y"
    currency: BRL
    columns:
      customer_id: cliente
      purchased_at: data_compra
      amount: valor_total
      order_id: pedido               # optional
      quantity: qtd                  # optional

Unlike the Olist files, which land as text and are typed in staging, these values are parsed
here, at load: only the mapping knows that ``1.234,56`` is a number and ``05/03/2024`` is the 5th
of March, so staging receives ``raw_byo.transactions`` already in canonical types:

* ``customer_id`` text, ``order_id`` text, ``purchased_at`` timestamp (as written in the file;
  values with a UTC offset are converted to UTC), ``amount`` numeric(18,4), ``quantity`` bigint
  (1 when not mapped or empty), ``currency`` text, ``source_name`` text (the config's label), and
  the lineage columns ``_source_file`` and ``_source_row`` (the record's number, the header being
  row 1; Parquet rows are numbered the same way).
* ``amount`` is the row's total value. It is an exact decimal: values are never rounded, and one
  with more than 4 decimal places is rejected, so sums in the warehouse reconcile with the file.
* Rows without an order id get ``<customer_id>@<purchased_at ISO>``: purchases of one customer at
  one timestamp (or on one day, for date-only files) are one order. Several rows may share an order
  id (order lines), so the table's key is (``_source_file``, ``_source_row``).

Rows that cannot be used go to ``transactions__rejected`` (source_file, source_row, column_name,
reason, record as JSON): a missing customer id, purchase date or amount, a date that does not match
``date_format``, an amount that is not a number or is negative, a quantity that is not a whole
number of at least 1, a record with the wrong number of fields. A file whose header lacks a mapped
column fails the load with an error naming the file, the column and the config key.

Each file loads once: its fingerprint (size and modification time, or ETag) and the parsing
settings are kept in dlt state. A changed file, or a change of the parsing settings, reloads the
file, and its rows replace all rows previously loaded from the same file (merge key
``_source_file``), so a corrected export simply replaces the old one. Loading the same file twice
changes nothing. Rows of files that are deleted stay in the warehouse.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import hashlib
import io
import json
import logging
import os
import posixpath
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dlt
import fsspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import yaml
from dlt.common.pipeline import LoadInfo
from dlt.extract import DltResource

from ingestion.destination import make_pipeline
from ingestion.olist_files import REJECTED_COLUMNS, SourceFileError, TableCounts, storage_options
from warehouse.settings import DatabaseSettings

if TYPE_CHECKING:
    from ingestion.pipelines import LoadSummary

log = logging.getLogger(__name__)

SOURCE_NAME = "byo"
DATASET = "raw_byo"
# The example mapping (a semicolon, decimal-comma, day-first file); the sandbox loads it.
EXAMPLE_CONFIG = Path(__file__).resolve().parent / "examples" / "byo_transactions.example.yml"
PIPELINE_NAME = "byo_transactions"
TABLE = "transactions"
REJECTED_TABLE = f"{TABLE}__rejected"
CONFIG_VARIABLE = "BYO_TRANSACTIONS_CONFIG"
EXAMPLE_CONFIG = "ingestion/examples/byo_transactions.example.yml"

REQUIRED_MAPPINGS = ("customer_id", "purchased_at", "amount")
OPTIONAL_MAPPINGS = ("order_id", "quantity")
FORMATS = ("csv", "parquet")
EXTENSIONS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}  # other names need `format:`

AMOUNT_PRECISION = 18
AMOUNT_SCALE = 4
AMOUNT_TYPE = pa.decimal128(AMOUNT_PRECISION, AMOUNT_SCALE)
TIMESTAMP_TYPE = pa.timestamp("us")

COLUMNS = {
    "customer_id": {"data_type": "text", "nullable": False},
    "order_id": {"data_type": "text", "nullable": False},
    "purchased_at": {"data_type": "timestamp", "timezone": False, "nullable": False},
    "amount": {
        "data_type": "decimal",
        "precision": AMOUNT_PRECISION,
        "scale": AMOUNT_SCALE,
        "nullable": False,
    },
    "quantity": {"data_type": "bigint", "nullable": False},
    "currency": {"data_type": "text", "nullable": False},
    "source_name": {"data_type": "text", "nullable": True},
    "_source_file": {"data_type": "text", "nullable": False},
    "_source_row": {"data_type": "bigint", "nullable": False},
}

# The same columns as Arrow types, so the data and the dlt hints agree (nullability included).
ARROW_SCHEMA = pa.schema(
    [
        pa.field("customer_id", pa.string(), nullable=False),
        pa.field("order_id", pa.string(), nullable=False),
        pa.field("purchased_at", TIMESTAMP_TYPE, nullable=False),
        pa.field("amount", AMOUNT_TYPE, nullable=False),
        pa.field("quantity", pa.int64(), nullable=False),
        pa.field("currency", pa.string(), nullable=False),
        pa.field("source_name", pa.string(), nullable=True),
        pa.field("_source_file", pa.string(), nullable=False),
        pa.field("_source_row", pa.int64(), nullable=False),
    ]
)


class ConfigError(ValueError):
    """The mapping config is invalid; the message names the file, the key and what to write."""


class MissingColumnError(SourceFileError):
    """A mapped column is not in a file's header."""


# ---------------------------------------------------------------------------------------- config


@dataclass(frozen=True)
class MappingConfig:
    """How to read one shop's transaction files. Build it with :meth:`from_yaml` or directly."""

    path: str
    columns: dict[str, str]
    format: str | None = None
    delimiter: str = ","
    decimal: str = "."
    thousands: str | None = None
    encoding: str = "utf-8"
    date_format: str | None = None
    currency: str = "BRL"
    source_name: str | None = None
    origin: str = field(default="mapping config", compare=False, repr=False)

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            raise ConfigError(f"{self.origin}: " + "; ".join(problems))

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls) if f.name != "origin")

    @classmethod
    def from_dict(
        cls, data: Any, origin: str = "mapping config", base_dir: Path | None = None
    ) -> MappingConfig:
        """A config from parsed YAML. A relative local ``path`` is taken relative to ``base_dir``."""
        if not isinstance(data, dict):
            raise ConfigError(f"{origin}: expected a mapping of keys ({', '.join(cls.keys())}), got {data!r}")
        unknown = sorted(set(data) - set(cls.keys()))
        if unknown:
            raise ConfigError(
                f"{origin}: unknown key(s) {', '.join(map(str, unknown))}; "
                f"the keys are {', '.join(cls.keys())}"
            )
        if "path" not in data or "columns" not in data:
            missing = [key for key in ("path", "columns") if key not in data]
            raise ConfigError(f"{origin}: missing required key(s) {', '.join(missing)}")
        values = dict(data)
        columns = values["columns"]
        if not isinstance(columns, dict):
            raise ConfigError(
                f"{origin}: columns must map {', '.join(REQUIRED_MAPPINGS + OPTIONAL_MAPPINGS)} to the "
                f"names of your file's columns, got {columns!r}"
            )
        values["columns"] = {str(key): value for key, value in columns.items()}
        path = values["path"]
        if base_dir is not None and isinstance(path, str) and path and "://" not in path:
            values["path"] = str(base_dir / Path(path).expanduser())
        for key in ("delimiter", "decimal", "thousands", "currency", "source_name", "encoding"):
            if isinstance(values.get(key), int | float):
                values[key] = str(values[key])
        return cls(**values, origin=origin)

    @classmethod
    def from_yaml(cls, path: str | Path) -> MappingConfig:
        """Read the YAML file at ``path``; a relative ``path:`` inside it is relative to the file."""
        path = Path(path).expanduser()
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"{path}: the mapping config does not exist") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
        return cls.from_dict(data, origin=str(path), base_dir=path.resolve().parent)

    @property
    def mapped(self) -> dict[str, str]:
        """Canonical column -> the file's column, for the mapped columns only."""
        return {key: name for key, name in self.columns.items() if name}

    def parsing_fingerprint(self) -> str:
        """Changes when the settings that decide how a file is read change (not with ``path``)."""
        settings = {k: v for k, v in asdict(self).items() if k not in ("path", "origin")}
        return hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]


def _problems(config: MappingConfig) -> list[str]:
    problems = []
    if not isinstance(config.path, str) or not config.path.strip():
        problems.append("path must name a file, a folder, a glob or a URL")
    unknown = sorted(set(config.columns) - set(REQUIRED_MAPPINGS + OPTIONAL_MAPPINGS))
    if unknown:
        problems.append(
            f"unknown key(s) under columns: {', '.join(unknown)}; the keys are "
            f"{', '.join(REQUIRED_MAPPINGS)} (required) and {', '.join(OPTIONAL_MAPPINGS)} (optional)"
        )
    for key in REQUIRED_MAPPINGS:
        if not config.columns.get(key):
            problems.append(
                f"columns.{key} is required: the name of the column in your file that holds the {key}"
            )
    for key, name in config.columns.items():
        if name is not None and not isinstance(name, str):
            problems.append(f"columns.{key} must be a column name (text), got {name!r}")
    if config.format is not None and config.format not in FORMATS:
        problems.append(f"format must be one of {', '.join(FORMATS)} (or left out to go by extension)")
    if not isinstance(config.delimiter, str) or len(config.delimiter) != 1:
        problems.append(f"delimiter must be one character, got {config.delimiter!r}")
    if config.decimal not in (".", ","):
        problems.append(f'decimal must be "." or ",", got {config.decimal!r}')
    if config.thousands is not None and (
        not isinstance(config.thousands, str)
        or len(config.thousands) != 1
        or config.thousands == config.decimal
    ):
        problems.append(
            f"thousands must be one character other than the decimal mark, got {config.thousands!r}"
        )
    try:
        codecs.lookup(str(config.encoding))
    except LookupError:
        problems.append(f"encoding {config.encoding!r} is not known to Python")
    if config.date_format is not None and (
        not isinstance(config.date_format, str) or "%" not in config.date_format
    ):
        problems.append(
            f'date_format must be a strftime pattern such as "%d/%m/%Y", got {config.date_format!r}'
        )
    if not isinstance(config.currency, str) or not re.fullmatch(r"[A-Z]{3}", config.currency):
        problems.append(f"currency must be an ISO 4217 code such as BRL or EUR, got {config.currency!r}")
    return problems


def resolve_config(config: MappingConfig | str | Path | None) -> MappingConfig:
    """The config given, or the YAML file named by ``BYO_TRANSACTIONS_CONFIG``."""
    if isinstance(config, MappingConfig):
        return config
    if config is None:
        config = os.environ.get(CONFIG_VARIABLE)
        if not config:
            raise ConfigError(
                f"No mapping config: set {CONFIG_VARIABLE} to a YAML file describing your transaction "
                f"files (start from {EXAMPLE_CONFIG})"
            )
    return MappingConfig.from_yaml(config)


# ----------------------------------------------------------------------------------------- files


def format_from_extension(path: str) -> str | None:
    """csv or parquet by the file's extension (``.gz`` aside), None when it says neither."""
    return EXTENSIONS.get(posixpath.splitext(path.lower().removesuffix(".gz"))[1])


def find_files(config: MappingConfig) -> list[tuple[str, str, str]]:
    """(path, format, fingerprint) of every file the config names, in path order."""
    fs, root = fsspec.core.url_to_fs(config.path, **storage_options(config.path))
    if any(char in root for char in "*?["):
        found = fs.glob(root, detail=True)
        in_folder = False
    elif fs.isdir(root):
        found = fs.find(root, detail=True)
        in_folder = True
    elif fs.exists(root):
        found = {root: fs.info(root)}
        in_folder = False
    else:
        raise SourceFileError(f"{config.origin}: path {config.path} does not exist")
    files = []
    for path, info in sorted(found.items()):
        if info.get("type") == "directory":
            continue
        by_extension = format_from_extension(path)
        if in_folder and (by_extension is None or config.format not in (None, by_extension)):
            continue  # other files in the folder (README, .DS_Store...)
        kind = config.format or by_extension
        if kind is None:
            raise SourceFileError(
                f"{path}: cannot tell the format from the extension; "
                f"set format: csv or parquet in {config.origin}"
            )
        etag = info.get("ETag") or info.get("etag")
        modified = info.get("mtime") or info.get("LastModified") or info.get("created")
        files.append((path, kind, str(etag) if etag else f"{info.get('size')}:{modified}"))
    if not files:
        log.warning("%s: no csv or parquet files at %s", config.origin, config.path)
    return files


def read_file(
    fs: fsspec.AbstractFileSystem, path: str, kind: str, config: MappingConfig
) -> tuple[pa.Table, list[dict]]:
    """The mapped columns of one file (CSV as text, Parquet as stored) with ``_source_row``, and the
    records that could not be split into the header's fields."""
    try:
        with fs.open(path, "rb", compression="gzip" if path.lower().endswith(".gz") else None) as handle:
            data = handle.read()
        if kind == "parquet":
            return _read_parquet(data, path, config), []
        return _read_csv(data, path, config)
    except MissingColumnError:
        raise
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError, csv.Error) as exc:
        raise SourceFileError(f"{path}: the file cannot be read as {kind} ({exc})") from exc


def _check_header(header: list[str], path: str, config: MappingConfig) -> None:
    for key, name in config.mapped.items():
        if name not in header:
            close = difflib.get_close_matches(name, header, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise MissingColumnError(
                f"{path}: column {name!r} (columns.{key} in {config.origin}) is not in the file{hint}; "
                f"the file's columns are {', '.join(header)}"
            )


def _row_numbers(count: int) -> pa.Array:
    return pa.array(range(2, 2 + count), pa.int64())


def _read_parquet(data: bytes, path: str, config: MappingConfig) -> pa.Table:
    parquet = pq.ParquetFile(pa.BufferReader(data))
    _check_header(parquet.schema_arrow.names, path, config)
    table = parquet.read(columns=sorted(set(config.mapped.values())))
    return table.append_column("_source_row", _row_numbers(table.num_rows))


def _csv_header(data: bytes, config: MappingConfig) -> list[str]:
    encoding = "utf-8-sig" if codecs.lookup(config.encoding).name == "utf-8" else config.encoding
    first_line = data.split(b"\n", 1)[0].decode(encoding).rstrip("\r")
    return next(csv.reader([first_line], delimiter=config.delimiter), [])


def _read_csv(data: bytes, path: str, config: MappingConfig) -> tuple[pa.Table, list[dict]]:
    header = _csv_header(data, config)
    _check_header(header, path, config)
    wanted = sorted(set(config.mapped.values()))
    invalid: list[str] = []
    table = pacsv.read_csv(
        pa.BufferReader(data),
        read_options=pacsv.ReadOptions(encoding=config.encoding, block_size=16 << 20),
        parse_options=pacsv.ParseOptions(
            delimiter=config.delimiter,
            newlines_in_values=True,
            invalid_row_handler=lambda row: invalid.append(row.text) or "skip",
        ),
        convert_options=pacsv.ConvertOptions(
            include_columns=wanted,
            column_types={name: pa.string() for name in wanted},
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
            null_values=[""],
        ),
    )
    if not invalid:
        return table.append_column("_source_row", _row_numbers(table.num_rows)), []
    # Arrow skips malformed records without saying which record they were: read again to number them.
    return _read_csv_row_by_row(data, path, header, wanted, config)


def _read_csv_row_by_row(
    data: bytes, path: str, header: list[str], wanted: list[str], config: MappingConfig
) -> tuple[pa.Table, list[dict]]:
    encoding = "utf-8-sig" if codecs.lookup(config.encoding).name == "utf-8" else config.encoding
    reader = csv.reader(io.StringIO(data.decode(encoding), newline=""), delimiter=config.delimiter)
    next(reader)
    positions = [header.index(name) for name in wanted]
    columns: list[list[str | None]] = [[] for _ in wanted]
    row_numbers: list[int] = []
    rejected: list[dict] = []
    for row_number, record in enumerate(reader, start=2):
        if len(record) != len(header):
            rejected.append(
                _rejection(
                    path,
                    row_number,
                    None,
                    f"row has {len(record)} fields, the header has {len(header)}",
                    record,
                )
            )
            continue
        row_numbers.append(row_number)
        for values, position in zip(columns, positions, strict=True):
            values.append(record[position] if record[position] != "" else None)
    arrays = [pa.array(values, pa.string()) for values in columns]
    return pa.table(arrays + [pa.array(row_numbers, pa.int64())], names=wanted + ["_source_row"]), rejected


def _rejection(path: str, row: int | None, column: str | None, reason: str, record: Any) -> dict:
    return {
        "source_file": path,
        "source_row": row,
        "column_name": column,
        "reason": reason,
        "record": json.dumps(record, ensure_ascii=False, default=str)[:4000] if record is not None else None,
    }


# --------------------------------------------------------------------------------------- parsing


def _text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Values as trimmed text; empty text is missing."""
    if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
        column = pc.cast(column, pa.string())
    column = pc.utf8_trim_whitespace(column)
    return pc.if_else(pc.equal(column, ""), pa.scalar(None, pa.string()), column)


def _number_text(column: pa.ChunkedArray, config: MappingConfig) -> pa.ChunkedArray:
    """Numbers as text with a "." decimal mark and no thousands separator."""
    if pa.types.is_floating(column.type):
        column = pc.round(column, AMOUNT_SCALE)  # binary floats: 19.900000000000002 is 19.9
    typed = not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type)
    column = _text(column)
    if typed:
        return column
    if config.thousands:
        column = pc.replace_substring(column, config.thousands, "")
    if config.decimal == ",":
        column = pc.replace_substring(column, ",", ".")
    return column


def parse_amounts(
    column: pa.ChunkedArray, config: MappingConfig
) -> tuple[pa.ChunkedArray, list[tuple[str, Any]]]:
    """Exact decimals, and (reason, mask) of the values that are not usable amounts."""
    text = _number_text(column, config)
    numeric = pc.match_substring_regex(text, r"^[+-]?\d+(\.\d*)?$")
    # trailing zeros after the decimal mark and leading zeros do not count towards precision
    short = pc.replace_substring_regex(text, r"(\.\d*?)0+$", r"\1")
    short = pc.replace_substring_regex(short, r"\.$", "")
    short = pc.replace_substring_regex(short, r"^([+-]?)0+(\d)", r"\1\2")
    too_precise = pc.and_(numeric, pc.match_substring_regex(short, rf"\.\d{{{AMOUNT_SCALE + 1},}}$"))
    integer_digits = AMOUNT_PRECISION - AMOUNT_SCALE
    too_large = pc.and_(numeric, pc.match_substring_regex(short, rf"^[+-]?\d{{{integer_digits + 1},}}"))
    usable = pc.and_(numeric, pc.invert(pc.or_(too_precise, too_large)))
    amounts = pc.cast(pc.if_else(usable, short, pa.scalar(None, pa.string())), AMOUNT_TYPE)
    negative = pc.less(amounts, pa.scalar(0, AMOUNT_TYPE))
    marks = f"decimal mark {config.decimal!r}" + (
        f", thousands {config.thousands!r}" if config.thousands else ""
    )
    checks = [
        ("missing amount", pc.is_null(text)),
        (f"amount is not a number ({marks})", pc.and_(pc.is_valid(text), pc.invert(numeric))),
        (f"amount has more than {AMOUNT_SCALE} decimal places", too_precise),
        (f"amount has more than {integer_digits} digits before the decimal mark", too_large),
        ("negative amount", negative),
    ]
    return amounts, checks


def parse_quantities(column: pa.ChunkedArray | None, rows: int, config: MappingConfig):
    """Whole numbers of at least 1 (1 when there is no quantity), and (reason, mask) of bad ones."""
    if column is None:
        return pa.chunked_array([pa.array([1] * rows, pa.int64())]), []
    text = _number_text(column, config)
    text = pc.replace_substring_regex(text, r"\.0*$", "")  # 2.0 from a float column is 2
    whole = pc.match_substring_regex(text, r"^\+?\d{1,18}$")
    values = pc.cast(pc.if_else(whole, text, pa.scalar(None, pa.string())), pa.int64())
    bad = pc.and_(pc.is_valid(text), pc.or_(pc.invert(whole), pc.less(values, 1)))
    quantities = pc.if_else(pc.is_null(text), pa.scalar(1, pa.int64()), values)
    return quantities, [("quantity is not a whole number of at least 1", bad)]


def parse_timestamps(column: pa.ChunkedArray, date_format: str | None) -> pa.ChunkedArray:
    """Timestamps (microseconds, no time zone; values with an offset converted to UTC); null where
    the value is missing or does not match ``date_format`` (ISO 8601 when None).

    Arrow parses the column at once. Its strptime accepts day 31 of February (it rolls over), so a
    value counts as parsed only if formatting it back gives the same text; the rest (such values,
    unpadded numbers like 5/3/2024, fractions of seconds) go to Python's strict parser, once per
    distinct value."""
    if pa.types.is_timestamp(column.type) or pa.types.is_date(column.type):
        return pc.cast(column, TIMESTAMP_TYPE)
    text = _text(column)
    null_timestamps = pa.scalar(None, TIMESTAMP_TYPE)
    try:
        if date_format is None:
            return pc.cast(text, TIMESTAMP_TYPE)  # every value ISO 8601 without an offset: done
        fast = pc.strptime(text, format=date_format, unit="us", error_is_null=True)
        if fast.type.tz is not None:
            fast = pc.cast(fast, TIMESTAMP_TYPE)
        back = pc.strftime(pc.cast(fast, pa.timestamp("s"), safe=False), format=date_format)
        exact = pc.fill_null(pc.equal(back, text), False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        fast = pa.chunked_array([pa.nulls(len(text), TIMESTAMP_TYPE)])
        exact = pa.chunked_array([pa.array([False] * len(text))])
    doubtful = pc.and_(pc.is_valid(text), pc.invert(exact))
    if not pc.any(doubtful).as_py():
        return pc.if_else(exact, fast, null_timestamps)
    values = pc.unique(text.filter(doubtful))
    parsed = pa.array([_parse_one(value, date_format) for value in values.to_pylist()], TIMESTAMP_TYPE)
    slow = pc.take(parsed, pc.index_in(text, value_set=values))
    return pc.if_else(exact, fast, slow)


def _parse_one(value: str, date_format: str | None) -> datetime | None:
    try:
        parsed = (
            datetime.fromisoformat(value) if date_format is None else datetime.strptime(value, date_format)
        )
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def _generated_order_ids(customer_id: pa.ChunkedArray, purchased_at: pa.ChunkedArray) -> pa.ChunkedArray:
    """``<customer_id>@<purchased_at>`` in ISO form, with microseconds only when there are some."""
    truncated = pc.cast(purchased_at, pa.timestamp("s"), safe=False)
    seconds = pc.strftime(truncated, format="%Y-%m-%dT%H:%M:%S")
    micros = pc.strftime(purchased_at, format="%Y-%m-%dT%H:%M:%S")
    whole = pc.equal(pc.cast(truncated, TIMESTAMP_TYPE), purchased_at)
    stamp = pc.if_else(pc.fill_null(whole, True), seconds, micros)
    return pc.binary_join_element_wise(customer_id, stamp, "@")


def parse(table: pa.Table, path: str, config: MappingConfig) -> tuple[pa.Table, list[dict]]:
    """The file's mapped columns in canonical form, and the rejected rows with their reasons."""
    mapped = config.mapped
    customer_id = _text(table[mapped["customer_id"]])
    purchased_text = table[mapped["purchased_at"]]
    purchased_at = parse_timestamps(purchased_text, config.date_format)
    amount, amount_checks = parse_amounts(table[mapped["amount"]], config)
    quantity, quantity_checks = parse_quantities(
        table[mapped["quantity"]] if "quantity" in mapped else None, table.num_rows, config
    )
    date_problem = (
        f"purchase date does not match date_format {config.date_format!r}"
        if config.date_format
        else "purchase date is not an ISO 8601 date or timestamp (set date_format for other layouts)"
    )
    purchased_missing = pc.is_null(_text(purchased_text))
    checks: list[tuple[str, str, Any]] = [
        (mapped["customer_id"], "missing customer id", pc.is_null(customer_id)),
        (mapped["purchased_at"], "missing purchase date", purchased_missing),
        (
            mapped["purchased_at"],
            date_problem,
            pc.and_(pc.invert(purchased_missing), pc.is_null(purchased_at)),
        ),
        *((mapped["amount"], reason, mask) for reason, mask in amount_checks),
        *((mapped.get("quantity"), reason, mask) for reason, mask in quantity_checks),
    ]
    any_bad = pc.fill_null(checks[0][2], False)
    for _, _, mask in checks[1:]:
        any_bad = pc.or_(any_bad, pc.fill_null(mask, False))

    rejected = []
    if pc.any(any_bad).as_py():
        originals = table.filter(any_bad)
        flags = [
            (column, reason, pc.fill_null(mask, False).filter(any_bad).to_pylist())
            for column, reason, mask in checks
        ]
        for index, record in enumerate(originals.to_pylist()):
            column, reason = next((c, r) for c, r, bad in flags if bad[index])
            source_row = record.pop("_source_row")
            value = record.get(column)
            shown = reason
            if value is not None and not reason.startswith("missing"):
                shown = f"{reason}: {value!r}" if isinstance(value, str) else f"{reason}: {value}"
            rejected.append(_rejection(path, source_row, column, shown, record))

    keep = pc.invert(any_bad)
    order_id = _generated_order_ids(customer_id, purchased_at)
    if "order_id" in mapped:
        order_id = pc.coalesce(_text(table[mapped["order_id"]]), order_id)
    rows = int(pc.sum(pc.cast(keep, pa.int64())).as_py() or 0)
    columns = {
        "customer_id": customer_id.filter(keep),
        "order_id": order_id.filter(keep),
        "purchased_at": purchased_at.filter(keep),
        "amount": amount.filter(keep),
        "quantity": quantity.filter(keep),
        "currency": pa.array([config.currency] * rows, pa.string()),
        "source_name": pa.array([config.source_name] * rows, pa.string()),
        "_source_file": pa.array([path] * rows, pa.string()),
        "_source_row": table["_source_row"].filter(keep),
    }
    good = pa.Table.from_arrays(list(columns.values()), schema=ARROW_SCHEMA)
    return good, rejected


# ------------------------------------------------------------------------------------------- dlt


def _add_rejected_table(resource: DltResource) -> None:
    """Declare ``transactions__rejected`` on the resource. A table variant starts from the
    resource's hints (columns, keys), so those are cleared before the rejected columns are set."""
    resource.apply_hints(
        table_name=REJECTED_TABLE,
        create_table_variant=True,
        write_disposition="append",
        columns={},
        primary_key=[],
        merge_key=[],
    )
    resource.apply_hints(table_name=REJECTED_TABLE, create_table_variant=True, columns=REJECTED_COLUMNS)


@dlt.source(name=SOURCE_NAME, max_table_nesting=0)
def byo_transactions(config: MappingConfig, counts: dict[str, TableCounts] | None = None):
    """The transactions the mapping config describes. ``counts`` (if given) receives files, rows
    loaded and rows rejected for the load summary."""
    counts = {} if counts is None else counts
    fingerprint_suffix = config.parsing_fingerprint()

    @dlt.resource(
        name=TABLE,
        write_disposition="merge",
        primary_key=["_source_file", "_source_row"],
        merge_key="_source_file",
        columns=COLUMNS,
    )
    def transactions() -> Iterator[Any]:
        state = dlt.current.resource_state()
        loaded: dict[str, str] = state.setdefault("loaded_files", {})
        tally = counts.setdefault(TABLE, TableCounts())
        fs, _ = fsspec.core.url_to_fs(config.path, **storage_options(config.path))
        for path, kind, file_fingerprint in find_files(config):
            fingerprint = f"{file_fingerprint}|{fingerprint_suffix}"
            if loaded.get(path) == fingerprint:
                tally.skipped_files += 1
                continue
            try:
                table, rejected = read_file(fs, path, kind, config)
            except MissingColumnError:
                raise
            except SourceFileError as exc:
                log.error("%s", exc)
                table, rejected = None, [_rejection(path, None, None, str(exc), None)]
            if table is not None:
                good, invalid = parse(table, path, config)
                rejected += invalid
                tally.rows += good.num_rows
                if good.num_rows:
                    yield good
            if rejected:
                tally.rejected += len(rejected)
                log.warning("%s: %d row(s) rejected into %s", path, len(rejected), REJECTED_TABLE)
                yield dlt.mark.with_table_name(rejected, REJECTED_TABLE)
            tally.files += 1
            loaded[path] = fingerprint

    resource = transactions()
    _add_rejected_table(resource)
    yield resource


def byo_pipeline(db: DatabaseSettings | None = None) -> dlt.Pipeline:
    return make_pipeline(PIPELINE_NAME, DATASET, db)


def load_byo_transactions(
    config: MappingConfig | str | Path | None = None,
    db: DatabaseSettings | None = None,
    pipeline: dlt.Pipeline | None = None,
) -> tuple[LoadInfo, LoadSummary]:
    """Load the transaction files ``config`` describes (default: the YAML named by
    ``BYO_TRANSACTIONS_CONFIG``) into ``raw_byo.transactions``."""
    from ingestion.pipelines import LoadSummary  # here: pipelines.py may import this module

    mapping = resolve_config(config)
    counts: dict[str, TableCounts] = {}
    pipeline = pipeline or byo_pipeline(db)
    info = pipeline.run(byo_transactions(mapping, counts=counts), loader_file_format="csv")
    summary = LoadSummary(
        source=SOURCE_NAME,
        dataset=pipeline.dataset_name,
        tables={name: asdict(tally) for name, tally in counts.items()},
        load_ids=list(info.loads_ids),
    )
    log.info(
        "bring-your-own transactions (%s): %d rows loaded, %d rejected",
        mapping.source_name or mapping.path,
        summary.rows_loaded,
        summary.rows_rejected,
    )
    return info, summary


if __name__ == "__main__":
    import sys

    from warehouse import database

    logging.basicConfig(level=logging.INFO)
    _, loaded = load_byo_transactions(sys.argv[1] if len(sys.argv) > 1 else None, db=database.ensure())
    log.info("%s", loaded.as_dict())
