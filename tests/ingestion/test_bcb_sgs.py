"""The BCB SGS loader against the sandbox's stand-in server and the tests' embedded PostgreSQL."""

from __future__ import annotations

import json
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from dlt.pipeline.exceptions import PipelineStepFailed
from psycopg2 import sql

from ingestion.bcb_sgs import load_bcb, parse_point, series_setting, start_setting, windows
from sandbox.servers import Fault, SGSAPIServer
from sandbox.servers.base import Request, Response, json_response
from sandbox.servers.sgs_api import format_date
from warehouse import database

START = date(2012, 1, 1)
VARCHAR = "character varying"  # dlt's text type in PostgreSQL

IPCA = [
    {"data": format_date(date(2015 + m // 12, 1 + m % 12, 1)), "valor": f"{0.1 + (m % 9) / 10:.2f}"}
    for m in range(24)
]  # 01/01/2015 .. 01/12/2016
IPCA[17]["valor"] = "-0.23"
SELIC = [
    {"data": format_date(date(2012, 1, 2) + timedelta(days=15 * i)), "valor": f"{7.25 + (i % 7) * 0.5:.2f}"}
    for i in range(300)
]  # 02/01/2012 .. 2024, more than the 10 years one request may span
# The stand-in's data file cannot hold malformed dates, so the test server adds these to every answer.
BAD_POINTS = [
    {"data": "31/02/2016", "valor": "0.50"},
    {"data": "2016-03-01", "valor": "0.50"},
    {"data": "01/03/2016", "valor": "n/d"},
]


class SGSServerWithBadPoints(SGSAPIServer):
    """The stand-in SGS API, answering three malformed points after the real ones of series 433."""

    def handle(self, request: Request) -> Response:
        response = super().handle(request)
        if response.status == 200 and self.endpoint_name(request.path) == "433":
            return json_response(200, json.loads(response.body) + BAD_POINTS)
        return response


def write_series(data_dir: Path, code: int, points: list[dict[str, str]]) -> None:
    path = data_dir / "sgs" / f"{code}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(points), encoding="utf-8")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    write_series(tmp_path, 433, IPCA)
    write_series(tmp_path, 432, SELIC)
    return tmp_path


@pytest.fixture
def sgs(data_dir: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RUNTIME__REQUEST_BACKOFF_FACTOR", "0.1")
    with SGSServerWithBadPoints(data_dir) as server:
        yield server


def load(sgs: SGSAPIServer, pipeline, **kwargs: Any):
    return load_bcb(base_url=sgs.url, start=START, pipeline=pipeline, **kwargs)


def table_rows(db, schema: str, table: str, order_by: tuple[str, ...]) -> list[dict[str, Any]]:
    """The table's rows without dlt's bookkeeping columns."""
    with database.connect(db) as conn, conn.cursor() as cur:
        cur.execute(
            sql.SQL("select * from {}.{} order by {}").format(
                sql.Identifier(schema),
                sql.Identifier(table),
                sql.SQL(", ").join(sql.Identifier(name) for name in order_by),
            )
        )
        names = [column.name for column in cur.description]
        return [
            {name: value for name, value in zip(names, row, strict=True) if not name.startswith("_dlt")}
            for row in cur.fetchall()
        ]


def series_rows(db, schema: str) -> list[dict[str, Any]]:
    return table_rows(db, schema, "series_values", ("series_code", "reference_date"))


def points(db, schema: str, code: int) -> list[dict[str, str]]:
    return [
        {"data": r["data"], "valor": r["valor"]} for r in series_rows(db, schema) if r["series_code"] == code
    ]


def column_types(db, schema: str, table: str) -> dict[str, str]:
    rows = database.query(
        "select column_name, data_type from information_schema.columns where table_schema = %s and table_name = %s",
        (schema, table),
        db,
    )
    return {name: kind for name, kind in rows if not name.startswith("_dlt")}


def counts(db, schema: str) -> dict[str, int]:
    return {name.split(".", 1)[1]: n for name, n in database.table_row_counts([schema], db).items()}


def windows_asked(sgs: SGSAPIServer, code: int) -> list[tuple[str, str]]:
    return [
        (r.query["dataInicial"], r.query["dataFinal"])
        for r in sgs.requests
        if r.path == f"/dados/serie/bcdata.sgs.{code}/dados" and r.status == 200
    ]


# ----------------------------------------------------------------------------------------- loads


def test_first_load_reads_every_point_in_windows_of_at_most_ten_years(
    warehouse_db, sgs, pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BCB_SGS_URL", sgs.url)
    monkeypatch.setenv("BCB_SGS_START", START.isoformat())

    info, summary = load_bcb(pipeline=pipeline)

    assert not info.has_failed_jobs
    assert summary.source == "bcb" and summary.dataset == pipeline.dataset_name
    assert summary.tables == {"series_values": {"rows": len(IPCA) + len(SELIC), "rejected": 3}}
    schema = pipeline.dataset_name
    assert counts(warehouse_db, schema) == {
        "series_values": len(IPCA) + len(SELIC),
        "series_values__rejected": 3,
    }
    assert points(warehouse_db, schema, 433) == IPCA
    assert points(warehouse_db, schema, 432) == SELIC
    first = series_rows(warehouse_db, schema)[0]
    assert first == {
        "series_code": 432,
        "series_name": "selic",
        "data": "02/01/2012",
        "valor": "7.25",
        "reference_date": date(2012, 1, 2),
    }
    assert column_types(warehouse_db, schema, "series_values") == {
        "series_code": "bigint",
        "series_name": VARCHAR,
        "data": VARCHAR,
        "valor": VARCHAR,
        "reference_date": "date",
    }

    today = format_date(date.today())
    expected_windows = [("01/01/2012", "31/12/2021"), ("01/01/2022", today)]
    assert windows_asked(sgs, 432) == expected_windows  # the daily series: no 400 for a too long window
    assert windows_asked(sgs, 433) == expected_windows
    assert all(r.query["formato"] == "json" for r in sgs.requests)

    rejected = table_rows(warehouse_db, schema, "series_values__rejected", ("source_row",))
    ipca_url = f"{sgs.url}/dados/serie/bcdata.sgs.433/dados?formato=json&dataInicial=01%2F01%2F2012"
    assert [(r["source_row"], r["column_name"], r["reason"]) for r in rejected] == [
        (len(IPCA) + 1, "data", "malformed date (no such day): '31/02/2016'"),
        (len(IPCA) + 2, "data", "malformed date (expected dd/MM/yyyy): '2016-03-01'"),
        (len(IPCA) + 3, "valor", "non-numeric value: 'n/d'"),
    ]
    assert all(r["source_file"].startswith(ipca_url) for r in rejected)
    assert [json.loads(r["record"]) for r in rejected] == BAD_POINTS
    assert column_types(warehouse_db, schema, "series_values__rejected") == {
        "source_file": VARCHAR,
        "source_row": "bigint",
        "column_name": VARCHAR,
        "reason": VARCHAR,
        "record": VARCHAR,
    }


def test_incremental_load_starts_at_the_last_date_and_merges_revisions(
    warehouse_db, sgs, pipeline, data_dir
) -> None:
    load(sgs, pipeline)
    sgs.clear_requests()
    revised = [*IPCA[:-1], {"data": "01/12/2016", "valor": "0.99"}]
    write_series(
        data_dir,
        433,
        [*revised, {"data": "01/01/2017", "valor": "0.38"}, {"data": "01/02/2017", "valor": "0.33"}],
    )
    last_selic = date(2012, 1, 2) + timedelta(days=15 * (len(SELIC) - 1))
    new_selic = {"data": format_date(last_selic + timedelta(days=1)), "valor": "10.50"}
    write_series(data_dir, 432, [*SELIC, new_selic])

    _, summary = load(sgs, pipeline)

    # Each series from its own last loaded date, inclusive.
    assert [first for first, _ in windows_asked(sgs, 433)] == ["01/12/2016"]
    assert [first for first, _ in windows_asked(sgs, 432)] == [format_date(last_selic)]
    # 433: the revised last point and two new ones; 432: its last point again and a new one.
    assert summary.tables == {"series_values": {"rows": 5, "rejected": 0}}
    schema = pipeline.dataset_name
    assert points(warehouse_db, schema, 433) == [
        *revised,
        {"data": "01/01/2017", "valor": "0.38"},
        {"data": "01/02/2017", "valor": "0.33"},
    ]
    assert points(warehouse_db, schema, 432) == [*SELIC, new_selic]
    assert counts(warehouse_db, schema) == {
        "series_values": len(IPCA) + len(SELIC) + 3,
        "series_values__rejected": 3,
    }


def test_a_repeated_load_changes_nothing(warehouse_db, sgs, pipeline) -> None:
    load(sgs, pipeline)
    schema = pipeline.dataset_name
    before = series_rows(warehouse_db, schema)
    rejected_before = table_rows(warehouse_db, schema, "series_values__rejected", ("source_row",))

    _, summary = load(sgs, pipeline)

    assert summary.tables == {"series_values": {"rows": 2, "rejected": 0}}  # each series' last point
    assert series_rows(warehouse_db, schema) == before
    assert table_rows(warehouse_db, schema, "series_values__rejected", ("source_row",)) == rejected_before


def test_rate_limit_server_error_and_timeout_are_retried(
    warehouse_db, sgs, pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNTIME__REQUEST_TIMEOUT", "1")
    sgs.inject_fault(Fault.rate_limit(retry_after=1, endpoint="433"))
    sgs.inject_fault(Fault.error(500, endpoint="432"))
    sgs.inject_fault(Fault.slow(3, endpoint="432", nth=2))  # the retry of the 500 times out

    info, summary = load(sgs, pipeline)

    assert not info.has_failed_jobs
    assert sgs.faults == []
    assert summary.tables == {"series_values": {"rows": len(IPCA) + len(SELIC), "rejected": 3}}
    assert points(warehouse_db, pipeline.dataset_name, 433) == IPCA
    assert points(warehouse_db, pipeline.dataset_name, 432) == SELIC

    deadline = time.monotonic() + 5
    selic_path = "/dados/serie/bcdata.sgs.432/dados"
    while not any(r.fault == "delay 3s" for r in sgs.requests) and time.monotonic() < deadline:
        time.sleep(0.1)
    selic = [(r.query["dataInicial"], r.status, r.fault) for r in sgs.requests if r.path == selic_path]
    assert selic == [
        ("01/01/2012", 500, "status 500"),
        ("01/01/2012", 200, None),  # the third attempt, answered while the second still waits
        ("01/01/2022", 200, None),
        ("01/01/2012", 200, "delay 3s"),  # logged when its delay ended, long after the client gave up
    ]
    ipca = [r.status for r in sgs.requests if r.path == "/dados/serie/bcdata.sgs.433/dados"]
    assert ipca == [429, 200, 200]


def test_an_unknown_series_fails_the_load_with_its_code(sgs, pipeline) -> None:
    with pytest.raises(PipelineStepFailed, match="series 99999 .*check the series code"):
        load(sgs, pipeline, series={99999: "nope"})
    assert len(sgs.requests) == 2  # one per window, 404 is not retried


# ------------------------------------------------------------------------------------------- units


def test_windows_never_exceed_ten_years() -> None:
    assert windows(date(2012, 1, 1), date(2031, 6, 30)) == [
        (date(2012, 1, 1), date(2021, 12, 31)),
        (date(2022, 1, 1), date(2031, 6, 30)),
    ]
    assert windows(date(2016, 2, 29), date(2027, 1, 1)) == [
        (date(2016, 2, 29), date(2026, 2, 27)),
        (date(2026, 2, 28), date(2027, 1, 1)),
    ]
    assert windows(date(2020, 5, 5), date(2020, 5, 5)) == [(date(2020, 5, 5), date(2020, 5, 5))]
    assert windows(date(2020, 5, 6), date(2020, 5, 5)) == []


@pytest.mark.parametrize(
    ("point", "expected"),
    [
        ({"data": "01/12/2016", "valor": "0.30"}, (date(2016, 12, 1), None, "")),
        ({"data": "01/12/2016", "valor": "-0.23"}, (date(2016, 12, 1), None, "")),
        ({"data": "01/12/2016", "valor": 7}, (date(2016, 12, 1), None, "")),
        (
            {"data": "1/12/2016", "valor": "0.30"},
            (None, "data", "malformed date (expected dd/MM/yyyy): '1/12/2016'"),
        ),
        ({"data": None, "valor": "0.30"}, (None, "data", "malformed date (expected dd/MM/yyyy): None")),
        (
            {"data": "30/02/2016", "valor": "0.30"},
            (None, "data", "malformed date (no such day): '30/02/2016'"),
        ),
        ({"data": "01/12/2016", "valor": "0,30"}, (None, "valor", "non-numeric value: '0,30'")),
        ({"data": "01/12/2016", "valor": ""}, (None, "valor", "non-numeric value: ''")),
        ({"data": "01/12/2016"}, (None, "valor", "non-numeric value: None")),
        ({"data": "01/12/2016", "valor": True}, (None, "valor", "non-numeric value: True")),
        (["01/12/2016", "0.30"], (None, None, "point is not a JSON object but list")),
    ],
)
def test_parse_point(point: Any, expected: tuple) -> None:
    assert parse_point(point) == expected


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BCB_SGS_SERIES", raising=False)
    monkeypatch.delenv("BCB_SGS_START", raising=False)
    assert series_setting() == {433: "ipca", 432: "selic"}
    assert start_setting() == date(2016, 1, 1)
    monkeypatch.setenv("BCB_SGS_SERIES", "433=ipca, 11=selic_daily")
    assert series_setting() == {433: "ipca", 11: "selic_daily"}
    assert series_setting({1: "usd_brl"}) == {1: "usd_brl"}
    monkeypatch.setenv("BCB_SGS_SERIES", "ipca")
    with pytest.raises(ValueError, match="BCB_SGS_SERIES"):
        series_setting()
    monkeypatch.setenv("BCB_SGS_START", "01/01/2016")
    with pytest.raises(ValueError, match="BCB_SGS_START"):
        start_setting()
