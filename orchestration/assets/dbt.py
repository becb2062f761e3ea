"""The dbt project as Dagster assets, in two steps around the CLV asset; dbt tests become asset checks.

``warehouse_dbt_assets`` builds every seed and model except those that read the CLV step's predictions
(the dbt source ``clv``) and their descendants; the CLV asset (orchestration/assets/clv.py) reads what it
built; ``warehouse_dbt_assets_after_clv`` then builds ``customer_churn`` (P(alive) beside the threshold
rule) and everything downstream of it. Each dbt test runs in exactly one of the two steps, once all the
models it reads are built (dbt_project/DECISIONLOG.md, "Predictive CLV")."""

import logging
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dagster import AssetExecutionContext, Output
from dagster_dbt import DbtCliResource, dbt_assets
from dagster_dbt.asset_utils import (
    DAGSTER_DBT_EXCLUDE_METADATA_KEY,
    DAGSTER_DBT_SELECT_METADATA_KEY,
    DAGSTER_DBT_SELECTOR_METADATA_KEY,
    DBT_EMPTY_INDIRECT_SELECTION,
    DBT_INDIRECT_SELECTION_ENV,
    get_manifest_and_translator_from_dbt_assets,
    get_subset_selection_for_context,
)
from dagster_dbt.core.dbt_cli_invocation import DbtCliInvocation

from orchestration.dbt_project import dbt_project, ensure_manifest
from orchestration.translators import WarehouseDbtTranslator
from warehouse import database

log = logging.getLogger(__name__)

# One dbt build at a time across runs (the instance's pool limit, 1): the incremental models find
# what changed by the build times of their inputs, which two overlapping builds would blur.
DBT_POOL = "dbt"

MANIFEST = ensure_manifest()

# The status line PostgreSQL returns for the statement that built a node, as dbt reports it:
# `SELECT n` (create table as), `INSERT 0 n` (a contract's create table + insert), and for seeds
# dbt's own `INSERT n` / `CREATE n`. n is the row count of the whole table for these.
_ROWS_IN_MESSAGE = re.compile(r"^(?:SELECT|INSERT(?: 0)?|CREATE) (\d+)$")
# Nodes whose build statement writes the whole table, so its message gives the row count for free.
_COUNTED_BY_BUILD = frozenset({"table", "seed"})
ROW_COUNT = "dagster/row_count"  # the key the Dagster UI shows as the asset's row count

# dagster-dbt gives every dbt invocation a target directory of its own, target/<step>-<run id>-<uuid>
# (manifest, compiled SQL, run_results.json, dbt.log: about 13 MB for this project), and removes none:
# with the daily schedule that is some 10 GB a year. Each step keeps its newest DBT_TARGETS_KEPT.
TARGETS_KEPT = int(os.environ.get("DBT_TARGETS_KEPT", "10"))


def stream_build(context: AssetExecutionContext, dbt: DbtCliResource, *args: str) -> Iterator[Any]:
    """``dbt build <args>`` as Dagster events, every table and seed with ``dagster/row_count``.

    The row count of a table or seed is the one PostgreSQL returned for the statement that wrote it
    (free: no query); an incremental model's build writes only its new rows, so its table is
    counted (``count(*)``, one query per incremental model). Views get no row count: counting
    one runs its whole query. dagster-dbt's ``fetch_row_counts()`` would instead ``count(*)``
    every table after it is built."""
    invocation = dbt.cli(["build", *args], context=context)
    manifest = invocation.manifest
    try:
        for raw in invocation.stream_raw_events():
            for event in raw.to_default_asset_events(
                manifest=manifest,
                dagster_dbt_translator=invocation.dagster_dbt_translator,
                context=context,
                target_path=invocation.target_path,
                project=invocation.project,
            ):
                if isinstance(event, Output):
                    rows = _row_count(invocation, raw.raw_event)
                    if rows is not None:
                        event = event.with_metadata({**event.metadata, ROW_COUNT: rows})
                yield event
    finally:
        prune_targets(invocation.target_path)


def prune_targets(target_path: Path, keep: int = TARGETS_KEPT) -> list[Path]:
    """Remove the oldest target directories of the step that ``target_path`` belongs to (dagster-dbt's
    ``<step>-<run id>-<uuid>``), so that the step keeps its newest ``keep``, ``target_path`` among them.
    The removed directories, oldest last. Other steps' directories and anything else under target/
    (the CLI's own manifest, docs, partial parse file) are left alone."""
    step = target_path.name.rsplit("-", 2)[0]
    own = re.compile(rf"{re.escape(step)}-[0-9a-f]{{7}}-[0-9a-f]{{7}}")
    older = [
        path
        for path in target_path.parent.iterdir()
        if path != target_path and own.fullmatch(path.name) and path.is_dir()
    ]
    older.sort(key=lambda path: path.stat().st_mtime, reverse=True)
    removed = older[max(keep - 1, 0) :]
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    if removed:
        log.info("removed %d old dbt target directories of %s (kept %d)", len(removed), step, keep)
    return removed


