"""The CLV asset in the Dagster graph: dbt models -> the CLV tables -> the dbt models that read them.

The dbt project is two multi-assets (orchestration/assets/dbt.py): the models the CLV asset reads, and
after it the models that read its predictions (``source:clv+``); one job runs the three in that order.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from dagster import AssetKey, AssetSelection, materialize
from dagster_dbt import DbtCliResource
from dagster_dbt.utils import select_unique_ids

from orchestration.assets.clv import (
    CLV_GROUP,
    HOLDOUT_KEY,
    MODEL_RUNS_KEY,
    PREDICTIONS_KEY,
    TRANSACTIONS_KEY,
)
from orchestration.dbt_project import dbt_executable, dbt_project, ensure_manifest

CLV_KEYS = {PREDICTIONS_KEY, MODEL_RUNS_KEY, HOLDOUT_KEY}
CHURN_KEY = AssetKey(["marts", "customer_churn"])
BEFORE, AFTER = "warehouse_dbt_assets", "warehouse_dbt_assets_after_clv"


@pytest.fixture(scope="module")
def defs():
    from orchestration.definitions import defs

    return defs


@pytest.fixture(scope="module")
def graph(defs):
    return defs.resolve_asset_graph()


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads(ensure_manifest().read_text())


def _op(graph, key: AssetKey) -> str:
    return graph.assets_def_for_key(key).node_def.name


def test_the_clv_asset_reads_the_transactions_and_writes_three_tables(graph) -> None:
    for key in CLV_KEYS:
        node = graph.get(key)
        assert node.is_materializable
        assert node.group_name == CLV_GROUP
        assert _op(graph, key) == "clv_predictions"
        assert node.parent_keys == {TRANSACTIONS_KEY}
    assert graph.get(TRANSACTIONS_KEY).group_name == "intermediate"
    assert _op(graph, TRANSACTIONS_KEY) == BEFORE
    assert not graph.has(AssetKey(["clv", "customer_churn_scored"]))


def test_the_dbt_project_is_split_at_the_models_that_read_the_predictions(graph, manifest) -> None:
    """Every seed and model is in exactly one of the two dbt steps: `source:clv+` after the CLV asset."""
    after = select_unique_ids(
        select="source:clv+", exclude="", selector="", project=dbt_project, manifest_json=manifest
    )
    buildable = {
        unique_id: node
        for unique_id, node in manifest["nodes"].items()
        if node["resource_type"] in ("model", "seed", "snapshot")
        and node["config"]["materialized"] != "ephemeral"
    }
    expected_after = {"customer_churn", "customer_churn_by_segment", "dim_customers"}
    assert {buildable[unique_id]["name"] for unique_id in after if unique_id in buildable} == expected_after
    for unique_id in buildable:
        ops = {definition.node_def.name for definition in graph.assets_defs if _holds(definition, unique_id)}
        assert ops == {AFTER if unique_id in after else BEFORE}, (unique_id, ops)
    assert _op(graph, AssetKey(["reference", "rfm_segments"])) == BEFORE
    assert _op(graph, CHURN_KEY) == AFTER
    # the predictions are customer_churn's input, next to the RFM scores
    assert graph.get(CHURN_KEY).parent_keys == {PREDICTIONS_KEY, AssetKey(["marts", "customer_rfm"])}


def _holds(definition, unique_id: str) -> bool:
    return any(
        spec.metadata.get("dagster_dbt/unique_id") == unique_id for spec in definition.specs if spec.metadata
    )


def test_no_check_of_the_first_dbt_step_reads_a_model_of_the_second(graph) -> None:
    """The first step runs only tests whose every parent it builds; tests that also read a model of the
    second step (relationships to dim_customers) are checks of that step."""
    first = next(d for d in graph.assets_defs if d.node_def.name == BEFORE)
    second = next(d for d in graph.assets_defs if d.node_def.name == AFTER)
    for definition, own in ((first, first.keys), (second, second.keys)):
        for spec in definition.check_specs:
            assert spec.asset_key in own
    second_keys = set(second.keys)
    for spec in first.check_specs:
        assert not {dep.asset_key for dep in spec.additional_deps} & second_keys, spec.key
    checks_of_second = {spec.key.name for spec in second.check_specs}
    assert (
        "relationships_fct_orders_customer_unique_id__customer_unique_id__ref_dim_customers_"
        in checks_of_second
    )
    assert (
        "relationships_dim_customers_acquisition_channel_id__channel_id__ref_dim_channels_"
        in checks_of_second
    )
    names = [spec.key.name for d in (first, second) for spec in d.check_specs]
    assert len(names) == len(set(names)), "a dbt test is a check of both steps"


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


def test_one_job_runs_the_first_dbt_step_then_the_clv_asset_then_the_second(defs) -> None:
    job = defs.resolve_job_def("all_assets")
    layer = job.asset_layer

    def op_of(key: AssetKey) -> str:
        return layer.get_op_output_handle(key).node_handle.name

    assert {op_of(key) for key in CLV_KEYS} == {"clv_predictions"}
    assert op_of(TRANSACTIONS_KEY) == BEFORE and op_of(CHURN_KEY) == AFTER
    assert {BEFORE} <= _upstream_ops(job, "clv_predictions")
    assert {BEFORE, "clv_predictions"} <= _upstream_ops(job, AFTER)
    assert AFTER not in _upstream_ops(job, BEFORE) | _upstream_ops(job, "clv_predictions")
    # Each dbt step is one op (one `dbt build`): Dagster did not split either around the CLV asset.
    dbt_ops = {node.name for node in job.graph.nodes if node.name.startswith("warehouse_dbt_assets")}
    assert dbt_ops == {BEFORE, AFTER}


def test_the_dbt_source_clv_is_the_python_assets_tables(manifest) -> None:
    sources = [s for s in manifest["sources"].values() if s["source_name"] == "clv"]
    assert {AssetKey(["clv", s["name"]]) for s in sources} == CLV_KEYS
    assert all(s["schema"] == "marts" and s["loader"] == "dagster asset clv_predictions" for s in sources)
    assert all(c["description"] for s in sources for c in s["columns"].values()), "undocumented column"
    exposure = next(e for e in manifest["exposures"].values() if e["name"] == "clv_predictions")
    assert exposure["depends_on"]["nodes"] == ["model.olist_warehouse.int_customer_transactions_unioned"]
    readers = sorted(
        node["name"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and any(src[0] == "clv" for src in node["sources"])
    )
    assert readers == ["customer_churn"]


# ----------------------------------------------------------------- the dbt command of each step


class RecordingDbt(DbtCliResource):
    """Records the `dbt` arguments and the DBT_INDIRECT_SELECTION dagster-dbt would set; runs nothing."""

    def cli(self, args, *, context=None, **kwargs):  # noqa: ANN001, ANN201 (DbtCliResource.cli)
        from dagster_dbt.asset_utils import get_updated_cli_invocation_params_for_context

        params = get_updated_cli_invocation_params_for_context(
            context=context, manifest=json.loads(ensure_manifest().read_text()), dagster_dbt_translator=None
        )
        CALLS.append((context.op.name, list(args), params.selection_args, params.indirect_selection))

        # Where dagster-dbt would write this invocation's artifacts; the step prunes its siblings.
        target = Path(os.environ["WAREHOUSE_LOCAL_DIR"]) / "dbt-target" / f"{context.op.name}-0000000-0000000"
        target.parent.mkdir(parents=True, exist_ok=True)

        class Invocation:
            manifest = {}
            target_path = target

            @staticmethod
            def stream_raw_events():
                return iter(())

        return Invocation()


CALLS: list[tuple[str, list[str], list[str], str | None]] = []


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list:
    from orchestration.assets import dbt as dbt_module

    monkeypatch.setattr(dbt_module.database, "ensure", lambda: None)
    CALLS.clear()
    return CALLS


def _materialize(definition, selection=None) -> None:
    dbt = RecordingDbt(project_dir=str(dbt_project.project_dir), dbt_executable=dbt_executable())
    assert materialize([definition], selection=selection, resources={"dbt": dbt}).success


def test_the_first_step_selects_tests_cautiously_unless_dagster_names_them(recorded) -> None:
    from orchestration.assets.dbt import warehouse_dbt_assets, warehouse_dbt_assets_after_clv

    fct_orders = AssetKey(["marts", "fct_orders"])
    # a full run of each step: dbt's own selection
    _materialize(warehouse_dbt_assets)
    _materialize(warehouse_dbt_assets_after_clv)
    calls = {op: (args, selection, indirect) for op, args, selection, indirect in recorded}
    before = (
        ["build", "--indirect-selection", "cautious"],
        ["--select", "fqn:*", "--exclude", "source:clv+ source:*"],
        None,
    )
    assert calls[BEFORE] == before
    assert calls[AFTER] == (["build"], ["--select", "source:clv+"], None)

    # one model with its checks: dagster-dbt selects it by name, dbt adds its tests (cautiously)
    recorded.clear()
    _materialize(warehouse_dbt_assets, AssetSelection.assets(fct_orders))
    ((op, args, selection, indirect),) = recorded
    assert op == BEFORE and args == ["build", "--indirect-selection", "cautious"] and indirect is None
    assert selection == ["--select", "olist_warehouse.marts.core.fct_orders"]

    # the model without its checks: dagster-dbt names the tests itself (none) and sets empty; no flag
    recorded.clear()
    _materialize(warehouse_dbt_assets, AssetSelection.assets(fct_orders).without_checks())
    ((op, args, selection, indirect),) = recorded
    assert op == BEFORE and args == ["build"] and indirect == "empty"


def test_the_asset_names_the_tables_clv_warehouse_writes() -> None:
    """The asset module names the tables itself (no numpy/pandas at load time); they must agree."""
    import sys

    from clv import warehouse
    from orchestration.assets import clv as asset_module

    assert (asset_module.SCHEMA, asset_module.PREDICTIONS, asset_module.MODEL_RUNS, asset_module.HOLDOUT) == (
        warehouse.SCHEMA,
        warehouse.PREDICTIONS,
        warehouse.MODEL_RUNS,
        warehouse.HOLDOUT,
    )
    assert "clv.warehouse" in sys.modules  # imported here, by this test, not by the asset module


def test_the_gates_hold_every_key_and_not_null_test_of_the_sources(manifest) -> None:
    """The dbt steps leave the source tests to `dbt build` (orchestration/assets/dbt.py, SOURCE_TESTS): in
    Dagster the Great Expectations gate of each raw table must make the same checks."""
    from quality.suites import SUITES, key_column

    checked = 0
    for node in manifest["nodes"].values():
        meta = node.get("test_metadata") or {}
        source_ids = node.get("depends_on", {}).get("nodes", [])
        if node["resource_type"] != "test" or not source_ids or not source_ids[0].startswith("source."):
            continue
        source = manifest["sources"][source_ids[0]]
        if source["name"].endswith("__rejected"):
            continue  # the quarantine: its rows are counted on the load's materialization (rows_rejected)
        kwargs = meta.get("kwargs", {})
        if meta.get("name") == "unique":
            wanted = ("ExpectColumnValuesToBeUnique", kwargs["column_name"])
        elif meta.get("name") == "unique_combination_of_columns":
            wanted = ("ExpectColumnValuesToBeUnique", key_column(kwargs["combination_of_columns"]))
        elif meta.get("name") == "not_null":
            wanted = ("ExpectColumnValuesToNotBeNull", kwargs["column_name"])
        else:
            raise AssertionError(f"{node['name']}: a source test the gates are not checked against")
        suite = SUITES[f"{source['schema']}.{source['name']}"]
        held = {(type(e).__name__, e.column) for e in suite.expectations() if hasattr(e, "column")}
        assert wanted in held, f"{node['name']}: the gate of {suite.name} lacks {wanted}"
        checked += 1
    assert checked >= 20
