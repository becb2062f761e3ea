"""Great Expectations gates as blocking Dagster asset checks on the raw tables.

One multi-asset check per source runs after its load: it validates every raw table of the source
against its suite (quality/suites.py). A failed gate fails its check, and because the checks are
blocking, the dbt models downstream of that table do not run: the marts keep the last good data
until the source is fixed.

What a gate validates (its scope, in the check's metadata, with the reason in the run's log):

* after a load in the same run, only the rows that load wrote: the dlt loads listed in the table's
  materialization (``load_ids``), ``where _dlt_load_id in (...)``; a table the load wrote nothing to
  passes once it is known to exist (there is nothing new to validate). This holds only while every
  earlier load is covered by a gate that passed: each passing result records the newest load it
  covered (``validated_through``), and the dataset's ``_dlt_loads`` tells which loads came after;
* the whole table otherwise: when the gate failed last time (a bad load stays blocked, whatever
  loads come after it, until the whole table passes), has never run, or a load committed without a
  gate (a run that failed after its load); when the table was not materialized in this run (the
  check run on its own); and when the run is tagged ``quality/gate_scope=table`` (the
  ``daily_refresh`` schedule is, so every table is validated whole once a day).

Every expectation of a suite is row by row except the row count and key uniqueness: on a load's rows
the row count is that load's (at least one row, since only tables the load wrote are validated) and
keys are checked unique within the load. The loaders merge keyed tables on their keys, so a load's
keys unique in the load are unique in the table; a table changed some other way is caught by the
daily whole-table run."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckKey,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    MetadataValue,
    multi_asset_check,
)
from dagster._core.storage.asset_check_execution_record import COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES

from orchestration.assets.ingestion import LOAD_IDS_KEY, RUN_LOAD_IDS_KEY
from orchestration.translators import raw_asset_key
from quality.tables import RAW_TABLES
from warehouse import database

CHECK_NAME = "great_expectations_gate"
# Run tag: `table` validates whole tables; `load` (the default) the rows of this run's loads.
SCOPE_TAG = "quality/gate_scope"
WHOLE_TABLE = "table"
# Check metadata: the newest dlt load of the dataset a passing gate covered.
VALIDATED_THROUGH = "validated_through"


def _source_of(schema: str) -> str:
    return schema.removeprefix("raw_")


def _table_of(gate) -> str:
    """The raw table a gate result is about (its suite is named ``<schema>.<table>``)."""
    return gate.suite.split(".", 1)[1]


def _tables_by_schema() -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for name in RAW_TABLES:
        schema, table = name.split(".")
        grouped.setdefault(schema, []).append(table)
    return grouped


def _result(schema: str, gate, scope: "GateScope | None" = None) -> AssetCheckResult:
    from quality.gates import data_docs_index

    metadata = {
        "suite": gate.suite,
        "scope": gate.scope,
        "rows_validated": gate.rows,
        VALIDATED_THROUGH: scope.through if scope is not None else None,
        "expectations_evaluated": gate.evaluated,
        "expectations_failed": len(gate.failed),
        "data_docs": MetadataValue.path(gate.data_docs_path or str(data_docs_index())),
        "data_docs_index": MetadataValue.path(str(data_docs_index())),
        "seconds": round(gate.seconds, 2),
    }
    if gate.failed:
        metadata["failures"] = MetadataValue.md(
            "\n".join(
                f"- `{f['expectation']}` ({f.get('column') or 'table'}): {f['summary']}" for f in gate.failed
            )
        )
    return AssetCheckResult(
        asset_key=raw_asset_key(_source_of(schema), _table_of(gate)),
        check_name=CHECK_NAME,
        passed=gate.success,
        severity=AssetCheckSeverity.ERROR,
        metadata=metadata,
        description=gate.describe(),
    )


def _previous_evaluation(context: AssetCheckExecutionContext, key: AssetCheckKey):
    """The last completed evaluation of a check before this run (None if there is none)."""
    history = context.instance.event_log_storage.get_asset_check_execution_history(
        key, limit=5, status=COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES
    )
    return next((record.evaluation for record in history if record.run_id != context.run.run_id), None)


def completed_loads(db, schema: str, after: str | None = None) -> list[str] | None:
    """The ids of the dataset's completed dlt loads (newer than ``after``); None when ``schema`` is
    not a dlt dataset."""
    if not database.query("select to_regclass(%s) is not null", (f'"{schema}"."_dlt_loads"',), db)[0][0]:
        return None
    rows = database.query(
        f'select load_id from "{schema}"."_dlt_loads" where status = 0 and load_id > %s order by load_id',
        (after or "",),
        db,
    )
    return [row[0] for row in rows]


@dataclass(frozen=True)
class GateScope:
    """What a gate validates of one table: ``load_ids`` None is the whole table, a tuple the rows of
    those loads (empty: the run loaded nothing into it). ``through``: the newest load covered once
    it passes (its metadata ``validated_through``, the mark the next run's gate starts from)."""

    load_ids: tuple[str, ...] | None
    through: str | None
    reason: str


def gate_scope(context: AssetCheckExecutionContext, db, schema: str, table: str) -> GateScope:
    """The rows of the loads this run made, when every earlier load is covered by a gate that
    passed; otherwise the whole table (see the module's docstring)."""
    whole = GateScope(None, max(completed_loads(db, schema) or [""]) or None, "")
    if context.run.tags.get(SCOPE_TAG) == WHOLE_TABLE:
        return replace(whole, reason=f"run tagged {SCOPE_TAG}={WHOLE_TABLE}")
    key = raw_asset_key(_source_of(schema), table)
    event = context.instance.get_latest_materialization_event(key)
    metadata = event.asset_materialization.metadata if event and event.asset_materialization else {}
    if event is None or event.run_id != context.run.run_id or RUN_LOAD_IDS_KEY not in metadata:
        return replace(whole, reason="the table was not loaded in this run")
    previous = _previous_evaluation(context, AssetCheckKey(key, CHECK_NAME))
    mark = previous.metadata.get(VALIDATED_THROUGH) if previous is not None else None
    if previous is None:
        return replace(whole, reason="the gate has no earlier result")
    if not previous.passed:
        return replace(whole, reason="the gate failed last time")
    if mark is None or not mark.value:
        return replace(whole, reason=f"the gate's last result has no {VALIDATED_THROUGH}")
    run_loads = set(metadata[RUN_LOAD_IDS_KEY].value)
    unseen = set(completed_loads(db, schema, after=mark.value) or []) - run_loads
    if unseen:
        return replace(whole, reason=f"loads no gate has validated: {', '.join(sorted(unseen))}")
    load_ids = tuple(metadata[LOAD_IDS_KEY].value)
    return GateScope(load_ids, max([mark.value, *run_loads]), "the rows this run loaded")


def _nothing_loaded(schema: str, table: str, exists: bool, scope: GateScope) -> AssetCheckResult:
    """The run's load wrote no row to the table: nothing new to validate, if the table exists."""
    return AssetCheckResult(
        asset_key=raw_asset_key(_source_of(schema), table),
        check_name=CHECK_NAME,
        passed=exists,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "suite": f"{schema}.{table}",
            "scope": "no rows loaded in this run",
            "rows_validated": 0,
            VALIDATED_THROUGH: scope.through,
        },
        description=(
            f"{schema}.{table}: no rows loaded in this run, nothing new to validate"
            if exists
            else f"{schema}.{table}: not validated: table {schema}.{table} does not exist"
        ),
    )


