"""Scoring one transaction source without a database: fits, predictions, holdout, and small data skipped."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from clv.bgnbd import BGNBDParams, conditional_expected_purchases, probability_alive
from clv.gamma_gamma import GammaGammaParams
from clv.lifetime_value import customer_lifetime_value
from clv.scoring import FAILED, FITTED, SKIPPED, ClvSettings, score_source
from clv.simulate import simulate_transactions, simulation_as_of
from clv.summary import rfm_summary

AS_OF = simulation_as_of("2022-01-01", 730).date()


def _orders(people: int, seed: int = 1) -> pd.DataFrame:
    log = simulate_transactions(
        people, BGNBDParams(0.25, 30.0, 0.8, 2.5), GammaGammaParams(6.0, 4.0, 15.0), seed=seed
    )
    return pd.DataFrame(
        {
            "customer_unique_id": log["person_id"].map(lambda i: f"p{i:05d}"),
            "purchase_date": log["ts"].dt.floor("D"),
            "amount": log["amount"],
        }
    )


@pytest.fixture(scope="module")
def orders() -> pd.DataFrame:
    return _orders(3_000)


def _models(result) -> dict[str, dict]:
    return {row["model"]: row for row in result.model_runs}


def test_a_source_gets_one_prediction_per_person_and_three_model_rows(orders: pd.DataFrame) -> None:
    result = score_source(orders, "sim", ClvSettings(), AS_OF)
    assert result.status == FITTED and result.reason is None
    predictions = result.predictions
    assert len(predictions) == orders["customer_unique_id"].nunique() == result.n_people
    assert predictions["customer_unique_id"].is_unique
    assert predictions["p_alive"].between(0, 1).all()
    assert (predictions.loc[predictions["frequency"] == 0, "p_alive"] == 1).all()
    assert (predictions["predicted_clv"] >= 0).all() and predictions["predicted_clv"].notna().all()
    ordered = predictions[["expected_purchases_30d", "expected_purchases_90d", "expected_purchases_365d"]]
    assert (ordered.diff(axis=1).iloc[:, 1:] >= 0).all().all()
    assert (predictions["recency"] <= predictions["t"]).all()

    models = _models(result)
    assert set(models) == {"bgnbd", "gamma_gamma", "bgnbd_calibration"}
    assert all(row["status"] == FITTED for row in models.values()), models
    assert models["bgnbd"]["n_people"] == result.n_people
    assert all(np.isfinite(models["bgnbd"][k]) for k in ("r", "alpha", "a", "b", "log_likelihood"))
    assert models["gamma_gamma"]["q"] > 1
    calibration = models["bgnbd_calibration"]
    assert calibration["holdout_days"] == 180
    assert calibration["calibration_end_date"] == date.fromordinal(AS_OF.toordinal() - 180)
    assert calibration["holdout_mae"] >= 0 and calibration["holdout_total_actual"] > 0
    groups = result.holdout_by_frequency
    assert groups["frequency_label"].tolist() == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert groups["n_people"].sum() == calibration["n_people"]


def test_predictions_belong_to_their_customers(orders: pd.DataFrame) -> None:
    # score_source numbers the ids once and summarises the codes: every row must still be its customer's.
    shuffled = orders.sample(frac=1.0, random_state=3)
    result = score_source(shuffled, "sim", ClvSettings(), AS_OF)
    predictions = result.predictions
    columns = {"person_col": "customer_unique_id", "time_col": "purchase_date", "amount_col": "amount"}
    summary = rfm_summary(orders, **columns, as_of=AS_OF)
    calibration = rfm_summary(orders, **columns, as_of=result.calibration_end_date)
    per_person = result.holdout.per_person
    assert per_person.index.name == "customer_unique_id" and len(per_person) == len(calibration)
    np.testing.assert_array_equal(per_person["frequency"], calibration.loc[per_person.index, "frequency"])
    by_id = predictions.set_index("customer_unique_id").loc[summary.index]
    np.testing.assert_array_equal(by_id["frequency"], summary["frequency"])
    np.testing.assert_allclose(by_id[["recency", "t"]], summary[["recency", "T"]])
    np.testing.assert_allclose(by_id["monetary_value"], summary["monetary_value"])
    np.testing.assert_array_equal(by_id["first_purchase_date"], summary["first_purchase"])


def test_predictions_on_distinct_rows_equal_the_per_person_functions(orders: pd.DataFrame) -> None:
    result = score_source(orders, "sim", ClvSettings(holdout_days=0), AS_OF)
    p = result.predictions
    x, t_x, T, m = (p[c].to_numpy(np.float64) for c in ("frequency", "recency", "t", "monetary_value"))
    bgnbd, spend = result.bgnbd.params, result.gamma_gamma.params
    for days in (30, 90, 365):
        np.testing.assert_allclose(
            p[f"expected_purchases_{days}d"],
            conditional_expected_purchases(bgnbd, float(days), x, t_x, T),
            rtol=1e-12,
        )
    np.testing.assert_allclose(p["p_alive"], probability_alive(bgnbd, x, t_x, T), rtol=1e-12)
    clv = customer_lifetime_value(bgnbd, spend, x, t_x, T, m, months=12, monthly_discount_rate=0.01, unit="D")
    np.testing.assert_allclose(p["predicted_clv"], clv, rtol=1e-12)


def test_weeks_give_the_same_expected_purchases_as_days(orders: pd.DataFrame) -> None:
    days = score_source(orders, "sim", ClvSettings(unit="D"), AS_OF).predictions
    weeks = score_source(orders, "sim", ClvSettings(unit="W"), AS_OF).predictions
    assert (weeks["t"] * 7).to_numpy() == pytest.approx(days["t"].to_numpy())
    # Two fits of the same model in different units: the same predictions up to the optimiser's tolerance.
    assert weeks["expected_purchases_90d"].sum() == pytest.approx(
        days["expected_purchases_90d"].sum(), rel=1e-3
    )


def test_a_longer_horizon_and_a_lower_discount_rate_raise_the_clv(orders: pd.DataFrame) -> None:
    base = score_source(orders, "sim", ClvSettings(holdout_days=0), AS_OF).predictions["predicted_clv"].sum()
    longer = score_source(orders, "sim", ClvSettings(holdout_days=0, horizon_months=24), AS_OF)
    cheaper = score_source(orders, "sim", ClvSettings(holdout_days=0, monthly_discount_rate=0.0), AS_OF)
    assert longer.predictions["predicted_clv"].sum() > base
    assert cheaper.predictions["predicted_clv"].sum() > base
    assert _models(longer)["bgnbd_calibration"]["status"] == SKIPPED


def test_too_few_people_skip_the_source_with_a_reason() -> None:
    result = score_source(_orders(30), "tiny", ClvSettings(), AS_OF)
    assert result.status == SKIPPED and "30 people" in result.reason
    assert result.predictions.empty and result.holdout_by_frequency.empty
    assert [row["status"] for row in result.model_runs] == [SKIPPED] * 3
    assert all(row["status_reason"] == result.reason for row in result.model_runs)


def test_no_repeat_buyer_skips_the_source_with_a_reason() -> None:
    one_each = pd.DataFrame(
        {
            "customer_unique_id": [f"p{i}" for i in range(80)],
            "purchase_date": pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(80), unit="D"),
            "amount": 10.0,
        }
    )
    result = score_source(one_each, "once", ClvSettings(), None)
    assert result.status == SKIPPED and "bought twice" in result.reason
    assert result.as_of_date == date(2024, 3, 20)


def test_few_repeat_buyers_get_purchases_but_no_spend_model(orders: pd.DataFrame) -> None:
    result = score_source(orders, "sim", ClvSettings(min_spend_buyers=100_000), AS_OF)
    models = _models(result)
    assert models["bgnbd"]["status"] == FITTED
    assert (
        models["gamma_gamma"]["status"] == SKIPPED and "Gamma-Gamma" in models["gamma_gamma"]["status_reason"]
    )
    assert result.predictions["predicted_clv"].isna().all()
    assert result.predictions["p_alive"].notna().all()


def test_a_short_history_shortens_the_holdout_period() -> None:
    short = _orders(2_000)
    short = short[short["purchase_date"] < pd.Timestamp("2022-07-01")]  # 181 days of history
    result = score_source(short, "short", ClvSettings(holdout_days=180), date(2022, 6, 30))
    calibration = _models(result)["bgnbd_calibration"]
    assert calibration["holdout_days"] == 90
    assert calibration["status"] == FITTED and "instead of 180" in calibration["status_reason"]


def test_as_of_ignores_later_purchases(orders: pd.DataFrame) -> None:
    result = score_source(orders, "sim", ClvSettings(), date(2022, 6, 30))
    first = orders.groupby("customer_unique_id")["purchase_date"].min()
    assert result.n_people == int((first <= pd.Timestamp("2022-06-30")).sum())
    assert (result.predictions["as_of_date"] == date(2022, 6, 30)).all()


def test_an_unusable_spend_fit_is_reported_not_raised(
    orders: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args, **kwargs):
        raise FloatingPointError("overflow in the likelihood")

    monkeypatch.setattr("clv.scoring.fit_gamma_gamma", broken)
    result = score_source(orders, "sim", ClvSettings(), AS_OF)
    row = _models(result)["gamma_gamma"]
    assert row["status"] == FAILED and "overflow in the likelihood" in row["status_reason"]
    assert result.status == FITTED and result.predictions["predicted_clv"].isna().all()


def test_settings_come_from_the_environment() -> None:
    settings = ClvSettings.from_env(
        {
            "CLV_TIME_UNIT": "w",
            "CLV_HORIZON_MONTHS": "24",
            "CLV_MONTHLY_DISCOUNT_RATE": "0.02",
            "CLV_HOLDOUT_DAYS": "90",
            "CLV_AS_OF": "2018-08-31",
        }
    )
    assert settings == ClvSettings(
        unit="W", horizon_months=24, monthly_discount_rate=0.02, holdout_days=90, as_of=date(2018, 8, 31)
    )
    assert ClvSettings.from_env({"CLV_TIME_UNIT": "", "CLV_AS_OF": " "}) == ClvSettings()
    with pytest.raises(ValueError, match="CLV_HORIZON_MONTHS must be a whole number of months, got 'a year'"):
        ClvSettings.from_env({"CLV_HORIZON_MONTHS": "a year"})
    with pytest.raises(ValueError, match="'D' \\(days\\) or 'W' \\(weeks\\), got 'M'"):
        ClvSettings.from_env({"CLV_TIME_UNIT": "M"})
    with pytest.raises(ValueError, match="CLV_AS_OF must be a date"):
        ClvSettings.from_env({"CLV_AS_OF": "31/08/2018"})
