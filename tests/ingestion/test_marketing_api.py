"""The marketing API loader against the sandbox's stand-in server and the tests' embedded PostgreSQL."""

from __future__ import annotations

import json
import math
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from dlt.pipeline.exceptions import PipelineStepFailed
from psycopg2 import sql

from ingestion.destination import make_pipeline
from ingestion.marketing_api import (
    ENDPOINTS,
    MarketingAPIError,
    all_good,
    api_root,
    find_problem,
    last_row_per_key,
    load_marketing,
    marketing_source,
    page_size_setting,
    parse_json,
    records_to_arrow,
)
from sandbox.servers import Fault, MarketingAPIServer
from warehouse import database

TOKEN = "test-token"
PAGE_SIZE = 5
BASE = datetime(2018, 1, 1, tzinfo=UTC)
VARCHAR = "character varying"  # dlt's text type in PostgreSQL


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def channel(i: int) -> dict[str, Any]:
    kinds = ["paid", "organic", "paid"]
    return {
        "channel_id": f"ch_{i}",
        "channel_name": f"Channel {i}",
        "channel_type": kinds[i],
        "updated_at": iso(BASE),
    }


def ad_spend(i: int, **changes: Any) -> dict[str, Any]:
    record = {
        "spend_id": f"sp_{i:03d}",
        "spend_date": (BASE + timedelta(days=i)).date().isoformat(),
        "channel_id": f"ch_{i % 3}",
        "campaign_id": f"cmp_{i % 4:03d}",
        "campaign_name": f"Campaign {i % 4}",
        "spend": round(10 + i * 1.37, 2),
        "currency": "BRL",
        "impressions": 1000 + i,
        "clicks": 10 + i,
        "updated_at": iso(BASE + timedelta(hours=i)),
    }
    return record | changes


def lead(i: int, **changes: Any) -> dict[str, Any]:
    record = {
        "lead_id": f"ld_{i:03d}",
        "channel_id": f"ch_{i % 3}",
        "campaign_id": f"cmp_{i % 4:03d}",
        "created_at": iso(BASE + timedelta(days=i)),
        "converted_at": None,
        "customer_unique_id": None,
        "updated_at": iso(BASE + timedelta(days=i)),
    }
    return record | changes


GOOD_AD_SPEND = [ad_spend(i) for i in range(1, 24)]
BAD_AD_SPEND = [
    # The newest record of all is a bad one: the next load reads it again and must not quarantine it twice.
    ad_spend(90, spend_id=None),
    ad_spend(91, spend=-12.5, updated_at=iso(BASE + timedelta(hours=5))),
    ad_spend(92, spend="12,50", updated_at=iso(BASE + timedelta(hours=6))),
]
GOOD_LEADS = [lead(i) for i in range(12)]  # converted_at and customer_unique_id null on every record
BAD_LEADS = [
    lead(50, lead_id="", updated_at=iso(BASE + timedelta(days=3, hours=1))),
    lead(51, updated_at="yesterday"),
]


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    marketing = tmp_path / "marketing"
    write_jsonl(marketing / "channels.jsonl", [channel(i) for i in range(3)])
    # Out of order in the file: the server sorts by (updated_at, id).
    write_jsonl(marketing / "ad_spend.jsonl", list(reversed(GOOD_AD_SPEND)) + BAD_AD_SPEND)
    write_jsonl(marketing / "leads.jsonl", GOOD_LEADS + BAD_LEADS)
    return tmp_path


@pytest.fixture
def api(data_dir: Path, monkeypatch: pytest.MonkeyPatch):
    with MarketingAPIServer(data_dir, token=TOKEN) as server:
        monkeypatch.setenv("MARKETING_API_URL", server.url)  # a bare host: /v1 is appended
        monkeypatch.setenv("MARKETING_API_TOKEN", TOKEN)
        monkeypatch.setenv("RUNTIME__REQUEST_BACKOFF_FACTOR", "0.1")
        yield server


def load(pipeline, **kwargs: Any):
    return load_marketing(pipeline=pipeline, page_size=PAGE_SIZE, **kwargs)


