"""The BG/NBD model of Fader, Hardie & Lee (2005), "Counting your customers the easy way: an alternative to
the Pareto/NBD model", Marketing Science 24(2), 275-284 (with the equation numbers of that paper).

While active, a person buys at Poisson rate lambda ~ Gamma(r, alpha); after each repeat purchase they drop out
with probability p ~ Beta(a, b). From a person's frequency x, recency t_x and age T the module gives

* the likelihood, eq. (6), evaluated in log-space (gammaln/betaln/logsumexp), and its ML fit
  (:func:`fit_bgnbd`);
* the conditional expected number of purchases in the next t periods, eq. (10)
  (:func:`conditional_expected_purchases`), the product of P(alive) and the expected purchases of a person
  still alive, which depend on (t, x, T) only (:func:`expected_purchases_if_alive`);
* P(alive | x, t_x, T), from Fader, Hardie & Lee (2008), "Computing P(alive) using the BG/NBD model"
  (:func:`probability_alive`);
* the expected number of purchases in (0, t] of a new customer, eq. (9)
  (:func:`expected_purchases_new_customer`).

Numerics of eq. (10). It contains 2F1(r+x, b+x; a+b+x-1; z) with z = t/(alpha+T+t), which overflows for big x.
Euler's transformation 2F1(A, B; C; z) = (1-z)^(C-A-B) 2F1(C-A, C-B; C; z) turns the bracket of eq. (10) into

    1 - (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z),

whose 2F1 has parameters that do not grow with x and stays of moderate size (lifetimes uses the same identity
as a fallback). It is positive whenever a+b+x-1 > 0, since it equals (1-z)^(-(C-A-B)) times a 2F1 with
positive parameters, so the bracket is evaluated in log-space. Rows where scipy's hyp2f1 still fails
(non-finite, or a+b+x-1 <= 0, or huge a and b) fall back to a quadrature of the equivalent integral

    E[Y(t) | x, t_x, T] = P(alive) * E_p[(1 - ((alpha+T)/(alpha+T+p t))^(r+x)) / p],  p ~ Beta(a, b+x),

which follows from lambda | alive ~ Gamma(r+x, alpha+T) and p | alive ~ Beta(a, b+x). At a = 1 eq. (10) is
0/0; there the value is interpolated between a = 1 -/+ 1e-4.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import special

from clv._mle import TotalFunction, compress, distinct_rows, dot, maximise

ArrayLike = np.ndarray | float | int | list

_A_SINGULAR_HALF_WIDTH = 1e-4
_QUADRATURE_NODES = 256


@dataclass(frozen=True)
class BGNBDParams:
    """BG/NBD parameters: lambda ~ Gamma(shape r, rate alpha), p ~ Beta(a, b); alpha in the summary's unit."""

    r: float
    alpha: float
    a: float
    b: float

    def as_array(self) -> np.ndarray:
        return np.array([self.r, self.alpha, self.a, self.b], dtype=np.float64)

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class BGNBDFit:
    """The result of :func:`fit_bgnbd`.

    ``log_likelihood`` is the total (weighted) log-likelihood of eq. (6) at ``params``; ``std_errors`` are
    asymptotic standard errors of the parameters from the inverse Hessian (NaN unless positive definite).
    """

    params: BGNBDParams
    log_likelihood: float
    n_people: int
    converged: bool
    n_iterations: int
    message: str
    std_errors: dict[str, float] = field(default_factory=dict)


def _as_arrays(*values: ArrayLike) -> list[np.ndarray]:
    return [np.asarray(v, dtype=np.float64) for v in np.broadcast_arrays(*values)]


