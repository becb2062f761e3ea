"""The expectation suites of the raw tables, as code: one suite per table, named ``<schema>.<table>``.

The suites check what did load. The Olist loader has already turned away rows with missing keys,
malformed timestamps and negative or non-numeric amounts (into ``<table>__rejected``), so what is
left to check here is what only the loaded table can show: keys duplicated across loads, values
outside their sets and ranges, and the loader's own rules, in case a table was written some other
way. Referential rules (every order item's order exists) are dbt's tests on staging.

How columns are read. Raw tables keep values as delivered, so most columns are text; the other
sources' tables may be typed. The gate (:mod:`quality.gates`) validates a projection of the table in
which every column is text, except:

* a column checked with :func:`number` gets a twin ``<column>__number``, the value read as
  ``numeric`` (null where it is not a usable number): the range is checked on the twin, the format
  on the value as delivered, only in the rows where the twin is null (a regex on every row of a
  large table costs more than all other checks together);
* a column checked with :func:`temporal` stays text when it is text, and a typed date or timestamp
  is written in the expected format, so one regex holds either way.

The helpers record this in each expectation's ``meta`` (``read_as``), so the suite alone says how
the gate must present the table. ``meta["column"]`` is always the raw table's column, which is
what a failure reports.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import great_expectations as gx
import great_expectations.expectations as gxe
from great_expectations.expectations.expectation import Expectation
from great_expectations.expectations.row_conditions import Column

from ingestion.olist_files import TABLES as OLIST_TABLES

NUMBER_SUFFIX = "__number"

# ------------------------------------------------------------------------------------ value sets

ORDER_STATUSES = (
    "delivered",
    "shipped",
    "canceled",
    "unavailable",
    "invoiced",
    "processing",
    "created",
    "approved",
)
PAYMENT_TYPES = ("credit_card", "boleto", "voucher", "debit_card", "not_defined")
# The 26 states and the Federal District.
BRAZIL_STATES = (
    "AC", "AL", "AP", "AM", "BA", "CE", "DF", "ES", "GO", "MA", "MT", "MS", "MG", "PA",
    "PB", "PR", "PE", "PI", "RJ", "RN", "RS", "RO", "RR", "SC", "SP", "SE", "TO",
)  # fmt: skip
CURRENCIES = ("BRL",)
CHANNEL_TYPES = ("paid", "organic")

# ---------------------------------------------------------------------------------------- formats

# The Olist files' timestamps. The loader also lets a bare date through; the published format has
# none, so the gate flags one.
OLIST_TIMESTAMP = r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$"
# Other sources: an ISO 8601 date or timestamp ('T' or space, optional fraction and offset). Typed
# date and timestamp columns are presented as 'YYYY-MM-DD' / 'YYYY-MM-DD HH:MM:SS' and match too.
ISO_DATE_OR_TIMESTAMP = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}(:?\d{2})?)?)?$"
BCB_DATE = r"^\d{2}/\d{2}/\d{4}$"  # the SGS API's dd/MM/yyyy
ZIP_PREFIX = r"^\d{5}$"
NUMBER = r"^-?\d+(\.\d+)?$"
INTEGER = r"^-?\d+$"

# Sanity bounds on row counts: far above any real load (Olist has 99k orders and 1M geolocation
# rows), low enough to catch a load that multiplied rows.
MAX_ROWS = 50_000_000
MAX_ROWS_LARGE = 200_000_000
MAX_ROWS_REFERENCE = 100_000

# ---------------------------------------------------------------------------------------- helpers


def _meta(column: str, read_as: str = "text", **extra: object) -> dict:
    return {"column": column, "read_as": read_as, **extra}


def row_count(max_value: int = MAX_ROWS) -> Expectation:
    return gxe.ExpectTableRowCountToBeBetween(min_value=1, max_value=max_value)


def columns_exist(columns: Iterable[str]) -> Expectation:
    """The table has at least these columns (more is fine: loaders add their own)."""
    return gxe.ExpectTableColumnsToMatchSet(column_set=list(columns), exact_match=False)


def not_null(*columns: str) -> list[Expectation]:
    return [gxe.ExpectColumnValuesToNotBeNull(column=name, meta=_meta(name)) for name in columns]


def unique(*columns: str) -> Expectation:
    """One column unique, or several unique together (a compound key).

    A compound key is checked as one column ``(a, b)`` that the gate adds to the table's projection
    (the row of the key's values as text, null when all are null), with the one-column expectation:
    GX's ExpectCompoundColumnsToBeUnique joins the table to its own grouping and takes two to three
    times as long on a large table."""
    if len(columns) == 1:
        return gxe.ExpectColumnValuesToBeUnique(column=columns[0], meta=_meta(columns[0]))
    return gxe.ExpectColumnValuesToBeUnique(
        column=key_column(columns), meta=_meta(", ".join(columns), "key", columns=list(columns))
    )


def key_column(columns: Sequence[str]) -> str:
    return f"({', '.join(columns)})"


def in_set(
    column: str, values: Iterable[str], *, mostly: float = 1.0, notes: str | None = None
) -> Expectation:
    return gxe.ExpectColumnValuesToBeInSet(
        column=column, value_set=list(values), mostly=mostly, notes=notes, meta=_meta(column)
    )


def matches(column: str, regex: str, *, mostly: float = 1.0, notes: str | None = None) -> Expectation:
    return gxe.ExpectColumnValuesToMatchRegex(
        column=column, regex=regex, mostly=mostly, notes=notes, meta=_meta(column)
    )


def temporal(column: str, regex: str = ISO_DATE_OR_TIMESTAMP, *, style: str = "iso") -> Expectation:
    """A date or timestamp that parses: the regex on text; a typed column is written as text in
    ``style`` (``iso`` or ``dd/mm/yyyy``) first, so the same suite holds for either."""
    return gxe.ExpectColumnValuesToMatchRegex(
        column=column, regex=regex, meta=_meta(column, "temporal", style=style)
    )


def number(
    column: str,
    min_value: float | None,
    max_value: float | None,
    *,
    integer: bool = False,
    mostly: float = 1.0,
    notes: str | None = None,
    row_condition: object = None,
) -> list[Expectation]:
    """A number in ``[min_value, max_value]``, checked on ``<column>__number``; and, unless the
    range only applies to some rows (``row_condition``), the format of the values that do not read
    as numbers: any such value that is not null fails it, and is reported as delivered."""
    meta = _meta(column, "integer" if integer else "number")
    as_number = column + NUMBER_SUFFIX
    expectations: list[Expectation] = [
        gxe.ExpectColumnValuesToBeBetween(
            column=as_number,
            min_value=min_value,
            max_value=max_value,
            mostly=mostly,
            notes=notes,
            row_condition=row_condition,
            meta=meta,
        )
    ]
    if row_condition is None:
        expectations.insert(
            0,
            gxe.ExpectColumnValuesToMatchRegex(
                column=column,
                regex=INTEGER if integer else NUMBER,
                row_condition=Column(as_number).is_null(),
                notes=f"Only the values that do not read as {'integers' if integer else 'numbers'}.",
                meta=meta,
            ),
        )
    return expectations


# ------------------------------------------------------------------------------------------ suites


@dataclass(frozen=True)
class TableSuite:
    """The gate of one raw table. ``build`` makes fresh expectation objects on every call (GX
    writes ids into the objects it registers, so they are never shared between runs)."""

    schema: str
    table: str
    columns: tuple[str, ...]
    build: Callable[[], list[Expectation]]

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.table}"

    def expectations(self) -> list[Expectation]:
        return [columns_exist(self.columns), *self.build()]

    def suite(self) -> gx.ExpectationSuite:
        return gx.ExpectationSuite(
            name=self.name,
            expectations=self.expectations(),
            meta={"notes": f"Quality gate of {self.name}, generated from quality/suites.py; edit it there."},
        )

    def read_as(self) -> dict[str, dict]:
        """How the gate must present each column that is not plain text: ``{column: meta}``."""
        kinds: dict[str, dict] = {}
        for expectation in self.expectations():
            meta = expectation.meta or {}
            if meta.get("read_as", "text") == "text":
                continue
            previous = kinds.setdefault(meta["column"], meta)
            if previous != meta:
                raise ValueError(f"{self.name}: {meta['column']} is read both as {previous} and {meta}")
        return kinds


SUITES: dict[str, TableSuite] = {}


def table_suite(schema: str, table: str, columns: Sequence[str]):
    """Register the decorated function as the builder of the suite of ``schema.table``."""

    def register(build: Callable[[], list[Expectation]]) -> Callable[[], list[Expectation]]:
        suite = TableSuite(schema, table, tuple(columns), build)
        if suite.name in SUITES:
            raise ValueError(f"two suites for {suite.name}")
        SUITES[suite.name] = suite
        return build

    return register


# ------------------------------------------------------------------------------------------ Olist

OLIST_LINEAGE = ("_source_file", "_source_row", "_dlt_load_id")


def olist_columns(table: str) -> tuple[str, ...]:
    return (*OLIST_TABLES[table].columns, *OLIST_LINEAGE)


def olist_basics(table: str, max_rows: int = MAX_ROWS) -> list[Expectation]:
    """What the loader's spec promises for every Olist table: some rows, the required values and the
    lineage columns present, the primary key unique (across loads too), timestamps well formed."""
    spec = OLIST_TABLES[table]
    expectations = [row_count(max_rows), *not_null(*spec.required_values, *OLIST_LINEAGE)]
    if spec.primary_key:
        expectations.append(unique(*spec.primary_key))
    expectations += [temporal(name, OLIST_TIMESTAMP) for name in spec.timestamps]
    return expectations


# Zip prefixes are quoted 5-digit text in the files, but a file that went through a spreadsheet or a
# number type loses the leading zero ('1037' for '01037'); staging pads them. Tolerated up to 1%.
ZIP_MOSTLY = 0.99


@table_suite("raw_olist", "customers", olist_columns("customers"))
def _customers() -> list[Expectation]:
    return [
        *olist_basics("customers"),
        matches("customer_zip_code_prefix", ZIP_PREFIX, mostly=ZIP_MOSTLY),
        in_set("customer_state", BRAZIL_STATES),
    ]


@table_suite("raw_olist", "orders", olist_columns("orders"))
def _orders() -> list[Expectation]:
    return [*olist_basics("orders"), in_set("order_status", ORDER_STATUSES)]


@table_suite("raw_olist", "order_items", olist_columns("order_items"))
def _order_items() -> list[Expectation]:
    return [
        *olist_basics("order_items", MAX_ROWS_LARGE),
        # Items are numbered 1, 2, 3... inside an order; Olist's largest order has 21.
        *number("order_item_id", 1, 1_000, integer=True),
        # BRL. Olist's dearest item is 6,735 and its dearest freight 409.68.
        *number("price", 0, 100_000),
        *number("freight_value", 0, 10_000),
    ]


@table_suite("raw_olist", "order_payments", olist_columns("order_payments"))
def _order_payments() -> list[Expectation]:
    return [
        *olist_basics("order_payments", MAX_ROWS_LARGE),
        in_set("payment_type", PAYMENT_TYPES),
        *number("payment_sequential", 1, 1_000, integer=True),
        # 0 occurs in Olist (a few vouchers); Brazilian cards stop at 24 installments.
        *number("payment_installments", 0, 24, integer=True),
        *number("payment_value", 0, 100_000),
    ]


@table_suite("raw_olist", "order_reviews", olist_columns("order_reviews"))
def _order_reviews() -> list[Expectation]:
    return [
        *olist_basics("order_reviews"),
        *not_null("review_score"),
        *number("review_score", 1, 5, integer=True),
    ]


# Olist's largest values: name 76 characters, description 3,992, 20 photos, 40,425 g, 105 x 105 x
# 118 cm. The bounds leave room and still catch a unit slip (kilograms, millimetres).
PRODUCT_BOUNDS = {
    "product_name_lenght": 1_000,
    "product_description_lenght": 100_000,
    "product_photos_qty": 100,
    "product_weight_g": 1_000_000,
    "product_length_cm": 1_000,
    "product_height_cm": 1_000,
    "product_width_cm": 1_000,
}


@table_suite("raw_olist", "products", olist_columns("products"))
def _products() -> list[Expectation]:
    sizes = [e for name, top in PRODUCT_BOUNDS.items() for e in number(name, 0, top)]
    return [*olist_basics("products"), *sizes]


@table_suite("raw_olist", "sellers", olist_columns("sellers"))
def _sellers() -> list[Expectation]:
    return [
        *olist_basics("sellers"),
        matches("seller_zip_code_prefix", ZIP_PREFIX, mostly=ZIP_MOSTLY),
        in_set("seller_state", BRAZIL_STATES),
    ]


# Olist's geolocation file has a few dozen points far outside Brazil (typos in the source); staging
# drops them when it reduces the file to one point per prefix. Tolerated up to 0.1% of rows.
GEO_MOSTLY = 0.999


@table_suite("raw_olist", "geolocation", olist_columns("geolocation"))
def _geolocation() -> list[Expectation]:
    return [
        *olist_basics("geolocation", MAX_ROWS_LARGE),
        matches("geolocation_zip_code_prefix", ZIP_PREFIX, mostly=ZIP_MOSTLY),
        # Brazil lies between about 34S and 5N, 74W and 29W.
        *number("geolocation_lat", -35, 6, mostly=GEO_MOSTLY),
        *number("geolocation_lng", -75, -30, mostly=GEO_MOSTLY),
        in_set("geolocation_state", BRAZIL_STATES),
    ]


@table_suite(
    "raw_olist", "product_category_name_translation", olist_columns("product_category_name_translation")
)
def _category_translation() -> list[Expectation]:
    return [
        *olist_basics("product_category_name_translation", MAX_ROWS_REFERENCE),
        *not_null("product_category_name_english"),
    ]


# --------------------------------------------------------------------------------------- marketing


@table_suite("raw_marketing", "channels", ("channel_id", "channel_name", "channel_type", "updated_at"))
def _channels() -> list[Expectation]:
    return [
        row_count(MAX_ROWS_REFERENCE),
        *not_null("channel_id", "channel_name", "channel_type", "updated_at"),
        unique("channel_id"),
        in_set("channel_type", CHANNEL_TYPES),
        temporal("updated_at"),
    ]


@table_suite(
    "raw_marketing",
    "ad_spend",
    (
        "spend_id",
        "spend_date",
        "channel_id",
        "campaign_id",
        "campaign_name",
        "spend",
        "currency",
        "impressions",
        "clicks",
        "updated_at",
    ),
)
def _ad_spend() -> list[Expectation]:
    return [
        row_count(),
        *not_null("spend_id", "spend_date", "channel_id", "spend", "currency", "updated_at"),
        unique("spend_id"),
        temporal("spend_date"),
        temporal("updated_at"),
        in_set("currency", CURRENCIES),
        # BRL per row (one campaign, one day).
        *number("spend", 0, 10_000_000),
        *number("impressions", 0, 10_000_000_000, integer=True),
        *number("clicks", 0, 10_000_000_000, integer=True),
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="impressions" + NUMBER_SUFFIX,
            column_B="clicks" + NUMBER_SUFFIX,
            or_equal=True,
            ignore_row_if="either_value_is_missing",
            meta={"column": "impressions, clicks", "read_as": "text"},
        ),
    ]


@table_suite(
    "raw_marketing",
    "leads",
    (
        "lead_id",
        "channel_id",
        "campaign_id",
        "created_at",
        "converted_at",
        "customer_unique_id",
        "updated_at",
    ),
)
def _leads() -> list[Expectation]:
    return [
        row_count(),
        *not_null("lead_id", "channel_id", "created_at", "updated_at"),
        unique("lead_id"),
        temporal("created_at"),
        temporal("converted_at"),
        temporal("updated_at"),
    ]


# --------------------------------------------------------------------------------------------- ERP


@table_suite(
    "raw_erp",
    "product_costs",
    ("product_id", "valid_from", "valid_to", "unit_cost", "currency", "updated_at"),
)
def _product_costs() -> list[Expectation]:
    return [
        row_count(),
        *not_null("product_id", "valid_from", "unit_cost", "currency"),
        unique("product_id", "valid_from"),
        temporal("valid_from"),
        temporal("valid_to"),
        temporal("updated_at"),
        *number("unit_cost", 0, 100_000),
        in_set("currency", CURRENCIES),
    ]


@table_suite("raw_erp", "refunds", ("refund_id", "order_id", "amount", "refunded_at", "reason", "updated_at"))
def _refunds() -> list[Expectation]:
    return [
        row_count(),
        # As the ERP loader: a refund needs its order (and, here, an amount); refunded_at may be
        # empty in the ERP while a refund is pending.
        *not_null("refund_id", "order_id", "amount"),
        unique("refund_id"),
        *number("amount", 0, 100_000),
        temporal("refunded_at"),
        temporal("updated_at"),
    ]


# --------------------------------------------------------------------------------------------- BCB

IPCA = "433"  # IPCA, % change in the month
SELIC = "432"  # Selic target, % per year


@table_suite("raw_bcb", "series_values", ("series_code", "series_name", "data", "valor", "reference_date"))
def _series_values() -> list[Expectation]:
    return [
        row_count(MAX_ROWS_REFERENCE * 10),
        *not_null("series_code", "data", "valor"),
        unique("series_code", "data"),  # the merge key
        unique("series_code", "reference_date"),  # the key staging reads (and dbt's source test)
        temporal("data", BCB_DATE, style="dd/mm/yyyy"),
        temporal("reference_date"),
        *number("valor", -1_000, 1_000_000),
        # Monthly IPCA has stayed within -0.7% and +3% since the Real (1994); outside -2..5 is a
        # unit slip (a year's rate, a fraction instead of a percentage) or another series' value.
        *number("valor", -2, 5, row_condition=Column("series_code") == IPCA),
        *number("valor", 0, 50, row_condition=Column("series_code") == SELIC),
    ]


# --------------------------------------------------------------------------------- bring your own


@table_suite(
    "raw_byo",
    "transactions",
    (
        "customer_id",
        "order_id",
        "purchased_at",
        "amount",
        "quantity",
        "currency",
        "_source_file",
        "_source_row",
    ),
)
def _transactions() -> list[Expectation]:
    return [
        row_count(MAX_ROWS_LARGE),
        *not_null("customer_id", "order_id", "purchased_at", "amount", "quantity", "currency"),
        *not_null("_source_file", "_source_row"),
        # Several rows may share an order (order lines): a row is its file and line.
        unique("_source_file", "_source_row"),
        temporal("purchased_at"),
        *number("amount", 0, 1_000_000),
        *number("quantity", 1, 100_000, integer=True),
        # The currency comes from the user's mapping file (ingestion/byo_transactions.py), so any
        # ISO 4217 code is a valid one here; the marts assume BRL and staging says so.
        matches("currency", r"^[A-Z]{3}$"),
    ]


def suite_for(schema: str, table: str) -> TableSuite:
    try:
        return SUITES[f"{schema}.{table}"]
    except KeyError:
        raise KeyError(
            f"no quality suite for {schema}.{table}; add one in quality/suites.py "
            f"(suites exist for: {', '.join(sorted(SUITES))})"
        ) from None
