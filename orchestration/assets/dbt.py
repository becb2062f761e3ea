"""The dbt project as Dagster assets; dbt tests become asset checks."""

from dagster import AssetExecutionContext
from dagster_dbt import DbtCliResource, dbt_assets

from orchestration.dbt_project import dbt_project, ensure_manifest
from orchestration.translators import WarehouseDbtTranslator
from warehouse import database

MANIFEST = ensure_manifest()


@dbt_assets(manifest=MANIFEST, project=dbt_project, dagster_dbt_translator=WarehouseDbtTranslator())
def warehouse_dbt_assets(context: AssetExecutionContext, dbt: DbtCliResource):
    """`dbt build` for the selected models: seeds, models and their tests, in dependency order."""
    database.ensure()  # exports PG* for the dbt subprocess
    yield from dbt.cli(["build"], context=context).stream()
