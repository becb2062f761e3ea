"""The marketing platform's REST API (channels, ad spend, leads), loaded with dlt.

Endpoints ``{MARKETING_API_URL}/channels``, ``/ad_spend`` and ``/leads`` answer pages of
``{"data": [...], "links": {"next": <absolute URL> | null}}``; the source follows ``links.next``
with ``page_size`` records a page. Tables in schema ``raw_marketing``:

* ``channels``: replaced on every load. It is a handful of rows, so reading it whole costs one
  request, and a replace mirrors upstream exactly, channels removed upstream included (a merge
  would keep them forever).
* ``ad_spend`` (merge on ``spend_id``) and ``leads`` (merge on ``lead_id``): incremental on
  ``updated_at``. The first load reads everything; later loads send ``updated_since=<the largest
  updated_at loaded>`` (the API's filter is inclusive; dlt drops the boundary records it has already
  seen), and the merge replaces a changed record by its new version. A record read twice in one
  load (changed upstream while the load paged through) keeps its last version. The first load of
  a table that is empty in the warehouse appends (COPY alone, no merge).
* ``<table>__rejected``: records that cannot be loaded (no primary key, no usable ``updated_at``,
  a negative or non-numeric spend), with the endpoint URL, the column at fault, the reason and the
  record as JSON text. The good records of the same page load as usual. A bad record newer than
  every good one is read again by the next load (the cursor only moves with good records); dlt
  state remembers what was quarantined, so each version of a bad record is quarantined once.

Values stay as the API delivered them: JSON strings are text (timestamps included, e.g.
``2018-03-01T12:00:00Z``; dlt's timestamp detection is overridden by column hints, staging casts
them), numbers are bigint or double precision. Every known column is declared, so a column that is
null on every record so far (``converted_at``, ``customer_unique_id``) exists from the first load.

How it reads, fast (1.6M leads): pages are fetched with the retrying ``requests`` session and
parsed with orjson; each page's good records become an Arrow table of the declared columns, which
dlt loads as it is (CSV and COPY, no row-by-row normalizer). When a record does not fit the
declared columns (a field the API added, a number where text is declared), the endpoint's load
goes through dlt's row-by-row path instead, which adds the column or a variant column as dlt does.
When a text value is an empty string, the table is loaded with INSERT instead of COPY, which would
make it null. Good rows carry dlt's ``_dlt_load_id`` and ``_dlt_id`` either way.

Configuration (environment, or the function arguments, which win):

* ``MARKETING_API_URL``: the API root, e.g. ``https://marketing.example.com/v1``; a bare
  ``scheme://host:port`` gets ``/v1`` appended (the sandbox server prints that form).
* ``MARKETING_API_TOKEN``: bearer token, optional (no ``Authorization`` header without it).
* ``MARKETING_API_PAGE_SIZE``: records per page, default 1000 (the API's maximum).
* HTTP retries, dlt's runtime settings: ``RUNTIME__REQUEST_TIMEOUT`` (seconds per attempt, default
  60), ``RUNTIME__REQUEST_MAX_ATTEMPTS`` (default 5), ``RUNTIME__REQUEST_BACKOFF_FACTOR`` (default
  1: waits 1, 2, 4, 8 s) and ``RUNTIME__REQUEST_MAX_RETRY_DELAY`` (default 300 s). 429 and 5xx
  answers, timeouts and dropped connections are retried; a ``Retry-After`` header sets the wait.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import dlt
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from dlt.common.pipeline import LoadInfo
from dlt.extract import DltResource
from dlt.pipeline.exceptions import PipelineStepFailed
from dlt.sources.helpers.requests import Client, HTTPError, Session
from dlt.sources.helpers.rest_client.redaction import sanitize_url

from ingestion.destination import make_pipeline, table_is_empty
from ingestion.olist_files import REJECTED_COLUMNS
from warehouse.settings import DatabaseSettings

try:
    import orjson
except ImportError:  # pragma: no cover - dlt itself depends on orjson
    orjson = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from ingestion.pipelines import LoadSummary

log = logging.getLogger(__name__)

SOURCE_NAME = "marketing"
DATASET = "raw_marketing"
PIPELINE_NAME = "marketing_api"
DEFAULT_PAGE_SIZE = 1000
MAX_PAGE_SIZE = 1000
API_VERSION_PATH = "/v1"
CURSOR = "updated_at"

TEXT: dict[str, Any] = {"data_type": "text"}
BIGINT: dict[str, Any] = {"data_type": "bigint"}
DOUBLE: dict[str, Any] = {"data_type": "double"}
ARROW_TYPES = {"text": pa.string(), "bigint": pa.int64(), "double": pa.float64()}
# an updated_at the Arrow check of a page can vouch for (Python's fromisoformat takes many more)
TIMESTAMP_SHAPE = r"^[1-9]\d{3}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"
ROW_ID = "_dlt_id"  # dlt's row id, which the row-by-row path adds and the raw tables have always had


@dataclass(frozen=True)
class EndpointSpec:
    name: str  # the URL path under the API root and the table name
    primary_key: str
    columns: Mapping[str, Mapping[str, Any]]
    incremental: bool
    non_negative: tuple[str, ...] = ()

    @property
    def rejected_table(self) -> str:
        return f"{self.name}__rejected"

    @cached_property
    def arrow_type(self) -> pa.StructType:
        """A record as an Arrow struct of the declared columns; the primary key cannot be null."""
        return pa.struct(
            pa.field(name, ARROW_TYPES[hint["data_type"]], nullable=name != self.primary_key)
            for name, hint in self.columns.items()
        )


ENDPOINTS: dict[str, EndpointSpec] = {
    spec.name: spec
    for spec in (
        EndpointSpec(
            "channels",
            "channel_id",
            {"channel_id": TEXT, "channel_name": TEXT, "channel_type": TEXT, "updated_at": TEXT},
            incremental=False,
        ),
        EndpointSpec(
            "ad_spend",
            "spend_id",
            {
                "spend_id": TEXT,
                "spend_date": TEXT,
                "channel_id": TEXT,
                "campaign_id": TEXT,
                "campaign_name": TEXT,
                "spend": DOUBLE,
                "currency": TEXT,
                "impressions": BIGINT,
                "clicks": BIGINT,
                "updated_at": TEXT,
            },
            incremental=True,
            non_negative=("spend",),
        ),
        EndpointSpec(
            "leads",
            "lead_id",
            {
                "lead_id": TEXT,
                "channel_id": TEXT,
                "campaign_id": TEXT,
                "created_at": TEXT,
                "converted_at": TEXT,
                "customer_unique_id": TEXT,
                "updated_at": TEXT,
            },
            incremental=True,
        ),
    )
}


# ------------------------------------------------------------------------------------------- http


def retrying_session(timeout: float | None = None, max_attempts: int | None = None) -> Session:
    """A requests session that retries 429 (waiting for ``Retry-After``), 5xx, timeouts and dropped
    connections with exponential backoff. Unset arguments come from dlt's runtime settings
    (``RUNTIME__REQUEST_TIMEOUT``, ``RUNTIME__REQUEST_MAX_ATTEMPTS``, ``RUNTIME__REQUEST_BACKOFF_FACTOR``,
    ``RUNTIME__REQUEST_MAX_RETRY_DELAY``). It does not raise on error statuses itself: the loader
    does, after the retries, with the URL and the API's error message."""
    overrides: dict[str, Any] = {}
    if timeout is not None:
        overrides["request_timeout"] = timeout
    if max_attempts is not None:
        overrides["request_max_attempts"] = max_attempts
    return Client(raise_for_status=False, **overrides).session


