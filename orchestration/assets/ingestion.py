"""dlt loads as Dagster assets: one multi-asset per source, one asset per raw table.

Built with dagster-dlt's current API (``build_dlt_asset_specs`` + ``DagsterDltResource.run``) on
``multi_asset`` so the loads get a retry policy with exponential backoff. The asset keys come from
:class:`WarehouseDltTranslator`: ``<dlt source>/<table>``, the keys dagster-dbt gives the dbt sources."""

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import dlt
from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    Backoff,
    Jitter,
    MaterializeResult,
    RetryPolicy,
    multi_asset,
)
from dagster_dlt import DagsterDltResource, build_dlt_asset_specs
from dlt.extract import DltResource
from dlt.extract.source import DltSource

from ingestion import bcb_sgs, byo_transactions, marketing_api, olist_files
from ingestion.destination import make_pipeline, make_pipeline_for_definitions
from orchestration.translators import WarehouseDltTranslator
from warehouse import database
from warehouse.paths import ROOT, landing_url
from warehouse.settings import DatabaseSettings

# The ERP's dlt source, pipeline and tables (ingestion/erp.py), named here so that declaring the assets
# does not import SQLAlchemy and dlt's sql_database (about 0.4 s of every load of the code location);
# the ERP source itself is built when the load runs. tests/orchestration/test_code_location_load.py
# checks that both declare the same assets.
ERP_SOURCE, ERP_PIPELINE, ERP_DATASET = "erp", "erp", "raw_erp"
ERP_TABLES = ("product_costs", "refunds")

EXAMPLE_BYO_CONFIG = ROOT / "ingestion" / "examples" / "byo_transactions.example.yml"

# Transient failures (a database restart, an API outage, an object store hiccup): 3 more tries,
# 10 s, 20 s, 40 s apart (+/- jitter).
INGESTION_RETRY = RetryPolicy(max_retries=3, delay=10, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS)
TRANSLATOR = WarehouseDltTranslator()
# Materialization metadata for the quality gates (orchestration/checks.py): the dlt loads of the run
# that wrote the table, and every dlt load of the run.
LOAD_IDS_KEY = "load_ids"
RUN_LOAD_IDS_KEY = "run_load_ids"


@dataclass(frozen=True)
class LoadedSource:
    """How one raw source is loaded: its dlt source (built at run time, with a dict that receives
    per-table counts), the pipeline and dataset names, and extra arguments for ``pipeline.run``."""

    name: str
    pipeline_name: str
    dataset: str
    # (counts, db): db is None when the assets are declared, the resolved database when they run
    build_source: Callable[[dict[str, Any], DatabaseSettings | None], DltSource]
    description: str
    run_kwargs: dict[str, Any] = field(default_factory=dict)


def load_ids_of(pipeline, table: str | None = None) -> list[str]:
    """The ids of the load packages of the pipeline's last run (usually one; more when the run also
    finished packages left pending by an earlier run); with ``table``, those with a job for it."""
    trace = pipeline.last_trace
    info = trace.last_load_info if trace is not None else None
    if info is None:
        return []
    return sorted(
        package.load_id
        for package in info.load_packages
        if table is None
        or any(job.job_file_info.table_name == table for jobs in package.jobs.values() for job in jobs)
    )


def _summary(pipeline, counts: dict[str, Any], table: str) -> dict[str, Any]:
    """Rows loaded and rejected for ``table`` in this run (dlt's normalize counts), plus what the
    source counted itself (files loaded and skipped)."""
    trace = pipeline.last_trace
    info = trace.last_normalize_info if trace is not None else None
    rows = dict(info.row_counts) if info is not None else {}
    summary: dict[str, Any] = {
        "rows_loaded": rows.get(table, 0),
        "rows_rejected": rows.get(f"{table}__rejected", 0),
        # the dlt loads that wrote rows to the table in this run: the quality gate validates those rows
        LOAD_IDS_KEY: load_ids_of(pipeline, table),
        RUN_LOAD_IDS_KEY: load_ids_of(pipeline),
    }
    tally = counts.get(table)
    if tally is not None:
        values = tally if isinstance(tally, dict) else vars(tally)
        summary.update(
            {
                f"{k}_files" if k in ("files", "skipped_files") else k: v
                for k, v in values.items()
                if k in ("files", "skipped_files")
            }
        )
    return summary


