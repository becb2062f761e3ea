"""RFM summary and calibration/holdout split: hand-checked cases and the CDNOW summary of the literature."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clv.summary import CalibrationHoldout, calibration_holdout_split, rfm_summary


@pytest.fixture()
def small_log() -> pd.DataFrame:
    # 2024-01-01 is a Monday.
    rows = [
        ("ann", "2024-01-01 09:00", 10.0),
        ("ann", "2024-01-01 17:30", 5.0),  # same day as the first purchase: one occasion of 15
        ("ann", "2024-01-08 12:00", 20.0),
        ("ann", "2024-01-15 08:00", 30.0),
        ("bob", "2024-01-10 10:00", 7.0),  # a single purchase
        ("cat", "2024-01-05 09:00", 3.0),
        ("cat", "2024-01-05 18:00", 4.0),  # same day: still no repeat purchase
        ("cat", "2024-01-31 23:59", 12.0),  # on the as-of day: counts
        ("cat", "2024-02-10 10:00", 99.0),  # after the as-of date: ignored
        ("dan", "2024-02-03 10:00", 50.0),  # first purchase after the as-of date: not in the summary
    ]
    frame = pd.DataFrame(rows, columns=["person_id", "ts", "amount"])
    frame["ts"] = pd.to_datetime(frame["ts"])
    return frame


def test_hand_checked_daily_summary(small_log: pd.DataFrame) -> None:
    summary = rfm_summary(small_log, unit="D", as_of="2024-01-31")
    assert list(summary.index) == ["ann", "bob", "cat"]
    # ann: occasions on days 0, 7, 14 -> x = 2, t_x = 14, T = 30, repeat spend (20 + 30) / 2.
    # bob: one purchase on Jan 10 -> x = 0, t_x = 0, T = 21.
    # cat: occasions on Jan 5 and Jan 31 -> x = 1, t_x = 26, T = 26, repeat spend 12.
    expected = pd.DataFrame(
        {
            "frequency": [2, 0, 1],
            "recency": [14.0, 0.0, 26.0],
            "T": [30.0, 21.0, 26.0],
            "monetary_value": [25.0, 0.0, 12.0],
        },
        index=pd.Index(["ann", "bob", "cat"], name="person_id"),
    )
    pd.testing.assert_frame_equal(summary[expected.columns], expected)
    assert summary["first_purchase"].tolist() == [
        pd.Timestamp("2024-01-01"),
        pd.Timestamp("2024-01-10"),
        pd.Timestamp("2024-01-05"),
    ]


def test_weekly_units_are_days_over_seven(small_log: pd.DataFrame) -> None:
    daily = rfm_summary(small_log, unit="D", as_of="2024-01-31")
    weekly = rfm_summary(small_log, unit="W", as_of="2024-01-31")
    np.testing.assert_array_equal(weekly["frequency"], daily["frequency"])
    np.testing.assert_allclose(weekly["recency"], daily["recency"] / 7)
    np.testing.assert_allclose(weekly["T"], daily["T"] / 7)
    np.testing.assert_allclose(weekly.loc["ann", ["recency", "T"]].to_numpy(float), [2.0, 30 / 7])


def test_discrete_weeks_count_calendar_weeks(small_log: pd.DataFrame) -> None:
    extra = pd.DataFrame({"person_id": ["ann"], "ts": [pd.Timestamp("2024-01-09 10:00")], "amount": [1.0]})
    summary = rfm_summary(pd.concat([small_log, extra]), unit="W", as_of="2024-01-31", discrete=True)
    # ann's purchases fall in the weeks of Jan 1, Jan 8 (twice) and Jan 15; Jan 31 is in the week of Jan 29.
    ann = summary.loc["ann"]
    assert (ann["frequency"], ann["recency"], ann["T"]) == (2, 2.0, 4.0)
    assert ann["monetary_value"] == pytest.approx((21.0 + 30.0) / 2)
    # cat: week of Jan 1 (Jan 5 is a Friday) and week of Jan 29.
    assert (summary.loc["cat", "frequency"], summary.loc["cat", "recency"]) == (1, 4.0)
    assert summary.loc["cat", "first_purchase"] == pd.Timestamp("2024-01-01")


def test_default_as_of_is_latest_transaction(small_log: pd.DataFrame) -> None:
    summary = rfm_summary(small_log)
    assert summary.loc["ann", "T"] == (pd.Timestamp("2024-02-10") - pd.Timestamp("2024-01-01")).days
    assert summary.loc["dan", "T"] == 7.0
    assert summary.loc["cat", "frequency"] == 2


def test_time_zone_aware_timestamps_and_custom_columns(small_log: pd.DataFrame) -> None:
    aware = small_log.rename(columns={"person_id": "customer", "ts": "ordered_at", "amount": "value"})
    aware["ordered_at"] = aware["ordered_at"].dt.tz_localize("America/Sao_Paulo")
    summary = rfm_summary(
        aware, person_col="customer", time_col="ordered_at", amount_col="value", as_of="2024-01-31"
    )
    expected = rfm_summary(small_log, as_of="2024-01-31")
    np.testing.assert_array_equal(summary["frequency"], expected["frequency"])
    np.testing.assert_allclose(
        summary[["recency", "T", "monetary_value"]], expected[["recency", "T", "monetary_value"]]
    )
    assert summary.index.name == "customer"


def test_without_amounts(small_log: pd.DataFrame) -> None:
    summary = rfm_summary(small_log.drop(columns="amount"), amount_col=None, as_of="2024-01-31")
    assert "monetary_value" not in summary.columns
    assert summary["frequency"].tolist() == [2, 0, 1]


def test_nothing_before_the_as_of_date_gives_an_empty_summary(small_log: pd.DataFrame) -> None:
    summary = rfm_summary(small_log, as_of="2023-12-31")
    assert summary.empty
    assert list(summary.columns) == ["frequency", "recency", "T", "monetary_value", "first_purchase"]


def test_bad_unit_is_rejected(small_log: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="unit"):
        rfm_summary(small_log, unit="M")  # type: ignore[arg-type]


def test_calibration_holdout_split_by_hand(small_log: pd.DataFrame) -> None:
    split = calibration_holdout_split(small_log, "2024-01-10", "2024-01-31", unit="D")
    assert isinstance(split, CalibrationHoldout)
    assert split.duration == 21.0
    # dan's first purchase is after the calibration period: not part of the validation.
    assert list(split.calibration.index) == ["ann", "bob", "cat"]
    assert split.calibration["frequency"].tolist() == [1, 0, 0]
    assert split.calibration["T"].tolist() == [9.0, 0.0, 5.0]
    # Holdout (Jan 11 .. Jan 31): ann bought on Jan 15, cat on Jan 31; Feb 10 is after the observation end.
    assert split.holdout["frequency_holdout"].tolist() == [1, 0, 1]
    assert split.holdout["monetary_value_holdout"].tolist() == [30.0, 0.0, 12.0]
    assert split.holdout.index.equals(split.calibration.index)


def test_split_agrees_with_a_pandas_groupby_on_a_random_log() -> None:
    rng = np.random.default_rng(9)
    n = 5_000
    log = pd.DataFrame(
        {
            "person_id": pd.Series([f"c{i:04d}" for i in rng.integers(0, 1_500, n)], dtype="str"),
            "ts": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 200 * 24, n), unit="h"),
            "amount": np.round(rng.gamma(2.0, 30.0, n), 2),
        }
    )
    split = calibration_holdout_split(log, "2024-04-30", "2024-07-10", unit="W")
    day = log["ts"].dt.floor("D")
    calibration = rfm_summary(log, unit="W", as_of="2024-04-30")
    pd.testing.assert_frame_equal(split.calibration, calibration)
    hold = log[(day > "2024-04-30") & (day <= "2024-07-10")].assign(day=day)
    occasions = hold.groupby(["person_id", "day"])["amount"].sum().groupby("person_id").agg(["size", "mean"])
    expected = occasions.reindex(calibration.index).fillna(0.0)
    np.testing.assert_array_equal(split.holdout["frequency_holdout"], expected["size"].astype(np.int64))
    np.testing.assert_allclose(split.holdout["monetary_value_holdout"], expected["mean"], rtol=1e-12)
    assert split.holdout["frequency_holdout"].sum() > 0 and (split.holdout["frequency_holdout"] == 0).any()


def test_integer_and_string_ids_give_the_same_summary(small_log: pd.DataFrame) -> None:
    by_name = rfm_summary(small_log, as_of="2024-01-31")
    numbers = small_log.assign(person_id=small_log["person_id"].map({"ann": 7, "bob": 3, "cat": 5, "dan": 1}))
    by_number = rfm_summary(numbers, as_of="2024-01-31")
    assert by_number.index.tolist() == [3, 5, 7]  # sorted ids
    pd.testing.assert_frame_equal(
        by_number.rename(index={3: "bob", 5: "cat", 7: "ann"}).sort_index(), by_name, check_index_type=False
    )


def test_split_rejects_an_observation_end_before_the_calibration_end(small_log: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="after"):
        calibration_holdout_split(small_log, "2024-01-31", "2024-01-10")


def test_cdnow_summary_from_raw_transactions_matches_the_shipped_summary(
    cdnow_transactions: pd.DataFrame, cdnow_summary: pd.DataFrame, cdnow_summary_with_spend: pd.DataFrame
) -> None:
    # The literature's summary is the calibration period ending 1997-09-30, in weeks (days / 7), with repeat
    # purchases counted on distinct days; customer 1's T is (1997-09-30 - 1997-01-01) / 7 = 38.86.
    summary = rfm_summary(cdnow_transactions, unit="W", as_of="1997-09-30")
    assert len(summary) == len(cdnow_summary) == 2357
    assert summary.index.equals(cdnow_summary.index)
    assert summary["frequency"].sum() == cdnow_summary["frequency"].sum() == 2457
    np.testing.assert_array_equal(summary["frequency"], cdnow_summary["frequency"])
    np.testing.assert_array_equal(summary["recency"].round(2), cdnow_summary["recency"])
    np.testing.assert_array_equal(summary["T"].round(2), cdnow_summary["T"])
    assert summary["recency"].sum() == pytest.approx(cdnow_summary["recency"].sum(), abs=0.01 * len(summary))
    # Mean repeat spend, with same-day orders added up (the shipped file rounds to cents).
    np.testing.assert_allclose(summary["monetary_value"], cdnow_summary_with_spend["zbar"], atol=0.0051)


def test_cdnow_split(cdnow_split: CalibrationHoldout) -> None:
    assert cdnow_split.duration == 39.0
    assert len(cdnow_split.calibration) == 2357
    assert int((cdnow_split.calibration["frequency"] == 0).sum()) == 1411  # 946 repeat buyers
    assert int(cdnow_split.holdout["frequency_holdout"].sum()) == 1882
