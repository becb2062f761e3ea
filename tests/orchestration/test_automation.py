"""The landing sensor, the failure alert and the schedule, evaluated the way the daemon does."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from dagster import DagsterInstance, RunRequest, SkipReason, build_sensor_context

from orchestration import automation
from tests.ingestion import olist_samples


def _tick(cursor: str | None, instance: DagsterInstance):
    context = build_sensor_context(cursor=cursor, instance=instance)
    result = automation.landing_files_sensor(context)
    return result, context.cursor


def test_sensor_requests_the_file_load_and_downstream_when_a_new_file_lands(landing: Path) -> None:
    olist_samples.write(landing / "batch_0001")
    with DagsterInstance.ephemeral() as instance:
        first, cursor = _tick(None, instance)
        assert isinstance(first, SkipReason) and "9 file(s) already there" in first.skip_message

        quiet, cursor = _tick(cursor, instance)
        assert isinstance(quiet, SkipReason)

        olist_samples.write(landing / "batch_0002", ["olist_orders_dataset.csv"])
        request, cursor = _tick(cursor, instance)
        assert isinstance(request, RunRequest)
        assert request.tags["new_files"] == "1"
        assert str(landing / "batch_0002" / "olist_orders_dataset.csv") in json.loads(cursor)

        again, _ = _tick(cursor, instance)
        assert isinstance(again, SkipReason), "the same file must not start a second run"


def test_the_daily_schedule_runs_every_asset() -> None:
    assert automation.daily_refresh.job_name == "all_assets"
    assert automation.daily_refresh.cron_schedule == "0 6 * * *"


def test_alert_logs_and_posts_to_the_webhook(monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server API)
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("ALERT_WEBHOOK_URL", f"http://127.0.0.1:{server.server_port}/hook")
        with caplog.at_level("ERROR"):
            automation.alert("ALERT: run 123 of job all_assets failed", {"run_id": "123"})
    finally:
        server.shutdown()
    assert "run 123 of job all_assets failed" in caplog.text
    assert received == [{"text": "ALERT: run 123 of job all_assets failed", "run_id": "123"}]
