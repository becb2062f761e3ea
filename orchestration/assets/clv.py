"""Predictive CLV as Dagster assets: one multi-asset writes the three tables of the dbt source ``clv``.

It runs :func:`clv.warehouse.run_clv` between the two dbt steps (orchestration/assets/dbt.py): it reads the
dbt model ``intermediate.int_customer_transactions_unioned`` (the transactions per person, built by the
first dbt step) and writes ``marts.customer_clv_predictions``, ``marts.clv_model_runs`` and
``marts.clv_holdout_by_frequency``; the second dbt step builds ``marts.customer_churn`` (P(alive) beside the
threshold rule) and its descendants from the predictions (dbt_project/DECISIONLOG.md, "Predictive CLV").
Settings: CLV_TIME_UNIT, CLV_HORIZON_MONTHS, CLV_MONTHLY_DISCOUNT_RATE, CLV_HOLDOUT_DAYS, CLV_AS_OF."""

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from dagster import AssetExecutionContext, AssetKey, AssetSpec, MaterializeResult, MetadataValue, multi_asset

from orchestration.translators import dbt_docs_metadata, dbt_source_id
from warehouse import database

if TYPE_CHECKING:
    import pandas as pd

    from clv.scoring import SourceResult
    from clv.warehouse import ClvRun

# The tables clv.warehouse writes, named here so that loading the code location does not import numpy,
# scipy and pandas (about 1.5 s); tests/orchestration/test_clv_asset.py checks that the names agree.
SCHEMA, PREDICTIONS, MODEL_RUNS, HOLDOUT = (
    "marts",
    "customer_clv_predictions",
    "clv_model_runs",
    "clv_holdout_by_frequency",
)

CLV_GROUP = "clv"
CLV_SOURCE = "clv"  # the dbt source that declares the tables (models/marts/customers/_clv__sources.yml)
TRANSACTIONS_KEY = AssetKey(["intermediate", "int_customer_transactions_unioned"])
PREDICTIONS_KEY, MODEL_RUNS_KEY, HOLDOUT_KEY = (
    AssetKey([CLV_SOURCE, table]) for table in (PREDICTIONS, MODEL_RUNS, HOLDOUT)
)


def _spec(key: AssetKey, deps: list[AssetKey], description: str) -> AssetSpec:
    table = f"{SCHEMA}.{key.path[-1]}"
    return AssetSpec(
        key,
        deps=deps,
        group_name=CLV_GROUP,
        description=f"{table}: {description}",
        kinds={"python", "postgres"},
        metadata={"dagster/table_name": table, **dbt_docs_metadata(dbt_source_id(CLV_SOURCE, key.path[-1]))},
    )


SPECS = [
    _spec(
        PREDICTIONS_KEY,
        [TRANSACTIONS_KEY],
        "per person and transaction source, expected purchases (30/90/365 days), P(alive), expected "
        "spend and predicted CLV from the latest BG/NBD + Gamma-Gamma run.",
    ),
    _spec(
        MODEL_RUNS_KEY,
        [TRANSACTIONS_KEY],
        "fitted parameters, log-likelihood, convergence and holdout errors per run, source and model.",
    ),
    _spec(
        HOLDOUT_KEY,
        [TRANSACTIONS_KEY],
        "actual vs predicted holdout purchases per number of calibration purchases, every run.",
    ),
]


def _holdout_table(by_frequency: "pd.DataFrame") -> str:
    """The paper's figure as a markdown table: mean holdout purchases per number of calibration purchases."""
    lines = ["| calibration purchases | people | actual mean | predicted mean |", "|---|---:|---:|---:|"]
    for row in by_frequency.itertuples():
        lines.append(f"| {row.label} | {row.n_people} | {row.actual_mean:.3f} | {row.predicted_mean:.3f} |")
    return "\n".join(lines)


