"""Recency/frequency/monetary summaries of a transaction log, the input of the BG/NBD and Gamma-Gamma models.

For every person, with times measured in ``unit`` ('D' days or 'W' weeks) from the person's first purchase:

* ``frequency`` (x): the number of *repeat* purchase occasions, i.e. distinct purchase occasions after the
  first one. An occasion is a calendar day (several orders on one day are one purchase, their amounts added),
  as in Fader, Hardie & Lee (2005) and lifetimes' ``summary_data_from_transaction_data``; with
  ``discrete=True`` it is one whole ``unit`` (a calendar week, Monday to Sunday, when ``unit='W'``), as
  lifetimes does for ``freq='W'``.
* ``recency`` (t_x): the time of the last purchase, since the first one (0 when x = 0).
* ``T``: the person's age, the as-of date minus the first purchase.
* ``monetary_value``: the mean amount of the repeat purchase occasions, 0 when x = 0 (the first purchase is
  left out, as the Gamma-Gamma model of Fader, Hardie & Lee 2005b is fitted on repeat purchases).

Dates are compared at day granularity: the as-of date is inclusive (a purchase at 23:59 on the as-of day
counts), and purchases after it are ignored. With ``unit='W'`` and ``discrete=False`` times are fractional
weeks (days / 7), which is how the CDNOW summary of the literature is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

Unit = Literal["D", "W"]

UNIT_DAYS: dict[str, int] = {"D": 1, "W": 7}
# 1970-01-01 (day 0) is a Thursday: shifting by 3 days makes calendar weeks start on Monday.
_EPOCH_WEEKDAY_SHIFT = 3

SUMMARY_COLUMNS = ["frequency", "recency", "T", "monetary_value", "first_purchase"]


def _unit_days(unit: str) -> int:
    try:
        return UNIT_DAYS[unit]
    except KeyError:
        raise ValueError(f"unit must be one of {sorted(UNIT_DAYS)}, got {unit!r}") from None


def _to_day_numbers(values: pd.Series | pd.Index | np.ndarray) -> np.ndarray:
    """Calendar days since 1970-01-01 as int64 (time zones are dropped, keeping the local wall-clock day)."""
    ts = pd.to_datetime(pd.Series(values) if not isinstance(values, pd.Series) else values)
    if getattr(ts.dt, "tz", None) is not None:
        ts = ts.dt.tz_localize(None)
    if ts.isna().any():
        raise ValueError("transaction timestamps must not be missing")
    return ts.to_numpy().astype("datetime64[D]").astype(np.int64)


def _day_number(when: object) -> int:
    ts = pd.Timestamp(when)
    if ts.tzinfo is not None:
        ts = ts.tz_localize(None)
    return int(np.datetime64(ts.to_datetime64(), "D").astype(np.int64))


def _to_periods(days: np.ndarray | int, unit: str, discrete: bool) -> np.ndarray | int:
    """Map day numbers to the grid on which occasions are counted (days, or calendar weeks when discrete)."""
    if discrete and unit == "W":
        return (np.asarray(days) + _EPOCH_WEEKDAY_SHIFT) // 7
    return days


def _group_starts(*keys: np.ndarray) -> np.ndarray:
    """Indices at which a new run of equal key tuples starts in arrays sorted by those keys."""
    if keys[0].size == 0:
        return np.zeros(0, dtype=np.int64)
    changed = np.zeros(keys[0].size - 1, dtype=bool)
    for key in keys:
        changed |= key[1:] != key[:-1]
    return np.flatnonzero(np.r_[True, changed])


def _summarise_arrays(
    codes: np.ndarray, periods: np.ndarray, amounts: np.ndarray | None, as_of_period: int, scale: float
) -> dict[str, np.ndarray]:
    """Core of :func:`rfm_summary` on integer person codes (>= 0) and integer periods (already filtered)."""
    span = int(periods.max()) - int(periods.min()) + 1 if periods.size else 1
    if codes.size and (int(codes.max()) + 1) * span < 2**62:
        # One stable sort of a combined key: the order of np.lexsort((periods, codes)), 3x faster.
        order = np.argsort(codes * span + (periods - periods.min()), kind="stable")
    else:
        order = np.lexsort((periods, codes))
    codes, periods = codes[order], periods[order]
    # One row per purchase occasion (person, period).
    occ = _group_starts(codes, periods)
    occ_codes, occ_periods = codes[occ], periods[occ]
    occ_amounts = None
    if amounts is not None:
        occ_amounts = np.add.reduceat(amounts[order], occ) if occ.size else np.zeros(0)
    # One row per person.
    starts = _group_starts(occ_codes)
    ends = np.append(starts[1:], occ_codes.size) - 1 if starts.size else starts
    first, last = occ_periods[starts], occ_periods[ends]
    out: dict[str, np.ndarray] = {
        "code": occ_codes[starts],
        "frequency": (ends - starts).astype(np.int64),
        "recency": (last - first) / scale,
        "T": (as_of_period - first) / scale,
        "first_period": first,
    }
    if occ_amounts is not None:
        total = np.add.reduceat(occ_amounts, starts) if starts.size else np.zeros(0)
        repeat_total = total - occ_amounts[starts]
        x = out["frequency"]
        out["monetary_value"] = np.divide(repeat_total, x, out=np.zeros(x.size), where=x > 0)
    return out


def rfm_summary(
    transactions: pd.DataFrame,
    *,
    person_col: str = "person_id",
    time_col: str = "ts",
    amount_col: str | None = "amount",
    unit: Unit = "D",
    as_of: object | None = None,
    discrete: bool = False,
) -> pd.DataFrame:
    """Build the per-person (x, t_x, T, monetary value) summary of Fader, Hardie & Lee (2005).

    Parameters
    ----------
    transactions:
        One row per purchase with a person id, a timestamp (or date) and, optionally, an amount.
    unit:
        'D' (days) or 'W' (weeks) — the time unit of ``recency`` and ``T`` and so of every model parameter.
    as_of:
        The end of the observation window, inclusive at day granularity; defaults to the latest transaction.
        Purchases after it are ignored.
    discrete:
        Count purchase occasions on whole units (calendar weeks for 'W') instead of calendar days.

    Returns
    -------
    A DataFrame indexed by person id (sorted) with columns ``frequency`` (int), ``recency``, ``T``,
    ``monetary_value`` (only when ``amount_col`` is given) and ``first_purchase`` (a date).
    """
    scale_days = _unit_days(unit)
    days = _to_day_numbers(transactions[time_col])
    latest = int(days.max()) if days.size else 0
    as_of_day = latest if as_of is None else _day_number(as_of)
    keep = days <= as_of_day
    codes, uniques = _person_codes(transactions[person_col], keep, person_col)
    periods = np.asarray(_to_periods(days[keep], unit, discrete), dtype=np.int64)
    amounts = None
    if amount_col is not None:
        amounts = transactions[amount_col].to_numpy(dtype=np.float64)[keep]
    scale = 1.0 if discrete else float(scale_days)
    as_of_period = int(_to_periods(as_of_day, unit, discrete))
    arrays = _summarise_arrays(codes, periods, amounts, as_of_period, scale)
    return _summary_frame(arrays, uniques, person_col, unit, discrete)


def _person_codes(persons: pd.Series, keep: np.ndarray, person_col: str) -> tuple[np.ndarray, pd.Index]:
    """Integer codes of the kept rows' persons, numbered in sorted id order, and the sorted ids.

    Dense integer ids (such as the codes :func:`clv.scoring.score_source` passes) are ranked through a lookup
    table; any other column is factorised as it is (a pyarrow-backed string column is hashed by Arrow,
    several times faster than a numpy array of Python strings).
    """
    kept = persons if keep.all() else persons[keep]
    if isinstance(kept.dtype, np.dtype) and kept.dtype.kind == "i" and kept.size:
        values = kept.to_numpy()
        low, high = int(values.min()), int(values.max())
        if high - low <= 4 * values.size:  # dense integers (e.g. codes): rank them through a lookup table
            present = np.zeros(high - low + 1, dtype=bool)
            present[values - low] = True
            rank = np.cumsum(present) - 1
            return rank[values - low], pd.Index(np.flatnonzero(present) + low, dtype=kept.dtype)
    codes, uniques = pd.factorize(kept, sort=True)
    if np.any(codes < 0):
        raise ValueError(f"{person_col} must not be missing")
    return codes.astype(np.int64, copy=False), pd.Index(uniques)


def _summary_frame(
    arrays: dict[str, np.ndarray], uniques: pd.Index, person_col: str, unit: str, discrete: bool
) -> pd.DataFrame:
    """The summary DataFrame of :func:`rfm_summary` from :func:`_summarise_arrays`' output."""
    index = uniques.take(arrays["code"]).rename(person_col)
    first_days = arrays["first_period"]
    if discrete and unit == "W":  # the Monday of the first purchase's week
        first_days = first_days * 7 - _EPOCH_WEEKDAY_SHIFT
    frame = pd.DataFrame(
        {
            "frequency": arrays["frequency"],
            "recency": arrays["recency"].astype(np.float64),
            "T": arrays["T"].astype(np.float64),
        },
        index=index,
    )
    if "monetary_value" in arrays:
        frame["monetary_value"] = arrays["monetary_value"]
    frame["first_purchase"] = first_days.astype("datetime64[D]").astype("datetime64[s]")
    return frame


