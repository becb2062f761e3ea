"""The Dagster code location: `dagster dev -m orchestration.definitions`."""

from __future__ import annotations

from dagster import AssetSelection, Definitions, define_asset_job
from dagster_dbt import DbtCliResource
from dagster_dlt import DagsterDltResource

from orchestration.assets.dbt import warehouse_dbt_assets
from orchestration.assets.ingestion import olist_file_assets
from orchestration.dbt_project import dbt_executable, dbt_project

all_assets_job = define_asset_job(
    "all_assets", selection=AssetSelection.all(), description="Every asset, file to mart."
)

defs = Definitions(
    assets=[olist_file_assets, warehouse_dbt_assets],
    jobs=[all_assets_job],
    resources={
        "dlt": DagsterDltResource(),
        "dbt": DbtCliResource(project_dir=dbt_project, dbt_executable=dbt_executable()),
    },
)
