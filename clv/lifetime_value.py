"""Predicted customer lifetime value: BG/NBD expected purchases times Gamma-Gamma expected spend, discounted.

This follows lifetimes' ``GammaGammaFitter.customer_lifetime_value``: over months i = 1..H,

    CLV = sum_i E(M) * (E[Y(i * m) | x, t_x, T] - E[Y((i-1) * m) | x, t_x, T]) / (1 + d)^i,

with E[Y(t) | ...] the BG/NBD conditional expectation (Fader, Hardie & Lee 2005a, eq. 10), E(M) the
Gamma-Gamma conditional expected spend (Fader, Hardie & Lee 2005b), m the number of model time units in a
month and d the monthly discount rate. It is a discrete-time approximation of the discounted expected
residual transactions (DERT) of the 2005b paper, each month's expected purchases discounted at its end.
"""

from __future__ import annotations

import numpy as np

from clv._mle import distinct_rows
from clv.bgnbd import BGNBDParams, expected_purchases_if_alive, probability_alive
from clv.gamma_gamma import GammaGammaParams, conditional_expected_spend

ArrayLike = np.ndarray | float | int | list

# Model time units per month, as in lifetimes ('D': 30 days, 'W': 4.345 weeks).
PERIODS_PER_MONTH: dict[str, float] = {"D": 30.0, "W": 4.345}


def _per_month(unit: str, periods_per_month: float | None, months: int) -> float:
    if periods_per_month is None and unit not in PERIODS_PER_MONTH:
        raise ValueError(f"unit must be one of {sorted(PERIODS_PER_MONTH)} unless periods_per_month is given")
    if months < 1:
        raise ValueError("months must be at least 1")
    return PERIODS_PER_MONTH[unit] if periods_per_month is None else float(periods_per_month)


def _by_month_if_alive(
    params: BGNBDParams, x: np.ndarray, T: np.ndarray, months: int, per_month: float
) -> tuple[np.ndarray, np.ndarray]:
    """Expected purchases per month of a person still alive, on the distinct (x, T) rows, and each row's one.

    E[Y(t) | x, t_x, T] is P(alive | x, t_x, T) times E[Y(t) | alive, x, T], which does not depend on t_x:
    the hypergeometric functions run once per distinct (x, T) and horizon.
    """
    (x_u, age_u), rows = distinct_rows(x, T)
    horizons = per_month * np.arange(1, months + 1, dtype=np.float64)
    cumulative = expected_purchases_if_alive(params, horizons[None, :], x_u[:, None], age_u[:, None])
    return np.diff(cumulative, axis=1, prepend=0.0), rows


def expected_purchases_by_month(
    params: BGNBDParams,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    *,
    months: int = 12,
    unit: str = "D",
    periods_per_month: float | None = None,
) -> np.ndarray:
    """Expected purchases in each of the next ``months`` months, shape (people, months), from eq. 10."""
    per_month = _per_month(unit, periods_per_month, months)
    x, t_x, age = (
        np.asarray(v, dtype=np.float64).ravel() for v in np.broadcast_arrays(frequency, recency, T)
    )
    by_month, rows = _by_month_if_alive(params, x, age, months, per_month)
    return probability_alive(params, x, t_x, age)[:, None] * by_month[rows]


def discounted_expected_purchases(
    params: BGNBDParams,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    *,
    months: int = 12,
    monthly_discount_rate: float = 0.01,
    unit: str = "D",
    periods_per_month: float | None = None,
) -> np.ndarray:
    """sum_i (E[Y(i m)] - E[Y((i-1) m)]) / (1 + d)^i over the next ``months`` months: the purchases that
    :func:`customer_lifetime_value` multiplies by the expected spend (one value per person)."""
    if monthly_discount_rate <= -1.0:
        raise ValueError("monthly_discount_rate must be greater than -1")
    per_month = _per_month(unit, periods_per_month, months)
    x, t_x, age = (
        np.asarray(v, dtype=np.float64).ravel() for v in np.broadcast_arrays(frequency, recency, T)
    )
    by_month, rows = _by_month_if_alive(params, x, age, months, per_month)
    discount = (1.0 + monthly_discount_rate) ** -np.arange(1, months + 1, dtype=np.float64)
    # einsum, not @: a matrix-vector product may go to threaded BLAS (see clv._mle.dot).
    return probability_alive(params, x, t_x, age) * np.einsum("ij,j->i", by_month, discount)[rows]


def customer_lifetime_value(
    bgnbd: BGNBDParams,
    gamma_gamma: GammaGammaParams,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    monetary_value: ArrayLike,
    *,
    months: int = 12,
    monthly_discount_rate: float = 0.01,
    unit: str = "D",
    periods_per_month: float | None = None,
) -> np.ndarray:
    """Discounted predicted value of each person's purchases over the next ``months`` months.

    ``unit`` is the time unit of the summary (and so of the BG/NBD parameters); ``periods_per_month``
    overrides how many of those units make a month. ``monetary_value`` is the mean repeat spend (0 for
    x = 0 people, who get the population mean spend).
    """
    purchases = discounted_expected_purchases(
        bgnbd,
        frequency,
        recency,
        T,
        months=months,
        monthly_discount_rate=monthly_discount_rate,
        unit=unit,
        periods_per_month=periods_per_month,
    )
    spend = conditional_expected_spend(gamma_gamma, frequency, monetary_value).ravel()
    return spend * purchases
