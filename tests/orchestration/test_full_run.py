"""A full Dagster run (the all_assets job, in process) on a small sandbox and a fresh database of its own.

What the DECISIONLOG ("Predictive CLV") says went wrong when a dbt model first read the CLV predictions, and
must now go right: the first dbt step, the CLV asset and the second dbt step run in that order; every dbt
test of the manifest (generic, singular and unit; those of the raw tables are the gates' in Dagster) runs
exactly once across the two `dbt build`s, passes, and starts only after every model it reads was built; and
customer_churn carries the predictions' P(alive).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections import Counter
from datetime import datetime
from pathlib import Path
from unittest import mock

import psycopg2
import pytest

from warehouse import database
from warehouse.paths import DBT_PROJECT_DIR
from warehouse.settings import CONNECTION_VARIABLES, EMBEDDED_MARKER

ORDERS = 1500
BEFORE, CLV, AFTER = "warehouse_dbt_assets", "clv_predictions", "warehouse_dbt_assets_after_clv"
BUILT = ("model", "seed", "snapshot")
# Target directories of earlier runs, as dagster-dbt leaves them (<step>-<run id>-<uuid>), oldest first.
EARLIER_TARGETS = [f"{BEFORE}-{run:07x}-{run:07x}" for run in range(12)] + [f"{AFTER}-aaaaaaa-bbbbbbb"]


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _run_results(target: Path, op: str) -> dict:
    (path,) = target.glob(f"{op}-*/run_results.json")
    return json.loads(path.read_text())


def _span(result: dict) -> tuple[datetime, datetime]:
    times = [
        (_time(t["started_at"]), _time(t["completed_at"])) for t in result["timing"] if t.get("started_at")
    ]
    return min(start for start, _ in times), max(end for _, end in times)


@pytest.fixture(scope="module")
def full_run():
    """The all_assets job once, on its own embedded PostgreSQL (every variable restored afterwards).

    Not under pytest's tmp_path: a concurrent pytest session makes /tmp/pytest-of-<user> private again,
    and the server (another system user when run as root) could then not be stopped."""
    from dagster import DagsterInstance

    from orchestration.dbt_project import ensure_manifest
    from orchestration.definitions import defs
    from sandbox.stack import SandboxStack

    manifest = json.loads(ensure_manifest().read_text())
    root = Path(tempfile.mkdtemp(prefix="whfullrun-"))
    local, target = root / "local", root / "target"
    with mock.patch.dict(os.environ, {"WAREHOUSE_LOCAL_DIR": str(local), "DBT_TARGET_PATH": str(target)}):
        for name in (*CONNECTION_VARIABLES, EMBEDDED_MARKER, "LANDING_URL"):
            os.environ.pop(name, None)
        db = database.start_embedded(local / "pgdata")
        for age, name in enumerate(reversed(EARLIER_TARGETS), start=1):
            (target / name / "compiled").mkdir(parents=True)
            os.utime(target / name, (0, datetime.now().timestamp() - 86400 * age))
        try:
            with SandboxStack(db, orders=ORDERS), DagsterInstance.ephemeral() as instance:
                result = defs.resolve_job_def("all_assets").execute_in_process(
                    instance=instance, raise_on_error=False
                )
                events = [record.dagster_event for record in instance.all_logs(result.run_id)]
            yield result, events, manifest, target, db
        finally:
            database.stop_embedded(local / "pgdata")
            shutil.rmtree(root, ignore_errors=True)


def test_the_run_succeeds_with_the_dbt_steps_around_the_clv_asset(full_run) -> None:
    result, events, *_ = full_run
    failures = [event.step_key for event in result.all_events if event.is_step_failure]
    assert result.success, f"failed steps: {failures}"
    order = [(e.step_key, e.event_type_value) for e in events if e and e.step_key in (BEFORE, CLV, AFTER)]
    order = [pair for pair in order if pair[1] in ("STEP_START", "STEP_SUCCESS")]
    assert order == [
        (step, kind) for step in (BEFORE, CLV, AFTER) for kind in ("STEP_START", "STEP_SUCCESS")
    ], order
    checks = result.get_asset_check_evaluations()
    assert checks and all(check.passed for check in checks), [c.check_name for c in checks if not c.passed]
    # The singular tests (the reconciliations) are checks too, not observations the UI shows nowhere.
    singular = {path.stem for path in (DBT_PROJECT_DIR / "tests").glob("assert_*.sql")}
    assert len(singular) == 8 and singular <= {check.check_name for check in checks}


def test_each_dbt_step_keeps_its_newest_target_directories(full_run) -> None:
    """dagster-dbt leaves a target directory per invocation (13 MB here); a step keeps its newest 10."""
    from orchestration.assets.dbt import TARGETS_KEPT

    *_, target, _ = full_run
    left = {path.name for path in target.iterdir()}
    before = sorted(name for name in left if name.startswith(f"{BEFORE}-"))
    assert TARGETS_KEPT == 10 and len(before) == TARGETS_KEPT, before
    # This run's, and the 9 newest of the 12 earlier ones (the oldest three went).
    assert set(EARLIER_TARGETS[3:12]) < set(before) and not set(EARLIER_TARGETS[:3]) & left
    assert (target / next(iter(set(before) - set(EARLIER_TARGETS))) / "run_results.json").exists()
    # The other step kept its earlier directory beside this run's.
    assert len([name for name in left if name.startswith(f"{AFTER}-")]) == 2 and EARLIER_TARGETS[-1] in left


def test_every_dbt_test_runs_once_passes_and_after_the_models_it_reads(full_run) -> None:
    _, _, manifest, target, _ = full_run
    runs = {op: _run_results(target, op) for op in (BEFORE, AFTER)}
    step_of: dict[str, str] = {}
    results: dict[str, dict] = {}
    count: Counter[str] = Counter()
    for op, run in runs.items():
        for node in run["results"]:
            if node["unique_id"].startswith("operation."):
                continue  # on-run-start hooks run in every invocation
            count[node["unique_id"]] += 1
            step_of[node["unique_id"]] = op
            results[node["unique_id"]] = node
    tests = {uid for uid, node in manifest["nodes"].items() if node["resource_type"] == "test"}
    # The raw tables' tests are the quality gates' in Dagster (orchestration/assets/dbt.py, SOURCE_TESTS).
    source_tests = {
        uid for uid in tests if manifest["nodes"][uid]["depends_on"]["nodes"][0].startswith("source.")
    }
    assert len(source_tests) >= 20 and not source_tests & set(count), "a source test ran in Dagster"
    tests -= source_tests
    unit_tests = set(manifest.get("unit_tests", {}))
    singular = {uid for uid in tests if not manifest["nodes"][uid].get("test_metadata")}
    assert len(singular) == 8
    built = {uid for uid, node in manifest["nodes"].items() if node["resource_type"] in BUILT}

    assert {uid: n for uid, n in count.items() if n != 1} == {}, "run twice"
    assert sorted((tests | unit_tests | built) - set(count)) == [], "never run"
    for uid in tests | unit_tests | built:
        severity = manifest["nodes"].get(uid, {}).get("config", {}).get("severity", "error")
        ok = ("pass", "success") + (("warn",) if severity.lower() == "warn" else ())
        assert results[uid]["status"] in ok, (uid, results[uid]["status"], results[uid].get("message"))

    # The first step ended before the second began (the CLV asset ran in between).
    first_end = max(_span(results[uid])[1] for uid, op in step_of.items() if op == BEFORE)
    second_start = min(_span(results[uid])[0] for uid, op in step_of.items() if op == AFTER)
    assert first_end < second_start
    for uid in tests:
        started, _ = _span(results[uid])
        for parent in manifest["nodes"][uid]["depends_on"]["nodes"]:
            if parent not in built:
                continue
            if step_of[uid] == BEFORE:
                assert step_of[parent] == BEFORE, f"{uid} ran before {parent} was rebuilt after the CLV step"
            assert _span(results[parent])[1] <= started, f"{uid} started before {parent} was built"
    # The tests that read a model of the second step run there: the relationships to dim_customers.
    assert step_of["test.olist_warehouse.assert_churn_months_chain_to_current_state"] == AFTER
    to_dim_customers = [
        uid
        for uid in tests
        if "model.olist_warehouse.dim_customers" in manifest["nodes"][uid]["depends_on"]["nodes"]
    ]
    assert len(to_dim_customers) >= 5 and {step_of[uid] for uid in to_dim_customers} == {AFTER}


def test_customer_churn_has_the_predictions_p_alive(full_run) -> None:
    *_, db = full_run
    with psycopg2.connect(**db.dsn()) as conn, conn.cursor() as cur:
        cur.execute(
            """
            select
                count(*) as predictions,
                count(churn.customer_unique_id) as in_churn,
                count(*) filter (where churn.p_alive is distinct from predictions.p_alive
                    or churn.expected_purchases_90d is distinct from predictions.expected_purchases_90d
                    or churn.predicted_clv is distinct from predictions.predicted_clv
                    or churn.clv_model_run_id is distinct from predictions.model_run_id) as differ
            from marts.customer_clv_predictions as predictions
            left join marts.customer_churn as churn using (transaction_source, customer_unique_id)
            """
        )
        predictions, in_churn, differ = cur.fetchone()
        cur.execute(
            "select count(*) from marts.customer_churn as churn where p_alive is not null and not exists ("
            "select 1 from marts.customer_clv_predictions as p where p.transaction_source = churn.transaction_source "
            "and p.customer_unique_id = churn.customer_unique_id)"
        )
        (without_prediction,) = cur.fetchone()
        cur.execute(
            "select count(*), count(*) filter (where d.p_alive is distinct from c.p_alive) "
            "from marts.dim_customers as d join marts.customer_churn as c "
            "on c.transaction_source = 'olist' and c.customer_unique_id = d.customer_unique_id"
        )
        dim_people, dim_differ = cur.fetchone()
        cur.execute("select to_regclass('marts.customer_churn_scored')")
        (retired,) = cur.fetchone()
    assert predictions > 0 and in_churn == predictions and differ == 0
    assert without_prediction == 0
    assert dim_people > 0 and dim_differ == 0
    assert retired is None


def test_every_table_and_incremental_model_materializes_with_its_row_count(full_run) -> None:
    """The counts the Dagster UI shows: from the build statement for tables and seeds, from count(*) for
    incremental models (in the Dagster process, without a dbt adapter), equal to the tables' rows."""
    _, events, manifest, _, db = full_run
    shown = {
        "/".join(e.asset_key.path): e.event_specific_data.materialization.metadata.get("dagster/row_count")
        for e in events
        if e and e.event_type_value == "ASSET_MATERIALIZATION"
    }
    nodes = [
        node
        for node in manifest["nodes"].values()
        if node["resource_type"] in ("model", "seed") and node["config"]["materialized"] != "view"
    ]
    incremental = [node for node in nodes if node["config"]["materialized"] == "incremental"]
    assert len(incremental) >= 20 and len(nodes) > len(incremental)
    with psycopg2.connect(**db.dsn()) as conn, conn.cursor() as cur:
        for node in nodes:
            key = f"{node['schema']}/{node['alias']}"
            cur.execute(f'select count(*) from "{node["schema"]}"."{node["alias"]}"')
            (rows,) = cur.fetchone()
            assert key in shown, f"{key} was not materialized"
            assert shown[key] is not None and shown[key].value == rows, (key, shown[key], rows)