def run_gates(db, schema: str, scopes: dict[str, Sequence[str] | None]) -> list:
    """Validate the tables of ``schema`` in ``scopes`` (table -> load ids, or None for the whole
    table), one Great Expectations run per distinct scope; returns the GateResults."""
    from quality.gates import validate_schema

    groups: dict[tuple | None, list[str]] = {}
    for table, load_ids in scopes.items():
        groups.setdefault(tuple(load_ids) if load_ids is not None else None, []).append(table)
    results = []
    for load_ids, tables in groups.items():
        results += validate_schema(db, schema, load_id=load_ids, tables=tables, skip_missing=False)
    return results


def build_gate(schema: str, tables: Iterable[str]) -> AssetChecksDefinition:
    source = _source_of(schema)
    specs = [
        AssetCheckSpec(
            name=CHECK_NAME,
            asset=AssetKey([source, table]),
            blocking=True,
            description=f"Great Expectations suite {schema}.{table} (quality/suites.py).",
        )
        for table in tables
    ]

    @multi_asset_check(specs=specs, name=f"gate_{source}", can_subset=True)
    def _gate(context: AssetCheckExecutionContext) -> Iterable[AssetCheckResult]:
        db = database.ensure()
        selected = sorted({key.asset_key.path[-1] for key in context.selected_asset_check_keys})
        scopes = {table: gate_scope(context, db, schema, table) for table in selected}
        for table, scope in scopes.items():
            context.log.info(f"quality gate {schema}.{table}: {scope.reason}")
            if scope.load_ids == ():
                exists = database.query("select to_regclass(%s) is not null", (f'"{schema}"."{table}"',), db)
                yield _nothing_loaded(schema, table, exists[0][0], scope)
        to_validate = {table: scope.load_ids for table, scope in scopes.items() if scope.load_ids != ()}
        for gate in run_gates(db, schema, to_validate):
            if not gate.success:
                context.log.error(gate.describe())
            else:
                context.log.info(gate.describe())
            yield _result(schema, gate, scopes[_table_of(gate)])

    return _gate


quality_gates = [build_gate(schema, tables) for schema, tables in _tables_by_schema().items()]