def table_rows(db, schema: str, table: str, order_by: str) -> list[dict[str, Any]]:
    """The table's rows without dlt's bookkeeping columns, in ``order_by`` order."""
    with database.connect(db) as conn, conn.cursor() as cur:
        cur.execute(
            sql.SQL("select * from {}.{} order by {}").format(
                sql.Identifier(schema), sql.Identifier(table), sql.Identifier(order_by)
            )
        )
        names = [column.name for column in cur.description]
        return [
            {name: value for name, value in zip(names, row, strict=True) if not name.startswith("_dlt")}
            for row in cur.fetchall()
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


def requests_to(server: MarketingAPIServer, endpoint: str) -> list:
    return [record for record in server.requests if record.path == f"/v1/{endpoint}"]


# ----------------------------------------------------------------------------------------- loads


def test_first_load_lands_every_record_once_with_rejects_quarantined(warehouse_db, api, pipeline) -> None:
    info, summary = load(pipeline)

    assert not info.has_failed_jobs
    assert summary.source == "marketing" and summary.dataset == pipeline.dataset_name
    assert summary.tables == {
        "channels": {"rows": 3, "rejected": 0},
        "ad_spend": {"rows": 23, "rejected": 3},
        "leads": {"rows": 12, "rejected": 2},
    }
    schema = pipeline.dataset_name
    assert counts(warehouse_db, schema) == {
        "channels": 3,
        "ad_spend": 23,
        "ad_spend__rejected": 3,
        "leads": 12,
        "leads__rejected": 2,
    }
    # Values as delivered: JSON strings as text (timestamps too), numbers as numbers.
    assert table_rows(warehouse_db, schema, "ad_spend", "spend_id") == GOOD_AD_SPEND
    assert table_rows(warehouse_db, schema, "leads", "lead_id") == GOOD_LEADS
    assert column_types(warehouse_db, schema, "leads") == {
        "lead_id": VARCHAR,
        "channel_id": VARCHAR,
        "campaign_id": VARCHAR,
        "created_at": VARCHAR,
        "converted_at": VARCHAR,  # null on every record, declared anyway
        "customer_unique_id": VARCHAR,
        "updated_at": VARCHAR,
    }
    assert column_types(warehouse_db, schema, "ad_spend") == {
        "spend_id": VARCHAR,
        "spend_date": VARCHAR,
        "channel_id": VARCHAR,
        "campaign_id": VARCHAR,
        "campaign_name": VARCHAR,
        "spend": "double precision",
        "currency": VARCHAR,
        "impressions": "bigint",
        "clicks": "bigint",
        "updated_at": VARCHAR,
    }
    assert column_types(warehouse_db, schema, "channels") == {
        "channel_id": VARCHAR,
        "channel_name": VARCHAR,
        "channel_type": VARCHAR,
        "updated_at": VARCHAR,
    }

    rejected = table_rows(warehouse_db, schema, "ad_spend__rejected", "reason")
    assert [(r["column_name"], r["reason"]) for r in rejected] == [
        ("spend_id", "missing primary key"),
        ("spend", "negative value: -12.5"),
        ("spend", "non-numeric value: '12,50'"),
    ]
    assert {r["source_file"] for r in rejected} == {f"{api.url}/v1/ad_spend"}
    assert all(r["source_row"] is None for r in rejected)
    assert sorted((json.loads(r["record"]) for r in rejected), key=lambda r: r["updated_at"]) == sorted(
        BAD_AD_SPEND, key=lambda r: r["updated_at"]
    )
    lead_rejects = table_rows(warehouse_db, schema, "leads__rejected", "reason")
    assert [(r["column_name"], r["reason"]) for r in lead_rejects] == [
        ("updated_at", "malformed updated_at (expected an ISO 8601 timestamp): 'yesterday'"),
        ("lead_id", "missing primary key"),
    ]
    assert column_types(warehouse_db, schema, "leads__rejected") == {
        "source_file": VARCHAR,
        "source_row": "bigint",
        "column_name": VARCHAR,
        "reason": VARCHAR,
        "record": VARCHAR,
    }

    # Several pages of PAGE_SIZE, each with the bearer token; no incremental filter on a first load.
    pages = requests_to(api, "ad_spend")
    assert [r.query.get("page", "1") for r in pages] == ["1", "2", "3", "4", "5", "6"]
    assert all(r.query["page_size"] == str(PAGE_SIZE) for r in pages)
    assert all(r.headers.get("Authorization") == f"Bearer {TOKEN}" for r in api.requests)
    assert all("updated_since" not in r.query for r in api.requests)


def test_incremental_load_asks_for_changes_only_and_merges_them(
    warehouse_db, api, pipeline, data_dir
) -> None:
    load(pipeline)
    api.clear_requests()

    # Upstream: lead 4 converts (a new version with a later updated_at), two leads and a spend arrive.
    day_30, day_31 = iso(BASE + timedelta(days=30)), iso(BASE + timedelta(days=31))
    converted = lead(4, converted_at=day_30, customer_unique_id="cu_0004", updated_at=day_30)
    new_leads = [lead(100, updated_at=day_31), lead(101, updated_at=day_31)]
    leads = [converted if r["lead_id"] == "ld_004" else r for r in GOOD_LEADS] + BAD_LEADS + new_leads
    write_jsonl(data_dir / "marketing" / "leads.jsonl", leads)
    new_spend = ad_spend(100)
    write_jsonl(data_dir / "marketing" / "ad_spend.jsonl", GOOD_AD_SPEND + BAD_AD_SPEND + [new_spend])

    _, summary = load(pipeline)

    # Only what changed since the largest updated_at loaded, which the API filter includes.
    lead_calls = requests_to(api, "leads")
    assert {r.query.get("updated_since") for r in lead_calls} == {iso(BASE + timedelta(days=11))}
    spend_calls = requests_to(api, "ad_spend")
    assert {r.query.get("updated_since") for r in spend_calls} == {iso(BASE + timedelta(hours=23))}
    # The boundary records dlt has seen are dropped; the bad newest spend is not quarantined again.
    assert summary.tables["leads"] == {"rows": 3, "rejected": 0}
    assert summary.tables["ad_spend"] == {"rows": 1, "rejected": 0}
    assert summary.tables["channels"] == {"rows": 3, "rejected": 0}

    schema = pipeline.dataset_name
    assert counts(warehouse_db, schema) == {
        "channels": 3,
        "ad_spend": 24,
        "ad_spend__rejected": 3,
        "leads": 14,
        "leads__rejected": 2,
    }
    leads_table = table_rows(warehouse_db, schema, "leads", "lead_id")
    assert len({r["lead_id"] for r in leads_table}) == len(leads_table) == 14
    by_id = {r["lead_id"]: r for r in leads_table}
    assert by_id["ld_004"] == converted
    assert by_id["ld_101"] == new_leads[1]
    assert by_id["ld_005"] == lead(5)
    assert table_rows(warehouse_db, schema, "ad_spend", "spend_id")[-1] == new_spend


def test_a_repeated_load_changes_nothing(warehouse_db, api, pipeline) -> None:
    load(pipeline)
    schema = pipeline.dataset_name
    tables = ["channels", "ad_spend", "ad_spend__rejected", "leads", "leads__rejected"]
    keys = {"channels": "channel_id", "ad_spend": "spend_id", "leads": "lead_id"}
    before = {t: table_rows(warehouse_db, schema, t, keys.get(t, "record")) for t in tables}
    api.clear_requests()

    _, summary = load(pipeline)

    assert summary.tables == {
        "channels": {"rows": 3, "rejected": 0},  # replaced whole, with the same rows
        "ad_spend": {"rows": 0, "rejected": 0},
        "leads": {"rows": 0, "rejected": 0},
    }
    assert {t: table_rows(warehouse_db, schema, t, keys.get(t, "record")) for t in tables} == before
    assert all(r.query.get("updated_since") for r in requests_to(api, "leads") + requests_to(api, "ad_spend"))


def test_rate_limit_server_error_and_timeout_mid_pagination_are_retried(
    warehouse_db, api, pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNTIME__REQUEST_TIMEOUT", "1")
    api.inject_fault(Fault.rate_limit(retry_after=1, endpoint="ad_spend", page=2))
    api.inject_fault(Fault.error(500, endpoint="ad_spend", page=3))
    api.inject_fault(Fault.slow(3, endpoint="leads", page=2))

    info, summary = load(pipeline)

    assert not info.has_failed_jobs
    assert api.faults == []
    assert summary.tables["ad_spend"] == {"rows": 23, "rejected": 3}
    assert summary.tables["leads"] == {"rows": 12, "rejected": 2}
    assert counts(warehouse_db, pipeline.dataset_name)["ad_spend"] == 23
    assert table_rows(warehouse_db, pipeline.dataset_name, "leads", "lead_id") == GOOD_LEADS

    spend_pages = [(r.query.get("page", "1"), r.status) for r in requests_to(api, "ad_spend")]
    assert spend_pages == [
        ("1", 200),
        ("2", 429),
        ("2", 200),
        ("3", 500),
        ("3", 200),
        ("4", 200),
        ("5", 200),
        ("6", 200),
    ]
    # The slow answer is logged when its delay ends, after the client gave up and asked again.
    deadline = time.monotonic() + 5
    while not any(r.fault for r in requests_to(api, "leads")) and time.monotonic() < deadline:
        time.sleep(0.1)
    page_2 = [r for r in requests_to(api, "leads") if r.query.get("page") == "2"]
    assert [r.fault for r in page_2] == [None, "delay 3s"]  # the retry answered first
    assert page_2[0].at - page_2[1].at == pytest.approx(1, abs=0.5)  # after the 1 s timeout


def test_without_retries_the_timeout_fails_the_load(api, pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNTIME__REQUEST_TIMEOUT", "1")
    monkeypatch.setenv("RUNTIME__REQUEST_MAX_ATTEMPTS", "1")
    api.inject_fault(Fault.slow(3, endpoint="leads", page=2))
    with pytest.raises(PipelineStepFailed, match="(?i)timed out"):
        load(pipeline)


def test_a_wrong_token_fails_at_once_with_the_api_error(api, pipeline) -> None:
    with pytest.raises(MarketingAPIError, match="HTTP 401") as failure:
        load(pipeline, token="not-the-token")
    assert "missing or invalid bearer token" in str(failure.value)
    assert "check MARKETING_API_TOKEN" in str(failure.value)
    assert TOKEN not in str(failure.value) and "not-the-token" not in str(failure.value)
    assert len(api.requests) == 1  # 401 is not retried


# ------------------------------------------------------------------------------------------- units


def test_api_root() -> None:
    assert api_root("http://127.0.0.1:8765") == "http://127.0.0.1:8765/v1"
    assert api_root("http://127.0.0.1:8765/") == "http://127.0.0.1:8765/v1"
    assert api_root("https://api.example.com/marketing/v2/") == "https://api.example.com/marketing/v2"
    with pytest.raises(ValueError, match="MARKETING_API_URL"):
        api_root("")
    with pytest.raises(ValueError, match="http"):
        api_root("ftp://example.com")


def test_page_size_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MARKETING_API_PAGE_SIZE", raising=False)
    assert page_size_setting() == 1000
    monkeypatch.setenv("MARKETING_API_PAGE_SIZE", "250")
    assert page_size_setting() == 250
    assert page_size_setting(7) == 7
    for bad in ("0", "1001", "many"):
        monkeypatch.setenv("MARKETING_API_PAGE_SIZE", bad)
        with pytest.raises(ValueError, match="MARKETING_API_PAGE_SIZE"):
            page_size_setting()


@pytest.mark.parametrize(
    ("record", "problem"),
    [
        (ad_spend(1), None),
        (ad_spend(1, spend=0), None),
        (ad_spend(1, spend=None), None),
        (ad_spend(1, spend_id=None), ("spend_id", "missing primary key")),
        (ad_spend(1, spend_id="  "), ("spend_id", "missing primary key")),
        (ad_spend(1, spend=-0.01), ("spend", "negative value: -0.01")),
        (ad_spend(1, spend=True), ("spend", "non-numeric value: True")),
        (ad_spend(1, updated_at=None), ("updated_at", "missing updated_at (the incremental cursor)")),
        (
            ad_spend(1, updated_at=20180101),
            ("updated_at", "malformed updated_at (expected an ISO 8601 timestamp): 20180101"),
        ),
        ("not an object", (None, "record is not a JSON object but str")),
    ],
)
def test_find_problem(record: Any, problem: tuple | None) -> None:
    assert find_problem(record, ENDPOINTS["ad_spend"]) == problem


def test_channels_need_only_their_key() -> None:
    assert find_problem({"channel_id": "ch_1", "updated_at": None}, ENDPOINTS["channels"]) is None
    assert find_problem({"channel_name": "x"}, ENDPOINTS["channels"]) == ("channel_id", "missing primary key")


# --------------------------------------------------------------------------------- the fast path


def staging_tables(db, schema: str) -> list[str]:
    rows = database.query(
        "select table_name from information_schema.tables where table_schema = %s", (f"{schema}_staging",), db
    )
    return sorted(name for (name,) in rows)


def test_first_load_appends_then_later_loads_merge(warehouse_db, api, pipeline, data_dir) -> None:
    # Run as Dagster runs it: no loader_file_format, the source's own hints decide.
    info = pipeline.run(marketing_source(page_size=PAGE_SIZE))

    assert not info.has_failed_jobs
    schema = pipeline.dataset_name
    assert pipeline.default_schema.get_table("leads")["write_disposition"] == "append"
    assert pipeline.default_schema.get_table("ad_spend")["write_disposition"] == "append"
    assert staging_tables(warehouse_db, schema) == []  # COPY straight into the tables
    jobs = [job.job_file_info for package in info.load_packages for job in package.jobs["completed_jobs"]]
    formats = {job.table_name: job.file_format for job in jobs}
    assert formats["leads"] == formats["ad_spend"] == "csv"
    assert formats["leads__rejected"] == "insert_values"  # dicts: dlt's CSV writer miscounts them
    assert pipeline.last_trace.last_normalize_info.row_counts["leads__rejected"] == 2
    # dlt's lineage columns on every good row, as the row-by-row path always wrote them
    lineage = database.query(
        f'select count(*), count(distinct _dlt_id), count(_dlt_load_id) from "{schema}".leads',
        None,
        warehouse_db,
    )
    assert lineage == [(12, 12, 12)]

    converted = lead(
        4, converted_at=iso(BASE + timedelta(days=30)), updated_at=iso(BASE + timedelta(days=30))
    )
    leads = [converted if r["lead_id"] == "ld_004" else r for r in GOOD_LEADS] + BAD_LEADS
    write_jsonl(data_dir / "marketing" / "leads.jsonl", leads)
    _, summary = load(pipeline)

    assert pipeline.default_schema.get_table("leads")["write_disposition"] == "merge"
    assert summary.tables["leads"] == {"rows": 1, "rejected": 0}
    by_id = {r["lead_id"]: r for r in table_rows(warehouse_db, schema, "leads", "lead_id")}
    assert len(by_id) == 12 and by_id["ld_004"] == converted


def test_a_record_read_twice_in_one_load_keeps_its_last_version(
    warehouse_db, api, pipeline, data_dir
) -> None:
    # The API pages by (updated_at, id): a lead that changed while the load paged through comes again
    # on a later page. Both versions arrive in one load; the newer one must win, on the first load
    # (append) as on later ones (merge).
    later = lead(2, converted_at=iso(BASE + timedelta(days=40)), updated_at=iso(BASE + timedelta(days=40)))
    write_jsonl(data_dir / "marketing" / "leads.jsonl", GOOD_LEADS + [later])

    _, summary = load(pipeline)

    assert summary.tables["leads"] == {"rows": 12, "rejected": 0}
    by_id = {r["lead_id"]: r for r in table_rows(warehouse_db, pipeline.dataset_name, "leads", "lead_id")}
    assert len(by_id) == 12 and by_id["ld_002"] == later


def test_records_beyond_the_declared_columns_load_row_by_row(warehouse_db, api, pipeline, data_dir) -> None:
    # A field the API added and a number where text is declared: dlt's row-by-row path adds the
    # column and keeps the value, as it always did; bad records are still quarantined.
    odd = [lead(20, utm_source="newsletter"), lead(21, campaign_id=7)]
    write_jsonl(data_dir / "marketing" / "leads.jsonl", GOOD_LEADS + odd + BAD_LEADS)

    _, summary = load(pipeline)

    assert summary.tables["leads"] == {"rows": 14, "rejected": 2}
    schema = pipeline.dataset_name
    assert column_types(warehouse_db, schema, "leads")["utm_source"] == VARCHAR
    by_id = {r["lead_id"]: r for r in table_rows(warehouse_db, schema, "leads", "lead_id")}
    assert by_id["ld_020"]["utm_source"] == "newsletter"
    assert by_id["ld_021"]["campaign_id"] == "7"
    assert by_id["ld_005"] == lead(5) | {"utm_source": None}
    assert [r["column_name"] for r in table_rows(warehouse_db, schema, "leads__rejected", "reason")] == [
        "updated_at",
        "lead_id",
    ]

    _, again = load(pipeline)  # the cursor moved as far as on the fast path
    assert again.tables["leads"] == {"rows": 0, "rejected": 0}


def test_bad_records_are_quarantined_with_their_reason_on_every_page(
    warehouse_db, api, pipeline, data_dir
) -> None:
    # Bad leads spread over several pages, between good ones: each page's good records load and
    # each bad one lands once in leads__rejected with its reason, then is not quarantined again.
    bad = [
        lead(60, lead_id=None, updated_at=iso(BASE + timedelta(days=2, hours=1))),
        lead(61, updated_at="2018-02-30T00:00:00Z"),
        lead(62, updated_at=None),
    ]
    write_jsonl(data_dir / "marketing" / "leads.jsonl", GOOD_LEADS + bad)

    _, summary = load(pipeline)

    assert summary.tables["leads"] == {"rows": 12, "rejected": 3}
    rejected = table_rows(warehouse_db, pipeline.dataset_name, "leads__rejected", "reason")
    assert sorted((r["column_name"], r["reason"]) for r in rejected) == [
        ("lead_id", "missing primary key"),
        ("updated_at", "malformed updated_at (expected an ISO 8601 timestamp): '2018-02-30T00:00:00Z'"),
        ("updated_at", "missing updated_at (the incremental cursor)"),
    ]
    _, again = load(pipeline)
    assert again.tables["leads"] == {"rows": 0, "rejected": 0}


def test_rate_limit_on_the_first_page_is_retried(warehouse_db, api, pipeline) -> None:
    api.inject_fault(Fault.rate_limit(retry_after=1, endpoint="leads", page=1, times=2))

    _, summary = load(pipeline)

    assert summary.tables["leads"] == {"rows": 12, "rejected": 2}
    first_pages = [r.status for r in requests_to(api, "leads") if r.query.get("page", "1") == "1"]
    assert first_pages == [429, 429, 200]


def test_records_to_arrow_takes_only_records_that_fit_the_declared_columns() -> None:
    spend = ENDPOINTS["ad_spend"]
    table = records_to_arrow([ad_spend(1), ad_spend(2, spend=None, impressions=None)], spend)
    assert table is not None and table.num_rows == 2
    assert table.schema.field("spend").type == pa.float64()
    assert table.schema.field("impressions").type == pa.int64()
    assert not table.schema.field("spend_id").nullable
    assert table.to_pylist()[0] == ad_spend(1)
    assert records_to_arrow([ad_spend(1, spend=12)], spend).to_pylist()[0]["spend"] == 12.0
    for odd in (
        ad_spend(1, utm_source="x"),  # a field that is not declared
        ad_spend(1, currency=1),  # a number where text is declared
        ad_spend(1, impressions=10.0),  # a double where bigint is declared
        ad_spend(1, spend=True),  # a boolean where double is declared
        ad_spend(1, clicks=2**70),  # beyond bigint
    ):
        assert records_to_arrow([ad_spend(2), odd], spend) is None, odd


def test_last_row_per_key_keeps_the_last_version_in_order() -> None:
    table = pa.table({"lead_id": ["a", "b", "a", "c", "b"], "v": [1, 2, 3, 4, 5]})
    assert last_row_per_key(table, "lead_id").to_pylist() == [
        {"lead_id": "a", "v": 3},
        {"lead_id": "c", "v": 4},
        {"lead_id": "b", "v": 5},
    ]
    unique = pa.table({"lead_id": ["a", "b"], "v": [1, 2]})
    assert last_row_per_key(unique, "lead_id") is unique


def test_parse_json_falls_back_to_the_json_module() -> None:
    assert parse_json(b'{"data": [{"a": 1}]}') == {"data": [{"a": 1}]}
    assert math.isnan(parse_json(b'{"spend": NaN}')["spend"])  # orjson refuses NaN
    assert parse_json('{"a": "é"}'.encode("utf-16")) == {"a": "é"}
    with pytest.raises(ValueError):
        parse_json(b"<html>")


def test_empty_strings_stay_empty_strings(warehouse_db, api, pipeline, data_dir) -> None:
    # dlt loads CSV with FORCE_NULL on nullable columns, which would turn "" into null; the raw
    # tables keep values as delivered.
    blank = lead(30, campaign_id="", customer_unique_id=" ")
    write_jsonl(data_dir / "marketing" / "leads.jsonl", GOOD_LEADS + [blank])

    _, summary = load(pipeline)

    assert summary.tables["leads"] == {"rows": 13, "rejected": 0}
    by_id = {r["lead_id"]: r for r in table_rows(warehouse_db, pipeline.dataset_name, "leads", "lead_id")}
    assert by_id["ld_030"] == blank
    assert by_id["ld_001"]["converted_at"] is None


@pytest.mark.parametrize(
    "record",
    [
        ad_spend(3),
        ad_spend(3, spend_id=" "),
        ad_spend(3, spend_id="\x1c"),  # whitespace to str.strip
        ad_spend(3, spend_id="é"),
        ad_spend(3, spend_id=None),
        ad_spend(3, updated_at="2018-02-30T00:00:00Z"),
        ad_spend(3, updated_at="2018-01-01T24:00:00Z"),
        ad_spend(3, updated_at="0000-01-01T00:00:00Z"),
        ad_spend(3, updated_at="2018-01-01 00:00:00"),
        ad_spend(3, updated_at="2018-01-01T00:00:00.5+00:00"),
        ad_spend(3, updated_at=None),
        ad_spend(3, spend=-0.0),
        ad_spend(3, spend=float("nan")),
        ad_spend(3, spend=-1),
        ad_spend(3, spend=None),
    ],
)
def test_the_page_check_agrees_with_find_problem(record: dict[str, Any]) -> None:
    spend = ENDPOINTS["ad_spend"]
    page = records_to_arrow([ad_spend(1), record], spend)
    assert page is not None
    if all_good(page, spend):  # it may leave a good record to find_problem, never pass a bad one
        assert find_problem(record, spend) is None
    if record == ad_spend(3):
        assert all_good(page, spend)


def test_a_table_that_holds_rows_is_merged_even_without_dlt_state(warehouse_db, api, pipeline) -> None:
    load(pipeline)
    other = make_pipeline(f"{pipeline.pipeline_name}_other", pipeline.dataset_name, warehouse_db)

    _, summary = load(other)  # no cursor: everything again

    assert summary.tables["leads"]["rows"] == 12
    assert other.default_schema.get_table("leads")["write_disposition"] == "merge"
    leads = table_rows(warehouse_db, pipeline.dataset_name, "leads", "lead_id")
    assert len(leads) == len({r["lead_id"] for r in leads}) == 12
