"""Shared maximum-likelihood machinery: distinct rows as weights, L-BFGS-B on log-parameters, std errors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize

# (log-parameters) -> (per-row log-likelihood, per-row gradient w.r.t. the log-parameters)
TermsFunction = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
# (log-parameters) -> (total weighted log-likelihood, its gradient w.r.t. the log-parameters)
TotalFunction = Callable[[np.ndarray], tuple[float, np.ndarray]]


@dataclass(frozen=True)
class MLEResult:
    params: np.ndarray  # natural (positive) parameters
    log_likelihood: float  # total, weighted
    converged: bool
    n_iterations: int
    message: str
    std_errors: np.ndarray


# The largest Newton step (in log-parameters) at which a stop the optimiser calls abnormal is the optimum:
# the parameters are then known to about 6 significant digits. Stops scipy calls converged show up to ~7e-7.
NEWTON_STEP_TOLERANCE = 1e-6


def dot(a: np.ndarray, b: np.ndarray) -> float:
    """sum(a * b) of two vectors without BLAS.

    OpenBLAS threads its dot product (and matmul) for long vectors; on a busy machine its spinning threads
    cost 10-50x the work itself, and the likelihoods take dozens of these per evaluation.
    """
    return float(np.einsum("i,i->", a, b))


def distinct_rows(*columns: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """The distinct rows of equal-length 1-D columns and, for each row, the index of its distinct row.

    Hash-based (``pandas.factorize`` per column, then on the combined integer codes): linear time, no sort
    of the rows; distinct rows come in order of first appearance. NaN equals NaN here.
    """
    n = columns[0].size
    codes, size = np.zeros(n, dtype=np.int64), 1
    for column in columns:
        column_codes, uniques = pd.factorize(column, use_na_sentinel=False)
        if size * len(uniques) >= 2**62:  # renumber the combinations seen so far (at most n) first
            codes, seen = pd.factorize(codes)
            size = len(seen)
        codes = codes * len(uniques) + column_codes
        size *= len(uniques)
    codes, _ = pd.factorize(codes)
    count = int(codes.max()) + 1 if n else 0
    representative = np.empty(count, dtype=np.int64)
    representative[codes] = np.arange(n)  # any row of a group will do: they are equal
    return [column[representative] for column in columns], codes


def compress(*columns: np.ndarray, weights: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Collapse identical rows, adding their weights: the same likelihood on (usually far) fewer rows."""
    distinct, codes = distinct_rows(*columns)
    summed = np.bincount(codes, weights=weights, minlength=distinct[0].size) if codes.size else weights
    return distinct, summed


def weighted(terms: TermsFunction, weights: np.ndarray) -> TotalFunction:
    """The total weighted log-likelihood and gradient of a per-row likelihood (the reference, per person)."""

    def total(log_params: np.ndarray) -> tuple[float, np.ndarray]:
        ll, grad = terms(log_params)
        return dot(weights, ll), np.einsum("i,ij->j", weights, grad)

    return total


def maximise(
    total: TotalFunction, total_weight: float, start: np.ndarray, max_iterations: int = 2000
) -> MLEResult:
    """Maximise a total log-likelihood over positive parameters, optimising their logarithms.

    ``total`` returns the weighted log-likelihood and its analytic gradient w.r.t. the log-parameters. The
    objective is the weighted *mean* negative log-likelihood (``total_weight`` is the sum of the weights), so
    that tolerances do not depend on the number of people.
    """
    k = start.size

    def objective(log_params: np.ndarray) -> tuple[float, np.ndarray]:
        ll, grad = total(log_params)
        value = -ll / total_weight
        if not np.isfinite(value):
            return np.inf, np.zeros(k)
        return value, -np.asarray(grad) / total_weight

    result = optimize.minimize(
        objective,
        start,
        jac=True,
        method="L-BFGS-B",
        bounds=[(-25.0, 25.0)] * k,
        options={"maxiter": max_iterations, "ftol": 1e-15, "gtol": 1e-9},
    )
    natural = np.exp(result.x)
    converged, message = bool(result.success), str(result.message)
    if not converged:
        step = _newton_step(lambda log_params: objective(log_params)[1], result.x)
        if step <= NEWTON_STEP_TOLERANCE:
            converged = True
            message = (
                f"converged: the line search stopped at machine precision ({message.strip(': ')}), and a "
                f"Newton step from here moves no log-parameter by more than {step:.1e}"
            )

    def total_gradient(theta: np.ndarray) -> np.ndarray:
        # Gradient of the total negative log-likelihood w.r.t. the natural parameters.
        _, grad = total(np.log(theta))
        return -np.asarray(grad) / theta

    return MLEResult(
        params=natural,
        log_likelihood=-float(result.fun) * total_weight,
        converged=converged,
        n_iterations=int(result.nit),
        message=message,
        std_errors=_std_errors(total_gradient, natural),
    )


def _newton_step(gradient: Callable[[np.ndarray], np.ndarray], at: np.ndarray) -> float:
    """The largest move of a parameter in a Newton step from ``at`` (inf unless the Hessian is PD there).

    L-BFGS-B ends "ABNORMAL" when its line search finds no decrease, which happens at the optimum once
    the likelihood is flat to machine precision (7 of 360 fits of simulated BG/NBD data, and the 100k-order
    sandbox), but also on a ridge where the fit runs away (a, b -> infinity). A positive definite Hessian
    and a negligible Newton step tell the optimum; a ridge has neither."""
    hessian = _positive_definite_hessian(gradient, at, np.full(at.size, 1e-5))
    if hessian is None:
        return float("inf")
    return float(np.abs(np.linalg.solve(hessian, gradient(at))).max())


def _std_errors(gradient: Callable[[np.ndarray], np.ndarray], natural: np.ndarray) -> np.ndarray:
    """Square roots of the diagonal of the inverse central-difference Hessian (NaN unless it is PD)."""
    hessian = _positive_definite_hessian(gradient, natural, 1e-5 * natural)
    if hessian is None:
        return np.full(natural.size, np.nan)
    return np.sqrt(np.diag(np.linalg.inv(hessian)))


def _positive_definite_hessian(
    gradient: Callable[[np.ndarray], np.ndarray], at: np.ndarray, steps: np.ndarray
) -> np.ndarray | None:
    """The symmetrised central-difference Hessian at ``at`` (``steps`` per parameter), None unless PD."""
    k = at.size
    hessian = np.empty((k, k))
    for i in range(k):
        h = np.zeros(k)
        h[i] = steps[i]
        hessian[:, i] = (gradient(at + h) - gradient(at - h)) / (2 * steps[i])
    hessian = 0.5 * (hessian + hessian.T)
    try:
        np.linalg.cholesky(hessian)
    except np.linalg.LinAlgError:
        return None
    return hessian
