"""The Dagster code location: `dagster dev -m orchestration.definitions` (`make dagster`)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def _long_lived_objects() -> Iterator[None]:
    """Load what stays loaded for the life of the process without the cyclic garbage collector.

    Loading the definitions creates about half a million objects that are never freed (the classes of
    dagster, dbt-core and dlt, the asset graph); the collector would traverse them again and again
    while they are created, and once more when the process exits: about 2 of the 6 s a fresh process
    took to load the code location. So the collector pauses while they load; one collection then
    frees the load's own garbage, and ``gc.freeze()`` leaves the rest out of every later collection
    (the code server, and each run and step process, keeps them to the end anyway)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.collect()
        gc.freeze()
        if was_enabled:
            gc.enable()


with _long_lived_objects():
    from dagster import Definitions, map_asset_specs
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
    from orchestration.dbt_project import WarehouseDbtCliResource, dbt_executable, dbt_project

    defs = Definitions(
        # the marts' freshness policy (orchestration/automation.py) on the marts' specs
        assets=map_asset_specs(with_mart_freshness, [*ingestion_assets, *dbt_assets_defs, *clv_assets]),
        asset_checks=quality_gates,
        jobs=[all_assets_job, landing_files_job],
        schedules=[daily_refresh],
        sensors=[landing_files_sensor, alert_on_run_failure],
        resources={
            "dlt": DagsterDltResource(),
            "dbt": WarehouseDbtCliResource(project_dir=dbt_project, dbt_executable=dbt_executable()),
        },
    )
