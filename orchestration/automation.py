"""When things run: the daily schedule, the landing-folder sensor, the marts' freshness policy
and the alert on failed runs."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from datetime import timedelta

import requests
from dagster import (
    AssetKey,
    AssetSelection,
    AssetSpec,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    FreshnessPolicy,
    RunFailureSensorContext,
    RunRequest,
    ScheduleDefinition,
    SensorEvaluationContext,
    SkipReason,
    define_asset_job,
    run_failure_sensor,
    sensor,
)

from ingestion import olist_files
from orchestration.checks import SCOPE_TAG, WHOLE_TABLE
from warehouse.paths import landing_url

log = logging.getLogger(__name__)

LANDING_KEYS = [AssetKey(["olist", spec.table]) for spec in olist_files.TABLES.values()]
# The marts are rebuilt daily (daily_refresh); a mart not materialized for this long fails its
# freshness policy (26 h: a day plus the run's own time and some slack).
MART_MAX_AGE = timedelta(hours=float(os.environ.get("MART_MAX_AGE_HOURS", "26")))
MART_GROUP = "marts"

all_assets_job = define_asset_job(
    "all_assets", selection=AssetSelection.all(), description="Every asset, from the sources to the marts."
)
landing_files_job = define_asset_job(
    "landing_files",
    selection=AssetSelection.assets(*LANDING_KEYS).downstream(),
    description="The order files from the landing folder and everything downstream of them.",
)

daily_refresh = ScheduleDefinition(
    name="daily_refresh",
    job=all_assets_job,
    cron_schedule=os.environ.get("DAILY_REFRESH_CRON", "0 6 * * *"),
    execution_timezone="America/Sao_Paulo",
    default_status=DefaultScheduleStatus.RUNNING,
    description=(
        "Loads every source and rebuilds the warehouse once a day; its quality gates validate whole "
        "tables, not only the rows just loaded."
    ),
    tags={SCOPE_TAG: WHOLE_TABLE},
)


def landing_fingerprints(url: str | None = None) -> dict[str, str]:
    """Every Olist file in the landing folder with its fingerprint (size and mtime, or ETag)."""
    found: dict[str, str] = {}
    for spec in olist_files.TABLES.values():
        found.update(dict(olist_files.find_files(url or landing_url(), spec)))
    return found


@sensor(
    name="landing_files_sensor",
    job=landing_files_job,
    minimum_interval_seconds=int(os.environ.get("LANDING_SENSOR_INTERVAL_SECONDS", "30")),
    default_status=DefaultSensorStatus.RUNNING,
    description="Starts the file load and everything downstream of it when a new or changed file lands.",
)
def landing_files_sensor(context: SensorEvaluationContext):
    current = landing_fingerprints()
    if context.cursor is None:
        # First tick: files already there are the daily schedule's (or a manual run's) business.
        context.update_cursor(json.dumps(current))
        return SkipReason(f"Watching {landing_url()}: {len(current)} file(s) already there.")
    seen = json.loads(context.cursor)
    new = sorted(path for path, fingerprint in current.items() if seen.get(path) != fingerprint)
    if not new:
        return SkipReason("No new files in the landing folder.")
    context.update_cursor(json.dumps(current))
    run_key = hashlib.sha256(json.dumps([(p, current[p]) for p in new]).encode()).hexdigest()[:16]
    return RunRequest(
        run_key=run_key,
        tags={"trigger": "landing_files_sensor", "new_files": str(len(new))},
    )


def alert(message: str, payload: dict) -> None:
    """An alert: always a log line; a POST to ALERT_WEBHOOK_URL (Slack-compatible `text`) when set."""
    log.error(message)
    url = os.environ.get("ALERT_WEBHOOK_URL")
    if url:
        try:
            requests.post(url, json={"text": message, **payload}, timeout=10).raise_for_status()
        except requests.RequestException as exc:
            log.error("the alert webhook failed: %s", exc)


@run_failure_sensor(
    name="alert_on_run_failure",
    default_status=DefaultSensorStatus.RUNNING,
    description="Logs a clear alert (and calls ALERT_WEBHOOK_URL when set) when a run fails.",
)
def alert_on_run_failure(context: RunFailureSensorContext):
    run = context.dagster_run
    error = context.failure_event.message or "unknown error"
    failed_steps = [event.step_key for event in context.get_step_failure_events()]
    message = (
        f"ALERT: run {run.run_id} of job {run.job_name} failed"
        f"{' in ' + ', '.join(failed_steps) if failed_steps else ''}: {error}"
    )
    alert(message, {"run_id": run.run_id, "job": run.job_name, "failed_steps": failed_steps})


def mart_freshness_policy() -> FreshnessPolicy:
    """Fresh while the last materialization is younger than MART_MAX_AGE_HOURS; after that the
    mart's freshness state is FAIL until it is materialized again. The Dagster daemon evaluates it
    (its freshness daemon, every 30 s) and shows it on the asset; no check or sensor is involved."""
    return FreshnessPolicy.time_window(fail_window=MART_MAX_AGE)


def with_mart_freshness(spec: AssetSpec) -> AssetSpec:
    """The marts' freshness policy on every asset of the marts group; other assets unchanged.
    For ``map_asset_specs`` (orchestration/definitions.py)."""
    if spec.group_name != MART_GROUP:
        return spec
    return spec.replace_attributes(freshness_policy=mart_freshness_policy())
