"""The Dagster code location: it loads, and the dlt and dbt assets form one lineage graph."""

from __future__ import annotations

import json

import pytest
from dagster import AssetKey

from orchestration.dbt_project import ensure_manifest
from orchestration.translators import SOURCE_GROUPS


@pytest.fixture(scope="module")
def defs():
    from orchestration.definitions import defs

    return defs


@pytest.fixture(scope="module")
def graph(defs):
    return defs.resolve_asset_graph()


def _dbt_sources() -> list[tuple[str, str]]:
    manifest = json.loads(ensure_manifest().read_text())
    return sorted((s["source_name"], s["name"]) for s in manifest["sources"].values())


def test_definitions_load_with_jobs_and_resources(defs) -> None:
    assert defs.resolve_job_def("all_assets") is not None
    assert {"dlt", "dbt"} <= set(defs.resources)


def test_every_dbt_source_is_materialized_by_a_dlt_asset(graph) -> None:
    sources = _dbt_sources()
    assert sources, "the dbt project declares no sources"
    for source_name, table in sources:
        if source_name in SOURCE_GROUPS:
            continue  # tables written by a Python asset (the CLV step), not loaded by dlt
        # quarantine tables are written by the same load as the table they belong to
        key = AssetKey([source_name, table.removesuffix("__rejected")])
        assert graph.has(key), f"dbt source {source_name}.{table} has no asset"
        node = graph.get(key)
        assert node.is_materializable, f"{key.to_user_string()} is only a dbt source, no dlt asset loads it"
        assert node.group_name == "raw"
        assert "dlt" in node.kinds, f"{key.to_user_string()} is not produced by dlt: {node.kinds}"


def _ancestors(graph, key: AssetKey) -> set[AssetKey]:
    seen: set[AssetKey] = set()
    todo = list(graph.get(key).parent_keys)
    while todo:
        parent = todo.pop()
        if parent not in seen:
            seen.add(parent)
            todo.extend(graph.get(parent).parent_keys)
    return seen


def test_lineage_runs_from_raw_file_to_mart(graph) -> None:
    raw = AssetKey(["olist", "orders"])
    staging = AssetKey(["staging", "stg_olist__orders"])
    mart = AssetKey(["marts", "fct_orders"])
    assert raw in graph.get(staging).parent_keys
    assert staging in _ancestors(graph, mart)
    assert graph.get(staging).group_name == "staging"
    assert graph.get(mart).group_name == "marts"


def test_dbt_tests_are_asset_checks(graph) -> None:
    checks = {(key.asset_key, key.name) for key in graph.asset_check_keys}
    assert (AssetKey(["marts", "fct_orders"]), "unique_fct_orders_order_id") in checks
