"""Banco Central do Brasil time series (SGS): IPCA (433, monthly) and the Selic target (432, daily).

The API answers ``GET {BCB_SGS_URL}/dados/serie/bcdata.sgs.{code}/dados?formato=json&dataInicial=
dd/MM/yyyy&dataFinal=dd/MM/yyyy`` with a JSON list of ``{"data": "dd/MM/yyyy", "valor": "0.46"}``.
Tables in schema ``raw_bcb``:

* ``series_values``: one row per series and date, merged on ``(series_code, data)``. ``data`` and
  ``valor`` are the text the API delivered; ``reference_date`` is ``data`` parsed, for the cursor
  and for convenience (staging still casts ``valor``).
* ``series_values__rejected``: points that cannot be used (a date that is not ``dd/MM/yyyy``, a
  ``valor`` that is not a number), with the request URL, the point's position in the answer (1-based),
  the column at fault, the reason and the point as JSON text.

Incremental by date, per series: the first load asks from ``BCB_SGS_START`` (default 2016-01-01),
later loads from the last date loaded for that series, inclusive, so a revised last value is read
again and merged; the window ends today (or ``end``). The API refuses windows longer than 10 years
on daily series, so every window is split into chunks of at most 10 years. The last date per series
lives in dlt state, committed with the load.

A window the API answers with 404 counts as a window without points (the service has answered that
way for empty windows); a series whose every window answers 404 fails the load, as a wrong code does.

Configuration (environment, or the function arguments, which win):

* ``BCB_SGS_URL``: the service root, default ``https://api.bcb.gov.br``.
* ``BCB_SGS_START``: the first date of a first load, ``YYYY-MM-DD``, default 2016-01-01.
* ``BCB_SGS_SERIES``: ``code=name`` pairs, default ``433=ipca,432=selic``.
* HTTP retries, as for every source: ``RUNTIME__REQUEST_TIMEOUT`` (seconds per attempt, default 60),
  ``RUNTIME__REQUEST_MAX_ATTEMPTS`` (default 5), ``RUNTIME__REQUEST_BACKOFF_FACTOR`` (default 1) and
  ``RUNTIME__REQUEST_MAX_RETRY_DELAY`` (default 300 s). 429 and 5xx answers, timeouts and dropped
  connections are retried with exponential backoff; a ``Retry-After`` header sets the wait.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Iterator, Mapping
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import dlt
from dlt.common.pipeline import LoadInfo
from dlt.extract import DltResource
from dlt.sources.helpers.requests import Client, Session

from ingestion.destination import make_pipeline
from ingestion.olist_files import REJECTED_COLUMNS
from warehouse.settings import DatabaseSettings

if TYPE_CHECKING:
    from ingestion.pipelines import LoadSummary

log = logging.getLogger(__name__)

SOURCE_NAME = "bcb"
DATASET = "raw_bcb"
PIPELINE_NAME = "bcb_sgs"
TABLE = "series_values"
REJECTED_TABLE = f"{TABLE}__rejected"
DEFAULT_BASE_URL = "https://api.bcb.gov.br"
DEFAULT_START = date(2016, 1, 1)
DEFAULT_SERIES: dict[int, str] = {433: "ipca", 432: "selic"}
MAX_WINDOW_YEARS = 10

COLUMNS: dict[str, dict[str, Any]] = {
    "series_code": {"data_type": "bigint", "nullable": False},
    "series_name": {"data_type": "text", "nullable": False},
    "data": {"data_type": "text", "nullable": False},
    "valor": {"data_type": "text", "nullable": True},
    "reference_date": {"data_type": "date", "nullable": False},
}

_DATE = re.compile(r"^\d{2}/\d{2}/\d{4}$")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


class SGSError(RuntimeError):
    """The SGS API refused a request or answered something that is not a list of points."""


# ---------------------------------------------------------------------------------------- settings


def base_url_setting(base_url: str | None = None) -> str:
    return (base_url or os.environ.get("BCB_SGS_URL") or DEFAULT_BASE_URL).strip().rstrip("/")


def start_setting(start: date | None = None) -> date:
    if start is not None:
        return start
    value = os.environ.get("BCB_SGS_START")
    if not value:
        return DEFAULT_START
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"BCB_SGS_START must be a date like 2016-01-01, got {value!r}") from None


def series_setting(series: Mapping[int, str] | None = None) -> dict[int, str]:
    """Series code -> name, from the argument, else ``BCB_SGS_SERIES`` (``433=ipca,432=selic``)."""
    if series is not None:
        return {int(code): name for code, name in series.items()}
    value = os.environ.get("BCB_SGS_SERIES")
    if not value:
        return dict(DEFAULT_SERIES)
    parsed: dict[int, str] = {}
    for pair in value.split(","):
        code, sep, name = pair.partition("=")
        if not sep or not code.strip().isdigit() or not name.strip():
            raise ValueError(f"BCB_SGS_SERIES must look like 433=ipca,432=selic; cannot read {pair!r}")
        parsed[int(code)] = name.strip()
    return parsed


def retrying_session(timeout: float | None = None, max_attempts: int | None = None) -> Session:
    """A requests session that retries 429 (waiting for ``Retry-After``), 5xx, timeouts and dropped
    connections with exponential backoff; unset arguments come from dlt's ``RUNTIME__REQUEST_*``
    settings. Error statuses left after the retries are returned, not raised."""
    overrides: dict[str, Any] = {}
    if timeout is not None:
        overrides["request_timeout"] = timeout
    if max_attempts is not None:
        overrides["request_max_attempts"] = max_attempts
    return Client(raise_for_status=False, **overrides).session


# ------------------------------------------------------------------------------------------ windows


def format_date(value: date) -> str:
    return value.strftime("%d/%m/%Y")


def _add_years(value: date, years: int) -> date:
    try:
        return value.replace(year=value.year + years)
    except ValueError:  # 29 February
        return value.replace(year=value.year + years, day=28)


def windows(start: date, end: date, years: int = MAX_WINDOW_YEARS) -> list[tuple[date, date]]:
    """Inclusive ``[first, last]`` windows covering ``start..end``, none longer than ``years``."""
    result = []
    first = start
    while first <= end:
        last = min(end, _add_years(first, years) - timedelta(days=1))
        result.append((first, last))
        first = last + timedelta(days=1)
    return result


def series_url(base_url: str, code: int) -> str:
    return f"{base_url}/dados/serie/bcdata.sgs.{code}/dados"


# --------------------------------------------------------------------------------------- validation


def parse_point(point: Any) -> tuple[date | None, str | None, str]:
    """(reference date, column at fault, reason) of one point; the date is None when it is unusable."""
    if not isinstance(point, dict):
        return None, None, f"point is not a JSON object but {type(point).__name__}"
    day = point.get("data")
    if not isinstance(day, str) or not _DATE.match(day.strip()):
        return None, "data", f"malformed date (expected dd/MM/yyyy): {day!r}"
    try:
        reference = datetime.strptime(day.strip(), "%d/%m/%Y").date()
    except ValueError:
        return None, "data", f"malformed date (no such day): {day!r}"
    value = point.get("valor")
    numeric = isinstance(value, str | int | float) and not isinstance(value, bool)
    if not numeric or not _NUMBER.match(str(value).strip()):
        return None, "valor", f"non-numeric value: {value!r}"
    return reference, None, ""


def _rejection(url: str, position: int, column: str | None, reason: str, point: Any) -> dict[str, Any]:
    return {
        "source_file": url,
        "source_row": position,
        "column_name": column,
        "reason": reason,
        "record": json.dumps(point, ensure_ascii=False, default=str)[:4000],
    }


# ----------------------------------------------------------------------------------------------- dlt


def _fetch(session: Session, url: str, first: date, last: date) -> tuple[str, list[Any] | None]:
    """(the request URL, the points) of one window; None when the API answers 404 (no points)."""
    params = {"formato": "json", "dataInicial": format_date(first), "dataFinal": format_date(last)}
    response = session.get(url, params=params)
    if response.status_code == 404:
        log.info("%s answered 404: no points from %s to %s", response.url, first, last)
        return response.url, None
    if response.status_code >= 400:
        raise SGSError(
            f"{response.url} answered {response.status_code} after retries: {response.text[:500]}. "
            "Check BCB_SGS_URL and BCB_SGS_SERIES; 429/5xx are retried RUNTIME__REQUEST_MAX_ATTEMPTS times."
        )
    try:
        points = response.json()
    except ValueError:
        raise SGSError(f"{response.url} did not answer JSON: {response.text[:200]!r}") from None
    if not isinstance(points, list):
        raise SGSError(f"{response.url} answered {type(points).__name__}, expected a JSON list of points")
    return response.url, points


def _first_rejection(quarantined: dict[str, str], point: Any, window_last: date) -> bool:
    """True when this point has not been quarantined by an earlier load. Windows overlap by a day
    (the last loaded date is read again), so a bad point can come back; its digest is kept in dlt
    state with the last day of its window, until later loads start after that day."""
    digest = hashlib.sha256(json.dumps(point, sort_keys=True, default=str).encode()).hexdigest()
    if digest in quarantined:
        return False
    quarantined[digest] = window_last.isoformat()
    return True


def _series_values(
    base_url: str, series: dict[int, str], start: date, end: date | None, session: Session
) -> Iterator[Any]:
    state = dlt.current.resource_state()
    last_dates: dict[str, str] = state.setdefault("last_reference_date", {})
    until = end or date.today()
    for code, name in series.items():
        loaded = last_dates.get(str(code))
        first = date.fromisoformat(loaded) if loaded else start
        if first > until:
            log.info("SGS series %s (%s): nothing to ask, it is loaded up to %s", code, name, first)
            continue
        quarantined = {
            digest: window_last
            for digest, window_last in state.setdefault("quarantined", {}).get(str(code), {}).items()
            if window_last >= first.isoformat()
        }
        state["quarantined"][str(code)] = quarantined
        url = series_url(base_url, code)
        answered = 0
        newest = date.fromisoformat(loaded) if loaded else None
        for window_first, window_last in windows(first, until):
            request_url, points = _fetch(session, url, window_first, window_last)
            if points is None:
                continue
            answered += 1
            rows, rejected = [], []
            for position, point in enumerate(points, start=1):
                reference, column, reason = parse_point(point)
                if reference is None:
                    if _first_rejection(quarantined, point, window_last):
                        rejected.append(_rejection(request_url, position, column, reason, point))
                    continue
                rows.append(
                    {
                        "series_code": code,
                        "series_name": name,
                        "data": point["data"],
                        "valor": str(point["valor"]),
                        "reference_date": reference,
                    }
                )
                newest = reference if newest is None else max(newest, reference)
            if rows:
                yield rows
            if rejected:
                log.warning("%s: %d point(s) rejected into %s", request_url, len(rejected), REJECTED_TABLE)
                yield dlt.mark.with_table_name(rejected, REJECTED_TABLE)
        if not answered:
            raise SGSError(
                f"SGS series {code} ({name}): {url} answered 404 for every window from {first} to {until}; "
                "check the series code in BCB_SGS_SERIES"
            )
        if newest is not None:
            last_dates[str(code)] = newest.isoformat()


def declare_rejected_table(resource: DltResource, table_name: str) -> None:
    """Declare ``table_name`` as the resource's quarantine table (a table variant of its hints).

    A variant starts as a copy of the resource's hints, column hints included, so it is first reset
    to no columns; otherwise the quarantine table would get the series columns, NOT NULL included."""
    resource.apply_hints(table_name=table_name, columns={}, create_table_variant=True)
    resource.apply_hints(
        table_name=table_name,
        write_disposition="append",
        columns=REJECTED_COLUMNS,
        primary_key=[],
        create_table_variant=True,
    )


@dlt.source(name=SOURCE_NAME, max_table_nesting=0)
def bcb_sgs(
    base_url: str | None = None,
    series: Mapping[int, str] | None = None,
    start: date | None = None,
    end: date | None = None,
    session: Session | None = None,
):
    """The dlt source ``bcb`` with one resource, ``series_values``. ``start`` is where a series
    without state begins (like an incremental's initial value); ``end`` defaults to today."""
    resource = dlt.resource(
        _series_values,
        name=TABLE,
        write_disposition="merge",
        primary_key=["series_code", "data"],
        columns=COLUMNS,
    )
    values = resource(
        base_url_setting(base_url),
        series_setting(series),
        start_setting(start),
        end,
        session or retrying_session(),
    )
    declare_rejected_table(values, REJECTED_TABLE)
    return values


def bcb_pipeline(db: DatabaseSettings | None = None) -> dlt.Pipeline:
    return make_pipeline(PIPELINE_NAME, DATASET, db)


def row_counts(pipeline: dlt.Pipeline) -> dict[str, int]:
    """Rows per table written by the pipeline's last run, from its normalize step."""
    trace = pipeline.last_trace
    info = trace.last_normalize_info if trace is not None else None
    return dict(info.row_counts) if info is not None else {}


def load_bcb(
    db: DatabaseSettings | None = None,
    base_url: str | None = None,
    start: date | None = None,
    end: date | None = None,
    pipeline: dlt.Pipeline | None = None,
    *,
    series: Mapping[int, str] | None = None,
) -> tuple[LoadInfo, LoadSummary]:
    """Load the SGS series into ``raw_bcb`` (or the pipeline's dataset); returns dlt's load info and
    a summary with the points loaded and rejected."""
    # pipelines.py imports the sources, so its LoadSummary is imported when a load runs.
    from ingestion.pipelines import LoadSummary

    pipeline = pipeline or bcb_pipeline(db)
    info = pipeline.run(bcb_sgs(base_url, series, start, end))
    counts = row_counts(pipeline)
    summary = LoadSummary(
        source=SOURCE_NAME,
        dataset=pipeline.dataset_name,
        tables={TABLE: {"rows": counts.get(TABLE, 0), "rejected": counts.get(REJECTED_TABLE, 0)}},
        load_ids=list(info.loads_ids),
    )
    log.info("BCB SGS: %d points loaded, %d rejected", summary.rows_loaded, summary.rows_rejected)
    return info, summary