def api_root(base_url: str | None = None) -> str:
    """The API root from the argument or ``MARKETING_API_URL``; a URL without a path gets ``/v1``."""
    url = (base_url or os.environ.get("MARKETING_API_URL") or "").strip().rstrip("/")
    if not url:
        raise ValueError(
            "No marketing API URL: set MARKETING_API_URL (e.g. http://127.0.0.1:8765/v1 for the sandbox "
            "server) or pass base_url"
        )
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"MARKETING_API_URL must be an http(s) URL, got {url!r}")
    return url + API_VERSION_PATH if parts.path in ("", "/") else url


def page_size_setting(page_size: int | None = None) -> int:
    """Records per page from the argument or ``MARKETING_API_PAGE_SIZE`` (default 1000, the API's maximum)."""
    value = page_size if page_size is not None else os.environ.get("MARKETING_API_PAGE_SIZE")
    value = DEFAULT_PAGE_SIZE if value is None else value
    try:
        size = int(value)
    except (TypeError, ValueError):
        size = 0
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise ValueError(
            f"MARKETING_API_PAGE_SIZE must be a whole number from 1 to {MAX_PAGE_SIZE}, got {value!r}"
        )
    return size


# ------------------------------------------------------------------------------------- validation


def _is_timestamp(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def find_problem(record: Any, spec: EndpointSpec) -> tuple[str | None, str] | None:
    """(column, reason) for a record that cannot be loaded into ``spec.name``; None for a good one.

    Rules: a JSON object; the primary key present; for incremental endpoints an ISO 8601
    ``updated_at`` (it is the cursor, so a record without it could never be picked up again);
    amounts in ``non_negative`` numeric and not negative (null is allowed). Everything else is for the
    tests downstream, on data that did load."""
    if not isinstance(record, dict):
        return None, f"record is not a JSON object but {type(record).__name__}"
    key = record.get(spec.primary_key)
    if key is None or (isinstance(key, str) and not key.strip()):
        return spec.primary_key, "missing primary key"
    if spec.incremental and not _is_timestamp(record.get(CURSOR)):
        value = record.get(CURSOR)
        if value is None:
            return CURSOR, "missing updated_at (the incremental cursor)"
        return CURSOR, f"malformed updated_at (expected an ISO 8601 timestamp): {value!r}"
    for name in spec.non_negative:
        value = record.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            return name, f"non-numeric value: {value!r}"
        if value < 0:
            return name, f"negative value: {value!r}"
    return None


def record_digest(record: Any) -> str:
    return hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()


def _first_rejection(state: dict[str, Any], record: Any, newest: str) -> bool:
    """True when this version of a bad record has not been quarantined by an earlier load.

    The API's ``updated_since`` filter is inclusive and the cursor only moves with good records, so a
    bad record newer than every good one comes back on the next load. The digests of quarantined
    records are kept in dlt state until the newest good ``updated_at`` has passed theirs (records
    without a usable ``updated_at`` are not read again); for ``channels``, which has no cursor and is
    read whole every time, they are kept for good (a bad channel is quarantined once per version)."""
    seen: dict[str, str] = state.setdefault("quarantined", {})
    digest = record_digest(record)
    if digest in seen:
        return False
    if newest:
        for key in [key for key, stamp in seen.items() if stamp < newest]:
            del seen[key]
    cursor = record.get(CURSOR) if isinstance(record, dict) else None
    seen[digest] = cursor if _is_timestamp(cursor) else ""
    return True


def split_page(
    records: list[Any], spec: EndpointSpec, endpoint_url: str, state: dict[str, Any]
) -> tuple[list[Any], list[dict[str, Any]]]:
    """A page's good records and its rejection rows for ``<table>__rejected`` (declared by
    :func:`declare_rejected_table`), each version of a bad record once (see :func:`_first_rejection`).
    ``state`` is the resource's dlt state; it keeps the newest good ``updated_at`` seen so far."""
    newest = state.get("newest_loaded", "")
    good, rejected = [], []
    for record in records:
        problem = find_problem(record, spec)
        if problem is None:
            good.append(record)
            if spec.incremental and record[CURSOR] > newest:
                newest = record[CURSOR]
            continue
        column, reason = problem
        if not _first_rejection(state, record, newest):
            log.info("%s: record already quarantined by an earlier load (%s)", endpoint_url, reason)
            continue
        log.warning("%s: record rejected into %s (%s)", endpoint_url, spec.rejected_table, reason)
        rejected.append(
            {
                "source_file": endpoint_url,
                "source_row": None,
                "column_name": column,
                "reason": reason,
                "record": json.dumps(record, ensure_ascii=False, default=str)[:4000],
            }
        )
    if newest:
        state["newest_loaded"] = newest
    return good, rejected


# ------------------------------------------------------------------------------------------ pages


def parse_json(content: bytes) -> Any:
    """A JSON document: orjson (several times faster than the json module), and the json module for
    what orjson refuses (``NaN``, integers beyond 64 bits, text in UTF-16), as before."""
    if orjson is not None:
        try:
            return orjson.loads(content)
        except orjson.JSONDecodeError:
            pass
    return json.loads(content)


def fetch_pages(
    session: Session,
    url: str,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Iterator[list[Any]]:
    """The ``data`` of each page of ``url``, following ``links.next`` until it is null. The session
    retries what is worth retrying; an error status left after that raises ``HTTPError``."""
    next_url: str | None = url
    while next_url:
        response = session.get(next_url, params=params, headers=headers)
        response.raise_for_status()
        try:
            body = parse_json(response.content)
        except ValueError as exc:
            raise ValueError(f"{sanitize_url(response.url)}: the answer is not JSON ({exc})") from exc
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list):
            raise ValueError(
                f"{sanitize_url(response.url)}: the answer is not a page of the API "
                '({"data": [...], "links": ...})'
            )
        yield data
        links = body.get("links")
        next_url = links.get("next") if isinstance(links, dict) else None
        params = None  # the next URL carries them


# ------------------------------------------------------------------------------------------ arrow


def records_to_arrow(records: list[dict[str, Any]], spec: EndpointSpec) -> pa.Table | None:
    """Records as an Arrow table of the declared columns and types, built in one pass by Arrow; None
    when a record does not fit them (not an object, a field that is not declared, a value of another
    JSON type than the column's), which dlt's row-by-row path handles as it always has."""
    if not records or not all(type(record) is dict for record in records):
        return None
    if not set().union(*records) <= spec.columns.keys():
        return None
    for name, hint in spec.columns.items():
        # Arrow would turn 1.0 into a bigint and True into a double; dlt keeps them apart.
        if hint["data_type"] == "bigint":
            allowed: tuple[type, ...] = (int, type(None))
        elif hint["data_type"] == "double":
            allowed = (int, float, type(None))
        else:
            continue
        if not all(type(record.get(name)) in allowed for record in records):
            return None
    try:
        array = pa.array(records, type=spec.arrow_type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return None
    return pa.Table.from_struct_array(array)


def all_good(table: pa.Table, spec: EndpointSpec) -> bool:
    """Whether :func:`find_problem` passes every record of the page, told column by column with Arrow
    instead of record by record. It only says yes for sure: a key holding a letter or digit, an
    ``updated_at`` shaped ``2018-03-01T12:00:00Z`` that is a real date and time (it prints back the
    same), amounts that are null or at least 0. A page it is not sure of is checked record by record."""

    def every(mask: Any) -> bool:
        return mask.null_count == 0 and bool(pc.all(mask).as_py())

    if not every(pc.match_substring_regex(table[spec.primary_key], "[0-9A-Za-z]")):
        return False
    if spec.incremental:
        stamps = table[CURSOR]
        if not every(pc.match_substring_regex(stamps, TIMESTAMP_SHAPE)):
            return False
        head = pc.utf8_slice_codeunits(stamps, 0, 19)
        parsed = pc.strptime(head, format="%Y-%m-%dT%H:%M:%S", unit="s", error_is_null=True)
        if not every(pc.equal(pc.cast(parsed, pa.string()), pc.replace_substring(head, "T", " "))):
            return False
    for name in spec.non_negative:
        values = table[name]
        if not every(pc.or_kleene(pc.is_null(values), pc.greater_equal(values, 0))):
            return False
    return True


def last_row_per_key(table: pa.Table, key: str) -> pa.Table:
    """The last row of each key, rows kept in their order: a record read twice in one load (it
    changed while the load paged through) keeps the version read last, the newer one."""
    if pc.count_distinct(table[key]).as_py() == table.num_rows:
        return table
    positions = pa.array(np.arange(table.num_rows, dtype=np.int64))
    last = (
        table.select([key])
        .append_column("__position", positions)
        .group_by([key], use_threads=False)
        .aggregate([("__position", "max")])
    )
    return table.take(pc.take(last["__position_max"], pc.sort_indices(last["__position_max"])))


def has_empty_strings(table: pa.Table) -> bool:
    """Whether a text column holds an empty string (not a null)."""
    return any(
        pc.any(pc.equal(column, "")).as_py()
        for column, field in zip(table.columns, table.schema, strict=True)
        if pa.types.is_string(field.type)
    )


def with_row_ids(table: pa.Table) -> pa.Table:
    """The table with dlt's ``_dlt_id``: 16 random URL-safe characters a row (96 bits), made in bulk
    (dlt's own generator takes seconds for a million rows)."""
    chunks, done = [], 0
    while done < table.num_rows or not chunks:
        count = min(table.num_rows - done, 1 << 24)
        text = base64.urlsafe_b64encode(os.urandom(12 * count))  # 12 bytes are 16 characters
        offsets = pa.py_buffer(np.arange(0, 16 * count + 1, 16, dtype=np.int32))
        chunks.append(pa.StringArray.from_buffers(count, offsets, pa.py_buffer(text)))
        done += count
    field = pa.field(ROW_ID, pa.string(), nullable=False)
    return table.append_column(field, pa.chunked_array(chunks, pa.string()))


# ------------------------------------------------------------------------------------------- dlt


def declare_rejected_table(resource: DltResource, table_name: str) -> None:
    """Declare ``table_name`` as the resource's quarantine table (a table variant of its hints).

    A variant starts as a copy of the resource's hints, column hints included, so it is first reset
    to no columns; otherwise the quarantine table would get every column of the good records. Its
    rows are dicts, loaded in the destination's preferred format: dlt 1.30's CSV writer for dicts
    counts fields instead of rows, which would inflate the rejected counts of the load summary."""
    resource.apply_hints(table_name=table_name, columns={}, create_table_variant=True)
    resource.apply_hints(
        table_name=table_name,
        write_disposition="append",
        columns=REJECTED_COLUMNS,
        primary_key=[],
        file_format="preferred",
        create_table_variant=True,
    )


def read_endpoint(
    spec: EndpointSpec,
    endpoint_url: str,
    session: Session,
    headers: Mapping[str, str],
    page_size: int,
    updated_since: str | None = None,
) -> Iterator[Any]:
    """The items of one endpoint's load: the rejection rows of each page as it is read, then the good
    records of all pages as one Arrow table (or, when a record does not fit the declared columns,
    as dicts for dlt's row-by-row path).

    Order matters for dlt's incremental step, which sees every item: the rejection rows (no
    ``updated_at``, passed through) come before the good records, whose cursor and boundary hashes
    must be the last it writes to the state."""
    state = dlt.current.resource_state()
    params: dict[str, Any] = {"page_size": page_size}
    if updated_since is not None:
        params["updated_since"] = updated_since
    tables: list[pa.Table] = []
    rows: list[dict[str, Any]] | None = None  # the row-by-row path, once a record did not fit
    for records in fetch_pages(session, endpoint_url, params, headers):
        if not records:
            continue
        table = records_to_arrow(records, spec) if rows is None else None
        if table is not None and all_good(table, spec):
            if spec.incremental:  # as split_page keeps it
                newest = pc.max(table[CURSOR]).as_py()
                state["newest_loaded"] = max(newest, state.get("newest_loaded", ""))
            tables.append(table)
            continue
        good, rejected = split_page(records, spec, endpoint_url, state)
        if rejected:
            yield dlt.mark.with_table_name(rejected, spec.rejected_table)
        if not good:
            continue
        table = records_to_arrow(good, spec) if rows is None else None
        if table is not None:
            tables.append(table)
            continue
        if rows is None:
            log.info("%s: records beyond the declared columns; loading row by row", endpoint_url)
            rows = [row for table in tables for row in table.to_pylist()]
            tables = []
        rows.extend(good)
    if rows:
        # dicts in the destination's preferred format (see declare_rejected_table)
        yield dlt.mark.with_hints(rows, dlt.mark.make_hints(file_format="preferred"))
    if not tables:
        return
    table = last_row_per_key(pa.concat_tables(tables), spec.primary_key)
    table = with_row_ids(table)
    hints: dict[str, Any] = {}
    if spec.incremental and updated_since is None and table_is_empty(spec.name):
        hints["write_disposition"] = "append"  # a first load: COPY alone, no merge
    if has_empty_strings(table):
        # dlt's COPY of CSV files turns "" into null (FORCE_NULL on nullable columns)
        hints["file_format"] = "preferred"
    yield dlt.mark.with_hints(table, dlt.mark.make_hints(**hints)) if hints else table


def endpoint_resource(
    spec: EndpointSpec, root: str, session: Session, headers: Mapping[str, str], page_size: int
) -> DltResource:
    """One endpoint as a dlt resource, incremental on ``updated_at`` where the endpoint has it, with
    its ``<table>__rejected`` variant."""
    endpoint_url = f"{root}/{spec.name}"

    if spec.incremental:

        def records(
            updated_at: dlt.sources.incremental[str] = dlt.sources.incremental(  # noqa: B008
                CURSOR, on_cursor_value_missing="include"
            ),
        ) -> Iterator[Any]:
            yield from read_endpoint(spec, endpoint_url, session, headers, page_size, updated_at.start_value)

    else:

        def records() -> Iterator[Any]:  # type: ignore[misc]
            yield from read_endpoint(spec, endpoint_url, session, headers, page_size)

    resource = dlt.resource(
        records,
        name=spec.name,
        primary_key=spec.primary_key,
        write_disposition="merge" if spec.incremental else "replace",
        columns={name: dict(hint) for name, hint in spec.columns.items()},
        # CSV and COPY, also when a caller (Dagster) runs the pipeline without loader_file_format
        file_format="csv",
    )
    declare_rejected_table(resource, spec.rejected_table)
    return resource


@dlt.source(name=SOURCE_NAME, max_table_nesting=0)
def _marketing(resources: list[Any]) -> list[Any]:
    return resources


def marketing_source(
    base_url: str | None = None,
    token: str | None = None,
    page_size: int | None = None,
    session: Session | None = None,
    endpoints: list[str] | None = None,
):
    """The dlt source ``marketing``: ``channels``, ``ad_spend`` and ``leads`` (or ``endpoints``).

    ``base_url``, ``token`` and ``page_size`` default to the MARKETING_API_* variables; ``session``
    defaults to :func:`retrying_session`. Nothing is requested before the source is extracted."""
    root = api_root(base_url)
    token = token if token is not None else os.environ.get("MARKETING_API_TOKEN") or None
    size = page_size_setting(page_size)
    unknown = sorted(set(endpoints or ()) - set(ENDPOINTS))
    if unknown:
        raise ValueError(f"unknown marketing endpoint(s) {', '.join(unknown)}; known: {', '.join(ENDPOINTS)}")
    session = session or retrying_session()
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return _marketing(
        [
            endpoint_resource(spec, root, session, headers, size)
            for spec in ENDPOINTS.values()
            if endpoints is None or spec.name in endpoints
        ]
    )


class MarketingAPIError(RuntimeError):
    """The API refused a request (after the retries, for 429 and 5xx); says what to check."""


def _http_error(exc: BaseException) -> HTTPError | None:
    """The HTTP error with a response behind a failed pipeline step, if that is what failed it."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, HTTPError) and seen.response is not None:
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _explain(error: HTTPError) -> str:
    response = error.response
    status = response.status_code
    if status in (401, 403):
        advice = "check MARKETING_API_TOKEN"
    elif status == 404:
        advice = "check MARKETING_API_URL: it is the API root, e.g. https://marketing.example.com/v1"
    elif status == 429 or status >= 500:
        advice = "the API kept failing through RUNTIME__REQUEST_MAX_ATTEMPTS attempts; try again later"
    else:
        advice = "the API did not accept the request"
    return f"{sanitize_url(response.url)} answered HTTP {status}: {response.text[:300].strip()} ({advice})"


def marketing_pipeline(db: DatabaseSettings | None = None) -> dlt.Pipeline:
    return make_pipeline(PIPELINE_NAME, DATASET, db)


def row_counts(pipeline: dlt.Pipeline) -> dict[str, int]:
    """Rows per table written by the pipeline's last run, from its normalize step."""
    trace = pipeline.last_trace
    info = trace.last_normalize_info if trace is not None else None
    return dict(info.row_counts) if info is not None else {}


def load_marketing(
    db: DatabaseSettings | None = None,
    base_url: str | None = None,
    token: str | None = None,
    pipeline: dlt.Pipeline | None = None,
    *,
    page_size: int | None = None,
) -> tuple[LoadInfo, LoadSummary]:
    """Load the marketing API into ``raw_marketing`` (or the pipeline's dataset); returns dlt's load
    info and a summary with the rows loaded and rejected per table."""
    # pipelines.py imports the sources, so its LoadSummary is imported when a load runs.
    from ingestion.pipelines import LoadSummary

    source = marketing_source(base_url, token, page_size)
    pipeline = pipeline or marketing_pipeline(db)
    try:
        info = pipeline.run(source)
    except PipelineStepFailed as exc:
        refusal = _http_error(exc)
        if refusal is None:
            raise
        raise MarketingAPIError(_explain(refusal)) from exc
    counts = row_counts(pipeline)
    summary = LoadSummary(
        source=SOURCE_NAME,
        dataset=pipeline.dataset_name,
        tables={
            spec.name: {"rows": counts.get(spec.name, 0), "rejected": counts.get(spec.rejected_table, 0)}
            for spec in ENDPOINTS.values()
        },
        load_ids=list(info.loads_ids),
    )
    log.info("marketing API: %d rows loaded, %d rejected", summary.rows_loaded, summary.rows_rejected)
    return info, summary
