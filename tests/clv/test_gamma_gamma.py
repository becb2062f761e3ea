"""Gamma-Gamma: the published CDNOW fit, expected spend, the likelihood's gradient and the discounted CLV."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clv import _mle, gamma_gamma
from clv.bgnbd import BGNBDParams, conditional_expected_purchases
from clv.gamma_gamma import (
    GammaGammaParams,
    conditional_expected_spend,
    fit_gamma_gamma,
    log_likelihood,
    population_mean_spend,
)
from clv.lifetime_value import customer_lifetime_value, expected_purchases_by_month
from clv.simulate import simulate_transactions, simulation_as_of
from clv.summary import rfm_summary

CDNOW_BGNBD = BGNBDParams(r=0.243, alpha=4.414, a=0.793, b=2.426)
CDNOW_GG = GammaGammaParams(p=6.25, q=3.74, gamma=15.44)


def test_cdnow_fit_from_raw_transactions_reproduces_the_paper(cdnow_transactions: pd.DataFrame) -> None:
    # Fader, Hardie & Lee (2005b) fit the 946 repeat buyers' exact mean repeat spend: p, q, gamma =
    # 6.25, 3.74, 15.44.
    summary = rfm_summary(cdnow_transactions, unit="W", as_of="1997-09-30")
    fit = fit_gamma_gamma(summary["frequency"], summary["monetary_value"])
    assert fit.converged, fit.message
    assert fit.n_people == 946
    assert (round(fit.params.p, 2), round(fit.params.q, 2), round(fit.params.gamma, 2)) == (6.25, 3.74, 15.44)
    assert abs(fit.spend_frequency_correlation) < 0.2  # the model's independence assumption roughly holds


def test_cdnow_fit_from_the_shipped_summary(cdnow_summary_with_spend: pd.DataFrame) -> None:
    # lifetimes' documented example fits the shipped file, whose zbar is rounded to cents: gamma moves to
    # 15.448 (lifetimes prints 15.45); p and q agree with the paper to 2 decimals.
    fit = fit_gamma_gamma(cdnow_summary_with_spend["x"], cdnow_summary_with_spend["zbar"])
    assert fit.n_people == 946
    assert (round(fit.params.p, 2), round(fit.params.q, 2)) == (6.25, 3.74)
    assert fit.params.gamma == pytest.approx(15.44, abs=0.01)


def test_gradient_matches_finite_differences() -> None:
    rng = np.random.default_rng(2)
    x = rng.integers(1, 40, 60).astype(float)
    m = rng.gamma(3.0, 10.0, 60)
    log_params = np.log([4.0, 3.0, 20.0])
    _, grad = gamma_gamma._terms(log_params, x, m, with_gradient=True)
    for i in range(3):
        step = np.zeros(3)
        step[i] = 1e-6
        up, _ = gamma_gamma._terms(log_params + step, x, m, with_gradient=False)
        down, _ = gamma_gamma._terms(log_params - step, x, m, with_gradient=False)
        np.testing.assert_allclose(grad[:, i], (up - down) / 2e-6, rtol=1e-5, atol=1e-7)


def test_grouped_likelihood_equals_the_sum_of_the_per_person_terms() -> None:
    rng = np.random.default_rng(5)
    x = rng.choice([1.0, 1.0, 2.0, 3.0, 50.0, 4000.0], 300)
    m = np.round(rng.gamma(2.0, 20.0, 300), 2) + 0.01
    w = rng.integers(1, 4, 300).astype(float)
    total = gamma_gamma._total_log_likelihood(x, m, w)
    reference = _mle.weighted(lambda lp: gamma_gamma._terms(lp, x, m, with_gradient=True), w)
    for params in ([6.25, 3.74, 15.44], [0.05, 30.0, 0.2], [80.0, 1.5, 1e4]):
        ll, grad = total(np.log(params))
        ll_ref, grad_ref = reference(np.log(params))
        assert ll == pytest.approx(ll_ref, rel=1e-12)
        np.testing.assert_allclose(grad, grad_ref, rtol=1e-9, atol=1e-9 * np.abs(grad_ref).max())


def test_distinct_row_fit_equals_the_per_person_fit() -> None:
    log = simulate_transactions(
        30_000, BGNBDParams(0.25, 300.0, 0.8, 2.5), GammaGammaParams(6.0, 4.0, 15.0), seed=8
    )
    summary = rfm_summary(log, unit="D", as_of=simulation_as_of(observation_days=730))
    repeat = summary[summary["frequency"] > 0]
    x, m = repeat["frequency"].to_numpy(np.float64), repeat["monetary_value"].to_numpy()
    # The reference: the density person by person, maximised from fit_gamma_gamma's starting point.
    people = np.ones(x.size)
    per_person = _mle.maximise(
        _mle.weighted(lambda lp: gamma_gamma._terms(lp, x, m, with_gradient=True), people),
        float(x.size),
        np.log([1.0, 2.0, m.mean()]),
    )
    fit = fit_gamma_gamma(summary["frequency"], summary["monetary_value"])
    assert fit.converged and per_person.converged and fit.n_people == x.size
    np.testing.assert_allclose(fit.params.as_array(), per_person.params, rtol=1e-6)
    assert fit.log_likelihood == pytest.approx(per_person.log_likelihood, rel=1e-12)
    # Already grouped rows with their counts as weights: the same fit.
    grouped = repeat.groupby(["frequency", "monetary_value"]).size().reset_index(name="count")
    weighted = fit_gamma_gamma(grouped["frequency"], grouped["monetary_value"], weights=grouped["count"])
    assert len(grouped) < x.size
    np.testing.assert_allclose(weighted.params.as_array(), per_person.params, rtol=1e-6)


def test_log_likelihood_is_a_density_of_the_mean_spend() -> None:
    # For x = 1 the mean spend is one transaction value: a Gamma(p, nu), nu ~ Gamma(q, gamma) compound, whose
    # density integrates to 1.
    grid = np.linspace(1e-6, 2000.0, 400_001)
    density = np.exp(log_likelihood(CDNOW_GG, 1, grid))
    assert np.trapezoid(density, grid) == pytest.approx(1.0, abs=1e-3)
    assert np.all(np.isfinite(log_likelihood(CDNOW_GG, [1, 1000, 100000], [1e-3, 35.0, 1e6])))


def test_expected_spend_shrinks_towards_the_population_mean() -> None:
    population = population_mean_spend(CDNOW_GG)
    assert population == pytest.approx(6.25 * 15.44 / 2.74)
    spend = conditional_expected_spend(CDNOW_GG, [0, 0, 1, 10, 1000], [0.0, 99.0, 100.0, 100.0, 100.0])
    assert spend[0] == spend[1] == pytest.approx(population)  # x = 0: the population mean, whatever zbar says
    assert population < spend[2] < spend[3] < spend[4] < 100.0  # more purchases: closer to the own mean
    assert spend[4] == pytest.approx(100.0, rel=1e-2)
    # The weighted-mean form of the paper.
    x, zbar, p, q = 10, 100.0, CDNOW_GG.p, CDNOW_GG.q
    assert spend[3] == pytest.approx((q - 1) / (p * x + q - 1) * population + p * x / (p * x + q - 1) * zbar)


def test_expected_spend_needs_q_above_one() -> None:
    with pytest.raises(ValueError, match="q"):
        conditional_expected_spend(GammaGammaParams(1.0, 0.9, 1.0), 1, 10.0)
    assert population_mean_spend(GammaGammaParams(1.0, 0.9, 1.0)) == float("inf")


def test_fit_needs_repeat_buyers() -> None:
    with pytest.raises(ValueError, match="repeat buyers"):
        fit_gamma_gamma([0, 0, 1], [0.0, 0.0, 5.0])


def test_clv_follows_the_lifetimes_recipe() -> None:
    x, t_x, T, m = (
        np.array([0, 2, 7]),
        np.array([0.0, 30.43, 29.43]),
        np.array([38.86] * 3),
        np.array([0, 22.35, 73.74]),
    )
    clv = customer_lifetime_value(
        CDNOW_BGNBD, CDNOW_GG, x, t_x, T, m, months=12, monthly_discount_rate=0.01, unit="W"
    )
    # The loop lifetimes runs: per month, E[Y(i*4.345)] - E[Y((i-1)*4.345)], times spend, discounted.
    spend = conditional_expected_spend(CDNOW_GG, x, m)
    expected = np.zeros(3)
    for i in range(1, 13):
        now = conditional_expected_purchases(CDNOW_BGNBD, i * 4.345, x, t_x, T)
        before = conditional_expected_purchases(CDNOW_BGNBD, (i - 1) * 4.345, x, t_x, T)
        expected += spend * (now - before) / 1.01**i
    np.testing.assert_allclose(clv, expected, rtol=1e-12)
    assert np.all(clv > 0)


def test_clv_horizon_and_discount() -> None:
    args = (CDNOW_BGNBD, CDNOW_GG, 3, 20.0, 38.0, 40.0)
    undiscounted = customer_lifetime_value(*args, months=6, monthly_discount_rate=0.0, unit="W")
    purchases = conditional_expected_purchases(CDNOW_BGNBD, 6 * 4.345, 3, 20.0, 38.0)
    assert undiscounted == pytest.approx(conditional_expected_spend(CDNOW_GG, 3, 40.0) * purchases)
    horizons = [customer_lifetime_value(*args, months=k, unit="W") for k in (1, 6, 12, 24)]
    assert np.all(np.diff(np.ravel(horizons)) > 0)
    rates = [
        customer_lifetime_value(*args, months=12, monthly_discount_rate=d, unit="W") for d in (0, 0.01, 0.1)
    ]
    assert np.all(np.diff(np.ravel(rates)) < 0)
    daily = customer_lifetime_value(*args, months=12, unit="W", periods_per_month=30 / 7)
    assert daily != customer_lifetime_value(*args, months=12, unit="W")
    by_month = expected_purchases_by_month(CDNOW_BGNBD, 3, 20.0, 38.0, months=12, unit="W")
    assert by_month.shape == (1, 12) and np.all(by_month > 0)


def test_fit_recovers_simulated_parameters() -> None:
    truth = GammaGammaParams(p=6.0, q=4.0, gamma=15.0)
    log = simulate_transactions(
        20_000, BGNBDParams(0.5, 20.0, 0.8, 2.5), truth, observation_days=730, seed=11
    )
    summary = rfm_summary(log, unit="D", as_of=simulation_as_of(observation_days=730))
    fit = fit_gamma_gamma(summary["frequency"], summary["monetary_value"])
    assert fit.converged
    for name, true_value in truth.to_dict().items():
        # Within 3 standard errors, plus 2% for same-day purchases that the summary adds together.
        assert abs(getattr(fit.params, name) - true_value) < 3 * fit.std_errors[name] + 0.02 * true_value, (
            name
        )