def _model_summary(row: dict[str, Any]) -> dict[str, Any]:
    keys = ("status", "status_reason", "n_people", "r", "alpha", "a", "b", "p", "q", "gamma")
    summary = {k: row[k] for k in keys if row.get(k) is not None}
    summary.update({k: round(row[k], 4) for k in ("log_likelihood", "fit_seconds") if row.get(k) is not None})
    return summary


def _source_metadata(source: str, result: "SourceResult") -> tuple[dict, dict, dict]:
    """(predictions, model runs, holdout) metadata of one source."""
    predictions: dict[str, Any] = {
        f"{source}_status": result.status + (f": {result.reason}" if result.reason else ""),
        f"{source}_people": result.n_people,
        f"{source}_repeat_buyers": result.n_repeat_buyers,
    }
    if not result.predictions.empty:
        predictions[f"{source}_mean_p_alive"] = round(float(result.predictions["p_alive"].mean()), 4)
        clv = result.predictions["predicted_clv"]
        if clv.notna().any():
            predictions[f"{source}_total_predicted_clv_brl"] = round(float(clv.sum()), 2)
    runs: dict[str, Any] = {
        f"{source}_{row['model']}": MetadataValue.json(_model_summary(row)) for row in result.model_runs
    }
    runs[f"{source}_fit_seconds"] = round(
        sum(result.seconds.get(k, 0.0) for k in ("bgnbd_fit", "gamma_gamma_fit")), 3
    )
    holdout: dict[str, Any] = {}
    if result.holdout is not None:
        metrics = result.holdout.metrics
        holdout = {
            f"{source}_calibration_end_date": str(result.calibration_end_date),
            f"{source}_holdout_mae": round(metrics.mae, 4),
            f"{source}_holdout_rmse": round(metrics.rmse, 4),
            f"{source}_holdout_total_actual": metrics.total_actual,
            f"{source}_holdout_total_predicted": round(metrics.total_predicted, 2),
            f"{source}_by_frequency": MetadataValue.md(_holdout_table(result.holdout.by_frequency)),
        }
    return predictions, runs, holdout


def materializations(run: "ClvRun") -> Iterator[MaterializeResult]:
    """One MaterializeResult per table, with what an engineer checks after a run."""
    settings = {
        k: v if isinstance(v, int | float | str) else str(v)
        for k, v in run.settings.as_kwargs().items()
        if v is not None
    }
    common = {"model_run_id": run.run_id, **settings}
    predictions: dict[str, Any] = {
        "rows": run.written.rows[PREDICTIONS],
        **{f"seconds_{k}": round(v, 3) for k, v in run.seconds.items()},
    }
    runs: dict[str, Any] = {"rows_added": run.written.rows[MODEL_RUNS]}
    holdout: dict[str, Any] = {"rows_added": run.written.rows[HOLDOUT]}
    for source, result in run.sources.items():
        source_predictions, source_runs, source_holdout = _source_metadata(source, result)
        predictions.update(source_predictions)
        runs.update(source_runs)
        holdout.update(source_holdout)
    yield MaterializeResult(asset_key=PREDICTIONS_KEY, metadata={**common, **predictions})
    yield MaterializeResult(asset_key=MODEL_RUNS_KEY, metadata={**common, **runs})
    yield MaterializeResult(asset_key=HOLDOUT_KEY, metadata={**common, **holdout})


@multi_asset(
    name="clv_predictions",
    specs=SPECS,
    description="BG/NBD + Gamma-Gamma on every transaction source: predictions (customer_churn reads them), "
    "model runs, holdout report.",
    op_tags={"kind": "python"},
)
def clv_predictions(context: AssetExecutionContext) -> Iterator[MaterializeResult]:
    from clv.scoring import ClvSettings
    from clv.warehouse import run_clv

    settings = ClvSettings.from_env()
    context.log.info(f"CLV settings: {settings}")
    run = run_clv(database.ensure(), **settings.as_kwargs())
    for source, result in run.sources.items():
        for row in result.model_runs:
            if row.get("status_reason"):
                context.log.warning(f"CLV {source} {row['model']} {row['status']}: {row['status_reason']}")
    yield from materializations(run)


clv_assets = [clv_predictions]
