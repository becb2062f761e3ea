"""A stand-in for the marketing platform's REST API, served from ``DIR/marketing/*.jsonl``.

Endpoints (GET): ``/v1/channels``, ``/v1/ad_spend``, ``/v1/leads``.

Authentication
    When the server has a token, every request needs ``Authorization: Bearer <token>``; otherwise
    401 with ``WWW-Authenticate: Bearer``.

Query parameters
    ``page``            1-based page number (default 1). A page past the last one returns ``data: []``.
    ``page_size``       records per page, 1..1000 (default 500). Larger values are a 400, not clamped.
    ``updated_since``   ISO 8601 timestamp; only records with ``updated_at >= updated_since`` (inclusive).
    ``updated_until``   ISO 8601 timestamp; only records with ``updated_at < updated_until`` (exclusive),
                        so consecutive windows ``[since, until)`` neither overlap nor leave gaps.
    Timestamps may be ``2024-01-31T12:00:00Z``, carry an offset (``+00:00``, URL-encoded as ``%2B``), or be
    a bare date (``2024-01-31`` = midnight UTC); naive timestamps are taken as UTC. Unknown parameters are
    ignored; a known parameter given twice is a 400.

Ordering
    Records are sorted by ``(updated_at, id)``, so paging is stable and records updated while a client
    pages through land on later pages.

Response (200)::

    {"data": [...],
     "meta": {"page": 2, "page_size": 500, "total_pages": 7, "total_count": 3210},
     "links": {"self": "<absolute URL>", "next": "<absolute URL of page 3, same filters>" | null}}

    ``total_pages`` is 0 when nothing matches. The next page's URL is also sent as a
    ``Link: <...>; rel="next"`` header.

Errors: ``{"error": {"code": "...", "message": "..."}}`` with 400 ``invalid_parameter``, 401 ``unauthorized``,
404 ``not_found``, 405 ``method_not_allowed``, 500 ``internal_error``; injected faults use 429
``rate_limited`` (with ``Retry-After``), 500/502/503 and so on.
"""

from __future__ import annotations

import bisect
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlencode

from sandbox.servers.base import FileCache, MockServer, Request, Response, json_response, read_json_lines

__all__ = ["DEFAULT_PAGE_SIZE", "MAX_PAGE_SIZE", "RESOURCES", "MarketingAPIServer", "Resource"]

DEFAULT_PAGE_SIZE = 500
MAX_PAGE_SIZE = 1000
API_PREFIX = "/v1/"
_MIN_TIME = datetime.min.replace(tzinfo=UTC)
_KNOWN_PARAMS = ("page", "page_size", "updated_since", "updated_until")


@dataclass(frozen=True)
class Resource:
    name: str  # the URL segment and the file's stem
    id_field: str


RESOURCES: dict[str, Resource] = {
    resource.name: resource
    for resource in (
        Resource("channels", "channel_id"),
        Resource("ad_spend", "spend_id"),
        Resource("leads", "lead_id"),
    )
}


class InvalidParameter(ValueError):
    pass


