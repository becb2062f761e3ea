"""What keeps loading the code location cheap (`warehouse.bench --stage code_location` times it).

Every process that runs anything in Dagster (the code server, each run and step) loads the code
location first, so it imports only what declaring the assets needs: the loaders' heavy dependencies
are imported when a load runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from dagster_dlt import build_dlt_asset_specs

from ingestion.destination import make_pipeline_for_definitions
from orchestration.assets import ingestion as ingestion_assets
from warehouse.paths import ROOT

# Imported by a loader, a quality gate or the CLV fit when it runs, never to declare the assets.
NOT_AT_LOAD = (
    "sqlalchemy",
    "dlt.sources.sql_database",
    "ingestion.erp",
    "pandas",
    "scipy",
    "great_expectations",
    "clv.warehouse",
    "dlt.destinations.impl.postgres.postgres",
)


def test_loading_the_code_location_imports_no_loader_dependency_and_leaves_gc_on() -> None:
    script = (
        "import gc, json, sys\n"
        "from orchestration.definitions import defs\n"
        "defs.get_repository_def().get_all_jobs()\n"
        f"print(json.dumps({{'imported': [m for m in {NOT_AT_LOAD!r} if m in sys.modules],"
        " 'gc_enabled': gc.isenabled(), 'frozen': gc.get_freeze_count()}))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found["imported"] == [], f"loading the code location imported {found['imported']}"
    # the collector is paused only while the definitions load (orchestration/definitions.py)
    assert found["gc_enabled"]
    assert found["frozen"] > 100_000


def _declared(source, pipeline) -> list[dict]:
    specs = build_dlt_asset_specs(source, pipeline, dagster_dlt_translator=ingestion_assets.TRANSLATOR)
    return [
        {
            "key": spec.key,
            "description": spec.description,
            "group": spec.group_name,
            "deps": list(spec.deps),
            "kinds": spec.kinds,
            "tags": spec.tags,
            # the source object itself differs; what the Dagster UI shows of it is its type
            "metadata": {k: repr(v) if k == "dagster_dlt/source" else v for k, v in spec.metadata.items()},
        }
        for spec in specs
    ]


def test_the_erp_assets_are_declared_as_the_erp_source_would_declare_them() -> None:
    from ingestion import erp

    assert (erp.SOURCE_NAME, erp.PIPELINE_NAME, erp.DATASET, tuple(erp.TABLES)) == (
        ingestion_assets.ERP_SOURCE,
        ingestion_assets.ERP_PIPELINE,
        ingestion_assets.ERP_DATASET,
        ingestion_assets.ERP_TABLES,
    )
    pipeline = make_pipeline_for_definitions(ingestion_assets.ERP_PIPELINE, ingestion_assets.ERP_DATASET)
    real = erp.erp("postgresql+psycopg2://localhost/erp", defer_reflection=True)
    assert _declared(ingestion_assets.erp_declared(), pipeline) == _declared(real, pipeline)


def test_a_manifest_written_for_another_database_is_parsed_again(monkeypatch) -> None:
    """`make test` runs the pipeline against a database named `shop`, which leaves a manifest whose
    relations are all in `shop`; a code location loading it for the warehouse database would count
    rows in, and show table names of, the wrong database."""
    from orchestration.dbt_project import MANIFEST, ensure_manifest, manifest_database

    ours = os.environ.get("PGDATABASE", "warehouse")
    monkeypatch.setenv("PGDATABASE", "another_shop")
    ensure_manifest()
    assert manifest_database() == "another_shop"
    relations = json.loads(MANIFEST.read_text())["nodes"]["model.olist_warehouse.fct_orders"]["relation_name"]
    assert relations.startswith('"another_shop".')
    monkeypatch.setenv("PGDATABASE", ours)
    written = MANIFEST.stat().st_mtime_ns
    assert ensure_manifest() == MANIFEST
    assert manifest_database() == ours
    assert MANIFEST.stat().st_mtime_ns > written
    # up to date for this database: not parsed again
    written = MANIFEST.stat().st_mtime_ns
    ensure_manifest()
    assert MANIFEST.stat().st_mtime_ns == written
