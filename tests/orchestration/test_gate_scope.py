"""The Great Expectations gates after a load validate the rows of that load, and the whole table when
that would let earlier rows through (orchestration/checks.py): the file load and its gate through
Dagster, on a database of their own."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest
from dagster import DagsterInstance, materialize
from dagster_dlt import DagsterDltResource

from tests.ingestion import olist_samples
from warehouse import database
from warehouse.settings import EMBEDDED_MARKER, DatabaseSettings

HEADER = olist_samples.FILES["olist_orders_dataset.csv"].splitlines()[0]
CUSTOMER = "06b8999e2fba1a1fbc88172c00ba8bc7"


def _orders(landing: Path, batch: str, *rows: tuple[str, str]) -> None:
    """An orders file of (order_id, status) rows in a new batch folder."""
    folder = landing / batch
    folder.mkdir()
    lines = [
        f'"{order_id}","{CUSTOMER}","{status}","2018-09-01 10:00:00","","","","2018-09-20 00:00:00"'
        for order_id, status in rows
    ]
    (folder / "olist_orders_dataset.csv").write_text("\n".join([HEADER, *lines]) + "\n")


@pytest.fixture
def own_database(warehouse_db: DatabaseSettings, tmp_path: Path) -> Iterator[DatabaseSettings]:
    """A fresh database on the tests' server and fresh project state, as a configured server."""
    name = f"gates_{uuid.uuid4().hex[:8]}"
    database.ensure_database(warehouse_db, name)
    db = DatabaseSettings(
        warehouse_db.host, warehouse_db.port, warehouse_db.user, warehouse_db.password, name
    )
    with mock.patch.dict(
        os.environ, {"DATABASE_URL": db.url(), "WAREHOUSE_LOCAL_DIR": str(tmp_path / "local")}
    ):
        os.environ.pop(EMBEDDED_MARKER, None)
        yield db


def test_gates_validate_the_loaded_rows_and_the_whole_table_after_a_failure(
    own_database: DatabaseSettings, landing: Path
) -> None:
    from orchestration.assets.ingestion import SOURCES, ingestion_assets
    from orchestration.checks import SCOPE_TAG, VALIDATED_THROUGH, WHOLE_TABLE, quality_gates

    load = next(assets for assets in ingestion_assets if assets.node_def.name == "load_olist")
    gate = next(checks for checks in quality_gates if checks.node_def.name == "gate_olist")

    def run(tags: dict[str, str] | None = None) -> dict[str, dict]:
        result = materialize(
            [load, gate],
            instance=instance,
            resources={"dlt": DagsterDltResource()},
            tags=tags,
            raise_on_error=False,
        )
        assert result.success or any(not e.passed for e in result.get_asset_check_evaluations())
        return {
            evaluation.asset_key.path[-1]: {
                "passed": evaluation.passed,
                **{key: value.value for key, value in evaluation.metadata.items()},
            }
            for evaluation in result.get_asset_check_evaluations()
        }

    def loads() -> list[str]:
        return [row[0] for row in database.query("select load_id from raw_olist._dlt_loads order by 1")]

    with DagsterInstance.ephemeral() as instance:
        olist_samples.write(landing / "batch_0001")
        first = run()
        assert len(first) == 9 and all(gate["passed"] for gate in first.values()), first
        # no earlier result: the whole table; the mark is the newest load
        assert {gate["scope"] for gate in first.values()} == {"whole table"}
        assert first["orders"][VALIDATED_THROUGH] == loads()[-1]

        _orders(landing, "batch_0002", ("ad21c59c0840e6cb83a9ceb5573f8159", "delivered"), ("o2", "created"))
        second = run()
        load_id = loads()[-1]
        assert second["orders"] | {"data_docs": None, "data_docs_index": None, "seconds": None} == {
            "passed": True,
            "suite": "raw_olist.orders",
            "scope": f"load {load_id}",
            "rows_validated": 2,  # not the table's 6 rows
            VALIDATED_THROUGH: load_id,
            "expectations_evaluated": second["orders"]["expectations_evaluated"],
            "expectations_failed": 0,
            "data_docs": None,
            "data_docs_index": None,
            "seconds": None,
        }
        assert second["customers"]["passed"] and second["customers"]["scope"] == "no rows loaded in this run"

        _orders(landing, "batch_0003", ("o3", "entregue"))  # outside Olist's statuses: the gate fails
        third = run()
        assert not third["orders"]["passed"] and third["orders"]["scope"] == f"load {loads()[-1]}"

        # A good load after a failed gate: the whole table again, so the bad row still blocks.
        _orders(landing, "batch_0004", ("o4", "created"))
        fourth = run()
        assert not fourth["orders"]["passed"] and fourth["orders"]["scope"] == "whole table"

        _orders(landing, "batch_0005", ("o3", "delivered"))  # the source corrects the row
        fifth = run()
        assert fifth["orders"]["passed"] and fifth["orders"]["scope"] == "whole table"
        assert fifth["orders"]["rows_validated"] == 8

        # A load no gate saw (a run that failed after its load): the next gate takes the whole table.
        _orders(landing, "batch_0006", ("o6", "created"))
        source = next(source for source in SOURCES if source.name == "olist")
        from ingestion.destination import make_pipeline

        pipeline = make_pipeline(source.pipeline_name, source.dataset, own_database)
        pipeline.run(source.build_source({}, own_database), **source.run_kwargs)
        _orders(landing, "batch_0007", ("o7", "created"))
        sixth = run()
        assert sixth["orders"]["passed"] and sixth["orders"]["scope"] == "whole table"

        tagged = run(tags={SCOPE_TAG: WHOLE_TABLE})
        assert {gate["scope"] for gate in tagged.values()} == {"whole table"}
