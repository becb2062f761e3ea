"""The Gamma-Gamma spend model of Fader, Hardie & Lee (2005), "RFM and CLV: using iso-value curves for
customer base analysis", Journal of Marketing Research 42(4), 415-430 (section "Adding monetary value"),
after Colombo & Jiang (1999).

A person's transaction values are z ~ Gamma(p, nu) with nu ~ Gamma(q, gamma) across people, independent of the
purchase process. Given x repeat purchases with mean value zbar:

* density of zbar (the likelihood, their eq. 4 / appendix):
      f(zbar | p, q, gamma, x) = Gamma(px+q) / (Gamma(px) Gamma(q))
                                 * gamma^q zbar^(px-1) x^px / (gamma + x zbar)^(px+q)
* conditional expected average spend:
      E(M | p, q, gamma, x, zbar) = (q-1)/(px+q-1) * p gamma/(q-1) + px/(px+q-1) * zbar
                                  = p (gamma + x zbar) / (px+q-1),
  a weighted mean of the population mean p gamma/(q-1) and the person's own mean, which for x = 0 is the
  population mean.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import special

from clv._mle import TotalFunction, compress, dot, maximise

ArrayLike = np.ndarray | float | int | list


@dataclass(frozen=True)
class GammaGammaParams:
    """Gamma-Gamma parameters: spend ~ Gamma(shape p, rate nu) per purchase; nu ~ Gamma(q, rate gamma)."""

    p: float
    q: float
    gamma: float

    def as_array(self) -> np.ndarray:
        return np.array([self.p, self.q, self.gamma], dtype=np.float64)

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class GammaGammaFit:
    """The result of :func:`fit_gamma_gamma` (``n_people`` counts the repeat buyers it was fitted on).

    ``spend_frequency_correlation`` is the Pearson correlation between x and zbar among them: the model
    assumes spend is independent of frequency, so it should be close to 0.
    """

    params: GammaGammaParams
    log_likelihood: float
    n_people: int
    converged: bool
    n_iterations: int
    message: str
    spend_frequency_correlation: float = float("nan")
    std_errors: dict[str, float] = field(default_factory=dict)


def _terms(
    log_params: np.ndarray, x: np.ndarray, m: np.ndarray, with_gradient: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-person log-density of zbar and, optionally, its gradient w.r.t. the log-parameters."""
    p, q, gamma = np.exp(log_params)
    px = p * x
    log_denominator = np.log(gamma + x * m)
    ll = (
        special.gammaln(px + q)
        - special.gammaln(px)
        - special.gammaln(q)
        + q * np.log(gamma)
        + (px - 1.0) * np.log(m)
        + px * np.log(x)
        - (px + q) * log_denominator
    )
    if not with_gradient:
        return ll, None
    psi_pxq = special.digamma(px + q)
    d_p = x * (psi_pxq - special.digamma(px) + np.log(m) + np.log(x) - log_denominator)
    d_q = psi_pxq - special.digamma(q) + np.log(gamma) - log_denominator
    d_gamma = q / gamma - (px + q) / (gamma + x * m)
    return ll, np.stack([d_p * p, d_q * q, d_gamma * gamma], axis=-1)


def _total_log_likelihood(x: np.ndarray, m: np.ndarray, w: np.ndarray) -> TotalFunction:
    """The weighted total of :func:`_terms` and its gradient w.r.t. the log-parameters, for the optimiser.

    The gamma functions depend on x alone and are evaluated once per distinct x; the terms that do not depend
    on the parameters are summed once; per row there is only ln(gamma + x zbar) left.
    """
    total_weight = float(w.sum())
    ux, ix = np.unique(x, return_inverse=True)
    wx = np.bincount(ix, weights=w, minlength=ux.size)
    wx_x = wx * ux
    xm = x * m
    wxr = w * x
    log_m = np.log(m)
    own = dot(wxr, log_m + np.log(x))  # sum of w x (ln zbar + ln x)
    sum_log_m = dot(w, log_m)

    def total(log_params: np.ndarray) -> tuple[float, np.ndarray]:
        p, q, gamma = np.exp(log_params)
        pux = p * ux
        log_denominator = np.log(gamma + xm)
        sum_log = dot(w, log_denominator)
        sum_x_log = dot(wxr, log_denominator)
        log_gamma = np.log(gamma)
        ll = (
            dot(wx, special.gammaln(pux + q) - special.gammaln(pux))
            + total_weight * (q * log_gamma - special.gammaln(q))
            + p * own
            - sum_log_m
            - p * sum_x_log
            - q * sum_log
        )
        psi_pxq = special.digamma(pux + q)
        d_p = dot(wx_x, psi_pxq - special.digamma(pux)) + own - sum_x_log
        d_q = dot(wx, psi_pxq) - total_weight * (special.digamma(q) - log_gamma) - sum_log
        inverse = 1.0 / (gamma + xm)
        d_gamma = total_weight * q / gamma - p * dot(wxr, inverse) - q * dot(w, inverse)
        return float(ll), np.array([d_p * p, d_q * q, d_gamma * gamma])

    return total