def _with_summary(results: Iterator, pipeline, counts: dict[str, Any]) -> Iterator:
    """Add the load summary (rows loaded and rejected, files) to each table's materialization."""
    for result in results:
        if not isinstance(result, MaterializeResult) or result.asset_key is None:
            yield result
            continue
        extra = _summary(pipeline, counts, result.asset_key.path[-1])
        yield MaterializeResult(asset_key=result.asset_key, metadata={**(result.metadata or {}), **extra})


def build_source_assets(source: LoadedSource) -> AssetsDefinition:
    specs = build_dlt_asset_specs(
        dlt_source=source.build_source({}, None),
        dlt_pipeline=make_pipeline_for_definitions(source.pipeline_name, source.dataset),
        dagster_dlt_translator=TRANSLATOR,
    )

    @multi_asset(
        name=f"load_{source.name}",
        specs=specs,
        can_subset=True,
        retry_policy=INGESTION_RETRY,
        description=source.description,
        op_tags={"kind": "dlt"},
    )
    def _load(context: AssetExecutionContext, dlt: DagsterDltResource):
        db = database.ensure()
        counts: dict[str, Any] = {}
        pipeline = make_pipeline(source.pipeline_name, source.dataset, db)
        results = dlt.run(
            context=context,
            dlt_source=source.build_source(counts, db),
            dlt_pipeline=pipeline,
            dagster_dlt_translator=TRANSLATOR,
            **source.run_kwargs,
        )
        try:
            yield from _with_summary(results, pipeline, counts)
        finally:
            olist_files.clean_imports()

    return _load


@dlt.source(name=ERP_SOURCE, section=ERP_SOURCE, max_table_nesting=0)
def erp_declared() -> Iterator[DltResource]:
    """The ERP source's tables, without the source: what the ERP assets are declared from."""
    for table in ERP_TABLES:
        yield dlt.resource([], name=table)


def _erp_source(counts: dict[str, Any], db: DatabaseSettings | None) -> DltSource:
    if db is None:
        return erp_declared()
    from ingestion import erp

    # Tables are reflected when the load runs, so building the source does not connect to the ERP.
    return erp.erp(erp.resolve_erp_url(db), counts=counts, defer_reflection=True)


def _byo_config() -> byo_transactions.MappingConfig:
    path = os.environ.get("BYO_TRANSACTIONS_CONFIG") or byo_transactions.EXAMPLE_CONFIG
    return byo_transactions.resolve_config(path)


SOURCES: list[LoadedSource] = [
    LoadedSource(
        name="olist",
        pipeline_name="olist_files",
        dataset=olist_files.DATASET,
        build_source=lambda counts, db: olist_files.olist_files(
            landing_url=landing_url(),
            counts=counts,
            loaded_tables=olist_files.tables_with_rows(db) if db is not None else None,
        ),
        description="Order files in the Olist format from the landing folder (LANDING_URL).",
        run_kwargs={"loader_file_format": "csv"},
    ),
    LoadedSource(
        name="marketing",
        pipeline_name=marketing_api.PIPELINE_NAME,
        dataset=marketing_api.DATASET,
        build_source=lambda counts, db: marketing_api.marketing_source(
            base_url=os.environ.get("MARKETING_API_URL") or "http://marketing-api.invalid/v1"
        ),
        description="Channels, ad spend and leads from the marketing REST API (MARKETING_API_URL).",
    ),
    LoadedSource(
        name="bcb",
        pipeline_name=bcb_sgs.PIPELINE_NAME,
        dataset=bcb_sgs.DATASET,
        build_source=lambda counts, db: bcb_sgs.bcb_sgs(),
        description="IPCA (433) and Selic (432) from the Banco Central do Brasil SGS API (BCB_SGS_URL).",
    ),
    LoadedSource(
        name=ERP_SOURCE,
        pipeline_name=ERP_PIPELINE,
        dataset=ERP_DATASET,
        build_source=_erp_source,
        description="Product unit costs and refunds from the ERP database (ERP_DATABASE_URL).",
        run_kwargs={"loader_file_format": "csv"},
    ),
    LoadedSource(
        name="byo",
        pipeline_name=byo_transactions.PIPELINE_NAME,
        dataset=byo_transactions.DATASET,
        build_source=lambda counts, db: byo_transactions.byo_transactions(_byo_config(), counts=counts),
        description="Your own transactions, read by the mapping in BYO_TRANSACTIONS_CONFIG.",
        run_kwargs={"loader_file_format": "csv"},
    ),
]

ingestion_assets = [build_source_assets(source) for source in SOURCES]
