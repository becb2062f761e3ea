"""The Dagster code location: `dagster dev -m orchestration.definitions` (`make dagster`)."""

from __future__ import annotations

from dagster import Definitions
from dagster_dbt import DbtCliResource
from dagster_dlt import DagsterDltResource

from orchestration.assets.clv import clv_assets
from orchestration.assets.dbt import warehouse_dbt_assets
from orchestration.assets.ingestion import ingestion_assets
from orchestration.automation import (
    alert_on_run_failure,
    all_assets_job,
    daily_refresh,
    landing_files_job,
    landing_files_sensor,
    mart_freshness,
)
from orchestration.checks import quality_gates
from orchestration.dbt_project import dbt_executable, dbt_project

MART_KEYS = sorted((key for key in warehouse_dbt_assets.keys if key.path[0] == "marts"), key=str)
freshness_checks, freshness_sensor = mart_freshness(MART_KEYS)

defs = Definitions(
    assets=[*ingestion_assets, warehouse_dbt_assets, *clv_assets],
    asset_checks=[*quality_gates, *freshness_checks],
    jobs=[all_assets_job, landing_files_job],
    schedules=[daily_refresh],
    sensors=[landing_files_sensor, alert_on_run_failure, freshness_sensor],
    resources={
        "dlt": DagsterDltResource(),
        "dbt": DbtCliResource(project_dir=dbt_project, dbt_executable=dbt_executable()),
    },
)