def _log_likelihood_terms(
    log_params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, with_gradient: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-person log-likelihood of eq. (6) and, optionally, its gradient w.r.t. the log-parameters.

    ln L = ln Gamma(r+x) - ln Gamma(r) + r ln alpha
           + ln[ B(a, b+x)/B(a, b) (alpha+T)^-(r+x) + [x>0] B(a+1, b+x-1)/B(a, b) (alpha+t_x)^-(r+x) ]
    """
    r, alpha, a, b = np.exp(log_params)
    repeat = x > 0
    log_alpha_T = np.log(alpha + T)
    log_alpha_tx = np.log(alpha + t_x)
    beta_ab = special.betaln(a, b)
    a1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    a2 = special.betaln(a, b + x) - beta_ab - (r + x) * log_alpha_T
    b_shift = np.where(repeat, b + x - 1.0, 1.0)  # keeps betaln's argument positive where the term is unused
    a3 = np.where(repeat, special.betaln(a + 1.0, b_shift) - beta_ab - (r + x) * log_alpha_tx, -np.inf)
    log_sum = np.logaddexp(a2, a3)
    ll = a1 + log_sum
    if not with_gradient:
        return ll, None

    w2 = np.exp(a2 - log_sum)
    w3 = np.where(repeat, np.exp(a3 - log_sum), 0.0)
    psi_abx = special.digamma(a + b + x)
    d_beta_ab_da = special.digamma(a) - special.digamma(a + b)
    d_beta_ab_db = special.digamma(b) - special.digamma(a + b)
    d_r = special.digamma(r + x) - special.digamma(r) + np.log(alpha) - w2 * log_alpha_T - w3 * log_alpha_tx
    d_alpha = r / alpha - w2 * (r + x) / (alpha + T) - w3 * (r + x) / (alpha + t_x)
    d_a = w2 * (special.digamma(a) - psi_abx) + w3 * (special.digamma(a + 1.0) - psi_abx) - d_beta_ab_da
    d_b = (
        w2 * (special.digamma(b + x) - psi_abx)
        + w3 * np.where(repeat, special.digamma(b_shift) - psi_abx, 0.0)
        - d_beta_ab_db
    )
    # Chain rule to log-parameters: d/d(log theta) = theta * d/d theta.
    grad = np.stack([d_r * r, d_alpha * alpha, d_a * a, d_b * b], axis=-1)
    return ll, grad


def log_likelihood(params: BGNBDParams, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> np.ndarray:
    """Per-person BG/NBD log-likelihood, eq. (6) of Fader, Hardie & Lee (2005), computed in log-space."""
    x, t_x, age = _as_arrays(frequency, recency, T)
    ll, _ = _log_likelihood_terms(np.log(params.as_array()), x, t_x, age, with_gradient=False)
    return ll


def _softplus_and_expit(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ln(1 + e^d) and 1 / (1 + e^-d), from one exponential (no overflow for any d)."""
    e = np.exp(-np.abs(d))
    softplus = np.maximum(d, 0.0) + np.log1p(e)
    inverse = 1.0 / (1.0 + e)
    return softplus, np.where(d >= 0.0, inverse, e * inverse)


def _total_log_likelihood(x: np.ndarray, t_x: np.ndarray, T: np.ndarray, w: np.ndarray) -> TotalFunction:
    """The weighted total of eq. (6) and its gradient w.r.t. the log-parameters, for the optimiser.

    The same sum as ``w @ _log_likelihood_terms(...)[0]``, arranged so that the special functions run once
    per distinct x (a few dozen values) and the logarithms once per distinct T and t_x (a few hundred days)
    instead of once per row:

        ln L = [ln Gamma(r+x) - ln Gamma(r) + ln B(a, b+x) - ln B(a, b)] + r ln alpha - (r+x) ln(alpha+T)
               + [x>0] ln(1 + e^d),   d = ln B(a+1, b+x-1) - ln B(a, b+x) + (r+x) ln((alpha+T)/(alpha+t_x)),

    where 1 / (1 + e^-d), the weight of the (alpha+t_x) term, is the posterior probability of having dropped
    out. Rows with x = 0 depend on T alone; only the repeat buyers' rows need per-row work.
    """
    total_weight = float(w.sum())
    zero = x == 0
    rep = ~zero
    x1, w1 = x[rep], w[rep]
    rep_weight = float(w1.sum())
    ux, ix = np.unique(x1, return_inverse=True)
    wx = np.bincount(ix, weights=w1, minlength=ux.size)  # weight per distinct repeat frequency
    # Per distinct T (every row, for the (alpha+T) terms) and per distinct t_x (repeat buyers).
    uT, iT = np.unique(T, return_inverse=True)
    w_T = np.bincount(iT, weights=w, minlength=uT.size)
    wx_T = np.bincount(iT, weights=w * x, minlength=uT.size)
    iT1 = iT[rep]
    utx, itx = np.unique(t_x[rep], return_inverse=True)

    def total(log_params: np.ndarray) -> tuple[float, np.ndarray]:
        r, alpha, a, b = np.exp(log_params)
        log_alpha = np.log(alpha)
        # Per distinct x >= 1, and the shared constants.
        psi_r, psi_a, psi_b, psi_ab = special.digamma([r, a, b, a + b])
        beta_ab = special.betaln(a, b)
        gamma_x = special.gammaln(r + ux) - special.gammaln(r)
        beta2 = special.betaln(a, b + ux) - beta_ab
        d_const = special.betaln(a + 1.0, b + ux - 1.0) - beta2 - beta_ab
        psi_abx = special.digamma(a + b + ux)
        log_T, inv_T = np.log(alpha + uT), 1.0 / (alpha + uT)
        log_tx, inv_tx = np.log(alpha + utx), 1.0 / (alpha + utx)
        # Every row: r ln alpha - (r+x) ln(alpha+T), plus the x terms.
        sum_log_T = dot(w_T, log_T)
        ll = total_weight * r * log_alpha - r * sum_log_T - dot(wx_T, log_T) + dot(wx, gamma_x + beta2)
        d_r = dot(wx, special.digamma(r + ux) - psi_r) + total_weight * log_alpha - sum_log_T
        d_alpha = total_weight * r / alpha - r * dot(w_T, inv_T) - dot(wx_T, inv_T)
        # Repeat buyers: + ln(1 + e^d).
        gap = log_T[iT1] - log_tx[itx]
        r_x = r + x1
        d = d_const[ix] + r_x * gap
        softplus, dead = _softplus_and_expit(d)
        w_dead = w1 * dead
        ll += dot(w1, softplus)
        d_r += dot(w_dead, gap)
        d_alpha -= dot(w_dead, r_x * (inv_tx[itx] - inv_T[iT1]))
        dead_x = np.bincount(ix, weights=w_dead, minlength=ux.size)
        alive_x = wx - dead_x
        d_a = (
            dot(alive_x, psi_a - psi_abx)
            + dot(dead_x, special.digamma(a + 1.0) - psi_abx)
            - rep_weight * (psi_a - psi_ab)
        )
        d_b = (
            dot(alive_x, special.digamma(b + ux) - psi_abx)
            + dot(dead_x, special.digamma(b + ux - 1.0) - psi_abx)
            - rep_weight * (psi_b - psi_ab)
        )
        return float(ll), np.array([d_r * r, d_alpha * alpha, d_a * a, d_b * b])

    return total


def fit_bgnbd(
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    initial: BGNBDParams | None = None,
    max_iterations: int = 2000,
) -> BGNBDFit:
    """Fit (r, alpha, a, b) by maximum likelihood (eq. 6) with L-BFGS-B on the log-parameters.

    Identical (x, t_x, T) rows are collapsed into weights first (every one-time buyer of the same age is one
    row), and the analytic gradient is used. ``weights`` gives each row a multiplicity (e.g. for an already
    aggregated summary); ``initial`` is the starting point (default: r = a = b = 1 and alpha from the mean
    purchase rate).
    """
    x, t_x, age = _as_arrays(frequency, recency, T)
    x, t_x, age = x.ravel(), t_x.ravel(), age.ravel()
    if x.size == 0:
        raise ValueError("cannot fit the BG/NBD model on no people")
    if np.any(x < 0) or np.any(t_x < 0) or np.any(t_x > age):
        raise ValueError("expected frequency >= 0 and 0 <= recency <= T")
    w = (
        np.ones_like(x)
        if weights is None
        else np.broadcast_to(np.asarray(weights, dtype=np.float64), x.shape)
    )
    (x, t_x, age), w = compress(x, t_x, age, weights=w)
    total = float(w.sum())

    if initial is None:
        rate = max(dot(w, x) / total, 0.1) / max(dot(w, age) / total, 1e-9)
        start = np.log([1.0, 1.0 / rate, 1.0, 1.0])
    else:
        start = np.log(initial.as_array())
    result = maximise(_total_log_likelihood(x, t_x, age, w), total, start, max_iterations)
    return BGNBDFit(
        params=BGNBDParams(*result.params.tolist()),
        log_likelihood=result.log_likelihood,
        n_people=int(round(float(w.sum()))),
        converged=result.converged,
        n_iterations=result.n_iterations,
        message=result.message,
        std_errors=dict(zip(["r", "alpha", "a", "b"], result.std_errors.tolist(), strict=True)),
    )


def _log_odds_dead(params: BGNBDParams, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """ln of [x>0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x), the denominator of eq. (10)."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    repeat = x > 0
    safe_b = np.where(repeat, b + x - 1.0, 1.0)
    value = np.log(a) - np.log(safe_b) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
    return np.where(repeat, value, -np.inf)


def probability_alive(
    params: BGNBDParams, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> np.ndarray:
    """P(alive | x, t_x, T) = 1 / (1 + [x>0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x)).

    From Fader, Hardie & Lee (2008), "Computing P(alive) using the BG/NBD model". Exactly 1 when x = 0;
    computed as a logistic function of the log-odds, so it never overflows.
    """
    x, t_x, age = _as_arrays(frequency, recency, T)
    return special.expit(-_log_odds_dead(params, x, t_x, age))


def _bracket_hyp2f1(params: BGNBDParams, t: np.ndarray, x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """(a+b+x-1)/(a-1) [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z)], Euler-transformed.

    Returns NaN where the hypergeometric function cannot be trusted (the caller then uses the quadrature).
    """
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    c = a + b + x - 1.0
    z = t / (alpha + T + t)
    log_1mz = np.log(alpha + T) - np.log(alpha + T + t)
    with np.errstate(all="ignore"):
        hyp = special.hyp2f1(a + b - 1.0 - r, a - 1.0, c, z)
        ok = np.isfinite(hyp) & (hyp > 0) & (c > 0)
        log_term = (a - 1.0) * log_1mz + np.log(np.where(ok, hyp, 1.0))
        bracket = -np.expm1(log_term)  # 1 - (1-z)^(a-1) 2F1(...)
        value = c / (a - 1.0) * bracket
    return np.where(ok & np.isfinite(value), value, np.nan)


def _beta_nodes(a: float, b: float) -> tuple[np.ndarray, np.ndarray]:
    """Quadrature nodes p_k and normalised weights w_k with sum_k w_k f(p_k) ~ E[f(p)], p ~ Beta(a, b).

    Gauss-Jacobi (exact for polynomials against the Beta kernel) when its weights are representable; for very
    large a or b (where they overflow) Gauss-Legendre on the Beta quantile function, p_k = F^-1(u_k).
    """
    with np.errstate(all="ignore"):
        # Weight (1-u)^(b-1) (1+u)^(a-1) on [-1, 1] with p = (1+u)/2 is the Beta(a, b) kernel.
        nodes, weights = special.roots_jacobi(_QUADRATURE_NODES, b - 1.0, a - 1.0)
        weights = weights / weights.sum()
    if np.all(np.isfinite(weights)) and np.all(np.isfinite(nodes)):
        return (1.0 + nodes) / 2.0, weights
    nodes, weights = np.polynomial.legendre.leggauss(_QUADRATURE_NODES)
    return special.betaincinv(a, b, (1.0 + nodes) / 2.0), weights / weights.sum()


def _bracket_quadrature(params: BGNBDParams, t: np.ndarray, x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """E_p[(1 - ((alpha+T)/(alpha+T+p t))^(r+x)) / p] with p ~ Beta(a, b+x), by quadrature.

    This equals the bracketed factor of eq. (10) (the conditional expectation divided by P(alive)).
    """
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    out = np.empty(x.shape)
    for x_value in np.unique(x):
        rows = x == x_value
        p, weights = _beta_nodes(a, b + x_value)
        p = np.clip(p, np.finfo(float).tiny, 1.0)[None, :]
        exponent = -(r + x_value) * np.log1p(p * t[rows][:, None] / (alpha + T[rows])[:, None])
        out[rows] = (-np.expm1(exponent) / p) @ weights
    return out


def _bracket_guarded(params: BGNBDParams, t: np.ndarray, x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """hyp2f1 first, the quadrature on the rows where it fails."""
    value = _bracket_hyp2f1(params, t, x, T)
    bad = ~np.isfinite(value) | (value < 0)
    if np.any(bad):
        value[bad] = _bracket_quadrature(params, t[bad], x[bad], T[bad])
    return value


def _bracket(params: BGNBDParams, t: np.ndarray, x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """The bracketed factor of eq. (10), guarded, with the removable 0/0 at a = 1 interpolated across."""
    a, h = params.a, _A_SINGULAR_HALF_WIDTH
    if abs(a - 1.0) >= h:
        return _bracket_guarded(params, t, x, T)
    lo = _bracket_guarded(BGNBDParams(params.r, params.alpha, 1.0 - h, params.b), t, x, T)
    hi = _bracket_guarded(BGNBDParams(params.r, params.alpha, 1.0 + h, params.b), t, x, T)
    weight = (a - (1.0 - h)) / (2 * h)
    return (1 - weight) * lo + weight * hi


def expected_purchases_if_alive(
    params: BGNBDParams, t: ArrayLike, frequency: ArrayLike, T: ArrayLike
) -> np.ndarray:
    """E[Y(t) | alive, x, T]: the bracketed factor of eq. (10), i.e. eq. (10) divided by P(alive).

        (a+b+x-1)/(a-1) [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; t/(alpha+T+t))]

    It depends on (t, x, T) only, not on recency: the special functions are evaluated once per distinct
    (t, x, T) (a few thousand for a whole customer base) and broadcast back. Finite and >= 0.
    """
    t_arr, x, age = _as_arrays(t, frequency, T)
    shape = x.shape
    t_arr, x, age = (v.ravel() for v in (t_arr, x, age))
    if np.any(t_arr < 0):
        raise ValueError("t must be non-negative")
    (t_u, x_u, age_u), rows = distinct_rows(t_arr, x, age)
    bracket = np.clip(_bracket(params, t_u, x_u, age_u), 0.0, None)
    bracket[t_u == 0] = 0.0
    return bracket[rows].reshape(shape)


def conditional_expected_purchases(
    params: BGNBDParams, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> np.ndarray:
    """E[Y(t) | x, t_x, T], eq. (10): expected purchases in the next t periods given the history (x, t_x, T).

        E = (a+b+x-1)/(a-1) [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; t/(alpha+T+t))]
            / (1 + [x>0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x))

    that is :func:`expected_purchases_if_alive` times :func:`probability_alive`. ``t`` broadcasts against the
    person arrays (a scalar horizon, or one per person). Finite and >= 0.
    """
    t_arr, x, t_x, age = _as_arrays(t, frequency, recency, T)
    alive = special.expit(-_log_odds_dead(params, x, t_x, age))
    return np.asarray(expected_purchases_if_alive(params, t_arr, x, age) * alive)


def expected_purchases_new_customer(params: BGNBDParams, t: ArrayLike) -> np.ndarray:
    """E[X(t)]: expected repeat purchases in (0, t] of a person who has just made a first purchase, eq. (9).

        E[X(t)] = (a+b-1)/(a-1) [1 - (alpha/(alpha+t))^r 2F1(r, b; a+b-1; t/(alpha+t))]

    (eq. 10 with x = t_x = T = 0). Used to track the cumulative repeat purchases of a cohort.
    """
    t_arr = np.asarray(t, dtype=np.float64)
    zeros = np.zeros_like(t_arr)
    return conditional_expected_purchases(params, t_arr, zeros, zeros, zeros)


def expected_cumulative_purchases(
    params: BGNBDParams, t: ArrayLike, first_purchase_offsets: ArrayLike
) -> np.ndarray:
    """Expected total repeat purchases by time(s) t of people who made their first purchase at the offsets.

    Sum over people of E[X(t - s_i)] for t > s_i (eq. 9), the curve of the paper's Figure 2 (cumulative weekly
    repeat transactions). ``t`` and the offsets are in the model's unit, from the same origin.
    """
    t_arr = np.atleast_1d(np.asarray(t, dtype=np.float64))
    offsets = np.asarray(first_purchase_offsets, dtype=np.float64).ravel()
    values, counts = np.unique(offsets, return_counts=True)
    elapsed = np.clip(t_arr[:, None] - values[None, :], 0.0, None)
    per_cohort = expected_purchases_new_customer(params, elapsed)
    return per_cohort @ counts
