"""Run the loaders: each function builds its dlt pipeline, runs it and returns a load summary.

Runnable without Dagster: ``python -m ingestion olist`` loads the landing folder."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field

import dlt
from dlt.common.pipeline import LoadInfo

from ingestion import olist_files
from ingestion.destination import make_pipeline
from warehouse.paths import landing_url as default_landing_url
from warehouse.settings import DatabaseSettings

log = logging.getLogger(__name__)


@dataclass
class LoadSummary:
    source: str
    dataset: str
    tables: dict[str, dict[str, int]] = field(default_factory=dict)
    load_ids: list[str] = field(default_factory=list)

    @property
    def rows_loaded(self) -> int:
        return sum(t.get("rows", 0) for t in self.tables.values())

    @property
    def rows_rejected(self) -> int:
        return sum(t.get("rejected", 0) for t in self.tables.values())

    def as_dict(self) -> dict:
        return {**asdict(self), "rows_loaded": self.rows_loaded, "rows_rejected": self.rows_rejected}


def olist_pipeline(db: DatabaseSettings | None = None) -> dlt.Pipeline:
    return make_pipeline("olist_files", olist_files.DATASET, db)


def load_olist_files(
    landing_url: str | None = None,
    db: DatabaseSettings | None = None,
    tables: list[str] | None = None,
    pipeline: dlt.Pipeline | None = None,
) -> tuple[LoadInfo, LoadSummary]:
    url = landing_url or default_landing_url()
    counts: dict[str, olist_files.TableCounts] = {}
    pipeline = pipeline or olist_pipeline(db)
    loaded = olist_files.tables_with_rows(db, pipeline.dataset_name)
    source = olist_files.olist_files(url, counts=counts, tables=tables, loaded_tables=loaded)
    try:
        info = pipeline.run(source, loader_file_format="csv")
    finally:
        olist_files.clean_imports()
    summary = LoadSummary(
        source="olist",
        dataset=olist_files.DATASET,
        tables={name: asdict(tally) for name, tally in counts.items()},
        load_ids=list(info.loads_ids),
    )
    log.info("olist files: %d rows loaded, %d rejected", summary.rows_loaded, summary.rows_rejected)
    return info, summary