def _row_count(invocation: DbtCliInvocation, raw_event: dict[str, Any]) -> int | None:
    data = raw_event.get("data", {})
    props = invocation.manifest["nodes"].get(data.get("node_info", {}).get("unique_id"), {})
    materialized = props.get("config", {}).get("materialized")
    if props.get("resource_type") == "seed":
        materialized = "seed"
    if materialized in _COUNTED_BY_BUILD:
        message = data.get("result_message") if materialized == "seed" else data.get("status")
        found = _ROWS_IN_MESSAGE.match(str(message or "").strip())
        if found:
            return int(found.group(1))
    if materialized in _COUNTED_BY_BUILD or materialized == "incremental":
        return _count(invocation, props)
    return None


def _count(invocation: DbtCliInvocation, props: dict[str, Any]) -> int | None:
    """``count(*)`` of the node's table, on the database the step's dbt wrote to (its PG* settings,
    exported by ``database.ensure()``; dagster-dbt's adapter is not loaded: WarehouseDbtCliResource)."""
    if not props.get("relation_name"):
        return None
    try:
        # relation_name is dbt's quoted "database"."schema"."table"
        ((rows,),) = database.query(f"select count(*) from {props['relation_name']}")
        return int(rows)
    except Exception:  # a row count is a courtesy: the build stands without it
        log.warning("could not count the rows of %s", props["unique_id"], exc_info=True)
        return None


# The models that read the CLV step's tables, and everything downstream of them (tests included).
AFTER_CLV = "source:clv+"
# The dbt tests of the raw tables (dbt sources): in Dagster the Great Expectations gates are those tables'
# checks, and they hold every key and not-null test of the sources (tests/orchestration/test_clv_asset.py);
# dagster-dbt would log each result as an observation with a warning, at 18 s of test time per run at 1M
# orders. `dbt build` from the command line runs them.
SOURCE_TESTS = "source:*"
TRANSLATOR = WarehouseDbtTranslator()


def tests_named_by_dagster(context: AssetExecutionContext) -> bool:
    """True when dagster-dbt selects this step's tests by name and sets DBT_INDIRECT_SELECTION=empty: a
    subset that leaves out a check of a selected asset (e.g. one asset materialized without its checks).

    The same decision dagster-dbt makes in ``dbt.cli`` (``get_subset_selection_for_context``). Then no
    ``--indirect-selection`` flag may be passed: the flag would override the variable and run the left-out
    tests too."""
    manifest, translator, _ = get_manifest_and_translator_from_dbt_assets([context.assets_def])
    tags = context.op.tags
    _, indirect_selection = get_subset_selection_for_context(
        context=context,
        manifest=manifest,
        select=tags.get(DAGSTER_DBT_SELECT_METADATA_KEY),
        exclude=tags.get(DAGSTER_DBT_EXCLUDE_METADATA_KEY),
        selector=tags.get(DAGSTER_DBT_SELECTOR_METADATA_KEY),
        dagster_dbt_translator=translator,
        current_dbt_indirect_selection_env=os.environ.get(DBT_INDIRECT_SELECTION_ENV),
    )
    return indirect_selection == DBT_EMPTY_INDIRECT_SELECTION


@dbt_assets(
    manifest=MANIFEST,
    project=dbt_project,
    dagster_dbt_translator=TRANSLATOR,
    exclude=f"{AFTER_CLV} {SOURCE_TESTS}",
    pool=DBT_POOL,
)
def warehouse_dbt_assets(context: AssetExecutionContext, dbt: DbtCliResource):
    """`dbt build` of the seeds and models before the CLV step, with the tests whose every parent is built
    here (`--indirect-selection cautious`) but the source tests (SOURCE_TESTS): a test that also reads a model
    of the step after the CLV asset (a relationship to dim_customers) runs there, after that model is
    rebuilt. A full run selects the tests with `--exclude source:clv+ source:*` already; cautious keeps it
    so in a subset (Dagster then selects models by name and dbt adds their tests), where dbt's default
    (eager) would run such a test before its model."""
    database.ensure()  # exports PG* for the dbt subprocess
    args = [] if tests_named_by_dagster(context) else ["--indirect-selection", "cautious"]
    yield from stream_build(context, dbt, *args)


@dbt_assets(
    manifest=MANIFEST,
    project=dbt_project,
    dagster_dbt_translator=TRANSLATOR,
    select=AFTER_CLV,
    pool=DBT_POOL,
)
def warehouse_dbt_assets_after_clv(context: AssetExecutionContext, dbt: DbtCliResource):
    """`dbt build` of the models that read the CLV predictions and their descendants (customer_churn,
    customer_churn_by_segment, dim_customers), with every test that reads one of them (dbt's default, eager):
    the models of the first step they also read were built before the CLV step started."""
    database.ensure()  # exports PG* for the dbt subprocess
    yield from stream_build(context, dbt)


dbt_assets_defs = [warehouse_dbt_assets, warehouse_dbt_assets_after_clv]
