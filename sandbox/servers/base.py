"""Shared plumbing for the sandbox's stand-in API servers.

* :class:`MockServer` -- a ``ThreadingHTTPServer`` on a daemon thread with ``start()``/``stop()``, ``.url``
  and context-manager support. Subclasses implement :meth:`MockServer.handle`.
* :class:`Fault` -- an injected failure (an HTTP error status, a slow answer, a dropped connection) that
  fires for matching requests a set number of times and then gets out of the way.
* :class:`RequestRecord` -- one line of the request log the tests inspect.
* :class:`FileCache` -- parses a data file once and again only when its mtime or size changes, so a test
  can append to a file between two loads.

Requests are logged through :mod:`logging` at DEBUG level (``sandbox.servers.*`` loggers), never to stderr.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Generic, Self, TypeVar
from urllib.parse import parse_qs, urlsplit

import orjson

__all__ = [
    "Fault",
    "FileCache",
    "MockServer",
    "Request",
    "RequestRecord",
    "Response",
    "json_response",
]

JSON_CONTENT_TYPE = "application/json; charset=utf-8"
# Error codes of injected faults, in the marketing API's {"error": {"code": ...}} shape.
_FAULT_CODES = {
    429: "rate_limited",
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}

T = TypeVar("T")


# --------------------------------------------------------------------------- requests and responses


@dataclass(frozen=True)
class Request:
    """What a handler sees of an HTTP request."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message
    base_url: str  # scheme://host[:port] the client used, for absolute links

    def param(self, name: str) -> str | None:
        """The first value of query parameter ``name``; None when absent."""
        values = self.query.get(name)
        return values[0] if values else None

    @property
    def page(self) -> int | None:
        """The ``page`` query parameter as an int (1 when absent, None when not an integer)."""
        value = self.param("page")
        if value is None:
            return 1
        try:
            return int(value)
        except ValueError:
            return None


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def json_response(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
    body = orjson.dumps(payload)  # compact UTF-8, as json.dumps(ensure_ascii=False, separators=(",", ":"))
    return Response(status, body, {"Content-Type": JSON_CONTENT_TYPE, **(headers or {})})


@dataclass(frozen=True)
class RequestRecord:
    """One request the server received, in the order received (the log is appended before answering)."""

    method: str
    path: str
    query: dict[str, str]  # first value of each parameter
    status: int | None  # None when an injected fault dropped the connection
    fault: str | None  # description of the injected fault that answered, None for a normal answer
    headers: dict[str, str]
    at: float  # time.time() when the request arrived


# --------------------------------------------------------------------------- fault injection


@dataclass(eq=False)
class Fault:
    """A failure to inject into matching requests.

    What happens (at least one of ``status``, ``delay``, ``drop``):

    * ``status`` -- answer with this HTTP status and a JSON error instead of the real answer. 429 always
      carries ``Retry-After`` (``retry_after``, default 1 second); other statuses carry it only when
      ``retry_after`` is set.
    * ``delay`` -- sleep this many seconds before answering (the real answer, or ``status`` if given).
      Use a delay longer than the client's timeout to simulate a hung upstream. ``stop()`` cuts it short.
    * ``drop`` -- close the connection without any answer (after ``delay``, if given).

    Which requests match (all given conditions must hold):

    * ``endpoint`` -- the server's endpoint name (marketing: ``"channels"``, ``"ad_spend"``, ``"leads"``;
      SGS: the series code, e.g. ``"433"``) or the exact URL path (``"/v1/leads"``). None: any request.
    * ``page`` -- the ``page`` query parameter (a missing one counts as page 1). None: any page.
    * ``nth`` -- fire on the nth matching request (1-based), counted from when the fault was added.
      None: the first matching request.

    ``times`` is how many times the fault fires (None: every matching request until cleared). With
    ``nth`` the fault fires on the nth matching request and the following ones until ``times`` is used up.
    Faults are checked in the order they were added; a request gets at most one fault, the first one that
    is due, but every matching fault counts the request towards its ``nth``. Faults apply before
    routing and authentication, like a gateway in front of the API would.
    """

    status: int | None = None
    delay: float = 0.0
    drop: bool = False
    endpoint: str | None = None
    page: int | None = None
    nth: int | None = None
    times: int | None = 1
    retry_after: int | None = None
    message: str | None = None
    seen: int = field(default=0, init=False)
    fired: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.status is None and not self.delay and not self.drop:
            raise ValueError("a Fault needs a status, a delay or drop=True")
        if self.status is not None and not 400 <= self.status <= 599:
            raise ValueError(f"a Fault's status must be an HTTP error status (4xx/5xx), got {self.status}")
        if self.delay < 0:
            raise ValueError("a Fault's delay cannot be negative")
        if self.times is not None and self.times < 1:
            raise ValueError("a Fault's times must be at least 1 (or None for unlimited)")
        if self.nth is not None and self.nth < 1:
            raise ValueError("a Fault's nth is 1-based")
        if self.status == HTTPStatus.TOO_MANY_REQUESTS and self.retry_after is None:
            self.retry_after = 1

    # Shorthands ------------------------------------------------------------------------------------

    @classmethod
    def rate_limit(cls, retry_after: int = 1, **match: Any) -> Fault:
        """429 Too Many Requests with ``Retry-After``."""
        return cls(status=429, retry_after=retry_after, **match)

    @classmethod
    def error(cls, status: int = 500, **match: Any) -> Fault:
        """A server error: 500, 502, 503, ..."""
        return cls(status=status, **match)

    @classmethod
    def slow(cls, seconds: float, **match: Any) -> Fault:
        """Answer normally, but only after ``seconds``."""
        return cls(delay=seconds, **match)

    @classmethod
    def disconnect(cls, **match: Any) -> Fault:
        """Close the connection without answering."""
        return cls(drop=True, **match)

    # State -----------------------------------------------------------------------------------------

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.fired >= self.times

    def matches(self, endpoint: str | None, path: str, page: int | None) -> bool:
        if self.endpoint is not None and self.endpoint not in (endpoint, path):
            return False
        return self.page is None or self.page == page

    def describe(self) -> str:
        parts = []
        if self.delay:
            parts.append(f"delay {self.delay:g}s")
        if self.drop:
            parts.append("drop")
        elif self.status is not None:
            parts.append(f"status {self.status}")
        return ", ".join(parts)


class FaultQueue:
    """The faults armed on a server; thread-safe."""

    def __init__(self, faults: Iterable[Fault] = ()) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        for fault in faults:
            self.add(fault)

    def add(self, fault: Fault) -> Fault:
        if not isinstance(fault, Fault):
            raise TypeError(f"expected a Fault, got {type(fault).__name__}")
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending(self) -> list[Fault]:
        with self._lock:
            return [fault for fault in self._faults if not fault.exhausted]

    def take(self, endpoint: str | None, path: str, page: int | None) -> Fault | None:
        """Count the request against every matching fault; return (and spend) the first one that is due."""
        chosen = None
        with self._lock:
            for fault in self._faults:
                if fault.exhausted or not fault.matches(endpoint, path, page):
                    continue
                fault.seen += 1
                if chosen is None and fault.seen >= (fault.nth or 1):
                    chosen = fault
            if chosen is not None:
                chosen.fired += 1
            self._faults = [fault for fault in self._faults if not fault.exhausted]
        return chosen


# --------------------------------------------------------------------------- data files


class FileCache(Generic[T]):
    """Parses files with ``parse`` and keeps the result until the file changes.

    A change is a different mtime, ctime, size or inode (an atomic replace by rename changes the inode).
    A same-size rewrite within the filesystem's timestamp granularity (a few ms) can go unnoticed.
    ``get`` returns None for a missing file. One ``os.stat`` per call, so it is cheap to call per request.
    """

    def __init__(self, parse: Callable[[Path], T]) -> None:
        self._parse = parse
        self._lock = threading.Lock()
        self._entries: dict[Path, tuple[tuple[int, ...], T]] = {}

    def get(self, path: Path) -> T | None:
        try:
            stat = os.stat(path)
        except FileNotFoundError:
            with self._lock:
                self._entries.pop(path, None)
            return None
        signature = (stat.st_mtime_ns, stat.st_ctime_ns, stat.st_size, stat.st_ino)
        with self._lock:
            entry = self._entries.get(path)
            if entry is not None and entry[0] == signature:
                return entry[1]
            value = self._parse(path)
            self._entries[path] = (signature, value)
            return value


def read_json_lines(path: Path) -> list[dict[str, Any]]:
    """Records of a JSON Lines file. An unfinished last line (no newline, not yet valid JSON) is skipped,
    so a reader racing a writer sees the file as it was before the append."""
    lines = path.read_bytes().split(b"\n")
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            if number == len(lines):  # the last line, without its newline yet
                continue
            raise ValueError(f"{path}:{number}: not valid JSON") from None
    return records


# --------------------------------------------------------------------------- the server


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: MockServer) -> None:
        self.app = app
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Close kept-alive connections so their handler threads end with the server."""
        with self.connections_lock:
            connections = list(self.connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "SandboxAPI/1.0"
    sys_version = ""
    timeout = 30  # seconds an idle kept-alive connection is held open
    disable_nagle_algorithm = True  # headers and body go out in two writes; no delayed-ACK stalls
    server: _HTTPServer

    def version_string(self) -> str:
        return self.server_version

    def do_GET(self) -> None:  # noqa: N802 (the http.server naming convention)
        self.server.app._serve(self, send_body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self.server.app._serve(self, send_body=False)

    def _not_allowed(self) -> None:
        self.close_connection = True  # the request body, if any, is left unread
        self.server.app._serve(self, send_body=True, allowed=False)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _not_allowed

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's signature)
        self.server.app.log.debug("%s - " + format, self.address_string(), *args)


class MockServer:
    """A local HTTP server on a daemon thread standing in for an upstream API.

    ``MockServer(host="127.0.0.1", port=0, faults=(), public_url=None)``: port 0 picks a free port.
    ``public_url`` overrides the scheme://host[:port] used in absolute links (default: the request's
    ``Host`` header, else :attr:`url`).

    Subclasses implement :meth:`handle` and may override :meth:`endpoint_name` (for fault matching),
    :meth:`error_response` (their JSON error shape).
    """

    name = "mock"

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: Iterable[Fault] = (),
        public_url: str | None = None,
    ) -> None:
        self.host = host
        self._port = port
        self.public_url = public_url.rstrip("/") if public_url else None
        self.log = logging.getLogger(f"sandbox.servers.{self.name}")
        self._faults = FaultQueue(faults)
        self._requests: list[RequestRecord] = []
        self._requests_lock = threading.Lock()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # Lifecycle ---------------------------------------------------------------------------------------

    def start(self) -> Self:
        if self._httpd is not None:
            raise RuntimeError(f"{self.name} server already started at {self.url}")
        self._stopping.clear()
        self._httpd = _HTTPServer((self.host, self._port), self)
        self._port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"sandbox-{self.name}-server",
            daemon=True,
        )
        self._thread.start()
        self.log.info("%s server listening on %s", self.name, self.url)
        return self

    def stop(self) -> None:
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        self._stopping.set()  # cuts injected delays short
        httpd.shutdown()
        httpd.server_close()
        httpd.close_connections()
        if thread is not None:
            thread.join(timeout=5)
        self._httpd = self._thread = None
        self.log.info("%s server stopped", self.name)

    @property
    def running(self) -> bool:
        return self._httpd is not None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (the port is only known after ``start()`` for port 0)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._port}"

    # Faults and the request log ------------------------------------------------------------------------

    def inject_fault(self, fault: Fault | None = None, /, **kwargs: Any) -> Fault:
        """Arm a fault: ``inject_fault(Fault(...))`` or ``inject_fault(status=503, endpoint="leads")``."""
        if fault is None:
            fault = Fault(**kwargs)
        elif kwargs:
            raise TypeError("pass either a Fault or its keyword arguments, not both")
        return self._faults.add(fault)

    def clear_faults(self) -> None:
        self._faults.clear()

    @property
    def faults(self) -> list[Fault]:
        """The faults that have not fired their ``times`` yet."""
        return self._faults.pending()

    @property
    def requests(self) -> list[RequestRecord]:
        """A copy of the request log, oldest first."""
        with self._requests_lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._requests_lock:
            self._requests.clear()

    # Hooks for subclasses --------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        raise NotImplementedError

    def endpoint_name(self, path: str) -> str | None:
        """The name faults can match by ``endpoint``; None for paths that are no endpoint."""
        return None

    def error_response(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> Response:
        return json_response(status, {"error": {"code": code, "message": message}}, headers)

    def fault_response(self, fault: Fault, request: Request) -> Response:
        """The answer to a request an injected ``status`` fault hit: the API's JSON error shape."""
        assert fault.status is not None
        try:
            phrase, code = HTTPStatus(fault.status).phrase, HTTPStatus(fault.status).name.lower()
        except ValueError:
            phrase, code = "Error", "error"
        code = _FAULT_CODES.get(fault.status, code)
        message = fault.message or f"{phrase} (injected fault)"
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
        return self.error_response(fault.status, code, message, headers)

    # Serving -------------------------------------------------------------------------------------------

    def _base_url(self, handler: _Handler) -> str:
        if self.public_url:
            return self.public_url
        host = handler.headers.get("Host")
        return f"http://{host}" if host else self.url

    def _serve(self, handler: _Handler, *, send_body: bool, allowed: bool = True) -> None:
        arrived = time.time()
        split = urlsplit(handler.path)
        request = Request(
            method=handler.command,
            path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers=handler.headers,
            base_url=self._base_url(handler),
        )
        fault = self._faults.take(self.endpoint_name(request.path), request.path, request.page)
        if fault is not None and fault.delay:
            self._stopping.wait(fault.delay)
        if fault is not None and fault.drop:
            self._record(request, None, fault, arrived)
            self.log.debug("%s %s -> connection dropped (injected)", request.method, handler.path)
            handler.close_connection = True
            with contextlib.suppress(OSError):
                handler.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault is not None and fault.status is not None:
            response = self.fault_response(fault, request)
        elif not allowed:
            response = self.error_response(
                405, "method_not_allowed", f"{request.method} is not allowed", {"Allow": "GET, HEAD"}
            )
        else:
            try:
                response = self.handle(request)
            except Exception:
                self.log.exception("%s server failed on %s %s", self.name, request.method, handler.path)
                response = self.error_response(500, "internal_error", "internal server error")
        self._record(request, response.status, fault, arrived)
        self._send(handler, response, send_body)

    def _record(self, request: Request, status: int | None, fault: Fault | None, arrived: float) -> None:
        record = RequestRecord(
            method=request.method,
            path=request.path,
            query={name: values[0] for name, values in request.query.items()},
            status=status,
            fault=fault.describe() if fault is not None else None,
            headers=dict(request.headers.items()),
            at=arrived,
        )
        with self._requests_lock:
            self._requests.append(record)

    def _send(self, handler: _Handler, response: Response, send_body: bool) -> None:
        try:
            handler.send_response(response.status)
            for name, value in response.headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(response.body)))
            if handler.close_connection:
                handler.send_header("Connection", "close")
            handler.end_headers()
            if send_body:
                handler.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError) as error:
            # The client gave up (e.g. its timeout was shorter than an injected delay).
            self.log.debug("client went away before the answer was sent: %s", error)
            handler.close_connection = True
