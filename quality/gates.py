"""Run the raw tables' expectation suites on PostgreSQL and keep the results as Data Docs.

The Great Expectations project lives in ``local_dir()/great_expectations`` (a File Data Context, git
ignored), so validation results and Data Docs persist between runs. It holds no source of truth:
every run registers the table's suite from :mod:`quality.suites` again (``add_or_update``,
idempotent), and a data asset, validation definition and checkpoint for the run, removed after it;
deleting the folder loses only history. The connection string is stored as
``${WAREHOUSE_GX_DATABASE_URL}`` and given to the context at run time, so no password is ever
written to its files.

Each table is validated through a projection that presents every column as the suite reads it
(see :mod:`quality.suites`: text, numbers with a numeric twin, typed dates written in the expected
format), whatever its type in the database. The projection is a view in ``quality_gates`` created
for the run and dropped after it, registered as a table asset: for a query asset GX 1.24 learns the
columns by executing the whole query and fetching every row into Python. Expectations run as SQL
in PostgreSQL, most of them bundled into one aggregate scan; no rows are pulled into Python except
the few unexpected values of the expectations that failed, which a second, unstored pass looks up
(asking for examples in the stored pass costs a full scan per expectation, passing or not).

``load_id`` restricts a run to the rows of one or more dlt loads (``where _dlt_load_id in (...)``),
for a check right after a load that costs in proportion to the load rather than the table (the
projection of those rows is then an unlogged table, filled by one scan of the raw table). Every
expectation then sees only those rows: a key unique within the load can still repeat a key of an
earlier load, which the whole-table run (``load_id=None``) catches. (The loaders merge keyed tables
on their keys, so after a merge load the keys of the load's rows are unique in the table when they
are unique in the load; the whole-table run is for tables written some other way.)

Runs are serialised with a file lock on the project folder, so concurrent processes (Dagster runs)
do not interleave their writes to ``great_expectations.yml``.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import re
import shutil
import time
import uuid
import warnings
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlencode, urlparse

# quality/__init__.py has set GX_ANALYTICS_ENABLED=false before this import.
import great_expectations as gx
import psycopg2.errors
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

from quality.suites import NUMBER_SUFFIX, SUITES, TableSuite, key_column, suite_for
from warehouse import database
from warehouse.paths import local_dir
from warehouse.settings import DatabaseSettings

log = logging.getLogger(__name__)

DATASOURCE = "warehouse"
URL_VARIABLE = "WAREHOUSE_GX_DATABASE_URL"
SITE = "local_site"
BATCH_DEFINITION = "rows"
# Validation results kept per suite; older ones (and their pages) are removed before each run, so
# the Data Docs index stays quick to rebuild however often the gates run.
KEEP_RUNS = 20
# The stored run: counts and observed values, no unexpected values (see _examples).
RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 0}
EXAMPLES_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 20}
EXAMPLES = 5
# Where each run's projection of its table lives as a view, for the length of the run.
VIEW_SCHEMA = "quality_gates"
WORK_MEM = "256MB"
LOAD_ID_PATTERN = re.compile(r"^[\w.\-]+$")

TEXT_TYPES = frozenset({"text", "character varying", "character", "name", "citext"})
NUMBER_TYPES = frozenset({"smallint", "integer", "bigint", "numeric", "real", "double precision"})
DATE_TYPES = frozenset({"date"})
TIMESTAMP_TYPES = frozenset({"timestamp without time zone", "timestamp with time zone"})
# What a typed date or timestamp is written as, per style of the suite's regex.
TO_CHAR_FORMATS = {
    "iso": {"date": "YYYY-MM-DD", "timestamp": "YYYY-MM-DD HH24:MI:SS"},
    "dd/mm/yyyy": {"date": "DD/MM/YYYY", "timestamp": "DD/MM/YYYY"},
}
# Text read as a number on PostgreSQL before 16 (no pg_input_is_valid): the loader's format, plus
# an exponent. Anything else reads as null in the numeric twin.
CASTABLE_NUMBER = r"^-?\d+(\.\d+)?([eE][-+]?\d{1,3})?$"
CASTABLE_INTEGER = r"^-?\d{1,18}$"


@dataclass(frozen=True)
class GateResult:
    """The outcome of one table's gate.

    ``failed`` holds one dict per failed expectation: ``expectation`` (its type), ``column`` (the raw
    table's column(s), or None for table-level ones), ``summary`` (one line for a person) and,
    where they apply, ``observed``, ``unexpected_count``, ``unexpected_percent`` and
    ``unexpected_examples``. ``data_docs_path`` is the HTML page of this validation (the Data
    Docs index when the gate could not run). ``seconds`` is the validation's time, the Data Docs
    update not included."""

    suite: str
    table: str
    success: bool
    evaluated: int
    failed: list[dict[str, Any]] = field(default_factory=list)
    data_docs_path: str = ""
    load_id: str | None = None  # the dlt load ids validated, comma separated; None: the whole table
    seconds: float = 0.0
    rows: int | None = None  # rows validated (the row count expectation's observed value)

    @property
    def scope(self) -> str:
        if not self.load_id:
            return "whole table"
        return f"{'loads' if ',' in self.load_id else 'load'} {self.load_id}"

    def describe(self) -> str:
        scope = f" ({self.scope})" if self.load_id else ""
        scope += f" on {self.table}" if self.table != self.suite else ""
        if self.evaluated == 0:
            return f"{self.suite}{scope}: not validated: {self.failed[0]['summary']}"
        if self.success:
            return f"{self.suite}{scope}: passed {self.evaluated} expectations in {self.seconds:.1f}s"
        lines = [f"{self.suite}{scope}: {len(self.failed)} of {self.evaluated} expectations failed"]
        for item in self.failed:
            lines.append(f"  - {item['expectation']}({item['column'] or ''}): {item['summary']}")
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------- paths


def project_dir() -> Path:
    """The Great Expectations project: suites as registered, validation results, Data Docs."""
    return local_dir() / "great_expectations"


def data_docs_index() -> Path:
    return project_dir() / "uncommitted" / "data_docs" / SITE / "index.html"


# ------------------------------------------------------------------------------------- public API


def validate_table(
    db: DatabaseSettings,
    schema: str,
    table: str,
    *,
    load_id: str | Sequence[str] | None = None,
    suite: str | None = None,
    data_docs: bool = True,
) -> GateResult:
    """Validate ``schema.table`` against its suite (only the rows of dlt load ``load_id``, or of the
    loads in a list of ids, when given) and render its Data Docs page.

    ``suite`` names the suite when the table is not the raw table itself (a copy in another schema,
    a test table); by default it is the suite of ``schema.table``. ``data_docs=False`` stores the
    result without rendering it (about a second saved; :func:`build_data_docs` renders it later).
    A missing table is a failed result, not an error; a table without a suite is a KeyError."""
    table_suite = _suite(suite) if suite else suite_for(schema, table)
    with _project(db) as context:
        run = _validate(context, db, table_suite, schema, table, _load_ids(load_id), skip_missing=False)
        assert run is not None
        return _with_docs(context, [run], render=data_docs)[0]


def validate_schema(
    db: DatabaseSettings,
    schema: str,
    *,
    load_id: str | Sequence[str] | None = None,
    tables: Iterable[str] | None = None,
    suite_schema: str | None = None,
    skip_missing: bool = False,
    data_docs: bool = True,
) -> list[GateResult]:
    """Validate every table of ``schema`` that has a suite (only ``tables``, when given), then render
    their Data Docs pages in one build. A table that does not exist fails, unless ``skip_missing``
    (then it is left out). ``load_id``: only the rows of these dlt loads, in every table.
    ``suite_schema``: the suites are those of this schema (``raw_olist`` for a copy of its tables
    in a scratch schema, as in a benchmark); by default ``schema``'s own."""
    ids = _load_ids(load_id)
    of = suite_schema or schema
    suites = [suite for suite in SUITES.values() if suite.schema == of]
    if not suites:
        raise KeyError(f"no quality suites for schema {of}; schemas with suites: {_schemas()}")
    if tables is not None:
        wanted = set(tables)
        unknown = wanted - {suite.table for suite in suites}
        if unknown:
            raise KeyError(f"no quality suites for {sorted(unknown)} in schema {of}")
        suites = [suite for suite in suites if suite.table in wanted]
    with _project(db) as context:
        runs = [
            _validate(context, db, suite, schema, suite.table, ids, skip_missing=skip_missing)
            for suite in suites
        ]
        return _with_docs(context, [run for run in runs if run is not None], render=data_docs)


def build_data_docs() -> Path:
    """Rebuild the whole Data Docs site from the stored results; returns the path of index.html.
    (Every validation already updates its own page and the index; this is for a full rebuild.)"""
    with _project() as context:
        context.build_data_docs(site_names=[SITE])
    return data_docs_index()


# --------------------------------------------------------------------------------------- running


@dataclass
class _Run:
    result: GateResult
    result_id: Any = None  # the stored validation result's identifier; None when GX did not run
    suite_changed: bool = False  # its suite's Data Docs page needs rendering again


def _schemas() -> str:
    return ", ".join(sorted({suite.schema for suite in SUITES.values()}))


def _load_ids(load_id: str | Sequence[str] | None) -> tuple[str, ...] | None:
    """One load id or several as a tuple (None: the whole table), each checked to be a dlt load id."""
    if load_id is None:
        return None
    ids = (load_id,) if isinstance(load_id, str) else tuple(dict.fromkeys(load_id))
    if not ids:
        raise ValueError("no load ids given: pass None to validate the whole table")
    for item in ids:
        if not isinstance(item, str) or not LOAD_ID_PATTERN.match(item):
            raise ValueError(f"load_id {item!r} is not a dlt load id (letters, digits, '.', '_', '-')")
    return ids


def _suite(name: str) -> TableSuite:
    try:
        return SUITES[name]
    except KeyError:
        raise KeyError(f"no quality suite named {name}; suites: {', '.join(sorted(SUITES))}") from None


def _validate(
    context: Any,
    db: DatabaseSettings,
    suite: TableSuite,
    schema: str,
    table: str,
    load_ids: tuple[str, ...] | None,
    *,
    skip_missing: bool,
) -> _Run | None:
    started = time.perf_counter()
    name = f"{schema}.{table}"
    load_id = ", ".join(load_ids) if load_ids else None
    columns = column_types(db, schema, table)
    if not columns:
        if skip_missing:
            log.info("quality gate %s skipped: the table does not exist", name)
            return None
        return _not_run(suite, name, load_id, started, f"table {name} does not exist")
    if load_id is not None and "_dlt_load_id" not in columns:
        message = (
            f"table {name} has no _dlt_load_id column, so it cannot be validated per load; "
            "validate it without load_id"
        )
        return _not_run(suite, name, load_id, started, message)
    _prune_history(suite.name, keep=KEEP_RUNS - 1)
    query = projection(suite, schema, table, columns, load_ids, server_version(db))
    # A load's rows are copied once (GX scans its batch several times: through a view each scan
    # would read the whole raw table to find them); a whole table is read through a view.
    as_table = load_ids is not None
    view = _create_view(db, schema, table, query, as_table=as_table)
    try:
        suite_changed = _suite_changed(context, suite)
        checkpoint = _register(context, suite, name, view)
        run_name = f"load_{'+'.join(load_ids)}" if load_ids else "whole_table"
        run = checkpoint.run(run_id=RunIdentifier(run_name=run_name))
        (result_id, validation), *_ = run.run_results.items()
        failed = [item for item in validation.results if not item.success]
        examples = _examples(checkpoint, failed) if failed else {}
    finally:
        _unregister(context, name)
        _drop_view(db, view, as_table=as_table)
    result = GateResult(
        suite=suite.name,
        table=name,
        success=bool(validation.success),
        evaluated=len(validation.results),
        failed=[_failure(item, examples.get(_key(item))) for item in failed],
        load_id=load_id,
        seconds=round(time.perf_counter() - started, 3),
        rows=_rows(validation.results),
    )
    (log.info if result.success else log.warning)("quality gate %s", result.describe())
    return _Run(result, result_id, suite_changed)


def _rows(results: list[Any]) -> int | None:
    for item in results:
        if item.expectation_config.type == "expect_table_row_count_to_be_between":
            observed = (item.result or {}).get("observed_value")
            return int(observed) if observed is not None else None
    return None


def _key(item: Any) -> str:
    """Which expectation a result is for, the same in both passes."""
    config = item.expectation_config
    kwargs = {key: value for key, value in config.kwargs.items() if key != "batch_id"}
    return f"{config.type}:{sorted(kwargs.items(), key=lambda pair: pair[0])!r}"


def _examples(checkpoint: Any, failed: list[Any]) -> dict[str, list]:
    """A few unexpected values of each failed expectation, by a second, unstored validation of
    just those: the stored run asks for counts only, since looking for examples of a rule that holds
    costs a full scan per expectation, while for one that fails the first rows found are enough."""
    expectations = [item.expectation_config.to_domain_obj() for item in failed]
    for expectation in expectations:
        expectation.id = None  # a copy, not the stored suite's expectation
    suite = gx.ExpectationSuite(name="examples", expectations=expectations)
    try:
        batch = checkpoint.validation_definitions[0].batch_definition.get_batch()
        outcome = batch.validate(suite, result_format=EXAMPLES_FORMAT)
    except Exception:  # examples are a courtesy: the failures stand without them
        log.warning("quality gate %s: could not look up unexpected values", checkpoint.name, exc_info=True)
        return {}
    found = {}
    for item in outcome.results:
        distinct: dict[str, Any] = {}
        for value in (item.result or {}).get("partial_unexpected_list") or []:
            distinct.setdefault(repr(value), value)
        if distinct and item.expectation_config.type != "expect_column_values_to_not_be_null":
            found[_key(item)] = _plain(list(distinct.values())[:EXAMPLES])
    return found


def _not_run(suite: TableSuite, name: str, load_id: str | None, started: float, message: str) -> _Run:
    log.warning("quality gate %s failed: %s", name, message)
    result = GateResult(
        suite=suite.name,
        table=name,
        success=False,
        evaluated=0,
        failed=[{"expectation": "table_exists", "column": None, "summary": message}],
        load_id=load_id,
        seconds=round(time.perf_counter() - started, 3),
    )
    return _Run(result)


def _with_docs(context: Any, runs: list[_Run], *, render: bool) -> list[GateResult]:
    """Render the runs' pages and the index in one Data Docs build; results with their page paths."""
    identifiers = [run.result_id for run in runs if run.result_id is not None]
    if not render:
        for run in runs:
            if run.suite_changed:  # rendered by the next run that renders, not left stale
                _suite_page(run.result.suite).unlink(missing_ok=True)
        return [replace(run.result, data_docs_path=str(data_docs_index())) for run in runs]
    if identifiers:
        suites = {ExpectationSuiteIdentifier(name=run.result.suite) for run in runs if run.suite_changed}
        context.build_data_docs(site_names=[SITE], resource_identifiers=[*identifiers, *suites])
    return [
        replace(
            run.result,
            data_docs_path=str(_page_path(context, run.result_id) if run.result_id else data_docs_index()),
        )
        for run in runs
    ]


def server_version(db: DatabaseSettings) -> int:
    """``server_version_num``: 180004 for 18.4."""
    return int(database.query("show server_version_num", db=db)[0][0])


def column_types(db: DatabaseSettings, schema: str, table: str) -> dict[str, str]:
    """``{column: data_type}`` in table order; empty when the table (or view) does not exist."""
    rows = database.query(
        """
        select column_name, data_type
        from information_schema.columns
        where table_schema = %s and table_name = %s
        order by ordinal_position
        """,
        (schema, table),
        db,
    )
    return dict(rows)


# ------------------------------------------------------------------------------------ projection


def _create_view(db: DatabaseSettings, schema: str, table: str, query: str, *, as_table: bool = False) -> str:
    """The projection as a view in VIEW_SCHEMA (an unlogged table with ``as_table``), for the run
    only. Its name is unique to the run, so runs from other machines (which the project folder's
    lock does not reach) cannot collide."""
    base = f"{schema}__{table}"
    if len(base) > 48:  # PostgreSQL cuts names at 63 bytes
        base = f"{base[:39]}_{hashlib.sha1(base.encode()).hexdigest()[:8]}"
    view = f"{base}__{uuid.uuid4().hex[:8]}"
    try:
        with database.connect(db) as conn, conn.cursor() as cur:
            cur.execute(f"create schema if not exists {_ident(VIEW_SCHEMA)}")
            kind = "unlogged table" if as_table else "view"
            cur.execute(f"create {kind} {_ident(VIEW_SCHEMA)}.{_ident(view)} as {query}")
    except psycopg2.errors.InsufficientPrivilege as exc:
        raise RuntimeError(
            f"The quality gates need to create views in schema {VIEW_SCHEMA} ({str(exc).strip()}). "
            f"Create the schema and let {db.user} create in it: create schema {VIEW_SCHEMA} "
            f"authorization {db.user};"
        ) from exc
    return view


def _drop_view(db: DatabaseSettings, view: str, *, as_table: bool = False) -> None:
    """Dropped after the run, so no view of ours ever holds back a change to a raw table."""
    with database.connect(db) as conn, conn.cursor() as cur:
        cur.execute(f"drop {'table' if as_table else 'view'} if exists {_ident(VIEW_SCHEMA)}.{_ident(view)}")


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def projection(
    suite: TableSuite,
    schema: str,
    table: str,
    columns: dict[str, str],
    load_id: str | Sequence[str] | None = None,
    server_version: int = 160000,
) -> str:
    """The SELECT the suite is validated on: every column of the table, as the suite reads it.

    Text is compared in the "C" collation, so the sorts of the uniqueness checks compare bytes
    (about 2.5x faster than the locale's rules; equality, sets and regexes are unaffected).
    Compound keys are added as one column each (see :func:`quality.suites.unique`)."""
    read_as = suite.read_as()
    select: list[str] = []
    for name, data_type in columns.items():
        meta = read_as.get(name, {})
        if meta.get("read_as") in ("number", "integer"):
            select += _number_sql(name, data_type, meta["read_as"] == "integer", server_version)
        else:
            select.append(_column_sql(name, data_type, meta))
    for meta in read_as.values():
        if meta["read_as"] == "key" and all(column in columns for column in meta["columns"]):
            select.append(_key_sql(meta["columns"]))
    sql = "select\n  " + ",\n  ".join(select) + f"\nfrom {_ident(schema)}.{_ident(table)}"
    ids = _load_ids(load_id)
    if ids is not None and len(ids) == 1:
        sql += f"\nwhere {_ident('_dlt_load_id')} = {_literal(ids[0])}"
    elif ids is not None:
        sql += f"\nwhere {_ident('_dlt_load_id')} in ({', '.join(map(_literal, ids))})"
    return sql


def _key_sql(columns: list[str]) -> str:
    """A compound key as one text column: its values as a row literal, which quotes values holding
    commas or parentheses, so distinct keys never read alike; null when every value is null."""
    idents = [_ident(column) for column in columns]
    all_null = " and ".join(f"{ident} is null" for ident in idents)
    row = f"row({', '.join(idents)})::text"
    return f'case when {all_null} then null else {row} end collate "C" as {_ident(key_column(columns))}'


def _column_sql(name: str, data_type: str, meta: dict) -> str:
    column = _ident(name)
    if data_type in TEXT_TYPES:
        return f'{column} collate "C" as {column}'
    if meta.get("read_as") == "temporal":
        formats = TO_CHAR_FORMATS[meta.get("style", "iso")]
        if data_type in DATE_TYPES:
            return f"to_char({column}, {_literal(formats['date'])}) as {column}"
        if data_type in TIMESTAMP_TYPES:
            return f"to_char({column}, {_literal(formats['timestamp'])}) as {column}"
    return f'{column}::text collate "C" as {column}'


def _number_sql(name: str, data_type: str, integer: bool, server_version: int) -> list[str]:
    """``<name>`` as text, as delivered, and its twin ``<name>__number``: numeric where the value
    is a usable number, else null. PostgreSQL inlines the view and evaluates the twin wherever GX
    names it (up to five times for a range), so the test of a usable number is kept cheap."""
    column = _ident(name)
    if data_type in NUMBER_TYPES:
        # Typed: a number already, except float NaN and infinities (and fractions, for integers).
        usable = f"{column}::text not in ('NaN', 'Infinity', '-Infinity')"
        if integer:
            usable += f" and {column} = trunc({column}::numeric)"
        source = f"{column}::text"
    else:
        source = column if data_type in TEXT_TYPES else f"{column}::text"
        if server_version >= 160000:
            # NaN and infinities are valid numerics but no amounts; all of them, and no number,
            # contain an 'n'. pg_input_is_valid also reads ' 5' or '1_000': the loader's stricter
            # format is the loader's business, the gate wants numbers PostgreSQL can read.
            kind = _literal("bigint" if integer else "numeric")
            usable = f"pg_input_is_valid({source}, {kind}) and strpos({source}, 'n') = 0"
            usable += f" and strpos({source}, 'N') = 0"
        else:
            usable = f"{source} ~ {_literal(CASTABLE_INTEGER if integer else CASTABLE_NUMBER)}"
    return [
        f'{source} collate "C" as {column}',
        f"case when {usable} then {column}::numeric end as {_ident(name + NUMBER_SUFFIX)}",
    ]


# ---------------------------------------------------------------------------- Great Expectations


def connection_url(db: DatabaseSettings) -> str:
    """The database URL for GX's engine, with session settings for the gates: memory enough for
    the hash aggregates of the uniqueness checks (they spill to disk at the default 4MB), and a
    name to find the gates' queries by in pg_stat_activity."""
    url = db.url()
    settings = {"application_name": "quality_gates", "options": f"-c work_mem={WORK_MEM}"}
    return url + ("&" if "?" in url else "?") + urlencode(settings)


@contextmanager
def _quiet() -> Iterator[None]:
    """GX's Python warnings (deprecations, "existing project found") are muted while it runs; its
    loggers only speak up for warnings (quality/__init__.py); progress bars are off (_configure)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"great_expectations(\.|$)")
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=r"(?s).*great_expectations\.yml")
        yield


@contextmanager
def _project(db: DatabaseSettings | None = None) -> Iterator[Any]:
    """The File Data Context, locked against other processes for as long as it is used."""
    root = project_dir()
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock, _quiet():
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            environment = {URL_VARIABLE: connection_url(db)} if db is not None else {}
            context = gx.get_context(mode="file", context_root_dir=root, runtime_environment=environment)
            _configure(context)
            yield context
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _configure(context: Any) -> None:
    """Progress bars and usage statistics off, saved in the project once."""
    variables = context.variables
    bars = variables.progress_bars
    if variables.analytics_enabled is not False or not bars or bars.get("globally") is not False:
        variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        variables.analytics_enabled = False
        variables.save()


def _datasource(context: Any) -> Any:
    placeholder = "${" + URL_VARIABLE + "}"
    try:
        datasource = context.data_sources.get(DATASOURCE)
        configured = datasource.connection_string
        if getattr(configured, "template_str", configured) == placeholder:
            return datasource
    except (KeyError, ValueError, LookupError):
        pass
    return context.data_sources.add_or_update_postgres(DATASOURCE, connection_string=placeholder)


def _register(context: Any, suite: TableSuite, name: str, view: str) -> Any:
    """(Re)register the suite, and the data asset (on ``view``), validation definition and
    checkpoint ``name``."""
    _forget_definitions(context, name)
    datasource = _datasource(context)
    if name in datasource.get_asset_names():
        datasource.delete_asset(name)
    asset = datasource.add_table_asset(name, table_name=view, schema_name=VIEW_SCHEMA)
    # One name whatever the scope (the run name tells whole table from one load): the stored
    # validation definition finds its batch definition by name when it is read back.
    batch = asset.add_batch_definition_whole_table(BATCH_DEFINITION)
    gx_suite = context.suites.add_or_update(suite.suite())
    definition = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=name, data=batch, suite=gx_suite)
    )
    # No UpdateDataDocsAction: the caller renders the pages of all its runs in one build (an
    # index build per table would cost about a second each).
    return context.checkpoints.add_or_update(
        gx.Checkpoint(name=name, validation_definitions=[definition], result_format=RESULT_FORMAT)
    )


def _suite_changed(context: Any, suite: TableSuite) -> bool:
    """Whether the suite in code differs from the one registered, or its page was never rendered
    (rendering a suite's page costs a third of a Data Docs update, so unchanged ones are skipped)."""
    if not _suite_page(suite.name).exists():
        return True
    try:
        registered = context.suites.get(suite.name)
    except Exception:  # not registered, or unreadable
        return True
    return _signatures(registered) != _signatures(suite.suite())


def _suite_page(name: str) -> Path:
    return (data_docs_index().parent / "expectations" / Path(*name.split("."))).with_suffix(".html")


def _signatures(suite: Any) -> list[dict]:
    signatures = []
    for expectation in suite.expectations:
        signature = expectation.configuration.to_json_dict()
        signature.pop("id", None)
        signature.pop("rendered_content", None)
        signatures.append(signature)
    return signatures


def _forget_definitions(context: Any, name: str) -> None:
    """Drop the stored validation definition and checkpoint of a suite before registering them again.

    They are derived objects, and GX resolves a stored one by the names of the asset and batch
    definition it points to: one written by another version of this module (or left half-written)
    cannot even be read back to be updated, so it is removed, as a file if GX cannot load it."""
    for collection, folder in (
        (context.checkpoints, "checkpoints"),
        (context.validation_definitions, "validation_definitions"),
    ):
        try:
            collection.delete(name)
        except Exception:  # not stored, or stored but unreadable
            (project_dir() / folder / f"{name}.json").unlink(missing_ok=True)


def _unregister(context: Any, name: str) -> None:
    """After the run, drop its checkpoint, validation definition and asset: they point at the run's
    view, which is about to go. The project keeps the suites, the results and the Data Docs."""
    _forget_definitions(context, name)
    datasource = _datasource(context)
    if name in datasource.get_asset_names():
        datasource.delete_asset(name)


def _page_path(context: Any, result_id: Any) -> Path:
    for site in context.get_docs_sites_urls(resource_identifier=result_id, site_names=[SITE]):
        url = site.get("site_url")
        if url and url.startswith("file://"):
            return Path(unquote(urlparse(url).path))
    return data_docs_index()


def _prune_history(suite_name: str, keep: int) -> None:
    """Remove all but the newest ``keep`` stored results of a suite, with their Data Docs pages."""
    relative = Path(*suite_name.split("."))
    results_dir = project_dir() / "uncommitted" / "validations" / relative
    pages_dir = project_dir() / "uncommitted" / "data_docs" / SITE / "validations" / relative
    if not results_dir.is_dir():
        return
    # <run name>/<run time>/<batch id>.json; run times sort as text (20250101T120000.000000Z).
    runs = sorted({path.parent for path in results_dir.glob("*/*/*.json")}, key=lambda path: path.name)
    for run in runs[: max(len(runs) - keep, 0)]:
        shutil.rmtree(run, ignore_errors=True)
        shutil.rmtree(pages_dir / run.relative_to(results_dir), ignore_errors=True)
    for directory in (results_dir, pages_dir):
        if directory.is_dir():
            for empty in sorted(directory.glob("*"), reverse=True):
                if empty.is_dir() and not any(empty.iterdir()):
                    empty.rmdir()


# ------------------------------------------------------------------------------------- reporting


def _plain(value: Any) -> Any:
    """JSON-friendly: Decimals as floats (ints when whole), containers recursively."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set):
        return [_plain(item) for item in value]
    return value


def _exception_message(info: Any) -> str | None:
    """The first line of the error an expectation raised, if it raised one. GX gives either one
    record or a record per failed metric."""
    if not isinstance(info, dict):
        return None
    records = [info] if "raised_exception" in info else [v for v in info.values() if isinstance(v, dict)]
    for record in records:
        if record.get("raised_exception"):
            lines = str(record.get("exception_message") or "unknown error").strip().splitlines()
            return lines[0] if lines else "unknown error"
    return None


def _condition_text(condition: Any) -> str:
    if isinstance(condition, dict):  # serialised: {"type": "nullity", "column": {"name": ...}, ...}
        column = (condition.get("column") or {}).get("name", "?")
        if condition.get("type") == "nullity":
            return f"{column} is {'null' if condition.get('is_null') else 'not null'}"
        return f"{column} {condition.get('operator', '?')} {condition.get('parameter')!r}"
    return str(condition)


def _failure(item: Any, examples: list | None = None) -> dict[str, Any]:
    config = item.expectation_config
    kwargs = config.kwargs
    meta = config.meta or {}
    column = meta.get("column") or kwargs.get("column") or ", ".join(kwargs.get("column_list") or []) or None
    failure: dict[str, Any] = {"expectation": config.type, "column": column}
    message = _exception_message(item.exception_info)
    if message is not None:
        failure["summary"] = f"could not be evaluated: {message}"
        return failure
    result = _plain(item.result or {})
    if "unexpected_count" in result:
        examples = examples or []
        failure.update(
            unexpected_count=result["unexpected_count"],
            unexpected_percent=round(result.get("unexpected_percent") or 0.0, 4),
            unexpected_examples=examples,
        )
        mostly = kwargs.get("mostly", 1)
        allowed = f" (at most {100 - 100 * mostly:.2g}% allowed)" if mostly < 1 else ""
        condition = kwargs.get("row_condition")
        scope = f" rows where {_condition_text(condition)}" if condition else " rows"
        failure["summary"] = (
            f"{result['unexpected_count']} of {result.get('element_count')}{scope} unexpected "
            f"({failure['unexpected_percent']:.4g}%){allowed}"
        )
        if examples:
            failure["summary"] += ", e.g. " + ", ".join(map(repr, examples))
        return failure
    observed = result.get("observed_value")
    failure["observed"] = observed
    details = result.get("details") or {}
    mismatched = details.get("mismatched") if isinstance(details, dict) else None
    if mismatched:
        failure["summary"] = f"columns {mismatched}"
    else:
        expected = {key: kwargs[key] for key in ("min_value", "max_value", "value") if key in kwargs}
        failure["summary"] = f"observed {observed!r}, expected {expected}"
    return failure