@dataclass(frozen=True)
class CalibrationHoldout:
    """A calibration summary and what the same people did in the holdout period that follows it.

    ``calibration`` is :func:`rfm_summary` as of ``calibration_end``; ``holdout`` is indexed like it, with
    ``frequency_holdout`` (purchase occasions in (calibration_end, observation_end]) and
    ``monetary_value_holdout`` (their mean amount, 0 when none); ``duration`` is the holdout length in
    ``unit``.
    """

    calibration: pd.DataFrame
    holdout: pd.DataFrame
    duration: float
    unit: str
    calibration_end: pd.Timestamp
    observation_end: pd.Timestamp


def calibration_holdout_split(
    transactions: pd.DataFrame,
    calibration_end: object,
    observation_end: object | None = None,
    *,
    person_col: str = "person_id",
    time_col: str = "ts",
    amount_col: str | None = "amount",
    unit: Unit = "D",
    discrete: bool = False,
) -> CalibrationHoldout:
    """Split a transaction log at ``calibration_end`` (inclusive) for a calibration/holdout validation.

    Only people whose first purchase falls in the calibration period are kept (as in Fader, Hardie & Lee 2005,
    section 4). Purchases after ``observation_end`` (default: the latest transaction) are ignored.
    """
    scale_days = _unit_days(unit)
    cal_day = _day_number(calibration_end)
    days = _to_day_numbers(transactions[time_col])
    obs_day = int(days.max()) if observation_end is None else _day_number(observation_end)
    if obs_day <= cal_day:
        raise ValueError("observation_end must be after calibration_end")

    # One factorisation of the persons for both periods.
    window = days <= obs_day
    codes, uniques = _person_codes(transactions[person_col], window, person_col)
    days = days[window]
    periods = np.asarray(_to_periods(days, unit, discrete), dtype=np.int64)
    amounts = None
    if amount_col is not None:
        amounts = transactions[amount_col].to_numpy(dtype=np.float64)[window]
    in_calibration = days <= cal_day
    arrays = _summarise_arrays(
        codes[in_calibration],
        periods[in_calibration],
        None if amounts is None else amounts[in_calibration],
        int(_to_periods(cal_day, unit, discrete)),
        1.0 if discrete else float(scale_days),
    )
    calibration = _summary_frame(arrays, uniques, person_col, unit, discrete)

    # Holdout purchase occasions (distinct person and period) per person of the calibration period.
    in_holdout = ~in_calibration
    hold_codes, hold_periods = codes[in_holdout], periods[in_holdout]
    n_codes = len(uniques)
    if hold_codes.size:
        first_period = int(hold_periods.min())
        span = int(hold_periods.max()) - first_period + 1
        occasions = np.unique(hold_codes * span + (hold_periods - first_period))
        counts = np.bincount(occasions // span, minlength=n_codes)
    else:
        counts = np.zeros(n_codes, dtype=np.int64)
    people = arrays["code"]
    frequency_holdout = counts[people].astype(np.int64)
    holdout = pd.DataFrame({"frequency_holdout": frequency_holdout}, index=calibration.index)
    if amounts is not None:
        # The mean of the occasions' amounts is the person's holdout total over their occasions.
        totals = np.bincount(hold_codes, weights=amounts[in_holdout], minlength=n_codes)[people]
        holdout["monetary_value_holdout"] = np.divide(
            totals, frequency_holdout, out=np.zeros(people.size), where=frequency_holdout > 0
        )
    if discrete:
        duration = float(_to_periods(obs_day, unit, True) - _to_periods(cal_day, unit, True))
    else:
        duration = (obs_day - cal_day) / scale_days
    return CalibrationHoldout(
        calibration=calibration,
        holdout=holdout,
        duration=duration,
        unit=unit,
        calibration_end=pd.Timestamp(np.datetime64(cal_day, "D")),
        observation_end=pd.Timestamp(np.datetime64(obs_day, "D")),
    )
