"""Calibration/holdout validation of the BG/NBD model, as in Fader, Hardie & Lee (2005), section 4 / Figure 5.

The model is fitted on the calibration period; for every person the conditional expectation of eq. (10) over
the holdout length is compared with the purchases they actually made then. The paper's figure groups people by
their number of repeat purchases in the calibration period (0, 1, ..., 7+) and plots the actual and the
predicted mean holdout purchases per group.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from clv.bgnbd import BGNBDFit, conditional_expected_purchases, fit_bgnbd
from clv.summary import CalibrationHoldout


@dataclass(frozen=True)
class HoldoutMetrics:
    """Aggregate errors of the per-person predictions of holdout purchases."""

    n_people: int
    holdout_duration: float
    total_actual: float
    total_predicted: float
    total_error_pct: float  # 100 * (predicted - actual) / actual
    mae: float  # mean absolute error per person
    rmse: float  # root mean squared error per person
    bias: float  # mean (predicted - actual) per person
    binned_mae: float  # mean absolute error of the group means, weighted by group size

    def to_frame(self) -> pd.DataFrame:
        """One-row DataFrame (e.g. to append to a metrics table)."""
        return pd.DataFrame([asdict(self)])


@dataclass(frozen=True)
class HoldoutReport:
    """The calibration/holdout comparison.

    ``by_frequency``: one row per calibration frequency group (columns ``frequency``, ``label``, ``n_people``,
    ``actual_mean``, ``predicted_mean``); ``per_person``: the calibration summary with ``actual`` and
    ``predicted`` holdout purchases; ``fit``: the BG/NBD fit on the calibration period.
    """

    fit: BGNBDFit
    by_frequency: pd.DataFrame
    per_person: pd.DataFrame
    metrics: HoldoutMetrics


def frequency_groups(frequency: pd.Series | np.ndarray, max_frequency: int = 7) -> np.ndarray:
    """Calibration frequency capped at ``max_frequency`` (the paper's '7+' group)."""
    return np.minimum(np.asarray(frequency, dtype=np.int64), max_frequency)


def holdout_report(
    split: CalibrationHoldout, *, max_frequency: int = 7, fit: BGNBDFit | None = None
) -> HoldoutReport:
    """Fit BG/NBD on ``split.calibration`` (unless ``fit`` is given) and compare predictions with the holdout.

    Predictions are E[Y(duration) | x, t_x, T] (eq. 10) with ``duration`` the holdout length; actuals are the
    purchase occasions each person made in the holdout period.
    """
    cal = split.calibration
    if fit is None:
        fit = fit_bgnbd(cal["frequency"], cal["recency"], cal["T"])
    predicted = conditional_expected_purchases(
        fit.params,
        split.duration,
        cal["frequency"].to_numpy(),
        cal["recency"].to_numpy(),
        cal["T"].to_numpy(),
    )
    actual = split.holdout["frequency_holdout"].to_numpy(dtype=np.float64)
    per_person = cal[["frequency", "recency", "T"]].copy()
    per_person["actual"] = actual
    per_person["predicted"] = predicted

    groups = frequency_groups(cal["frequency"], max_frequency)
    by_frequency = (
        pd.DataFrame({"frequency": groups, "actual": actual, "predicted": predicted})
        .groupby("frequency")
        .agg(
            n_people=("actual", "size"), actual_mean=("actual", "mean"), predicted_mean=("predicted", "mean")
        )
        .reindex(range(max_frequency + 1))
        .reset_index()
    )
    by_frequency["n_people"] = by_frequency["n_people"].fillna(0).astype(np.int64)
    by_frequency.insert(
        1, "label", [f"{k}+" if k == max_frequency else str(k) for k in by_frequency["frequency"]]
    )

    errors = predicted - actual
    total_actual = float(actual.sum())
    present = by_frequency["n_people"] > 0
    group_errors = (by_frequency["predicted_mean"] - by_frequency["actual_mean"]).abs()[present]
    metrics = HoldoutMetrics(
        n_people=int(actual.size),
        holdout_duration=float(split.duration),
        total_actual=total_actual,
        total_predicted=float(predicted.sum()),
        total_error_pct=100.0 * (float(predicted.sum()) - total_actual) / total_actual
        if total_actual
        else np.nan,
        mae=float(np.abs(errors).mean()),
        rmse=float(np.sqrt(np.mean(errors**2))),
        bias=float(errors.mean()),
        binned_mae=float(np.average(group_errors, weights=by_frequency["n_people"][present])),
    )
    return HoldoutReport(fit=fit, by_frequency=by_frequency, per_person=per_person, metrics=metrics)
