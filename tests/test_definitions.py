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
            # tables written by a Python asset (the CLV step), not loaded by dlt
            node = graph.get(AssetKey([source_name, table]))
            assert node.is_materializable and "python" in node.kinds, f"{source_name}.{table}: {node.kinds}"
            assert node.group_name == SOURCE_GROUPS[source_name]
            continue
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


def test_every_singular_dbt_test_is_an_asset_check_of_a_model_it_reads(graph) -> None:
    """A singular test reads several models; dagster-dbt makes it a check only when its config names
    one (meta.dagster.ref), and otherwise logs its result as an observation the UI shows nowhere."""
    manifest = json.loads(ensure_manifest().read_text())
    singular = [
        node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "test" and not node.get("test_metadata")
    ]
    assert len(singular) == 8
    checks = {key.name: key.asset_key for key in graph.asset_check_keys}
    for test in singular:
        assert test["name"] in checks, f"{test['name']} is not an asset check"
        reads = {manifest["nodes"][uid]["name"] for uid in test["depends_on"]["nodes"]}
        assert checks[test["name"]].path[-1] in reads, (test["name"], checks[test["name"]])


def test_the_dbt_project_is_two_multi_assets_around_the_clv_asset(graph) -> None:
    """orchestration/assets/dbt.py: the models the CLV asset reads, then those reading its predictions."""
    names = {graph.assets_def_for_key(key).node_def.name for key in graph.get_all_asset_keys()}
    assert {"warehouse_dbt_assets", "clv_predictions", "warehouse_dbt_assets_after_clv"} <= names
    churn = AssetKey(["marts", "customer_churn"])
    assert graph.assets_def_for_key(churn).node_def.name == "warehouse_dbt_assets_after_clv"
    assert AssetKey(["clv", "customer_clv_predictions"]) in graph.get(churn).parent_keys


def test_one_dbt_build_runs_at_a_time_across_runs(tmp_path) -> None:
    """The incremental models find what changed by their inputs' build times: the two dbt steps share
    the pool "dbt", limited to one step at a time by the instances `make run`/`make dagster` and
    docker-compose use."""
    from dagster._core.instance.config import dagster_instance_config

    from orchestration.assets.dbt import dbt_assets_defs
    from warehouse.paths import ROOT
    from warehouse.run import DAGSTER_INSTANCE_YAML

    assert [assets.op.pool for assets in dbt_assets_defs] == ["dbt", "dbt"]
    (tmp_path / "dagster.yaml").write_text(DAGSTER_INSTANCE_YAML)
    for home in (tmp_path, ROOT / "docker"):
        config, _ = dagster_instance_config(str(home))
        assert config["concurrency"]["pools"]["default_limit"] == 1, home


def test_every_dbt_asset_links_its_page_on_the_dbt_docs_site(graph, monkeypatch) -> None:
    """Models, seeds and the raw and CLV tables (dbt sources) link `<DBT_DOCS_URL>/#!/<type>/<id>`."""
    from orchestration.translators import DBT_DOCS_KEY, dbt_docs_url

    manifest = json.loads(ensure_manifest().read_text())
    ids = {*manifest["nodes"], *manifest["sources"]}
    linked = {}
    for key in graph.get_all_asset_keys():
        link = graph.get(key).metadata.get(DBT_DOCS_KEY)
        assert link is not None, f"{key.to_user_string()} has no link to the dbt docs"
        linked[key.to_user_string()] = link.url
    for asset, url in linked.items():
        base, _, page = url.partition("/#!/")
        resource_type, _, unique_id = page.partition("/")
        assert base == "http://127.0.0.1:8080" and unique_id in ids, f"{asset}: {url}"
        assert unique_id.startswith(f"{resource_type}.")
    assert linked["marts/fct_orders"].endswith("/#!/model/model.olist_warehouse.fct_orders")
    assert linked["reference/rfm_segments"].endswith("/#!/seed/seed.olist_warehouse.rfm_segments")
    assert linked["olist/orders"].endswith("/#!/source/source.olist_warehouse.olist.orders")
    monkeypatch.setenv("DBT_DOCS_URL", "https://docs.example.com/dbt/")
    assert dbt_docs_url("model.p.m") == "https://docs.example.com/dbt/#!/model/model.p.m"


def test_row_counts_come_from_the_build_statement_and_count_only_incremental_models() -> None:
    from orchestration.assets import dbt as dbt_assets_module

    counted: list[str] = []

    class Invocation:
        manifest = {
            "nodes": {
                "model.p.t": {"unique_id": "model.p.t", "resource_type": "model", "config": {"materialized": "table"}},
                "model.p.c": {"unique_id": "model.p.c", "resource_type": "model", "config": {"materialized": "table"}},
                "model.p.v": {"unique_id": "model.p.v", "resource_type": "model", "config": {"materialized": "view"}},
                "model.p.i": {"unique_id": "model.p.i", "resource_type": "model",
                              "config": {"materialized": "incremental"}},
                "seed.p.s": {"unique_id": "seed.p.s", "resource_type": "seed", "config": {"materialized": "seed"}},
            }
        }  # fmt: skip

    def count(invocation, props):
        counted.append(props["unique_id"])
        return 7

    def row_count(unique_id: str, **data) -> int | None:
        event = {"data": {"node_info": {"unique_id": unique_id}, **data}}
        return dbt_assets_module._row_count(Invocation(), event)

    original = dbt_assets_module._count
    dbt_assets_module._count = count
    try:
        assert row_count("model.p.t", status="SELECT 99441") == 99441
        assert row_count("model.p.c", status="INSERT 0 1234") == 1234  # contract: create, then insert
        assert row_count("seed.p.s", result_message="INSERT 27") == 27
        assert row_count("model.p.v", status="CREATE VIEW") is None
        assert counted == []
        assert row_count("model.p.i", status="MERGE 12") == 7  # the merge's rows are not the table's
        assert counted == ["model.p.i"]
    finally:
        dbt_assets_module._count = original
