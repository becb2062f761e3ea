"""How dlt resources and dbt nodes become Dagster assets, so the two meet in one graph.

A dbt source table ``source('olist', 'orders')`` gets the asset key ``olist/orders`` (dagster-dbt's
default); the dlt resource ``orders`` of the dlt source ``olist`` is given the same key, so the
lineage runs file -> raw table -> staging -> marts without a hand-written edge."""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from typing import Any

import yaml
from dagster import AssetKey, AssetSpec, MetadataValue
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings
from dagster_dlt import DagsterDltTranslator
from dagster_dlt.translator import DltResourceTranslatorData

from warehouse.paths import DBT_PROJECT_DIR

RAW_GROUP = "raw"
REJECTED_SUFFIX = "__rejected"
# dbt sources not loaded by dlt: the tables the Python CLV asset writes (orchestration/assets/clv.py).
SOURCE_GROUPS = {"clv": "clv"}
# Where `make docs` serves the dbt docs site; each dbt asset's metadata links its page there.
DBT_DOCS_URL_DEFAULT = "http://127.0.0.1:8080"
DBT_DOCS_KEY = "dbt_docs"


def raw_asset_key(source_name: str, table_name: str) -> AssetKey:
    """The one rule both translators follow for raw tables."""
    return AssetKey([source_name, table_name])


def dbt_docs_url(unique_id: str) -> str:
    """The page of a dbt node or source on the dbt docs site (``DBT_DOCS_URL``, default
    http://127.0.0.1:8080): ``<base>/#!/model/model.olist_warehouse.fct_orders``."""
    base = (os.environ.get("DBT_DOCS_URL") or DBT_DOCS_URL_DEFAULT).rstrip("/")
    return f"{base}/#!/{unique_id.split('.', 1)[0]}/{unique_id}"


@cache
def dbt_project_name() -> str:
    return yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())["name"]


def dbt_source_id(source_name: str, table_name: str) -> str:
    """The unique id dbt gives ``source(source_name, table_name)``."""
    return f"source.{dbt_project_name()}.{source_name}.{table_name}"


def dbt_docs_metadata(unique_id: str) -> dict[str, MetadataValue]:
    return {DBT_DOCS_KEY: MetadataValue.url(dbt_docs_url(unique_id))}


class WarehouseDltTranslator(DagsterDltTranslator):
    def get_asset_spec(self, data: DltResourceTranslatorData) -> AssetSpec:
        spec = super().get_asset_spec(data)
        resource = data.resource
        return spec.replace_attributes(
            key=raw_asset_key(resource.source_name, resource.name),
            group_name=RAW_GROUP,
            deps=[],
            description=spec.description
            or f"Raw table {resource.name} loaded by dlt from {resource.source_name}.",
        ).merge_attributes(
            kinds={"postgres"},
            # the raw table is the dbt source of the same name: its page on the dbt docs site
            metadata=dbt_docs_metadata(dbt_source_id(resource.source_name, resource.name)),
        )


class WarehouseDbtTranslator(DagsterDbtTranslator):
    """Groups follow the dbt layers (staging, intermediate, marts, reference for seeds)."""

    def __init__(self) -> None:
        super().__init__(
            settings=DagsterDbtTranslatorSettings(
                enable_asset_checks=True, enable_duplicate_source_asset_keys=True
            )
        )

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: Any) -> AssetSpec:
        # dagster-dbt asks for a node's spec once more for every node that depends on it (600 times for
        # 84 nodes); it memoizes its own part by this key, and this memoizes the rest.
        memo = self.__dict__.setdefault("_warehouse_specs", {})
        key = (id(manifest), unique_id, id(project))
        if key not in memo:
            memo[key] = self._warehouse_spec(manifest, unique_id, project)
        return memo[key]

    def _warehouse_spec(self, manifest: Mapping[str, Any], unique_id: str, project: Any) -> AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        metadata = {**spec.metadata, **dbt_docs_metadata(unique_id)}
        props = self.get_resource_props(manifest, unique_id)
        if props["resource_type"] == "source":
            # A quarantine table `<table>__rejected` is written by the same load as `<table>`.
            table = props["name"].removesuffix(REJECTED_SUFFIX)
            return spec.replace_attributes(
                key=raw_asset_key(props["source_name"], table),
                group_name=SOURCE_GROUPS.get(props["source_name"], RAW_GROUP),
                metadata=metadata,
            )
        fqn = props.get("fqn", [])
        layer = fqn[1] if len(fqn) > 2 else None
        if props["resource_type"] == "seed":
            layer = "reference"
        return spec.replace_attributes(group_name=layer or "dbt", metadata=metadata)
