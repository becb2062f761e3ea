"""Great Expectations gates as blocking Dagster asset checks on the raw tables.

One multi-asset check per source runs after its load: it validates every raw table of the source
against its suite (quality/suites.py). A failed gate fails its check, and because the checks are
blocking, the dbt models downstream of that table do not run: the marts keep the last good data
until the source is fixed."""

from collections.abc import Iterable

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    MetadataValue,
    multi_asset_check,
)

from orchestration.translators import raw_asset_key
from quality.tables import RAW_TABLES
from warehouse import database

CHECK_NAME = "great_expectations_gate"


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


def _result(schema: str, gate) -> AssetCheckResult:
    from quality.gates import data_docs_index

    metadata = {
        "suite": gate.suite,
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
        from quality.gates import validate_schema

        db = database.ensure()
        selected = {key.asset_key.path[-1] for key in context.selected_asset_check_keys}
        for gate in validate_schema(db, schema, skip_missing=False):
            if _table_of(gate) in selected:
                if not gate.success:
                    context.log.error(gate.describe())
                yield _result(schema, gate)

    return _gate


quality_gates = [build_gate(schema, tables) for schema, tables in _tables_by_schema().items()]
