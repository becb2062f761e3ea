"""The Dagster code location: `dagster dev -m orchestration.definitions` (`make dagster`)."""

from __future__ import annotations

from dagster import Definitions, map_asset_specs
from dagster_dbt import DbtCliResource
from dagster_dlt import DagsterDltResource

from orchestration.assets.clv import clv_assets
from orchestration.assets.dbt import dbt_assets_defs
from orchestration.assets.ingestion import ingestion_assets
from orchestration.automation import (
    alert_on_run_failure,
    all_assets_job,
    daily_refresh,
    landing_files_job,
    landing_files_sensor,
    with_mart_freshness,
)
from orchestration.checks import quality_gates
from orchestration.dbt_project import dbt_executable, dbt_project

defs = Definitions(
    # the marts' freshness policy (orchestration/automation.py) on the marts' specs
    assets=map_asset_specs(with_mart_freshness, [*ingestion_assets, *dbt_assets_defs, *clv_assets]),
    asset_checks=quality_gates,
    jobs=[all_assets_job, landing_files_job],
    schedules=[daily_refresh],
    sensors=[landing_files_sensor, alert_on_run_failure],
    resources={
        "dlt": DagsterDltResource(),
        "dbt": DbtCliResource(project_dir=dbt_project, dbt_executable=dbt_executable()),
    },
)
