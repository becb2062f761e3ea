"""Calibration/holdout report: the paper's CDNOW figure and the error figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clv.bgnbd import BGNBDParams, conditional_expected_purchases, fit_bgnbd
from clv.gamma_gamma import GammaGammaParams
from clv.holdout import HoldoutReport, frequency_groups, holdout_report
from clv.simulate import simulate_transactions
from clv.summary import CalibrationHoldout, calibration_holdout_split


@pytest.fixture(scope="module")
def cdnow_report(cdnow_split: CalibrationHoldout) -> HoldoutReport:
    return holdout_report(cdnow_split)


def test_cdnow_report_reproduces_the_papers_figure(cdnow_report: HoldoutReport) -> None:
    fit = cdnow_report.fit.params
    assert (round(fit.r, 3), round(fit.alpha, 3), round(fit.a, 3), round(fit.b, 3)) == (
        0.243,
        4.414,
        0.793,
        2.426,
    )
    table = cdnow_report.by_frequency
    assert table["label"].tolist() == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert table["n_people"].tolist() == [1411, 439, 214, 100, 62, 38, 29, 64]
    # Fader, Hardie & Lee (2005), Figure 5: actual vs BG/NBD conditional expectations for weeks 40-78.
    np.testing.assert_allclose(
        table["actual_mean"], [0.24, 0.70, 1.39, 1.56, 2.53, 2.95, 3.86, 6.36], atol=0.005
    )
    np.testing.assert_allclose(
        table["predicted_mean"], [0.23, 0.52, 1.04, 1.52, 2.16, 2.65, 3.50, 6.16], atol=0.006
    )


def test_cdnow_metrics(cdnow_report: HoldoutReport) -> None:
    metrics = cdnow_report.metrics
    assert metrics.n_people == 2357
    assert metrics.holdout_duration == 39.0
    assert metrics.total_actual == 1882
    assert metrics.total_predicted == pytest.approx(1653.4, abs=0.5)
    assert metrics.total_error_pct == pytest.approx(100 * (1653.4 - 1882) / 1882, abs=0.1)
    assert 0 < metrics.mae <= metrics.rmse
    assert metrics.bias == pytest.approx((metrics.total_predicted - metrics.total_actual) / 2357)
    frame = metrics.to_frame()
    assert frame.shape == (1, 9) and frame.loc[0, "n_people"] == 2357
    per_person = cdnow_report.per_person
    assert per_person.index.name == "person_id" and len(per_person) == 2357
    assert per_person["actual"].sum() == 1882
    assert per_person.columns.tolist() == ["frequency", "recency", "T", "actual", "predicted"]


def test_report_by_hand_with_a_given_fit() -> None:
    transactions = pd.DataFrame(
        {
            "person_id": [1, 1, 1, 2, 3, 3],
            "ts": pd.to_datetime(
                ["2024-01-01", "2024-01-05", "2024-01-20", "2024-01-03", "2024-01-02", "2024-01-04"]
            ),
            "amount": [1.0] * 6,
        }
    )
    split = calibration_holdout_split(transactions, "2024-01-10", "2024-01-31", unit="D")
    fit = fit_bgnbd([1, 0, 1, 2, 0], [4.0, 0.0, 2.0, 5.0, 0.0], [9.0, 7.0, 8.0, 9.0, 3.0])
    report = holdout_report(split, max_frequency=1, fit=fit)
    assert report.fit is fit
    expected = conditional_expected_purchases(fit.params, 21.0, [1, 0, 1], [4.0, 0.0, 2.0], [9.0, 7.0, 8.0])
    np.testing.assert_allclose(report.per_person["predicted"], expected)
    table = report.by_frequency
    assert table["label"].tolist() == ["0", "1+"]
    assert table["n_people"].tolist() == [1, 2]
    assert table["actual_mean"].tolist() == [0.0, 0.5]
    np.testing.assert_allclose(table["predicted_mean"], [expected[1], (expected[0] + expected[2]) / 2])
    errors = expected - np.array([1.0, 0.0, 0.0])
    assert report.metrics.mae == pytest.approx(np.abs(errors).mean())
    assert report.metrics.rmse == pytest.approx(np.sqrt((errors**2).mean()))


def test_empty_groups_are_reported_with_zero_people() -> None:
    transactions = pd.DataFrame(
        {
            "person_id": [1, 2, 2, 3],
            "ts": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-20"]),
            "amount": [1.0] * 4,
        }
    )
    split = calibration_holdout_split(transactions, "2024-01-10", unit="D")
    report = holdout_report(split, fit=fit_bgnbd([0, 1, 2], [0.0, 1.0, 3.0], [9.0, 8.0, 9.0]))
    table = report.by_frequency
    assert len(table) == 8 and table["n_people"].tolist() == [1, 1, 0, 0, 0, 0, 0, 0]
    assert np.isnan(table.loc[2, "actual_mean"])


def test_frequency_groups_cap() -> None:
    assert frequency_groups(np.array([0, 3, 7, 8, 100])).tolist() == [0, 3, 7, 7, 7]


def test_simulated_holdout_is_well_predicted() -> None:
    truth = BGNBDParams(r=0.5, alpha=20.0, a=0.8, b=2.5)
    log = simulate_transactions(10_000, truth, GammaGammaParams(5.0, 3.0, 10.0), observation_days=730, seed=5)
    split = calibration_holdout_split(log, "2022-12-31", "2023-12-31", unit="D")
    report = holdout_report(split)
    # The model is true here: the aggregate error is sampling noise.
    assert abs(report.metrics.total_error_pct) < 5
    populated = report.by_frequency[report.by_frequency["n_people"] >= 200]
    np.testing.assert_allclose(populated["predicted_mean"], populated["actual_mean"], rtol=0.15, atol=0.05)
