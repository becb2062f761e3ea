"""The landing sensor, the failure alert, the schedule and the marts' freshness policy, evaluated the
way the daemon does."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from dagster import (
    AssetKey,
    AssetMaterialization,
    DagsterInstance,
    FreshnessPolicy,
    RunRequest,
    SkipReason,
    build_sensor_context,
)

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


def test_every_mart_and_nothing_else_has_the_freshness_policy() -> None:
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    with_policy = {key for key in graph.get_all_asset_keys() if graph.get(key).freshness_policy}
    marts = {key for key in graph.get_all_asset_keys() if graph.get(key).group_name == "marts"}
    assert AssetKey(["marts", "fct_orders"]) in marts and len(marts) > 10
    assert with_policy == marts
    policy = FreshnessPolicy.time_window(fail_window=timedelta(hours=26))  # MART_MAX_AGE_HOURS unset
    for key in marts:
        assert graph.get(key).freshness_policy == policy, key
    # the policy replaces the superseded freshness checks and their sensor
    assert not any(check.name == "freshness_check" for check in graph.asset_check_keys)
    assert "mart_freshness_sensor" not in {sensor.name for sensor in defs.sensors or []}


def test_the_freshness_daemon_fails_a_mart_older_than_the_window() -> None:
    """One iteration of Dagster's freshness daemon over the code location, loaded in process (private
    Dagster APIs: the daemon has no public entry point for a single evaluation)."""
    from dagster._core.remote_origin import InProcessCodeLocationOrigin
    from dagster._core.test_utils import freeze_time, instance_for_test
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
    from dagster._daemon.freshness import FreshnessDaemon

    mart, staging = AssetKey(["marts", "fct_orders"]), AssetKey(["staging", "stg_olist__orders"])
    origin = InProcessCodeLocationOrigin(LoadableTargetOrigin(module_name="orchestration.definitions"))
    with (
        instance_for_test() as instance,
        WorkspaceProcessContext(instance, InProcessWorkspaceLoadTarget(origin)) as workspace,
    ):

        def states() -> dict[str, str]:
            list(FreshnessDaemon().run_iteration(workspace))
            records = instance.get_freshness_state_records([mart, staging])
            return {key.to_user_string(): record.freshness_state.value for key, record in records.items()}

        assert states() == {"marts/fct_orders": "UNKNOWN", "staging/stg_olist__orders": "NOT_APPLICABLE"}
        instance.report_runless_asset_event(AssetMaterialization(mart))
        assert states()["marts/fct_orders"] == "PASS"
        with freeze_time(datetime.now(UTC) + automation.MART_MAX_AGE - timedelta(minutes=5)):
            assert states()["marts/fct_orders"] == "PASS"
        with freeze_time(datetime.now(UTC) + automation.MART_MAX_AGE + timedelta(minutes=5)):
            assert states()["marts/fct_orders"] == "FAIL"
