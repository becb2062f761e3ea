"""dlt loads as Dagster assets: one multi-asset per source, one asset per raw table.

Built with dagster-dlt's current API (``build_dlt_asset_specs`` + ``DagsterDltResource.run``) on
``multi_asset`` so the loads get a retry policy with exponential backoff. The asset keys come from
:class:`WarehouseDltTranslator`: ``<dlt source>/<table>``, the keys dagster-dbt gives the dbt sources."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

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
from dlt.extract.source import DltSource

from ingestion import olist_files
from ingestion.destination import make_pipeline, make_pipeline_for_definitions
from orchestration.translators import WarehouseDltTranslator
from warehouse import database
from warehouse.paths import landing_url

# Transient failures (a database restart, an API outage, an object store hiccup): 3 more tries,
# 10 s, 20 s, 40 s apart (+/- jitter).
INGESTION_RETRY = RetryPolicy(max_retries=3, delay=10, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS)
TRANSLATOR = WarehouseDltTranslator()


@dataclass(frozen=True)
class LoadedSource:
    """How one raw source is loaded: its dlt source (built at run time, with a dict that receives
    per-table counts), the pipeline and dataset names, and extra arguments for ``pipeline.run``."""

    name: str
    pipeline_name: str
    dataset: str
    build_source: Callable[[dict[str, Any]], DltSource]
    description: str
    run_kwargs: dict[str, Any] = field(default_factory=dict)


def _tally(counts: dict[str, Any], table: str) -> dict[str, Any]:
    tally = counts.get(table)
    if tally is None:
        return {}
    values = tally if isinstance(tally, dict) else vars(tally)
    names = {"rows": "rows_loaded", "rejected": "rows_rejected", "files": "files_loaded"}
    return {names.get(k, k): v for k, v in values.items()}


def _with_counts(results: Iterator, counts: dict[str, Any]) -> Iterator:
    """Add the load summary (rows loaded and rejected, files) to each table's materialization."""
    for result in results:
        extra = _tally(counts, result.asset_key.path[-1]) if isinstance(result, MaterializeResult) else {}
        if not extra:
            yield result
            continue
        yield MaterializeResult(asset_key=result.asset_key, metadata={**(result.metadata or {}), **extra})


def build_source_assets(source: LoadedSource) -> AssetsDefinition:
    specs = build_dlt_asset_specs(
        dlt_source=source.build_source({}),
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
        results = dlt.run(
            context=context,
            dlt_source=source.build_source(counts),
            dlt_pipeline=make_pipeline(source.pipeline_name, source.dataset, db),
            dagster_dlt_translator=TRANSLATOR,
            **source.run_kwargs,
        )
        yield from _with_counts(results, counts)

    return _load


SOURCES: list[LoadedSource] = [
    LoadedSource(
        name="olist",
        pipeline_name="olist_files",
        dataset=olist_files.DATASET,
        build_source=lambda counts: olist_files.olist_files(landing_url=landing_url(), counts=counts),
        description="Order files in the Olist format from the landing folder (LANDING_URL).",
        run_kwargs={"loader_file_format": "csv"},
    ),
]

ingestion_assets = [build_source_assets(source) for source in SOURCES]
