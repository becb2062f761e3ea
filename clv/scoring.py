"""Score one transaction source: RFM summary, BG/NBD and Gamma-Gamma fits, predictions, holdout check.

:func:`score_source` turns a transaction frame (one row per order: person, purchase date, amount) into
per-person predictions, one row per model describing its fit (``bgnbd``, ``gamma_gamma`` and
``bgnbd_calibration``, the purchase model fitted on the calibration period only, with the holdout error
figures) and the holdout comparison per calibration frequency. It never raises on small or degenerate data:
a model it cannot fit gets status ``skipped`` or ``failed`` and the reason. No database here;
:mod:`clv.warehouse` reads the transactions and writes the results.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from clv._mle import distinct_rows
from clv.bgnbd import BGNBDFit, conditional_expected_purchases, fit_bgnbd, probability_alive
from clv.gamma_gamma import GammaGammaFit, conditional_expected_spend, fit_gamma_gamma
from clv.holdout import HoldoutReport, holdout_report
from clv.lifetime_value import discounted_expected_purchases
from clv.summary import UNIT_DAYS, calibration_holdout_split, rfm_summary

log = logging.getLogger(__name__)

HORIZON_DAYS = (30, 90, 365)
DEFAULT_HOLDOUT_DAYS = 180
MIN_HOLDOUT_DAYS = 7
# Below these the fits are noise: the source is skipped (BG/NBD) or gets no spend model (Gamma-Gamma).
MIN_PEOPLE = 50
MIN_SPEND_BUYERS = 10
# clv._mle optimises the log-parameters within [-25, 25]; a parameter there is a degenerate fit.
_LOG_PARAM_BOUND = 25.0

FITTED, SKIPPED, FAILED = "fitted", "skipped", "failed"
# What a fit raises on degenerate data; anything else is a bug and propagates.
_FIT_ERRORS = (ValueError, ArithmeticError, np.linalg.LinAlgError)

PERSON, DATE, AMOUNT = "customer_unique_id", "purchase_date", "amount"

Fit = TypeVar("Fit", BGNBDFit, GammaGammaFit)


@dataclass(frozen=True)
class ClvSettings:
    """How the models are run. ``as_of`` None = each source's own as-of date."""

    unit: str = "D"
    as_of: date | None = None
    horizon_months: int = 12
    monthly_discount_rate: float = 0.01
    holdout_days: int = DEFAULT_HOLDOUT_DAYS
    min_people: int = MIN_PEOPLE
    min_spend_buyers: int = MIN_SPEND_BUYERS

    def __post_init__(self) -> None:
        if self.unit not in UNIT_DAYS:
            raise ValueError(f"the CLV time unit must be 'D' (days) or 'W' (weeks), got {self.unit!r}")
        if self.horizon_months < 1:
            raise ValueError(f"the CLV horizon must be at least 1 month, got {self.horizon_months}")
        if not self.monthly_discount_rate > -1.0:
            raise ValueError(
                f"the monthly discount rate must be greater than -1, got {self.monthly_discount_rate}"
            )
        if self.holdout_days < 0:
            raise ValueError(
                f"the holdout period must be 0 (no report) or more days, got {self.holdout_days}"
            )
        if self.min_people < 2 or self.min_spend_buyers < 2:
            raise ValueError("min_people and min_spend_buyers must be at least 2")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ClvSettings:
        """From CLV_TIME_UNIT (D or W, default D), CLV_HORIZON_MONTHS (12), CLV_MONTHLY_DISCOUNT_RATE (0.01),
        CLV_HOLDOUT_DAYS (180; 0 = no holdout report) and CLV_AS_OF (YYYY-MM-DD; default each source's
        as-of date). Unset or empty variables keep the defaults."""
        env = os.environ if environ is None else environ

        def read(name: str, parse: Callable[[str], Any], default: Any, expected: str) -> Any:
            raw = (env.get(name) or "").strip()
            if not raw:
                return default
            try:
                return parse(raw)
            except ValueError:
                raise ValueError(f"{name} must be {expected}, got {raw!r}") from None

        try:
            return cls(
                unit=read("CLV_TIME_UNIT", str.upper, "D", "D or W"),
                as_of=read("CLV_AS_OF", date.fromisoformat, None, "a date (YYYY-MM-DD)"),
                horizon_months=read("CLV_HORIZON_MONTHS", int, 12, "a whole number of months"),
                monthly_discount_rate=read("CLV_MONTHLY_DISCOUNT_RATE", float, 0.01, "a number (0.01 = 1%)"),
                holdout_days=read("CLV_HOLDOUT_DAYS", int, DEFAULT_HOLDOUT_DAYS, "a whole number of days"),
            )
        except ValueError as exc:
            raise ValueError(f"{exc} (check the CLV_* environment variables)") from None

    def as_kwargs(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class SourceResult:
    """What :func:`score_source` did for one transaction source.

    ``status`` is ``fitted`` when there are predictions, else ``skipped`` or ``failed`` with ``reason``.
    ``predictions``: one row per person; ``model_runs``: one dict per model (the columns of
    marts.clv_model_runs but the run id and time); ``holdout_by_frequency``: the holdout groups.
    """

    source: str
    as_of_date: date | None
    status: str
    reason: str | None
    n_people: int
    n_repeat_buyers: int
    bgnbd: BGNBDFit | None = None
    gamma_gamma: GammaGammaFit | None = None
    holdout: HoldoutReport | None = None
    calibration_end_date: date | None = None
    predictions: pd.DataFrame = field(default_factory=pd.DataFrame)
    model_runs: list[dict[str, Any]] = field(default_factory=list)
    holdout_by_frequency: pd.DataFrame = field(default_factory=pd.DataFrame)
    seconds: dict[str, float] = field(default_factory=dict)


def _run_row(
    model: str, status: str, reason: str | None, settings: ClvSettings, as_of: date | None, **values: Any
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "model": model,
        "status": status,
        "status_reason": reason,
        "as_of_date": as_of,
        "time_unit": settings.unit,
        "horizon_months": settings.horizon_months,
        "monthly_discount_rate": settings.monthly_discount_rate,
        "n_people": 0,
        "n_repeat_buyers": 0,
    }
    row.update(values)
    return row


def _fit_values(fit: BGNBDFit | GammaGammaFit, seconds: float) -> dict[str, Any]:
    values: dict[str, Any] = {
        **fit.params.to_dict(),
        "log_likelihood": fit.log_likelihood,
        "converged": fit.converged,
        "n_iterations": fit.n_iterations,
        "fit_seconds": seconds,
    }
    if isinstance(fit, GammaGammaFit):
        values["spend_frequency_correlation"] = fit.spend_frequency_correlation
    return values


def _fit(
    source: str, model: str, fit_model: Callable[[], Fit]
) -> tuple[Fit | None, str | None, list[str], float]:
    """Run a fit: (the fit or None, why it is unusable, warnings, seconds)."""
    started = time.perf_counter()
    try:
        fit = fit_model()
    except _FIT_ERRORS as exc:
        log.warning("CLV: %s %s fit failed", source, model, exc_info=True)
        return None, f"the fit failed: {exc}", [], time.perf_counter() - started
    seconds = time.perf_counter() - started
    params = fit.params.to_dict()
    if not all(math.isfinite(v) and v > 0 for v in params.values()):
        return fit, f"the fit gave unusable parameters {params}", [], seconds
    if isinstance(fit, GammaGammaFit) and fit.params.q <= 1.0:
        return fit, f"q = {fit.params.q:.4g} <= 1: the expected spend would be infinite", [], seconds
    warnings = [] if fit.converged else [f"the optimiser did not converge ({fit.message})"]
    at_bound = [name for name, v in params.items() if abs(math.log(v)) >= _LOG_PARAM_BOUND - 1e-6]
    if at_bound:
        warnings.append(
            f"{', '.join(at_bound)} at the optimiser's bound (e^{_LOG_PARAM_BOUND:.0f}): a degenerate fit, "
            "read the predictions with care"
        )
    for warning in warnings:
        log.warning("CLV: %s %s: %s", source, model, warning)
    return fit, None, warnings, seconds


def _predict(
    summary: pd.DataFrame, bgnbd: BGNBDFit, gamma_gamma: GammaGammaFit | None, settings: ClvSettings
) -> dict[str, np.ndarray]:
    """The predictions per person, in the summary's order.

    Expected purchases, P(alive) and the discounted purchases of the CLV depend on (x, t_x, T) only, which
    most one-time buyers share: they are computed once per distinct (x, t_x, T) row and broadcast back
    (inside, the hypergeometric functions run once per distinct (x, T)). The expected spend is arithmetic
    on each person's (x, zbar); CLV = expected spend * discounted purchases, as in
    :func:`clv.lifetime_value.customer_lifetime_value`.
    """
    x, t_x, age, spend = (
        summary[c].to_numpy(np.float64) for c in ("frequency", "recency", "T", "monetary_value")
    )
    (x_d, t_x_d, age_d), rows = distinct_rows(x, t_x, age)
    out: dict[str, np.ndarray] = {}
    for days in HORIZON_DAYS:
        horizon = days / UNIT_DAYS[settings.unit]
        out[f"expected_purchases_{days}d"] = conditional_expected_purchases(
            bgnbd.params, horizon, x_d, t_x_d, age_d
        )[rows]
    out["p_alive"] = probability_alive(bgnbd.params, x_d, t_x_d, age_d)[rows]
    if gamma_gamma is None:
        out["expected_average_spend"] = out["predicted_clv"] = np.full(x.size, np.nan)
    else:
        expected_spend = conditional_expected_spend(gamma_gamma.params, x, spend)
        purchases = discounted_expected_purchases(
            bgnbd.params,
            x_d,
            t_x_d,
            age_d,
            months=settings.horizon_months,
            monthly_discount_rate=settings.monthly_discount_rate,
            unit=settings.unit,
        )
        out["expected_average_spend"] = expected_spend
        out["predicted_clv"] = expected_spend * purchases[rows]
    return out


def _holdout(
    transactions: pd.DataFrame,
    person_ids: pd.Index,
    as_of: date,
    first_purchase: date,
    settings: ClvSettings,
    result: SourceResult,
) -> None:
    """Calibrate on the history up to as_of - holdout days, compare with the holdout period.

    The holdout period is ``settings.holdout_days``, shortened to half the source's history so that the
    calibration period is at least as long. Adds the ``bgnbd_calibration`` row and the by-frequency groups.
    ``transactions`` has person codes, ``person_ids`` the id of each code.
    """
    history_days = (as_of - first_purchase).days
    days = min(settings.holdout_days, history_days // 2)
    row = _run_row("bgnbd_calibration", SKIPPED, None, settings, as_of)
    result.model_runs.append(row)
    if settings.holdout_days == 0:
        row["status_reason"] = "no holdout report: the holdout period is 0 days (CLV_HOLDOUT_DAYS)"
        return
    if days < MIN_HOLDOUT_DAYS:
        row["status_reason"] = (
            f"{history_days} days of history: too short for a holdout period of {MIN_HOLDOUT_DAYS} days "
            "or more after a calibration period as long"
        )
        return
    notes = []
    if days < settings.holdout_days:
        notes.append(f"holdout period {days} days instead of {settings.holdout_days}: half of the history")
    calibration_end = as_of - timedelta(days=days)
    split = calibration_holdout_split(
        transactions,
        calibration_end,
        as_of,
        person_col=PERSON,
        time_col=DATE,
        amount_col=None,
        unit=settings.unit,
    )
    split.calibration.index = split.holdout.index = person_ids.take(split.calibration.index.to_numpy())
    calibration = split.calibration
    n_people, n_repeat = len(calibration), int((calibration["frequency"] > 0).sum())
    row.update(
        calibration_end_date=calibration_end, holdout_days=days, n_people=n_people, n_repeat_buyers=n_repeat
    )
    if n_people < settings.min_people or n_repeat == 0:
        row["status_reason"] = (
            f"{n_people} people and {n_repeat} repeat buyers in the calibration period to {calibration_end}: "
            f"the calibration fit needs {settings.min_people} people and a repeat buyer"
        )
        return
    fit, problem, warnings, seconds = _fit(
        result.source,
        "bgnbd_calibration",
        lambda: fit_bgnbd(calibration["frequency"], calibration["recency"], calibration["T"]),
    )
    result.seconds["holdout_fit"] = seconds
    if fit is None or problem:
        row.update(status=FAILED, status_reason=problem, **(_fit_values(fit, seconds) if fit else {}))
        return
    report = holdout_report(split, fit=fit)
    metrics = report.metrics
    row.update(
        status=FITTED,
        status_reason="; ".join(notes + warnings) or None,
        **_fit_values(fit, seconds),
        holdout_total_actual=metrics.total_actual,
        holdout_total_predicted=metrics.total_predicted,
        holdout_total_error_pct=metrics.total_error_pct,
        holdout_mae=metrics.mae,
        holdout_rmse=metrics.rmse,
        holdout_bias=metrics.bias,
        holdout_binned_mae=metrics.binned_mae,
    )
    by_frequency = report.by_frequency.rename(
        columns={"frequency": "calibration_frequency", "label": "frequency_label"}
    )
    result.holdout_by_frequency = by_frequency.assign(calibration_end_date=calibration_end, holdout_days=days)
    result.holdout, result.calibration_end_date = report, calibration_end


def _skip(
    source: str, as_of: date | None, settings: ClvSettings, reason: str, n_people: int, n_repeat: int
) -> SourceResult:
    log.warning("CLV: %s skipped: %s", source, reason)
    counts = {"n_people": n_people, "n_repeat_buyers": n_repeat}
    rows = [
        _run_row(model, SKIPPED, reason, settings, as_of, **counts)
        for model in ("bgnbd", "gamma_gamma", "bgnbd_calibration")
    ]
    return SourceResult(source, as_of, SKIPPED, reason, n_people, n_repeat, model_runs=rows)


def score_source(
    transactions: pd.DataFrame, source: str, settings: ClvSettings, as_of: date | None = None
) -> SourceResult:
    """Fit both models on one source's transactions and predict for every person.

    ``transactions``: one row per order with ``customer_unique_id``, ``purchase_date`` and ``amount`` (BRL,
    >= 0). ``as_of`` (inclusive) defaults to ``settings.as_of``, else the latest purchase; later purchases
    are ignored. People: everyone with a purchase up to ``as_of``, in order of their first row in
    ``transactions``.
    """
    as_of = as_of or settings.as_of
    if as_of is None and len(transactions):
        as_of = pd.Timestamp(transactions[DATE].max()).date()
    if as_of is not None:
        in_window = (transactions[DATE] <= pd.Timestamp(as_of)).to_numpy()
        if not in_window.all():
            transactions = transactions[in_window]
    if transactions.empty:
        return _skip(
            source, as_of, settings, f"no purchases up to {as_of}" if as_of else "no purchases", 0, 0
        )

    seconds: dict[str, float] = {}
    started = time.perf_counter()
    # The person ids are hashed once, here; both summaries (and the holdout split) work on integer codes.
    codes, uniques = pd.factorize(transactions[PERSON])
    person_ids = pd.Index(uniques, name=PERSON)
    transactions = pd.DataFrame(
        {PERSON: codes, DATE: transactions[DATE].array, AMOUNT: transactions[AMOUNT].array}
    )
    summary = rfm_summary(
        transactions, person_col=PERSON, time_col=DATE, amount_col=AMOUNT, unit=settings.unit, as_of=as_of
    )
    summary.index = person_ids.take(summary.index.to_numpy())
    seconds["summary"] = time.perf_counter() - started
    n_people, n_repeat = len(summary), int((summary["frequency"] > 0).sum())
    if n_people < settings.min_people:
        reason = (
            f"{n_people} people with a purchase up to {as_of}: the models need at least {settings.min_people}"
        )
        return _skip(source, as_of, settings, reason, n_people, n_repeat)
    if n_repeat == 0:
        reason = f"none of the {n_people} people bought twice: the BG/NBD model needs repeat buyers"
        return _skip(source, as_of, settings, reason, n_people, n_repeat)

    result = SourceResult(source, as_of, FITTED, None, n_people, n_repeat, seconds=seconds)
    x, t_x, age, spend = (summary[c].to_numpy() for c in ("frequency", "recency", "T", "monetary_value"))
    first_purchase = summary["first_purchase"].min().date()

    # The purchase model: without it there is nothing to predict.
    counts = {"n_people": n_people, "n_repeat_buyers": n_repeat}
    bgnbd, problem, warnings, seconds["bgnbd_fit"] = _fit(source, "bgnbd", lambda: fit_bgnbd(x, t_x, age))
    values = _fit_values(bgnbd, seconds["bgnbd_fit"]) if bgnbd is not None else {}
    if bgnbd is None or problem:
        result.status, result.reason = FAILED, f"BG/NBD: {problem}"
        result.model_runs += [
            _run_row("bgnbd", FAILED, problem, settings, as_of, **counts, **values),
            _run_row("gamma_gamma", SKIPPED, "no BG/NBD fit", settings, as_of, **counts),
        ]
        _holdout(transactions, person_ids, as_of, first_purchase, settings, result)
        return result
    result.bgnbd = bgnbd
    result.model_runs.append(
        _run_row("bgnbd", FITTED, "; ".join(warnings) or None, settings, as_of, **counts, **values)
    )

    # The spend model, on the repeat buyers with positive spend.
    spend_buyers = int(((x > 0) & (spend > 0)).sum())
    counts = {"n_people": spend_buyers, "n_repeat_buyers": spend_buyers}
    if spend_buyers < settings.min_spend_buyers:
        reason = (
            f"{spend_buyers} repeat buyers with positive spend: the Gamma-Gamma model needs "
            f"{settings.min_spend_buyers}; no expected spend or CLV"
        )
        log.warning("CLV: %s gamma_gamma skipped: %s", source, reason)
        result.model_runs.append(_run_row("gamma_gamma", SKIPPED, reason, settings, as_of, **counts))
    else:
        gamma_gamma, problem, warnings, seconds["gamma_gamma_fit"] = _fit(
            source, "gamma_gamma", lambda: fit_gamma_gamma(x, spend)
        )
        values = _fit_values(gamma_gamma, seconds["gamma_gamma_fit"]) if gamma_gamma is not None else {}
        if gamma_gamma is None or problem:
            reason = f"{problem}; no expected spend or CLV"
            result.model_runs.append(
                _run_row("gamma_gamma", FAILED, reason, settings, as_of, **counts, **values)
            )
        else:
            result.gamma_gamma = gamma_gamma
            reason = "; ".join(warnings) or None
            result.model_runs.append(
                _run_row("gamma_gamma", FITTED, reason, settings, as_of, **counts, **values)
            )

    started = time.perf_counter()
    result.predictions = pd.DataFrame(
        {
            "transaction_source": source,
            "customer_unique_id": summary.index.array,
            "as_of_date": as_of,
            "time_unit": settings.unit,
            "first_purchase_date": summary["first_purchase"].to_numpy(),
            "frequency": x,
            "recency": t_x,
            "t": age,
            "monetary_value": spend,
            **_predict(summary, bgnbd, result.gamma_gamma, settings),
            "horizon_months": settings.horizon_months,
            "monthly_discount_rate": settings.monthly_discount_rate,
        }
    )
    seconds["predictions"] = time.perf_counter() - started
    started = time.perf_counter()
    _holdout(transactions, person_ids, as_of, first_purchase, settings, result)
    seconds["holdout"] = time.perf_counter() - started
    log.info(
        "CLV: %s as of %s: %d people, %d repeat buyers; BG/NBD %s; Gamma-Gamma %s",
        source,
        as_of,
        n_people,
        n_repeat,
        bgnbd.params,
        result.gamma_gamma.params if result.gamma_gamma else "not fitted",
    )
    return result
