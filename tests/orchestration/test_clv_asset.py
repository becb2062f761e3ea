"""The CLV asset in the Dagster graph: the dbt models it reads -> the CLV tables, and one job runs it all."""

from __future__ import annotations

import json

import pytest
from dagster import AssetKey

from orchestration.assets.clv import (
    CHURN_KEY,
    CHURN_SCORED_KEY,
    CLV_GROUP,
    HOLDOUT_KEY,
    MODEL_RUNS_KEY,
    PREDICTIONS_KEY,
    TRANSACTIONS_KEY,
)
from orchestration.dbt_project import ensure_manifest

CLV_KEYS = {PREDICTIONS_KEY, MODEL_RUNS_KEY, HOLDOUT_KEY, CHURN_SCORED_KEY}


@pytest.fixture(scope="module")
def defs():
    from orchestration.definitions import defs

    return defs


@pytest.fixture(scope="module")
def graph(defs):
    return defs.resolve_asset_graph()


def test_the_clv_asset_reads_the_dbt_models_and_writes_four_tables(graph) -> None:
    for key in CLV_KEYS:
        node = graph.get(key)
        assert node.is_materializable
        assert node.group_name == CLV_GROUP
        assert graph.assets_def_for_key(key).node_def.name == "clv_predictions"
    for key in (PREDICTIONS_KEY, MODEL_RUNS_KEY, HOLDOUT_KEY):
        assert graph.get(key).parent_keys == {TRANSACTIONS_KEY}
    assert graph.get(CHURN_SCORED_KEY).parent_keys == {CHURN_KEY, PREDICTIONS_KEY}
    assert graph.get(TRANSACTIONS_KEY).group_name == "intermediate"
    assert graph.get(CHURN_KEY).group_name == "marts"


def test_no_dbt_model_is_downstream_of_the_clv_asset(graph) -> None:
    """dbt runs in one step before the CLV asset (DECISIONLOG, "Predictive CLV")."""
    for key in CLV_KEYS:
        assert graph.get(key).child_keys <= CLV_KEYS
    assert not any(parent in CLV_KEYS for parent in graph.get(CHURN_KEY).parent_keys)


def test_the_dbt_source_clv_is_the_python_assets_tables(graph) -> None:
    manifest = json.loads(ensure_manifest().read_text())
    sources = [s for s in manifest["sources"].values() if s["source_name"] == "clv"]
    assert {AssetKey(["clv", s["name"]]) for s in sources} == CLV_KEYS
    assert all(s["schema"] == "marts" and s["loader"] == "dagster asset clv_predictions" for s in sources)
    assert all(c["description"] for s in sources for c in s["columns"].values()), "undocumented column"
    exposure = next(e for e in manifest["exposures"].values() if e["name"] == "clv_predictions")
    assert sorted(exposure["depends_on"]["nodes"]) == [
        "model.olist_warehouse.customer_churn",
        "model.olist_warehouse.int_customer_transactions_unioned",
    ]


def _upstream_ops(job, op: str) -> set[str]:
    structure = job.graph.dependency_structure
    seen: set[str] = set()
    todo = [op]
    while todo:
        for output in structure.all_upstream_outputs_from_node(todo.pop()):
            if output.node.name not in seen:
                seen.add(output.node.name)
                todo.append(output.node.name)
    return seen


def test_one_job_runs_dbt_in_one_step_then_the_clv_asset(defs) -> None:
    job = defs.resolve_job_def("all_assets")
    layer = job.asset_layer

    def op_of(key: AssetKey) -> str:
        return layer.get_op_output_handle(key).node_handle.name

    clv_op, dbt_op = op_of(PREDICTIONS_KEY), op_of(TRANSACTIONS_KEY)
    assert {op_of(key) for key in CLV_KEYS} == {clv_op}
    assert op_of(CHURN_KEY) == dbt_op == "warehouse_dbt_assets", "the dbt project must not be split"
    assert dbt_op in _upstream_ops(job, clv_op)