def parse_timestamp(value: str, name: str) -> datetime:
    """An ISO 8601 timestamp as an aware UTC datetime; raises InvalidParameter."""
    text = value.strip()
    # A '+' written into a query string unencoded arrives as a space: "2024-01-01T00:00:00 00:00".
    text = re.sub(r"(T[\d:.]+) (\d{2}:?\d{2})$", r"\1+\2", text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidParameter(
            f"{name} must be an ISO 8601 timestamp such as 2024-01-31T12:00:00Z, got {value!r}"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _record_time(record: dict[str, Any]) -> datetime:
    value = record.get("updated_at")
    if not isinstance(value, str):
        return _MIN_TIME
    try:
        # The usual form first ("2024-01-31T12:00:00Z"): one C call, no regular expression.
        parsed = datetime.fromisoformat(value)
    except ValueError:
        try:
            return parse_timestamp(value, "updated_at")
        except InvalidParameter:
            return _MIN_TIME
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _id_key(value: Any) -> tuple[int, Any]:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, value)
    return (1, str(value))


@dataclass(frozen=True)
class _Table:
    records: list[dict[str, Any]]  # sorted by (updated_at, id)
    times: list[datetime]  # updated_at of each record, for bisecting


class MarketingAPIServer(MockServer):
    """``MarketingAPIServer(data_dir, *, token=None, default_page_size=500, max_page_size=1000,
    host="127.0.0.1", port=0, faults=(), public_url=None)``

    ``data_dir`` is the sandbox data directory; the records are read from ``data_dir/marketing/``
    (``channels.jsonl``, ``ad_spend.jsonl``, ``leads.jsonl``; a missing file serves no records) and re-read
    whenever a file changes.
    """

    name = "marketing"

    def __init__(
        self,
        data_dir: str | Path,
        *,
        token: str | None = None,
        default_page_size: int = DEFAULT_PAGE_SIZE,
        max_page_size: int = MAX_PAGE_SIZE,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not 1 <= default_page_size <= max_page_size:
            raise ValueError("default_page_size must be between 1 and max_page_size")
        self.data_dir = Path(data_dir)
        self.token = token
        self.default_page_size = default_page_size
        self.max_page_size = max_page_size
        self._tables: FileCache[_Table] = FileCache(self._load)

    @property
    def marketing_dir(self) -> Path:
        return self.data_dir / "marketing"

    def endpoint_name(self, path: str) -> str | None:
        if path.startswith(API_PREFIX) and path[len(API_PREFIX) :].rstrip("/") in RESOURCES:
            return path[len(API_PREFIX) :].rstrip("/")
        return None

    # Data ----------------------------------------------------------------------------------------------

    def _load(self, path: Path) -> _Table:
        resource = RESOURCES[path.stem]
        keyed = [(_record_time(record), record) for record in read_json_lines(path)]
        keyed.sort(key=lambda item: (item[0], _id_key(item[1].get(resource.id_field))))
        self.log.debug("loaded %d records from %s", len(keyed), path)
        return _Table(records=[record for _, record in keyed], times=[time for time, _ in keyed])

    def preload(self) -> Self:
        """Parse every resource file now rather than on its first request, as an API that serves from a
        database has its data ready: a client's first load then does not wait for the stand-in to read
        its files (about 10 s for 1.6M leads)."""
        for resource in RESOURCES:
            self._tables.get(self.marketing_dir / f"{resource}.jsonl")
        return self

    def records(self, resource: str) -> list[dict[str, Any]]:
        """All records of a resource in API order (for tests and debugging)."""
        table = self._tables.get(self.marketing_dir / f"{resource}.jsonl")
        return list(table.records) if table else []

    # Handling ------------------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        resource = self.endpoint_name(request.path)
        if resource is None:
            return self.error_response(404, "not_found", f"no such endpoint: {request.path}")
        if self.token is not None and not self._authorized(request):
            return self.error_response(
                401,
                "unauthorized",
                "missing or invalid bearer token",
                {"WWW-Authenticate": 'Bearer realm="marketing"'},
            )
        try:
            return self._list(resource, request)
        except InvalidParameter as error:
            return self.error_response(400, "invalid_parameter", str(error))

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("Authorization") or ""
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() != "bearer" or self.token is None:
            return False
        return hmac.compare_digest(credentials.strip().encode(), self.token.encode())

    def _int_param(self, request: Request, name: str, default: int, maximum: int | None = None) -> int:
        value = request.param(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise InvalidParameter(f"{name} must be a positive integer, got {value!r}") from None
        if number < 1:
            raise InvalidParameter(f"{name} must be a positive integer, got {value!r}")
        if maximum is not None and number > maximum:
            raise InvalidParameter(f"{name} must be at most {maximum}, got {number}")
        return number

    def _list(self, resource: str, request: Request) -> Response:
        for name in _KNOWN_PARAMS:
            if len(request.query.get(name, ())) > 1:
                raise InvalidParameter(f"{name} given more than once")
        page = self._int_param(request, "page", 1)
        page_size = self._int_param(request, "page_size", self.default_page_size, self.max_page_size)
        since_text, until_text = request.param("updated_since"), request.param("updated_until")
        since = parse_timestamp(since_text, "updated_since") if since_text is not None else None
        until = parse_timestamp(until_text, "updated_until") if until_text is not None else None
        if since is not None and until is not None and until < since:
            raise InvalidParameter("updated_until must not be earlier than updated_since")

        table = self._tables.get(self.marketing_dir / f"{resource}.jsonl") or _Table([], [])
        low = bisect.bisect_left(table.times, since) if since is not None else 0
        high = bisect.bisect_left(table.times, until) if until is not None else len(table.times)
        total = max(high - low, 0)
        total_pages = -(-total // page_size)
        start = low + (page - 1) * page_size
        data = table.records[start : min(start + page_size, high)] if start < high else []

        self_url = self._page_url(request, page, page_size)
        next_url = self._page_url(request, page + 1, page_size) if page < total_pages else None
        body = {
            "data": data,
            "meta": {"page": page, "page_size": page_size, "total_pages": total_pages, "total_count": total},
            "links": {"self": self_url, "next": next_url},
        }
        headers = {"Link": f'<{next_url}>; rel="next"'} if next_url else {}
        return json_response(200, body, headers)

    def _page_url(self, request: Request, page: int, page_size: int) -> str:
        """The request's absolute URL with the same filters (and any other parameters) and another page."""
        params = [
            (name, value)
            for name, values in request.query.items()
            if name not in ("page", "page_size")
            for value in values
        ]
        params += [("page", str(page)), ("page_size", str(page_size))]
        return f"{request.base_url}{request.path}?{urlencode(params)}"
