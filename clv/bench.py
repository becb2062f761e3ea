"""Time the CLV pipeline on a simulated population: ``python -m clv.bench --people 100000``.

Simulates a seeded BG/NBD + Gamma-Gamma transaction log (daily unit), then times the RFM summary, the two ML
fits and the predictions (expected purchases, P(alive), 12-month CLV), and prints the fitted against the true
parameters.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import TypeVar

from clv.bgnbd import BGNBDParams, conditional_expected_purchases, fit_bgnbd, probability_alive
from clv.gamma_gamma import GammaGammaParams, fit_gamma_gamma
from clv.lifetime_value import customer_lifetime_value
from clv.simulate import simulate_transactions, simulation_as_of
from clv.summary import rfm_summary

T_ = TypeVar("T_")

TRUE_BGNBD = BGNBDParams(r=0.25, alpha=30.0, a=0.8, b=2.5)  # per day: mean rate 1 purchase / 120 days
TRUE_GAMMA_GAMMA = GammaGammaParams(p=6.0, q=4.0, gamma=15.0)


def _timed(label: str, timings: dict[str, float], func: Callable[[], T_]) -> T_:
    started = time.perf_counter()
    value = func()
    timings[label] = time.perf_counter() - started
    return value


def run(people: int, seed: int = 0, months: int = 12) -> dict[str, float]:
    """Run the benchmark and print a report; returns the timings in seconds."""
    timings: dict[str, float] = {}
    start, days = "2022-01-01", 730
    log = _timed(
        "simulate",
        timings,
        lambda: simulate_transactions(
            people, TRUE_BGNBD, TRUE_GAMMA_GAMMA, start=start, observation_days=days, seed=seed
        ),
    )
    summary = _timed(
        "summary", timings, lambda: rfm_summary(log, unit="D", as_of=simulation_as_of(start, days))
    )
    x, t_x, age, spend = (summary[c].to_numpy() for c in ("frequency", "recency", "T", "monetary_value"))
    bgnbd = _timed("bgnbd_fit", timings, lambda: fit_bgnbd(x, t_x, age))
    gamma_gamma = _timed("gamma_gamma_fit", timings, lambda: fit_gamma_gamma(x, spend))

    def predict() -> None:
        conditional_expected_purchases(bgnbd.params, 90.0, x, t_x, age)
        probability_alive(bgnbd.params, x, t_x, age)
        customer_lifetime_value(bgnbd.params, gamma_gamma.params, x, t_x, age, spend, months=months, unit="D")

    _timed("predictions", timings, predict)

    print(
        f"people: {people:,}  transactions: {len(log):,}  repeat buyers: {int((x > 0).sum()):,}  seed: {seed}"
    )
    print(f"BG/NBD      true {TRUE_BGNBD}")
    print(f"            fit  {bgnbd.params}  converged={bgnbd.converged} iterations={bgnbd.n_iterations}")
    print(f"Gamma-Gamma true {TRUE_GAMMA_GAMMA}")
    print(
        f"            fit  {gamma_gamma.params}  converged={gamma_gamma.converged} "
        f"iterations={gamma_gamma.n_iterations}"
    )
    labels = {
        "simulate": "simulate transactions (not part of the pipeline)",
        "summary": "RFM summary",
        "bgnbd_fit": "BG/NBD fit",
        "gamma_gamma_fit": "Gamma-Gamma fit",
        "predictions": f"predictions (E[Y(90)], P(alive), {months}-month CLV)",
    }
    for key, label in labels.items():
        print(f"{label:<52} {timings[key]:8.3f} s")
    pipeline = sum(v for k, v in timings.items() if k != "simulate")
    print(f"{'pipeline total (summary + fits + predictions)':<52} {pipeline:8.3f} s")
    return timings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000, help="number of simulated people")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--months", type=int, default=12, help="CLV horizon in months")
    args = parser.parse_args(argv)
    run(args.people, args.seed, args.months)


if __name__ == "__main__":
    main()
