"""The sandbox's stand-in API servers, exercised over real HTTP."""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from sandbox.servers import Fault, MarketingAPIServer, SGSAPIServer
from sandbox.servers.sgs_api import format_date, parse_date

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BASE_TIME = datetime(2024, 1, 1, tzinfo=UTC)
N_AD_SPEND = 1234


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def write_jsonl(path: Path, records: list[dict], mode: str = "w") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open(mode, encoding="utf-8") as file:
        for record in records:
            file.write(json.dumps(record) + "\n")


def ad_spend(i: int) -> dict:
    # Many records share an updated_at (every 10 consecutive ids), so the id tiebreak matters; the ids
    # are written out of order so the sort is the server's doing.
    return {
        "spend_id": f"sp{i:05d}",
        "spend_date": (date(2024, 1, 1) + timedelta(days=i % 60)).isoformat(),
        "channel_id": f"ch{i % 3}",
        "campaign_id": f"cmp{i % 7}",
        "campaign_name": f"Campaign {i % 7}",
        "spend": round(10 + i * 0.37, 2),
        "currency": "BRL",
        "impressions": 1000 + i,
        "clicks": 10 + i % 50,
        "updated_at": iso(BASE_TIME + timedelta(hours=i // 10)),
    }


def lead(i: int, updated: datetime) -> dict:
    return {
        "lead_id": f"ld{i:04d}",
        "channel_id": "ch0",
        "campaign_id": "cmp0",
        "created_at": iso(updated - timedelta(days=1)),
        "converted_at": None,
        "customer_unique_id": None,
        "updated_at": iso(updated),
    }


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    marketing = tmp_path / "marketing"
    write_jsonl(
        marketing / "channels.jsonl",
        [
            {"channel_id": f"ch{i}", "channel_name": name, "channel_type": kind, "updated_at": iso(BASE_TIME)}
            for i, (name, kind) in enumerate(
                [("Google Ads", "paid"), ("Instagram", "social"), ("SEO", "organic")]
            )
        ],
    )
    write_jsonl(marketing / "ad_spend.jsonl", [ad_spend(i) for i in reversed(range(N_AD_SPEND))])
    write_jsonl(marketing / "leads.jsonl", [lead(i, BASE_TIME + timedelta(days=i)) for i in range(10)])

    sgs = tmp_path / "sgs"
    sgs.mkdir()
    months = [date(2015 + m // 12, 1 + m % 12, 1) for m in range(12 * 10)]  # 2015-01 .. 2024-12
    (sgs / "433.json").write_text(
        json.dumps(
            [{"data": format_date(d), "valor": f"{0.1 + (i % 9) / 10:.2f}"} for i, d in enumerate(months)]
        )
    )
    days = [date(2010, 1, 1) + timedelta(days=i) for i in range(0, 365 * 15, 7)]  # 15 years, weekly
    (sgs / "432.json").write_text(json.dumps([{"data": format_date(d), "valor": "10.75"} for d in days]))
    return tmp_path


@pytest.fixture
def marketing(data_dir: Path):
    with MarketingAPIServer(data_dir, token=TOKEN) as server:
        yield server


@pytest.fixture
def sgs(data_dir: Path):
    with SGSAPIServer(data_dir) as server:
        yield server


def get(url: str, **kwargs) -> requests.Response:
    kwargs.setdefault("timeout", 5)
    return requests.get(url, **kwargs)


def walk(url: str, params: dict | None = None, **kwargs) -> tuple[list[dict], list[dict]]:
    """Follow links.next from the first page; returns (records, bodies)."""
    records, bodies = [], []
    response = get(url, params=params, headers=AUTH, **kwargs)
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        bodies.append(body)
        records.extend(body["data"])
        if body["links"]["next"] is None:
            return records, bodies
        response = get(body["links"]["next"], headers=AUTH, **kwargs)


# --------------------------------------------------------------------------- plumbing


def test_start_stop_and_url(data_dir: Path) -> None:
    server = MarketingAPIServer(data_dir)
    with server:
        assert server.running
        assert server.url.startswith("http://127.0.0.1:") and server.port > 0
        assert get(f"{server.url}/v1/channels").status_code == 200  # no token: no auth
        with pytest.raises(RuntimeError):
            server.start()
    assert not server.running
    with pytest.raises(requests.ConnectionError):
        get(f"{server.url}/v1/channels", timeout=1)
    server.stop()  # idempotent


def test_json_content_type_and_keep_alive(marketing: MarketingAPIServer) -> None:
    with requests.Session() as session:
        for _ in range(3):
            response = session.get(f"{marketing.url}/v1/channels", headers=AUTH, timeout=5)
            assert response.status_code == 200
            assert response.headers["Content-Type"] == "application/json; charset=utf-8"


# --------------------------------------------------------------------------- marketing API


def test_pagination_walks_every_record_exactly_once(marketing: MarketingAPIServer) -> None:
    records, bodies = walk(f"{marketing.url}/v1/ad_spend", {"page_size": 100})
    ids = [record["spend_id"] for record in records]
    assert len(ids) == N_AD_SPEND == len(set(ids))
    assert [(r["updated_at"], r["spend_id"]) for r in records] == sorted(
        (r["updated_at"], r["spend_id"]) for r in records
    )
    assert len(bodies) == 13
    assert [body["meta"]["page"] for body in bodies] == list(range(1, 14))
    assert all(
        body["meta"] | {"page": 0}
        == {"page": 0, "page_size": 100, "total_pages": 13, "total_count": N_AD_SPEND}
        for body in bodies
    )
    assert records[0] == ad_spend(0)


def test_default_page_size_and_page_past_the_end(marketing: MarketingAPIServer) -> None:
    body = get(f"{marketing.url}/v1/ad_spend", headers=AUTH).json()
    assert body["meta"] == {"page": 1, "page_size": 500, "total_pages": 3, "total_count": N_AD_SPEND}
    assert len(body["data"]) == 500
    assert body["links"]["next"].startswith(f"{marketing.url}/v1/ad_spend?")
    past = get(f"{marketing.url}/v1/ad_spend", params={"page": 9}, headers=AUTH).json()
    assert past["data"] == [] and past["links"]["next"] is None and past["meta"]["total_pages"] == 3
    full = get(f"{marketing.url}/v1/ad_spend", params={"page_size": 1000, "page": 2}, headers=AUTH).json()
    assert len(full["data"]) == N_AD_SPEND - 1000 and full["links"]["next"] is None


def test_next_link_keeps_the_filters(marketing: MarketingAPIServer) -> None:
    since = iso(BASE_TIME + timedelta(hours=50))
    body = get(
        f"{marketing.url}/v1/ad_spend",
        params={"updated_since": since, "page_size": 7, "x": "y"},
        headers=AUTH,
    ).json()
    query = dict(parse_qsl(urlsplit(body["links"]["next"]).query))
    assert query == {"updated_since": since, "page": "2", "page_size": "7", "x": "y"}
    records, _ = walk(f"{marketing.url}/v1/ad_spend", {"updated_since": since, "page_size": 50})
    assert len(records) == N_AD_SPEND - 500 and min(r["updated_at"] for r in records) == since


def test_link_header_mirrors_links_next(marketing: MarketingAPIServer) -> None:
    response = get(f"{marketing.url}/v1/leads", params={"page_size": 4}, headers=AUTH)
    assert response.links["next"]["url"] == response.json()["links"]["next"]


def test_updated_since_is_inclusive_and_updated_until_exclusive(marketing: MarketingAPIServer) -> None:
    url = f"{marketing.url}/v1/leads"

    def lead_ids(**params: str) -> list[str]:
        response = get(url, params=params, headers=AUTH)
        assert response.status_code == 200, response.text
        return [record["lead_id"] for record in response.json()["data"]]

    day3 = BASE_TIME + timedelta(days=3)
    assert lead_ids(updated_since=iso(day3)) == [f"ld{i:04d}" for i in range(3, 10)]
    assert lead_ids(updated_since=iso(day3 + timedelta(seconds=1))) == [f"ld{i:04d}" for i in range(4, 10)]
    assert lead_ids(updated_until=iso(day3)) == ["ld0000", "ld0001", "ld0002"]
    assert lead_ids(updated_since=iso(day3), updated_until=iso(day3 + timedelta(days=2))) == [
        "ld0003",
        "ld0004",
    ]
    # Other spellings of the same instant.
    assert lead_ids(updated_since="2024-01-04T00:00:00+00:00") == lead_ids(updated_since=iso(day3))
    assert lead_ids(updated_since="2024-01-03T21:00:00-03:00") == lead_ids(updated_since=iso(day3))
    assert lead_ids(updated_since="2024-01-04") == lead_ids(updated_since=iso(day3))
    assert lead_ids(updated_since="2024-01-04T00:00:00.000Z") == lead_ids(updated_since=iso(day3))
    # An unencoded '+' arrives as a space; still understood.
    raw = get(f"{url}?updated_since=2024-01-04T00:00:00+00:00", headers=AUTH)
    assert [r["lead_id"] for r in raw.json()["data"]] == lead_ids(updated_since=iso(day3))
    assert lead_ids(updated_since="2030-01-01T00:00:00Z") == []


@pytest.mark.parametrize(
    "params",
    [
        {"updated_since": "yesterday"},
        {"updated_since": "2024-13-01T00:00:00Z"},
        {"updated_until": ""},
        {"updated_since": "2024-01-05T00:00:00Z", "updated_until": "2024-01-04T00:00:00Z"},
        {"page": "0"},
        {"page": "two"},
        {"page_size": "0"},
        {"page_size": "1001"},
        {"page": ["1", "2"]},
    ],
)
def test_bad_parameters_are_400(marketing: MarketingAPIServer, params: dict) -> None:
    response = get(f"{marketing.url}/v1/leads", params=params, headers=AUTH)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_parameter" and error["message"]


def test_auth(marketing: MarketingAPIServer) -> None:
    url = f"{marketing.url}/v1/channels"
    missing = get(url)
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "unauthorized"
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert get(url, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert get(url, headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
    ok = get(url, headers=AUTH)
    assert ok.status_code == 200
    assert [c["channel_id"] for c in ok.json()["data"]] == ["ch0", "ch1", "ch2"]


def test_unknown_path_and_method(marketing: MarketingAPIServer) -> None:
    for path in ("/v1/orders", "/v2/leads", "/", "/v1/"):
        response = get(f"{marketing.url}{path}", headers=AUTH)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"
    post = requests.post(f"{marketing.url}/v1/leads", json={"a": 1}, headers=AUTH, timeout=5)
    assert post.status_code == 405 and post.headers["Allow"] == "GET, HEAD"


def test_data_files_are_reread_when_they_change(marketing: MarketingAPIServer, data_dir: Path) -> None:
    url = f"{marketing.url}/v1/leads"
    first = get(url, headers=AUTH).json()
    assert first["meta"]["total_count"] == 10
    late = BASE_TIME + timedelta(days=30)
    write_jsonl(data_dir / "marketing" / "leads.jsonl", [lead(100, late), lead(101, late)], mode="a")
    again = get(url, params={"updated_since": iso(late)}, headers=AUTH).json()
    assert [r["lead_id"] for r in again["data"]] == ["ld0100", "ld0101"]
    assert get(url, headers=AUTH).json()["meta"]["total_count"] == 12


def test_preload_parses_every_file_before_the_first_request(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sandbox.servers.marketing_api as marketing_api

    parsed: list[str] = []

    def counting(path: Path) -> list[dict]:
        parsed.append(path.name)
        return marketing_api.read_json_lines.__wrapped__(path)

    counting.__wrapped__ = marketing_api.read_json_lines  # type: ignore[attr-defined]
    monkeypatch.setattr(marketing_api, "read_json_lines", counting)
    with MarketingAPIServer(data_dir, token=TOKEN).preload() as server:
        assert sorted(parsed) == ["ad_spend.jsonl", "channels.jsonl", "leads.jsonl"]
        for resource in ("channels", "ad_spend", "leads"):
            assert get(f"{server.url}/v1/{resource}", headers=AUTH).json()["meta"]["total_count"] > 0
        assert len(parsed) == 3  # the requests were served from what preload parsed


def test_a_missing_file_serves_no_records(marketing: MarketingAPIServer, data_dir: Path) -> None:
    (data_dir / "marketing" / "leads.jsonl").unlink()
    body = get(f"{marketing.url}/v1/leads", headers=AUTH).json()
    assert body == {
        "data": [],
        "meta": {"page": 1, "page_size": 500, "total_pages": 0, "total_count": 0},
        "links": {"self": body["links"]["self"], "next": None},
    }


# --------------------------------------------------------------------------- fault injection


def test_rate_limit_fault_on_a_page_fires_once(data_dir: Path) -> None:
    fault = Fault.rate_limit(endpoint="ad_spend", page=2)
    with MarketingAPIServer(data_dir, faults=[fault]) as server:
        url = f"{server.url}/v1/ad_spend"
        assert get(url, params={"page": 1}).status_code == 200
        assert get(f"{server.url}/v1/leads", params={"page": 2}).status_code == 200  # other endpoint
        limited = get(url, params={"page": 2})
        assert limited.status_code == 429
        assert limited.headers["Retry-After"] == "1"
        assert limited.json()["error"]["code"] == "rate_limited"
        assert server.faults == []
        assert get(url, params={"page": 2}).status_code == 200
        assert [(r.path, r.query.get("page"), r.status, r.fault) for r in server.requests] == [
            ("/v1/ad_spend", "1", 200, None),
            ("/v1/leads", "2", 200, None),
            ("/v1/ad_spend", "2", 429, "status 429"),
            ("/v1/ad_spend", "2", 200, None),
        ]


def test_runtime_faults_by_nth_request_and_times(marketing: MarketingAPIServer) -> None:
    url = f"{marketing.url}/v1/channels"
    marketing.inject_fault(status=503, nth=2, times=2)
    marketing.inject_fault(Fault.error(502, endpoint="/v1/leads"))
    statuses = [get(url, headers=AUTH).status_code for _ in range(5)]
    assert statuses == [200, 503, 503, 200, 200]
    leads = get(f"{marketing.url}/v1/leads", headers=AUTH)
    assert leads.status_code == 502 and leads.json()["error"]["code"] == "bad_gateway"
    assert get(f"{marketing.url}/v1/leads", headers=AUTH).status_code == 200
    assert marketing.faults == []

    marketing.inject_fault(status=500, times=None)
    assert [get(url, headers=AUTH).status_code for _ in range(3)] == [500, 500, 500]
    marketing.clear_faults()
    assert get(url, headers=AUTH).status_code == 200
    marketing.clear_requests()
    assert marketing.requests == []


def test_slow_fault_exceeds_the_client_timeout_then_clears(marketing: MarketingAPIServer) -> None:
    marketing.inject_fault(Fault.slow(1.0, endpoint="leads"))
    url = f"{marketing.url}/v1/leads"
    started = time.monotonic()
    with pytest.raises(requests.Timeout):
        get(url, headers=AUTH, timeout=0.2)
    assert time.monotonic() - started < 0.9
    assert get(url, headers=AUTH, timeout=0.5).status_code == 200


def test_disconnect_fault(marketing: MarketingAPIServer) -> None:
    marketing.inject_fault(Fault.disconnect())
    url = f"{marketing.url}/v1/channels"
    with pytest.raises(requests.ConnectionError):
        get(url, headers=AUTH)
    assert get(url, headers=AUTH).status_code == 200
    assert [r.status for r in marketing.requests] == [None, 200]


def test_fault_validation() -> None:
    with pytest.raises(ValueError):
        Fault()
    with pytest.raises(ValueError):
        Fault(status=200)
    with pytest.raises(ValueError):
        Fault(status=500, times=0)
    assert Fault(status=429).retry_after == 1
    assert Fault(status=503).retry_after is None


def test_dlt_rest_client_pages_through_links_next_and_retries_429(data_dir: Path) -> None:
    rest_client = pytest.importorskip("dlt.sources.helpers.rest_client")
    from dlt.sources.helpers.rest_client.auth import BearerTokenAuth
    from dlt.sources.helpers.rest_client.paginators import JSONLinkPaginator

    with MarketingAPIServer(
        data_dir, token=TOKEN, faults=[Fault.rate_limit(endpoint="ad_spend", page=2)]
    ) as server:
        client = rest_client.RESTClient(
            base_url=f"{server.url}/v1",
            auth=BearerTokenAuth(TOKEN),
            paginator=JSONLinkPaginator(next_url_path="links.next"),
            data_selector="data",
        )
        pages = list(client.paginate("/ad_spend", params={"page_size": 300, "updated_since": iso(BASE_TIME)}))
        ids = [record["spend_id"] for page in pages for record in page]
        assert len(pages) == 5 and len(ids) == N_AD_SPEND == len(set(ids))
        assert [r.status for r in server.requests].count(429) == 1


# --------------------------------------------------------------------------- SGS API


def sgs_get(server: SGSAPIServer, code: int | str, **params: str) -> requests.Response:
    return get(server.series_url(code), params={"formato": "json", **params})


def test_sgs_whole_series_and_format(sgs: SGSAPIServer, data_dir: Path) -> None:
    response = sgs_get(sgs, 433)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    points = response.json()
    assert points == json.loads((data_dir / "sgs" / "433.json").read_text())
    assert len(points) == 120
    assert all(set(p) == {"data", "valor"} and isinstance(p["valor"], str) for p in points)
    assert points[0] == {"data": "01/01/2015", "valor": "0.10"}


def test_sgs_window_is_inclusive(sgs: SGSAPIServer) -> None:
    points = sgs_get(sgs, 433, dataInicial="01/03/2024", dataFinal="01/06/2024").json()
    assert [p["data"] for p in points] == ["01/03/2024", "01/04/2024", "01/05/2024", "01/06/2024"]
    assert [
        p["data"] for p in sgs_get(sgs, 433, dataInicial="02/03/2024", dataFinal="31/05/2024").json()
    ] == [
        "01/04/2024",
        "01/05/2024",
    ]
    assert [p["data"] for p in sgs_get(sgs, 433, dataInicial="01/11/2024").json()] == [
        "01/11/2024",
        "01/12/2024",
    ]
    assert len(sgs_get(sgs, 433, dataFinal="31/12/2015").json()) == 12
    assert sgs_get(sgs, 433, dataInicial="01/01/2030").json() == []
    assert [
        p["data"] for p in get(f"{sgs.series_url(433)}/ultimos/2", params={"formato": "json"}).json()
    ] == [
        "01/11/2024",
        "01/12/2024",
    ]


def test_sgs_date_format_round_trip(sgs: SGSAPIServer) -> None:
    for day in (date(2024, 2, 29), date(2015, 1, 1), date(2024, 12, 31)):
        assert parse_date(format_date(day)) == day
    assert format_date(date(2024, 3, 5)) == "05/03/2024"
    # Dates the server returns can be fed back as the next window's bounds.
    last = sgs_get(sgs, 433).json()[-1]
    assert sgs_get(sgs, 433, dataInicial=last["data"], dataFinal=last["data"]).json() == [last]


def test_sgs_ten_year_window_on_daily_series(sgs: SGSAPIServer) -> None:
    too_long = sgs_get(sgs, 432, dataInicial="01/01/2010", dataFinal="02/01/2020")
    assert too_long.status_code == 400
    assert "10 anos" in too_long.json()["error"]
    assert sgs_get(sgs, 432, dataInicial="01/01/2010", dataFinal="01/01/2020").status_code == 200
    assert sgs_get(sgs, 432).status_code == 200  # the whole series stays allowed
    assert sgs_get(sgs, 433, dataInicial="01/01/2000", dataFinal="01/01/2024").status_code == 200  # monthly


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"dataInicial": "2024-01-01"}, 400),
        ({"dataInicial": "31/02/2024"}, 400),
        ({"dataFinal": "1/1/24"}, 400),
        ({"dataInicial": "01/06/2024", "dataFinal": "01/05/2024"}, 400),
        ({"formato": "csv"}, 406),
        ({"formato": "xml"}, 406),
    ],
)
def test_sgs_bad_requests(sgs: SGSAPIServer, params: dict, status: int) -> None:
    response = sgs_get(sgs, 433, **params)
    assert response.status_code == status
    assert isinstance(response.json()["error"], str)


def test_sgs_unknown_series_and_path(sgs: SGSAPIServer) -> None:
    missing = sgs_get(sgs, 99999)
    assert missing.status_code == 404 and "99999" in missing.json()["error"]
    assert get(f"{sgs.url}/dados/serie/bcdata.sgs.433").status_code == 404
    assert get(f"{sgs.url}/v1/leads").status_code == 404
    assert get(f"{sgs.series_url(433)}/ultimos/abc").status_code == 400


def test_sgs_rereads_and_faults(sgs: SGSAPIServer, data_dir: Path) -> None:
    path = data_dir / "sgs" / "433.json"
    points = json.loads(path.read_text()) + [{"data": "01/01/2025", "valor": "0.16"}]
    path.write_text(json.dumps(points))
    assert sgs_get(sgs, 433).json()[-1] == {"data": "01/01/2025", "valor": "0.16"}

    sgs.inject_fault(Fault.error(503, endpoint="433", retry_after=2))
    assert sgs_get(sgs, 432).status_code == 200
    failed = sgs_get(sgs, 433)
    assert failed.status_code == 503 and failed.headers["Retry-After"] == "2"
    assert isinstance(failed.json()["error"], str)
    assert sgs_get(sgs, 433).status_code == 200
    assert [(r.path, r.status) for r in sgs.requests][-3:] == [
        ("/dados/serie/bcdata.sgs.432/dados", 200),
        ("/dados/serie/bcdata.sgs.433/dados", 503),
        ("/dados/serie/bcdata.sgs.433/dados", 200),
    ]
