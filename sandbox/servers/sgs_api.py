"""A stand-in for the Banco Central do Brasil SGS API (api.bcb.gov.br), served from DIR/sgs/{code}.json.

Endpoints (GET), as on the real service:

* ``/dados/serie/bcdata.sgs.{code}/dados?formato=json[&dataInicial=dd/MM/yyyy][&dataFinal=dd/MM/yyyy]``
  -- the series' points inside the inclusive window, oldest first; without dates, the whole series.
  Either bound may be given alone.
* ``/dados/serie/bcdata.sgs.{code}/dados/ultimos/{N}?formato=json`` -- the last N points.

Body: a JSON list of ``{"data": "dd/MM/yyyy", "valor": "0.46"}``, exactly as stored in the file (``valor``
stays a string with a dot decimal separator), ``Content-Type: application/json; charset=utf-8``. A window
without points returns ``[]``.

Choices where the real service is vague or inconsistent (errors are ``{"error": "<message>"}``):

* A window longer than 10 years (``dataFinal`` later than ``dataInicial`` + 10 years) on a daily series
  (432 by default, see ``daily_series``) -> 400, like the real API since March 2025. Only checked when both
  dates are given; the whole-series query stays allowed.
* A malformed date, ``dataFinal`` before ``dataInicial``, a bad ``N`` -> 400.
* A series without a file -> 404. Any other path -> 404.
* ``formato`` other than ``json`` (``csv``, ``xml``, ...) -> 406; a missing ``formato`` is taken as json.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sandbox.servers.base import FileCache, MockServer, Request, Response, json_response

__all__ = ["DAILY_SERIES", "MAX_WINDOW_YEARS", "SGSAPIServer", "format_date", "parse_date"]

DAILY_SERIES = frozenset({432})
MAX_WINDOW_YEARS = 10
_PATH = re.compile(r"^/dados/serie/bcdata\.sgs\.(\d+)/dados(?:/ultimos/([^/]*))?/?$")
_DATE = re.compile(r"^\d{1,2}/\d{1,2}/\d{4}$")


def parse_date(value: str) -> date:
    """``dd/MM/yyyy`` -> date; raises ValueError."""
    if not _DATE.match(value.strip()):
        raise ValueError(value)
    return datetime.strptime(value.strip(), "%d/%m/%Y").date()


def format_date(value: date) -> str:
    """date -> ``dd/MM/yyyy``."""
    return value.strftime("%d/%m/%Y")


def _add_years(value: date, years: int) -> date:
    try:
        return value.replace(year=value.year + years)
    except ValueError:  # 29 February
        return value.replace(year=value.year + years, day=28)


def _load_series(path: Path) -> list[tuple[date, dict[str, Any]]]:
    points = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(points, list):
        raise ValueError(f"{path}: expected a JSON list of points")
    keyed = [(parse_date(point["data"]), point) for point in points]
    keyed.sort(key=lambda item: item[0])
    return keyed


class SGSAPIServer(MockServer):
    """``SGSAPIServer(data_dir, *, daily_series={432}, max_window_years=10, host="127.0.0.1", port=0,
    faults=(), public_url=None)``

    ``data_dir`` is the sandbox data directory; series ``code`` is read from ``data_dir/sgs/{code}.json``
    and re-read whenever the file changes. Faults match ``endpoint`` by series code (``"433"``) or path.
    """

    name = "sgs"

    def __init__(
        self,
        data_dir: str | Path,
        *,
        daily_series: Iterable[int] = DAILY_SERIES,
        max_window_years: int = MAX_WINDOW_YEARS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.data_dir = Path(data_dir)
        self.daily_series = frozenset(int(code) for code in daily_series)
        self.max_window_years = max_window_years
        self._series: FileCache[list[tuple[date, dict[str, Any]]]] = FileCache(_load_series)

    @property
    def sgs_dir(self) -> Path:
        return self.data_dir / "sgs"

    def series_url(self, code: int | str) -> str:
        """The URL of a series, without query, e.g. for a client's base URL."""
        return f"{self.url}/dados/serie/bcdata.sgs.{code}/dados"

    def endpoint_name(self, path: str) -> str | None:
        match = _PATH.match(path)
        return str(int(match.group(1))) if match else None

    def error_response(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> Response:
        return json_response(status, {"error": message}, headers)

    def handle(self, request: Request) -> Response:
        match = _PATH.match(request.path)
        if match is None:
            return self.error_response(404, "not_found", f"Recurso não encontrado: {request.path}")
        code, last = int(match.group(1)), match.group(2)

        formato = (request.param("formato") or "json").strip().lower()
        if formato != "json":
            return self.error_response(
                406, "not_acceptable", f"Formato não suportado: {formato!r}; use formato=json"
            )

        points = self._series.get(self.sgs_dir / f"{code}.json")
        if points is None:
            return self.error_response(404, "not_found", f"Série {code} não encontrada")

        if last is not None:
            if not last.isdigit() or int(last) < 1:
                return self.error_response(400, "invalid_parameter", f"Quantidade inválida: {last!r}")
            return json_response(200, [point for _, point in points[-int(last) :]])

        try:
            start = self._date_param(request, "dataInicial")
            end = self._date_param(request, "dataFinal")
        except ValueError as error:
            return self.error_response(400, "invalid_parameter", str(error))
        if start is not None and end is not None:
            if end < start:
                return self.error_response(
                    400, "invalid_parameter", "A data final deve ser igual ou posterior à data inicial"
                )
            if code in self.daily_series and end > _add_years(start, self.max_window_years):
                return self.error_response(
                    400,
                    "invalid_parameter",
                    f"O sistema aceita uma janela de consulta de, no máximo, {self.max_window_years} anos "
                    "em séries de periodicidade diária",
                )
        data = [
            point for day, point in points if (start is None or day >= start) and (end is None or day <= end)
        ]
        return json_response(200, data)

    @staticmethod
    def _date_param(request: Request, name: str) -> date | None:
        value = request.param(name)
        if value is None or not value.strip():
            return None
        try:
            return parse_date(value)
        except ValueError:
            raise ValueError(f"Parâmetro {name} inválido: {value!r}; use o formato dd/MM/aaaa") from None
