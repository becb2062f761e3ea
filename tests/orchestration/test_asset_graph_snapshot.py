"""The whole asset graph (keys, groups, dependencies, checks, freshness policies, jobs, schedules,
sensors) against a committed snapshot, so a refactor cannot silently drop an asset, an edge or a check.

After an intended change: `UPDATE_SNAPSHOT=1 make test` (or pytest this file) rewrites the
snapshot; review its diff like code."""

from __future__ import annotations

import json
import os
from pathlib import Path

SNAPSHOT = Path(__file__).with_name("asset_graph.snapshot.json")


def graph_snapshot() -> dict:
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    checks: dict[str, list[str]] = {}
    for key in graph.asset_check_keys:
        checks.setdefault(key.asset_key.to_user_string(), []).append(key.name)
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "materializable": node.is_materializable,
            "deps": sorted(parent.to_user_string() for parent in node.parent_keys),
            "checks": sorted(checks.get(key.to_user_string(), [])),
        }
        if node.freshness_policy is not None:  # its kind; the window is a setting (MART_MAX_AGE_HOURS)
            assets[key.to_user_string()]["freshness"] = type(node.freshness_policy).__name__
    return {
        "assets": assets,
        "jobs": sorted(job.name for job in defs.resolve_all_job_defs() if not job.name.startswith("__")),
        "schedules": sorted(schedule.name for schedule in defs.schedules or []),
        "sensors": sorted(sensor.name for sensor in defs.sensors or []),
    }


def test_asset_graph_matches_the_snapshot() -> None:
    current = graph_snapshot()
    if os.environ.get("UPDATE_SNAPSHOT") or not SNAPSHOT.exists():
        SNAPSHOT.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n")
    expected = json.loads(SNAPSHOT.read_text())
    missing = sorted(set(expected["assets"]) - set(current["assets"]))
    added = sorted(set(current["assets"]) - set(expected["assets"]))
    assert not missing and not added, f"assets dropped: {missing}; assets added: {added} (UPDATE_SNAPSHOT=1)"
    changed = [key for key in expected["assets"] if expected["assets"][key] != current["assets"][key]]
    assert not changed, "changed assets: " + "; ".join(
        f"{key}: {expected['assets'][key]} -> {current['assets'][key]}" for key in changed[:5]
    )
    assert {k: current[k] for k in ("jobs", "schedules", "sensors")} == {
        k: expected[k] for k in ("jobs", "schedules", "sensors")
    }


def test_every_raw_table_has_a_blocking_quality_gate() -> None:
    from orchestration.definitions import defs
    from quality.tables import RAW_TABLES

    graph = defs.resolve_asset_graph()
    gates = {
        key.asset_key.to_user_string()
        for key in graph.asset_check_keys
        if key.name == "great_expectations_gate"
    }
    raw = {f"{name.split('.')[0].removeprefix('raw_')}/{name.split('.')[1]}" for name in RAW_TABLES}
    assert gates == raw
    dlt_assets = {
        key.to_user_string()
        for key in graph.get_all_asset_keys()
        if graph.get(key).is_materializable and "dlt" in graph.get(key).kinds
    }
    assert dlt_assets == raw, "every dlt raw table needs a suite in quality/suites.py and vice versa"
    for key in graph.asset_check_keys:
        if key.name == "great_expectations_gate":
            assert graph.get_check_spec(key).blocking, f"{key} must block the models downstream"


def test_the_landing_job_loads_the_files_and_everything_downstream() -> None:
    from orchestration.definitions import defs

    job = defs.resolve_job_def("landing_files")
    keys = {key.to_user_string() for key in job.asset_layer.selected_asset_keys}
    assert {"olist/orders", "staging/stg_olist__orders", "marts/fct_orders", "marts/customer_rfm"} <= keys
    assert not any(key.startswith(("marketing/", "erp/", "bcb/", "byo/")) for key in keys)
