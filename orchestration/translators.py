"""How dlt resources and dbt nodes become Dagster assets, so the two meet in one graph.

A dbt source table ``source('olist', 'orders')`` gets the asset key ``olist/orders`` (dagster-dbt's
default); the dlt resource ``orders`` of the dlt source ``olist`` is given the same key, so the
lineage runs file -> raw table -> staging -> marts without a hand-written edge."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster import AssetKey, AssetSpec
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings
from dagster_dlt import DagsterDltTranslator
from dagster_dlt.translator import DltResourceTranslatorData

RAW_GROUP = "raw"
REJECTED_SUFFIX = "__rejected"
# dbt sources not loaded by dlt: the tables the Python CLV asset writes (orchestration/assets/clv.py).
SOURCE_GROUPS = {"clv": "clv"}


def raw_asset_key(source_name: str, table_name: str) -> AssetKey:
    """The one rule both translators follow for raw tables."""
    return AssetKey([source_name, table_name])


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
        ).merge_attributes(kinds={"postgres"})


class WarehouseDbtTranslator(DagsterDbtTranslator):
    """Groups follow the dbt layers (staging, intermediate, marts, reference for seeds)."""

    def __init__(self) -> None:
        super().__init__(
            settings=DagsterDbtTranslatorSettings(
                enable_asset_checks=True, enable_duplicate_source_asset_keys=True
            )
        )

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: Any) -> AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if props["resource_type"] == "source":
            # A quarantine table `<table>__rejected` is written by the same load as `<table>`.
            table = props["name"].removesuffix(REJECTED_SUFFIX)
            return spec.replace_attributes(
                key=raw_asset_key(props["source_name"], table),
                group_name=SOURCE_GROUPS.get(props["source_name"], RAW_GROUP),
            )
        fqn = props.get("fqn", [])
        layer = fqn[1] if len(fqn) > 2 else None
        if props["resource_type"] == "seed":
            layer = "reference"
        return spec.replace_attributes(group_name=layer or "dbt")
