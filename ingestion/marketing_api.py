"""The marketing platform's REST API (channels, ad spend, leads), loaded with dlt's ``rest_api`` source.

Endpoints ``{MARKETING_API_URL}/channels``, ``/ad_spend`` and ``/leads`` answer pages of
``{"data": [...], "links": {"next": <absolute URL> | null}}``; the source follows ``links.next``
with ``page_size`` records a page. Tables in schema ``raw_marketing``:

* ``channels``: replaced on every load. It is a handful of rows, so reading it whole costs one
  request, and a replace mirrors upstream exactly, channels removed upstream included (a merge
  would keep them forever).
* ``ad_spend`` (merge on ``spend_id``) and ``leads`` (merge on ``lead_id``): incremental on
  ``updated_at``. The first load reads everything; later loads send ``updated_since=<the largest
  updated_at loaded>`` (the API's filter is inclusive; dlt drops the boundary records it has already
  seen), and the merge replaces a changed record by its new version.
* ``<table>__rejected``: records that cannot be loaded (no primary key, no usable ``updated_at``,
  a negative or non-numeric spend), with the endpoint URL, the column at fault, the reason and the
  record as JSON text. The good records of the same page load as usual. A bad record newer than
  every good one is read again by the next load (the cursor only moves with good records); dlt
  state remembers what was quarantined, so each version of a bad record is quarantined once.

Values stay as the API delivered them: JSON strings are text (timestamps included, e.g.
``2018-03-01T12:00:00Z``; dlt's timestamp detection is overridden by column hints, staging casts
them), numbers are bigint or double precision. Every known column is declared, so a column that is
null on every record so far (``converted_at``, ``customer_unique_id``) exists from the first load.

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

import hashlib
import json
import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import dlt
from dlt.common.pipeline import LoadInfo
from dlt.extract import DltResource
from dlt.pipeline.exceptions import PipelineStepFailed
from dlt.sources.helpers.requests import Client, HTTPError, Session
from dlt.sources.helpers.rest_client.auth import BearerTokenAuth
from dlt.sources.helpers.rest_client.redaction import sanitize_url
from dlt.sources.rest_api import RESTAPIConfig, rest_api_source

from ingestion.destination import make_pipeline
from ingestion.olist_files import REJECTED_COLUMNS
from warehouse.settings import DatabaseSettings

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
    ``RUNTIME__REQUEST_MAX_RETRY_DELAY``). It does not raise on error statuses itself: the REST client
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


def _quarantine_step(spec: EndpointSpec, endpoint_url: str):
    """A pipe step that splits each page: good records go on, bad ones to ``<table>__rejected``
    (declared by :func:`declare_rejected_table`), each version of a bad record once.

    It is added with ``add_step`` and sees a whole page at a time; rest_api's ``processing_steps``
    (``map``/``yield_map``) call their function once per record and make every record its own pipe
    item, which made extraction about five times slower. dlt keeps its incremental step last, so this
    one runs before it: a bad record never reaches the cursor or the boundary de-duplication, and the
    rejection rows, which have no ``updated_at``, pass it untouched (``on_cursor_value_missing=
    "include"``)."""

    def split(items: Any, meta: Any = None) -> Iterator[Any]:
        state = dlt.current.resource_state()
        newest = state.get("newest_loaded", "")
        good, rejected = [], []
        for record in items if isinstance(items, list) else [items]:
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
        if good:
            yield good
        if rejected:
            yield dlt.mark.with_table_name(rejected, spec.rejected_table)

    return split


# ------------------------------------------------------------------------------------------- dlt


def declare_rejected_table(resource: DltResource, table_name: str) -> None:
    """Declare ``table_name`` as the resource's quarantine table (a table variant of its hints).

    A variant starts as a copy of the resource's hints, column hints included, so it is first reset
    to no columns; otherwise the quarantine table would get every column of the good records."""
    resource.apply_hints(table_name=table_name, columns={}, create_table_variant=True)
    resource.apply_hints(
        table_name=table_name,
        write_disposition="append",
        columns=REJECTED_COLUMNS,
        primary_key=[],
        create_table_variant=True,
    )


def _resource_config(spec: EndpointSpec, root: str, page_size: int) -> dict[str, Any]:
    endpoint: dict[str, Any] = {
        "path": spec.name,
        "params": {"page_size": page_size},
        "data_selector": "data",
        "paginator": {"type": "json_link", "next_url_path": "links.next"},
    }
    if spec.incremental:
        endpoint["incremental"] = {
            "start_param": "updated_since",
            "cursor_path": CURSOR,
            "on_cursor_value_missing": "include",
        }
    return {
        "name": spec.name,
        "endpoint": endpoint,
        "primary_key": spec.primary_key,
        "write_disposition": "merge" if spec.incremental else "replace",
        "columns": {name: dict(hint) for name, hint in spec.columns.items()},
    }


def marketing_source(
    base_url: str | None = None,
    token: str | None = None,
    page_size: int | None = None,
    session: Session | None = None,
    endpoints: list[str] | None = None,
):
    """The dlt source ``marketing``: ``channels``, ``ad_spend`` and ``leads`` (or ``endpoints``).

    ``base_url``, ``token`` and ``page_size`` default to the MARKETING_API_* variables; ``session``
    defaults to :func:`retrying_session`."""
    root = api_root(base_url)
    token = token if token is not None else os.environ.get("MARKETING_API_TOKEN") or None
    size = page_size_setting(page_size)
    unknown = sorted(set(endpoints or ()) - set(ENDPOINTS))
    if unknown:
        raise ValueError(f"unknown marketing endpoint(s) {', '.join(unknown)}; known: {', '.join(ENDPOINTS)}")
    client: dict[str, Any] = {"base_url": root, "session": session or retrying_session()}
    if token:
        client["auth"] = BearerTokenAuth(token=token)
    resources = [
        _resource_config(spec, root, size)
        for spec in ENDPOINTS.values()
        if endpoints is None or spec.name in endpoints
    ]
    config: RESTAPIConfig = {"client": client, "resources": resources}
    source = rest_api_source(config, name=SOURCE_NAME, max_table_nesting=0)
    for spec in ENDPOINTS.values():
        if spec.name in source.resources:
            resource = source.resources[spec.name]
            resource.add_step(_quarantine_step(spec, f"{root}/{spec.name}"))
            declare_rejected_table(resource, spec.rejected_table)
    return source


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
