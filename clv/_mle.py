"""Shared maximum-likelihood machinery: L-BFGS-B on log-parameters and Hessian-based standard errors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import optimize

# (log-parameters) -> (per-person log-likelihood, per-person gradient w.r.t. the log-parameters)
TermsFunction = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class MLEResult:
    params: np.ndarray  # natural (positive) parameters
    log_likelihood: float  # total, weighted
    converged: bool
    n_iterations: int
    message: str
    std_errors: np.ndarray


def maximise(
    terms: TermsFunction, weights: np.ndarray, start: np.ndarray, max_iterations: int = 2000
) -> MLEResult:
    """Maximise sum(weights * log-likelihood) over positive parameters, optimising their logarithms.

    The objective is the weighted *mean* negative log-likelihood, so that tolerances do not depend on the
    number of people; the analytic gradient is used.
    """
    total_weight = float(weights.sum())
    k = start.size

    def objective(log_params: np.ndarray) -> tuple[float, np.ndarray]:
        ll, grad = terms(log_params)
        value = -float(weights @ ll) / total_weight
        if not np.isfinite(value):
            return np.inf, np.zeros(k)
        return value, -(weights @ grad) / total_weight

    result = optimize.minimize(
        objective,
        start,
        jac=True,
        method="L-BFGS-B",
        bounds=[(-25.0, 25.0)] * k,
        options={"maxiter": max_iterations, "ftol": 1e-15, "gtol": 1e-9},
    )
    natural = np.exp(result.x)

    def total_gradient(theta: np.ndarray) -> np.ndarray:
        # Gradient of the total negative log-likelihood w.r.t. the natural parameters.
        _, grad = terms(np.log(theta))
        return -(weights @ grad) / theta

    return MLEResult(
        params=natural,
        log_likelihood=-float(result.fun) * total_weight,
        converged=bool(result.success),
        n_iterations=int(result.nit),
        message=str(result.message),
        std_errors=_std_errors(total_gradient, natural),
    )


def _std_errors(gradient: Callable[[np.ndarray], np.ndarray], natural: np.ndarray) -> np.ndarray:
    """Square roots of the diagonal of the inverse central-difference Hessian (NaN unless it is PD)."""
    k = natural.size
    hessian = np.empty((k, k))
    for i in range(k):
        h = 1e-5 * natural[i]
        up, down = natural.copy(), natural.copy()
        up[i] += h
        down[i] -= h
        hessian[:, i] = (gradient(up) - gradient(down)) / (2 * h)
    hessian = 0.5 * (hessian + hessian.T)
    try:
        np.linalg.cholesky(hessian)
        return np.sqrt(np.diag(np.linalg.inv(hessian)))
    except np.linalg.LinAlgError:
        return np.full(k, np.nan)
