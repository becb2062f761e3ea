"""dlt loads as Dagster assets: one multi-asset per source, one asset per raw table."""

from collections.abc import Iterator

from dagster import AssetExecutionContext, MaterializeResult
from dagster_dlt import DagsterDltResource, dlt_assets

from ingestion import olist_files
from ingestion.destination import make_pipeline_for_definitions
from ingestion.pipelines import olist_pipeline
from orchestration.translators import WarehouseDltTranslator
from warehouse import database
from warehouse.paths import landing_url


def _with_counts(results: Iterator, counts: dict[str, olist_files.TableCounts]) -> Iterator:
    """Add the load summary (rows loaded and rejected, files) to each table's materialization."""
    for result in results:
        tally = counts.get(result.asset_key.path[-1]) if isinstance(result, MaterializeResult) else None
        if tally is None:
            yield result
            continue
        yield MaterializeResult(
            asset_key=result.asset_key,
            metadata={
                **(result.metadata or {}),
                "rows_loaded": tally.rows,
                "rows_rejected": tally.rejected,
                "files_loaded": tally.files,
                "files_already_loaded": tally.skipped_files,
            },
        )


@dlt_assets(
    dlt_source=olist_files.olist_files(landing_url="resolved-at-run-time"),
    dlt_pipeline=make_pipeline_for_definitions("olist_files", olist_files.DATASET),
    name="olist_files",
    dagster_dlt_translator=WarehouseDltTranslator(),
)
def olist_file_assets(context: AssetExecutionContext, dlt: DagsterDltResource):
    """Order files in the Olist format from the landing folder (LANDING_URL)."""
    db = database.ensure()
    counts: dict[str, olist_files.TableCounts] = {}
    source = olist_files.olist_files(landing_url=landing_url(), counts=counts)
    results = dlt.run(
        context=context, dlt_source=source, dlt_pipeline=olist_pipeline(db), loader_file_format="csv"
    )
    yield from _with_counts(results, counts)
