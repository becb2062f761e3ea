"""`make run`: the whole pipeline through Dagster, the dbt docs, and a summary of what happened."""

from __future__ import annotations

import logging
import os
import time
from collections import Counter

from warehouse import database
from warehouse.paths import DBT_PROJECT_DIR, dagster_home
from warehouse.settings import DatabaseSettings

log = logging.getLogger(__name__)

RAW_SCHEMAS = ("raw_olist", "raw_marketing", "raw_erp", "raw_bcb", "raw_byo")
MODEL_SCHEMAS = ("staging", "intermediate", "marts")


# Telemetry off; concurrency pools (the dbt assets' "dbt") run one step at a time across runs.
DAGSTER_INSTANCE_YAML = "telemetry:\n  enabled: false\nconcurrency:\n  pools:\n    default_limit: 1\n"


def prepare_dagster_home() -> str:
    """DAGSTER_HOME under .local, so runs from `make run` show up in `make dagster`."""
    home = dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_INSTANCE_YAML)
    os.environ["DAGSTER_HOME"] = str(home)
    return str(home)


def run_pipeline(orders: int | None = None) -> int:
    started = time.monotonic()
    db = database.ensure()
    print(f"Database: {db.describe()}")
    prepare_dagster_home()

    from dagster import DagsterInstance

    from orchestration.definitions import defs
    from sandbox.stack import SandboxStack

    job = defs.resolve_job_def("all_assets")
    with SandboxStack(db, orders=orders) as sandbox:
        for source, stand_in in sandbox.stand_ins.items():
            print(f"Sandbox stand-in for {source}: {stand_in}")
        with DagsterInstance.get() as instance:
            result = job.execute_in_process(
                instance=instance,
                raise_on_error=False,
                run_config={
                    "loggers": {
                        "console": {"config": {"log_level": os.environ.get("DAGSTER_LOG_LEVEL", "INFO")}}
                    }
                },
            )
    if not result.success:
        failed = [event.step_key for event in result.all_events if event.is_step_failure]
        where = ", ".join(failed) or "an unknown step"
        print(f"\nThe pipeline failed in {where}. See the log above, or the run in `make dagster`.")
        return 1

    from warehouse.cli import generate_docs

    generate_docs()
    materialized = Counter(
        event.asset_key.path[0] for event in result.get_asset_materialization_events() if event.asset_key
    )
    checks = [evaluation for evaluation in result.get_asset_check_evaluations()]
    passed = sum(1 for check in checks if check.passed)
    print_warehouse_summary(db)
    print("\nBuilt:")
    for group, count in sorted(materialized.items()):
        print(f"  {group:<14} {count} asset(s) materialized")
    print(f"  checks         {passed} of {len(checks)} passed")
    print(f"\nDone in {time.monotonic() - started:.0f} s. Next:")
    print("  make dagster   the asset graph and run history on http://127.0.0.1:3000")
    print("  make docs      the dbt docs site on http://127.0.0.1:8080")
    print("  make psql      a SQL shell on the warehouse (try: select * from marts.fct_orders limit 5)")
    print(f"  dbt docs files {DBT_PROJECT_DIR / 'target' / 'index.html'}")
    return 0


def print_warehouse_summary(db: DatabaseSettings) -> None:
    raw = database.table_row_counts(RAW_SCHEMAS, db)
    print("\nLoaded (rows per raw table):")
    for table, count in raw.items():
        print(f"  {table:<48} {count:>10,}")
    marts = database.table_row_counts(("marts",), db)
    print("\nMarts (rows):")
    for table, count in marts.items():
        print(f"  {table:<48} {count:>10,}")
