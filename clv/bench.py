"""Time the CLV step on simulated shops: ``python -m clv.bench --people 100000 1000000``.

For each size, simulates a seeded BG/NBD + Gamma-Gamma transaction log shaped like the sandbox shop (daily
unit, two years of history, about 1.4 orders per person and a fifth of the people repeat buyers), hands it to
:func:`clv.scoring.score_source` as the warehouse does (string customer ids, purchase dates, amounts, rows in
no particular order) and reports, step by step, wall-clock and CPU seconds (CPU counts every thread of the
process: on a busy machine it is the steadier figure), the L-BFGS-B iterations, how many distinct rows the
models see, and the fitted against the true parameters. The log is simulated outside the timings.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from clv import scoring
from clv.bgnbd import BGNBDParams
from clv.gamma_gamma import GammaGammaParams
from clv.simulate import simulate_transactions, simulation_as_of

# Per day: a mean purchase rate of 1 every 1,200 days while active, so that over two years about a fifth of
# the people buy again (the sandbox at 1M orders: 700,844 people, 147,094 repeat buyers).
TRUE_BGNBD = BGNBDParams(r=0.25, alpha=300.0, a=0.8, b=2.5)
TRUE_GAMMA_GAMMA = GammaGammaParams(p=6.0, q=4.0, gamma=15.0)
START, DAYS = "2022-01-01", 730

# What score_source calls, in the order it calls them (fit_bgnbd twice: the model, then the calibration).
STEPS = {
    "rfm_summary": "RFM summary",
    "fit_bgnbd": "BG/NBD fit",
    "fit_gamma_gamma": "Gamma-Gamma fit",
    "_predict": "predictions (E[Y], P(alive), CLV)",
    "calibration_holdout_split": "holdout: calibration/holdout split",
    "fit_bgnbd#2": "holdout: calibration BG/NBD fit",
    "holdout_report": "holdout: report",
}


@dataclass
class Timings:
    wall: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)

    def add(self, key: str, wall: float, cpu: float) -> None:
        self.wall[key] = self.wall.get(key, 0.0) + wall
        self.cpu[key] = self.cpu.get(key, 0.0) + cpu


@contextmanager
def _timed_steps(timings: Timings) -> Iterator[None]:
    """Wrap the functions score_source calls so that each call adds its wall and CPU seconds."""
    originals = {name: getattr(scoring, name) for name in STEPS if "#" not in name}
    calls: dict[str, int] = {}

    def wrap(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            calls[name] = calls.get(name, 0) + 1
            key = name if calls[name] == 1 else f"{name}#{calls[name]}"
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                timings.add(key, time.perf_counter() - wall, time.process_time() - cpu)

        return timed

    for name, function in originals.items():
        setattr(scoring, name, wrap(name, function))
    try:
        yield
    finally:
        for name, function in originals.items():
            setattr(scoring, name, function)


def simulate_orders(people: int, seed: int = 0) -> pd.DataFrame:
    """The simulated log as the warehouse hands it over: 32-hex-digit string ids, dates, shuffled rows."""
    log = simulate_transactions(
        people, TRUE_BGNBD, TRUE_GAMMA_GAMMA, start=START, observation_days=DAYS, seed=seed
    )
    rng = np.random.default_rng(seed + 1)
    ids = np.array([f"{v:032x}" for v in rng.integers(0, 2**63 - 1, people)], dtype=object)
    orders = pd.DataFrame(
        {
            scoring.PERSON: pd.Series(ids[log["person_id"].to_numpy()], dtype="str"),
            scoring.DATE: log["ts"].to_numpy().astype("datetime64[D]").astype("datetime64[ms]"),
            scoring.AMOUNT: log["amount"].to_numpy(),
        }
    )
    return orders.iloc[rng.permutation(len(orders))].reset_index(drop=True)


def _distinct(frame: pd.DataFrame, columns: list[str]) -> int:
    return int(len(frame[columns].drop_duplicates()))


def run(people: int, seed: int = 0) -> dict[str, Any]:
    """Score one simulated shop and print the report; returns the figures."""
    orders = simulate_orders(people, seed)
    as_of = simulation_as_of(START, DAYS).date()
    timings = Timings()
    with _timed_steps(timings):
        wall, cpu = time.perf_counter(), time.process_time()
        result = scoring.score_source(orders, "bench", scoring.ClvSettings(), as_of)
        timings.add("total", time.perf_counter() - wall, time.process_time() - cpu)
    runs = {row["model"]: row for row in result.model_runs}
    p = result.predictions
    repeat = p[(p["frequency"] > 0) & (p["monetary_value"] > 0)]
    figures = {
        "people": result.n_people,
        "transactions": len(orders),
        "repeat_buyers": result.n_repeat_buyers,
        "distinct_x_tx_T": _distinct(p, ["frequency", "recency", "t"]),
        "distinct_x_T": _distinct(p, ["frequency", "t"]),
        "spend_buyers": len(repeat),
        "distinct_x_zbar": _distinct(repeat, ["frequency", "monetary_value"]),
        "calibration_people": runs["bgnbd_calibration"]["n_people"],
        "timings": timings,
        "iterations": {model: row.get("n_iterations") for model, row in runs.items()},
    }

    print(
        f"\npeople: {people:,}  transactions: {len(orders):,}  repeat buyers: {result.n_repeat_buyers:,}  "
        f"seed: {seed}"
    )
    print(
        f"distinct rows: (x, t_x, T) {figures['distinct_x_tx_T']:,} of {result.n_people:,} people; "
        f"(x, zbar) {figures['distinct_x_zbar']:,} of {len(repeat):,} repeat buyers; "
        f"(x, T) {figures['distinct_x_T']:,}"
    )
    iterations = {
        "fit_bgnbd": runs["bgnbd"].get("n_iterations"),
        "fit_gamma_gamma": runs["gamma_gamma"].get("n_iterations"),
        "fit_bgnbd#2": runs["bgnbd_calibration"].get("n_iterations"),
    }
    print(f"{'step':<44} {'wall s':>8} {'cpu s':>8}  iterations")
    for key, label in STEPS.items():
        if key in timings.wall:
            its = iterations.get(key)
            print(f"{label:<44} {timings.wall[key]:8.3f} {timings.cpu[key]:8.3f}  {its if its else ''}")
    steps_wall = sum(v for k, v in timings.wall.items() if k != "total")
    steps_cpu = sum(v for k, v in timings.cpu.items() if k != "total")
    print(
        f"{'other (ids, frames, checks)':<44} {timings.wall['total'] - steps_wall:8.3f} "
        f"{timings.cpu['total'] - steps_cpu:8.3f}"
    )
    print(f"{'score_source total':<44} {timings.wall['total']:8.3f} {timings.cpu['total']:8.3f}")
    print(f"BG/NBD      true {TRUE_BGNBD}")
    print(f"            fit  {result.bgnbd.params if result.bgnbd else None}")
    print(f"Gamma-Gamma true {TRUE_GAMMA_GAMMA}")
    print(f"            fit  {result.gamma_gamma.params if result.gamma_gamma else None}")
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--people", type=int, nargs="+", default=[100_000], help="simulated people, one run per size"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    results = [run(people, args.seed) for people in args.people]
    if len(results) > 1:
        print(
            f"\n{'people':>10} {'distinct':>9} {'summary':>8} {'BG/NBD':>8} {'G-G':>8} {'predict':>8} "
            f"{'holdout':>8} {'total':>8} {'cpu':>8}"
        )
        for figures in results:
            wall = figures["timings"].wall
            holdout = sum(
                wall.get(k, 0.0) for k in ("calibration_holdout_split", "fit_bgnbd#2", "holdout_report")
            )
            print(
                f"{figures['people']:>10,} {figures['distinct_x_tx_T']:>9,} {wall['rfm_summary']:8.2f} "
                f"{wall['fit_bgnbd']:8.2f} {wall.get('fit_gamma_gamma', 0.0):8.2f} {wall['_predict']:8.2f} "
                f"{holdout:8.2f} {wall['total']:8.2f} {figures['timings'].cpu['total']:8.2f}"
            )
        print("(seconds, wall-clock but the last column; distinct: (x, t_x, T) rows)")


if __name__ == "__main__":
    main()
