"""BG/NBD: the published CDNOW fit, the likelihood's gradient, eq. (10)'s numerics, P(alive) and recovery."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clv import _mle, bgnbd
from clv.bgnbd import (
    BGNBDParams,
    conditional_expected_purchases,
    expected_cumulative_purchases,
    expected_purchases_new_customer,
    fit_bgnbd,
    log_likelihood,
    probability_alive,
)
from clv.gamma_gamma import GammaGammaParams
from clv.simulate import simulate_transactions, simulation_as_of
from clv.summary import rfm_summary

# Fader, Hardie & Lee (2005), section 4: the CDNOW estimates.
CDNOW = BGNBDParams(r=0.243, alpha=4.414, a=0.793, b=2.426)
SPEND = GammaGammaParams(p=5.0, q=3.0, gamma=10.0)  # any spend process: these tests only use purchase times


@pytest.fixture(scope="module")
def cdnow_fit(cdnow_summary: pd.DataFrame) -> bgnbd.BGNBDFit:
    return fit_bgnbd(cdnow_summary["frequency"], cdnow_summary["recency"], cdnow_summary["T"])


def test_cdnow_fit_reproduces_the_paper(cdnow_fit: bgnbd.BGNBDFit) -> None:
    params = cdnow_fit.params
    assert cdnow_fit.converged, cdnow_fit.message
    assert cdnow_fit.n_people == 2357
    assert round(params.r, 3) == 0.243
    assert round(params.alpha, 3) == 4.414
    assert round(params.a, 3) == 0.793
    assert round(params.b, 3) == 2.426
    assert cdnow_fit.log_likelihood == pytest.approx(-9582.4, abs=0.05)  # the paper's LL
    assert all(np.isfinite(v) and v > 0 for v in cdnow_fit.std_errors.values())


def test_cdnow_conditional_expectation_of_the_papers_example(cdnow_fit: bgnbd.BGNBDFit) -> None:
    # The paper's worked example: x = 2, t_x = 30.43, T = 38.86 expects 1.226 purchases in the next 39 weeks.
    assert conditional_expected_purchases(cdnow_fit.params, 39, 2, 30.43, 38.86) == pytest.approx(
        1.226, abs=5e-4
    )


def test_fit_is_invariant_to_row_order_and_weights(cdnow_summary: pd.DataFrame) -> None:
    grouped = cdnow_summary.groupby(["frequency", "recency", "T"]).size().reset_index(name="count")
    weighted = fit_bgnbd(grouped["frequency"], grouped["recency"], grouped["T"], weights=grouped["count"])
    np.testing.assert_allclose(weighted.params.as_array(), [0.24259, 4.41359, 0.79292, 2.42589], rtol=1e-4)


@pytest.fixture(scope="module")
def simulated_summary() -> pd.DataFrame:
    """20,000 people shaped like the sandbox shop: daily unit, two years, about a fifth repeat buyers."""
    truth = BGNBDParams(r=0.25, alpha=300.0, a=0.8, b=2.5)
    log = simulate_transactions(20_000, truth, SPEND, observation_days=730, seed=4)
    return rfm_summary(log, unit="D", as_of=simulation_as_of(observation_days=730))


def test_distinct_row_fit_equals_the_per_person_fit(simulated_summary: pd.DataFrame) -> None:
    x, t_x, T = (simulated_summary[c].to_numpy(np.float64) for c in ("frequency", "recency", "T"))
    # The reference: eq. (6) person by person (no distinct rows), maximised from fit_bgnbd's starting point.
    people = np.ones(x.size)
    rate = max(x.mean(), 0.1) / T.mean()
    per_person = _mle.maximise(
        _mle.weighted(lambda lp: bgnbd._log_likelihood_terms(lp, x, t_x, T, with_gradient=True), people),
        float(x.size),
        np.log([1.0, 1.0 / rate, 1.0, 1.0]),
    )
    (x_d, t_x_d, T_d), counts = _mle.compress(x, t_x, T, weights=people)
    assert counts.sum() == x.size and x_d.size < x.size / 3  # one-time buyers of the same age are one row
    distinct = fit_bgnbd(x_d, t_x_d, T_d, weights=counts)
    assert distinct.converged and per_person.converged
    assert distinct.n_people == x.size
    np.testing.assert_allclose(distinct.params.as_array(), per_person.params, rtol=1e-6)
    assert distinct.log_likelihood == pytest.approx(per_person.log_likelihood, rel=1e-12)
    np.testing.assert_allclose(list(distinct.std_errors.values()), per_person.std_errors, rtol=1e-4)
    # fit_bgnbd collapses the rows itself: the same fit from the per-person summary, shuffled.
    order = np.random.default_rng(0).permutation(x.size)
    again = fit_bgnbd(x[order], t_x[order], T[order])
    np.testing.assert_allclose(again.params.as_array(), distinct.params.as_array(), rtol=1e-6)


def test_grouped_likelihood_equals_the_sum_of_the_per_person_terms() -> None:
    rng = np.random.default_rng(3)
    n = 400
    x = rng.choice([0, 0, 0, 1, 2, 3, 40, 600], n).astype(float)
    T = rng.choice([1.0, 5.5, 30.0, 365.0, 5000.0], n)
    t_x = np.where(x > 0, np.round(rng.uniform(0, 1, n) * T, 1), 0.0)
    w = rng.integers(1, 5, n).astype(float)
    total = bgnbd._total_log_likelihood(x, t_x, T, w)
    reference = _mle.weighted(lambda lp: bgnbd._log_likelihood_terms(lp, x, t_x, T, with_gradient=True), w)
    for params in ([0.243, 4.414, 0.793, 2.426], [2.0, 0.05, 30.0, 0.2], [0.01, 1e4, 0.1, 80.0]):
        ll, grad = total(np.log(params))
        ll_ref, grad_ref = reference(np.log(params))
        assert ll == pytest.approx(ll_ref, rel=1e-12)
        np.testing.assert_allclose(grad, grad_ref, rtol=1e-9, atol=1e-9 * np.abs(grad_ref).max())


def test_predictions_on_distinct_rows_equal_the_row_by_row_formula(simulated_summary: pd.DataFrame) -> None:
    params = BGNBDParams(0.25, 300.0, 0.8, 2.5)
    x, t_x, T = (simulated_summary[c].to_numpy(np.float64) for c in ("frequency", "recency", "T"))
    t = np.full(x.size, 90.0)
    alive = 1.0 / (1.0 + np.exp(bgnbd._log_odds_dead(params, x, t_x, T)))
    direct = np.clip(bgnbd._bracket(params, t, x, T), 0.0, None) * alive  # every row, no distinct rows
    np.testing.assert_allclose(conditional_expected_purchases(params, 90.0, x, t_x, T), direct, rtol=1e-12)
    np.testing.assert_allclose(probability_alive(params, x, t_x, T), alive, rtol=1e-12)


def test_distinct_rows_map_back_to_every_row() -> None:
    columns = [np.array([1.0, 2.0, 1.0, np.nan, 1.0, np.nan]), np.array([0.5, 0.5, 0.5, 1.0, 0.7, 1.0])]
    (first, second), rows = _mle.distinct_rows(*columns)
    assert first.size == 4
    np.testing.assert_array_equal(first[rows], columns[0])
    np.testing.assert_array_equal(second[rows], columns[1])


def test_gradient_matches_finite_differences() -> None:
    rng = np.random.default_rng(1)
    x = rng.integers(0, 30, 50).astype(float)
    T = rng.uniform(1, 100, 50)
    t_x = np.where(x > 0, rng.uniform(0, 1, 50) * T, 0.0)
    log_params = np.log([0.7, 12.0, 1.3, 2.2])
    _, grad = bgnbd._log_likelihood_terms(log_params, x, t_x, T, with_gradient=True)
    for i in range(4):
        step = np.zeros(4)
        step[i] = 1e-6
        up, _ = bgnbd._log_likelihood_terms(log_params + step, x, t_x, T, with_gradient=False)
        down, _ = bgnbd._log_likelihood_terms(log_params - step, x, t_x, T, with_gradient=False)
        np.testing.assert_allclose(grad[:, i], (up - down) / 2e-6, rtol=1e-5, atol=1e-7)


def test_log_likelihood_is_finite_for_heavy_and_old_customers() -> None:
    params = BGNBDParams(0.243, 4.414, 0.793, 2.426)
    x = np.array([0, 1, 500, 500, 5000, 20000])
    t_x = np.array([0, 5000, 4999, 10, 5000, 1e5])
    T = np.array([5000, 5000, 5000, 5000, 5000, 1e5])
    ll = log_likelihood(params, x, t_x, T)
    assert np.all(np.isfinite(ll))
    mp = pytest.importorskip("mpmath")
    with mp.workdps(50):
        r, alpha, a, b = (mp.mpf(v) for v in (params.r, params.alpha, params.a, params.b))
        for i in range(x.size):
            xi, txi, Ti = int(x[i]), mp.mpf(t_x[i]), mp.mpf(T[i])
            common = mp.gamma(r + xi) * alpha**r / mp.gamma(r)
            likelihood = mp.beta(a, b + xi) / mp.beta(a, b) * common / (alpha + Ti) ** (r + xi)
            if xi > 0:
                likelihood += mp.beta(a + 1, b + xi - 1) / mp.beta(a, b) * common / (alpha + txi) ** (r + xi)
            assert ll[i] == pytest.approx(float(mp.log(likelihood)), rel=1e-10)


def test_fit_survives_extreme_customers(cdnow_summary: pd.DataFrame) -> None:
    extreme = pd.DataFrame({"frequency": [500, 300, 0], "recency": [4999.0, 10.0, 0.0], "T": [5000.0] * 3})
    data = pd.concat([cdnow_summary, extreme])
    fit = fit_bgnbd(data["frequency"], data["recency"], data["T"])
    assert fit.converged
    assert np.isfinite(fit.log_likelihood)


def test_probability_alive_is_one_without_repeat_purchases() -> None:
    T = np.array([0.5, 10.0, 100.0, 5000.0])
    np.testing.assert_array_equal(probability_alive(CDNOW, 0, 0, T), np.ones(4))


def test_probability_alive_rises_with_recency_and_falls_with_age() -> None:
    recency = np.linspace(0.0, 40.0, 41)
    alive = probability_alive(CDNOW, 3, recency, 40.0)
    assert np.all(np.diff(alive) > 0)
    assert alive[-1] == pytest.approx(
        1 / (1 + CDNOW.a / (CDNOW.b + 2))
    )  # t_x = T: no time since last purchase
    ages = np.linspace(10.0, 500.0, 50)
    assert np.all(np.diff(probability_alive(CDNOW, 3, 10.0, ages)) < 0)


def test_probability_alive_at_extremes_is_a_probability() -> None:
    alive = probability_alive(CDNOW, [500, 500, 5000], [10.0, 4999.0, 5000.0], 5000.0)
    assert np.all((alive >= 0) & (alive <= 1))
    assert alive[0] < 1e-100  # 500 purchases long ago: gone
    assert alive[1] > 0.99  # 500 purchases, the last one yesterday: alive


def _reference_expectation(params: BGNBDParams, t: float, x: int, t_x: float, T: float) -> float:
    """Eq. (10) in 50-digit arithmetic (mpmath), straight from the paper."""
    mp = pytest.importorskip("mpmath")
    with mp.workdps(50):
        r, alpha, a, b = (mp.mpf(v) for v in (params.r, params.alpha, params.a, params.b))
        t, t_x, T = mp.mpf(t), mp.mpf(t_x), mp.mpf(T)
        hyp = mp.hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))
        numerator = (a + b + x - 1) / (a - 1) * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp)
        denominator = 1 + (a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x) if x > 0 else 0)
        return float(numerator / denominator)


CASES = [
    (39.0, 0, 0.0, 38.86),
    (39.0, 2, 30.43, 38.86),
    (39.0, 7, 29.43, 38.86),
    (1.0, 1, 1.0, 1.0),
    (1e-3, 3, 20.0, 30.0),
    (500.0, 500, 4999.0, 5000.0),  # heavy and recent: 2F1 of eq. (10) overflows without the transformation
    (500.0, 500, 100.0, 5000.0),
    (5000.0, 50, 4000.0, 5000.0),
    (1e5, 0, 0.0, 0.0),  # a new customer, very far ahead (z close to 1)
    (1e5, 20, 30.0, 40.0),
]


@pytest.mark.parametrize(
    "params", [CDNOW, BGNBDParams(2.0, 15.0, 3.5, 0.4), BGNBDParams(0.05, 0.5, 0.2, 8.0)]
)
@pytest.mark.parametrize(("t", "x", "t_x", "T"), CASES)
def test_conditional_expectation_matches_high_precision_reference(
    params: BGNBDParams, t: float, x: int, t_x: float, T: float
) -> None:
    value = conditional_expected_purchases(params, t, x, t_x, T)
    assert np.isfinite(value) and value >= 0
    assert value == pytest.approx(_reference_expectation(params, t, x, t_x, T), rel=1e-7, abs=1e-300)


def test_conditional_expectation_is_finite_and_non_negative_at_extremes() -> None:
    rng = np.random.default_rng(7)
    n = 5000
    x = rng.choice([0, 1, 10, 500, 5000, 100000], n).astype(float)
    T = 10 ** rng.uniform(-2, 5, n)
    t_x = np.where(x > 0, rng.uniform(0, 1, n) * T, 0.0)
    t = 10 ** rng.uniform(-4, 6, n)
    for params in (CDNOW, BGNBDParams(30.0, 0.01, 0.05, 50.0), BGNBDParams(0.01, 1e4, 20.0, 0.05)):
        expected = conditional_expected_purchases(params, t, x, t_x, T)
        assert np.all(np.isfinite(expected)) and np.all(expected >= 0)


def test_conditional_expectation_grows_with_the_horizon() -> None:
    horizons = np.array([0.0, 1.0, 10.0, 100.0, 1000.0])
    expected = conditional_expected_purchases(CDNOW, horizons, 4, 30.0, 38.0)
    assert expected[0] == 0.0
    assert np.all(np.diff(expected) > 0)


def test_quadrature_fallback_agrees_with_the_hypergeometric_path() -> None:
    params = BGNBDParams(0.243, 4.414, 0.793, 2.426)
    t = np.array([1.0, 39.0, 39.0, 200.0, 39.0])
    x = np.array([0.0, 0.0, 2.0, 10.0, 500.0])
    T = np.array([38.86, 38.86, 38.86, 60.0, 5000.0])
    exact = bgnbd._bracket_hyp2f1(params, t, x, T)
    quadrature = bgnbd._bracket_quadrature(params, t, x, T)
    np.testing.assert_allclose(quadrature, exact, rtol=1e-4)


def test_fallback_is_used_where_the_hypergeometric_function_is_undefined() -> None:
    # a + b < 1 makes 2F1's c = a + b + x - 1 negative for x = 0: the quadrature answers instead.
    params = BGNBDParams(0.5, 2.0, 0.3, 0.4)
    value = conditional_expected_purchases(params, [1.0, 10.0], 0, 0.0, 5.0)
    assert np.all(np.isfinite(value)) and np.all(np.diff(value) > 0)
    assert value[0] == pytest.approx(_reference_expectation(params, 1.0, 0, 0.0, 5.0), rel=1e-3)


@pytest.mark.parametrize("a_scale", [1e4, 1e10])
def test_huge_beta_parameters_fall_back_to_quadrature(a_scale: float) -> None:
    # A fit with no heterogeneity in the dropout probability drives a and b to infinity (p = a/(a+b) fixed);
    # scipy's hyp2f1 gives up there and the quadrature on the Beta quantiles answers.
    params = BGNBDParams(0.5, 2.0, a_scale, 2 * a_scale)
    value = conditional_expected_purchases(params, [39.0, 21.0], [0, 1], [0.0, 1.0], [38.86, 8.0])
    reference = [
        _reference_expectation(params, 39.0, 0, 0.0, 38.86),
        _reference_expectation(params, 21.0, 1, 1.0, 8.0),
    ]
    np.testing.assert_allclose(value, reference, rtol=1e-6)


def test_removable_singularity_at_a_equal_one() -> None:
    near = [BGNBDParams(0.3, 5.0, a, 2.0) for a in (1 - 1e-3, 1 - 1e-6, 1.0, 1 + 1e-6, 1 + 1e-3)]
    values = np.array([conditional_expected_purchases(p, 30.0, 3, 20.0, 40.0) for p in near])
    assert np.all(np.isfinite(values))
    np.testing.assert_allclose(values, values[2], rtol=5e-3)
    np.testing.assert_allclose(values[1:4], values[2], rtol=1e-6)


def test_new_customer_expectation_is_eq_9() -> None:
    t = np.array([0.0, 1.0, 39.0, 78.0])
    values = expected_purchases_new_customer(CDNOW, t)
    assert values[0] == 0.0
    for horizon, value in zip(t[1:], values[1:], strict=True):
        assert value == pytest.approx(_reference_expectation(CDNOW, horizon, 0, 0.0, 0.0), rel=1e-8)
    # With a > 1 the limit is the expected number of repeat purchases before dropping out:
    # E[1/p] = (a+b-1)/(a-1).
    assert expected_purchases_new_customer(BGNBDParams(1.0, 1.0, 2.0, 3.0), 1e12) == pytest.approx(
        4.0, rel=1e-3
    )


def test_expected_cumulative_purchases_adds_cohorts() -> None:
    offsets = np.array([0.0, 0.0, 5.0])
    total = expected_cumulative_purchases(CDNOW, [3.0, 10.0], offsets)
    expected_10 = 2 * expected_purchases_new_customer(CDNOW, 10.0) + expected_purchases_new_customer(
        CDNOW, 5.0
    )
    np.testing.assert_allclose(total, [2 * expected_purchases_new_customer(CDNOW, 3.0), expected_10])


def test_fit_recovers_simulated_parameters() -> None:
    truth = BGNBDParams(r=0.4, alpha=20.0, a=0.9, b=3.0)
    log = simulate_transactions(20_000, truth, SPEND, observation_days=730, acquisition_days=365, seed=3)
    summary = rfm_summary(log, unit="D", as_of=simulation_as_of(observation_days=730))
    fit = fit_bgnbd(summary["frequency"], summary["recency"], summary["T"])
    assert fit.converged
    for name, true_value in truth.to_dict().items():
        estimate = getattr(fit.params, name)
        # Within 3 standard errors, plus 5% for the rounding of purchase times to days.
        assert abs(estimate - true_value) < 3 * fit.std_errors[name] + 0.05 * true_value, name


def _simulated_fit(params: BGNBDParams, people: int, seed: int) -> bgnbd.BGNBDFit:
    summary = rfm_summary(simulate_transactions(people, params, SPEND, seed=seed), as_of=simulation_as_of())
    return fit_bgnbd(summary["frequency"], summary["recency"], summary["T"])


def test_a_line_search_stopped_at_the_optimum_is_converged() -> None:
    """L-BFGS-B ends ABNORMAL on this sample (as on the 100k-order sandbox) with the fit at the optimum:
    the make run log said "did not converge" of a good fit. Close to CDNOW's parameters, as it should be."""
    fit = _simulated_fit(BGNBDParams(r=0.25, alpha=4.0, a=0.8, b=2.5), 1000, seed=13)
    assert fit.converged and "Newton step" in fit.message, fit.message
    assert fit.params.r == pytest.approx(0.25, rel=0.15) and fit.params.a == pytest.approx(0.8, rel=0.15)


def test_a_fit_running_away_along_a_ridge_is_not_converged() -> None:
    """Few repeat buyers: a and b grow without bound at a fixed ratio. The line search stops there too."""
    fit = _simulated_fit(BGNBDParams(r=0.14, alpha=52.0, a=1.47, b=2.53), 1000, seed=26)
    assert not fit.converged, fit.message
    assert fit.params.a > 1e5 and fit.params.b > 1e5
