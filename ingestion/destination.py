"""The dlt destination and pipeline factory: every pipeline writes to the one resolved database."""

from __future__ import annotations

import dataclasses
import logging
import os

import dlt
from dlt.common.configuration.container import Container
from dlt.common.pipeline import PipelineContext
from dlt.destinations.exceptions import DatabaseUndefinedRelation

from warehouse import database
from warehouse.paths import local_dir
from warehouse.settings import DatabaseSettings

# dlt settings for the fast path, as defaults the environment can override:
# - files between extract, normalize and load stay uncompressed: gzip was 90% of normalize's time
#   (63 s of 1M orders) and the files live only until the load commits;
# - normalize in two processes (the machine's two cores), each table's files in parallel;
# - Arrow items carry dlt's load id, so every raw row says which load brought it;
# - a loaded package's job files (a copy of every row it loaded) are deleted once the package
#   completes: kept, they grew .local/dlt by 2 GB per load of 1M orders. A package with a failed job
#   keeps its files, and the package's metadata and load info stay.
FAST_PATH_DEFAULTS = {
    "DATA_WRITER__DISABLE_COMPRESSION": "true",
    "NORMALIZE__WORKERS": "2",
    "NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID": "true",
    "LOAD__DELETE_COMPLETED_JOBS": "true",
}
for _name, _value in FAST_PATH_DEFAULTS.items():
    os.environ.setdefault(_name, _value)

log = logging.getLogger(__name__)


def postgres_destination(db: DatabaseSettings | None = None):
    db = db or database.resolve()
    if not db.password:
        # dlt insists on a password; servers that trust local connections (the embedded one) ignore it.
        db = dataclasses.replace(db, password="unused-by-trust-auth")
    # No primary-key indexes on raw tables: COPY into an indexed table was twice as slow, and the
    # merges of later loads (a few % of the rows) do a hash join on the key just as well.
    # The CSV COPY of an empty table writes no WAL (ingestion/copy_jobs.py); imported here, not at
    # the top, so that declaring the Dagster assets does not import dlt's postgres client.
    from ingestion.copy_jobs import postgres

    return postgres(credentials=db.url(), create_indexes=False)


def pipelines_dir() -> str:
    return str(local_dir() / "dlt")


def make_pipeline(name: str, dataset: str, db: DatabaseSettings | None = None) -> dlt.Pipeline:
    """A dlt pipeline named ``name`` loading into schema ``dataset``; its state lives under .local/dlt
    and, as dlt does, in the destination, so a fresh clone against an existing database resumes."""
    return dlt.pipeline(
        pipeline_name=name,
        destination=postgres_destination(db),
        dataset_name=dataset,
        pipelines_dir=pipelines_dir(),
    )


def make_pipeline_for_definitions(name: str, dataset: str) -> dlt.Pipeline:
    """The same pipeline without credentials, for declaring Dagster assets at import time without
    touching the database; assets pass a pipeline from :func:`make_pipeline` when they run."""
    return dlt.pipeline(
        pipeline_name=name,
        destination="postgres",
        dataset_name=dataset,
        pipelines_dir=pipelines_dir(),
    )


def table_is_empty(table_name: str) -> bool:
    """Whether ``table_name`` in the dataset of the pipeline running now holds no row; a table that
    does not exist yet is empty. False when that cannot be told (no running pipeline, no destination,
    a connection problem), so callers fall back to what is always right.

    The loaders ask it while they extract, to append a table's first load (COPY alone) instead of
    merging it (COPY into a staging table, then a delete and a deduplicating insert in SQL)."""
    context = Container()[PipelineContext]
    if not context.is_active():
        return False
    try:
        pipeline = context.pipeline()
        with pipeline.sql_client() as client:
            name = client.make_qualified_table_name(table_name)
            rows = client.execute_sql(f"select exists (select 1 from {name})")
    except DatabaseUndefinedRelation:
        return True
    except Exception as exc:  # noqa: BLE001 - any doubt means "not known to be empty"
        log.info("cannot tell whether %s is empty (%s); loading it as a later load", table_name, exc)
        return False
    return not rows[0][0]