def _repeat_buyers(
    frequency: ArrayLike, monetary_value: ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, zbar) of the repeat buyers with positive spend, and the mask that selects them."""
    x, m = (np.asarray(v, dtype=np.float64).ravel() for v in np.broadcast_arrays(frequency, monetary_value))
    keep = (x > 0) & (m > 0)
    return x[keep], m[keep], keep


def log_likelihood(params: GammaGammaParams, frequency: ArrayLike, monetary_value: ArrayLike) -> np.ndarray:
    """Per-person log-density of the mean repeat spend (repeat buyers with positive spend only)."""
    x, m, _ = _repeat_buyers(frequency, monetary_value)
    ll, _ = _terms(np.log(params.as_array()), x, m, with_gradient=False)
    return ll


def fit_gamma_gamma(
    frequency: ArrayLike,
    monetary_value: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    initial: GammaGammaParams | None = None,
    max_iterations: int = 2000,
) -> GammaGammaFit:
    """Fit (p, q, gamma) by maximum likelihood on the repeat buyers (x > 0 and monetary_value > 0).

    L-BFGS-B on the log-parameters with the analytic gradient, on the distinct (x, zbar) rows with their
    counts as weights; people with x = 0 carry no information about spend and are dropped (as in Fader,
    Hardie & Lee 2005b, who fit on the 946 CDNOW repeat buyers).
    """
    x, m, keep = _repeat_buyers(frequency, monetary_value)
    if x.size < 2:
        raise ValueError("the Gamma-Gamma model needs at least two repeat buyers with positive spend")
    w = (
        np.ones(keep.size)
        if weights is None
        else np.broadcast_to(np.asarray(weights, dtype=np.float64), keep.shape)
    )
    w = np.ascontiguousarray(w[keep])
    if initial is None:
        # p = 1, q = 2 puts the population mean p gamma / (q - 1) at gamma: start it at the observed mean.
        start = np.log([1.0, 2.0, float(np.average(m, weights=w))])
    else:
        start = np.log(initial.as_array())
    (x_u, m_u), w_u = compress(x, m, weights=w)
    result = maximise(_total_log_likelihood(x_u, m_u, w_u), float(w_u.sum()), start, max_iterations)
    correlation = float(np.corrcoef(x, m)[0, 1]) if np.ptp(x) > 0 and np.ptp(m) > 0 else float("nan")
    return GammaGammaFit(
        params=GammaGammaParams(*result.params.tolist()),
        log_likelihood=result.log_likelihood,
        n_people=int(x.size),
        converged=result.converged,
        n_iterations=result.n_iterations,
        message=result.message,
        spend_frequency_correlation=correlation,
        std_errors=dict(zip(["p", "q", "gamma"], result.std_errors.tolist(), strict=True)),
    )


def population_mean_spend(params: GammaGammaParams) -> float:
    """E(Z) = p gamma / (q - 1), the mean transaction value across people (infinite when q <= 1)."""
    if params.q <= 1.0:
        return float("inf")
    return params.p * params.gamma / (params.q - 1.0)


def conditional_expected_spend(
    params: GammaGammaParams, frequency: ArrayLike, monetary_value: ArrayLike
) -> np.ndarray:
    """E(M | p, q, gamma, x, zbar) = p (gamma + x zbar) / (p x + q - 1): expected mean value of future spend.

    For x = 0 it is the population mean p gamma / (q - 1) (whatever monetary_value says). Requires q > 1.
    """
    if params.q <= 1.0:
        raise ValueError(f"the expected spend is infinite when q <= 1 (q = {params.q:.4g})")
    x, m = (np.asarray(v, dtype=np.float64) for v in np.broadcast_arrays(frequency, monetary_value))
    m = np.where(x > 0, m, 0.0)
    return params.p * (params.gamma + x * m) / (params.p * x + params.q - 1.0)
