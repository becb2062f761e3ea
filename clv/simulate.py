"""Seeded simulation of a transaction log from the BG/NBD purchase process and the Gamma-Gamma spend process.

Per person: lambda ~ Gamma(r, rate alpha) and p ~ Beta(a, b) (Fader, Hardie & Lee 2005a, assumptions i-iv);
repeat purchases follow a Poisson process with rate lambda and the person drops out after each repeat purchase
with probability p, so the number of repeat purchases before dropping out is K ~ Geometric(p) and the number
made by age T is min(N, K) with N ~ Poisson(lambda T). Spend: nu ~ Gamma(q, rate gamma) per person and every
transaction value ~ Gamma(p_spend, rate nu) (Fader, Hardie & Lee 2005b). Times are in days.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from clv.bgnbd import BGNBDParams
from clv.gamma_gamma import GammaGammaParams

SECONDS_PER_DAY = 86_400


def simulate_transactions(
    n_people: int,
    bgnbd: BGNBDParams,
    gamma_gamma: GammaGammaParams,
    *,
    start: str = "2022-01-01",
    acquisition_days: int = 365,
    observation_days: int = 730,
    seed: int = 0,
) -> pd.DataFrame:
    """Transactions (``person_id``, ``ts``, ``amount``) of ``n_people`` people over ``observation_days`` days.

    First purchases are spread uniformly over the first ``acquisition_days``; the BG/NBD rates are per day.
    Summarise the log as of :func:`simulation_as_of` (the last day of the window).
    """
    if not 0 < acquisition_days <= observation_days:
        raise ValueError("need 0 < acquisition_days <= observation_days")
    rng = np.random.default_rng(seed)
    first = rng.uniform(0.0, acquisition_days, n_people)  # in days since start
    age = observation_days - first
    lam = rng.gamma(bgnbd.r, 1.0 / bgnbd.alpha, n_people)
    drop = rng.beta(bgnbd.a, bgnbd.b, n_people)
    n_arrivals = rng.poisson(lam * age)
    n_before_dropout = rng.geometric(np.clip(drop, 1e-12, 1.0))
    n_repeat = np.minimum(n_arrivals, n_before_dropout)

    # Arrival times of a Poisson process given N arrivals in (0, T] are N sorted uniforms; keep the first x.
    owner = np.repeat(np.arange(n_people), n_arrivals)
    offsets = rng.uniform(0.0, 1.0, owner.size) * age[owner]
    order = np.lexsort((offsets, owner))
    owner, offsets = owner[order], offsets[order]
    rank = np.arange(owner.size) - np.repeat(np.cumsum(n_arrivals) - n_arrivals, n_arrivals)
    keep = rank < n_repeat[owner]
    owner, offsets = owner[keep], offsets[keep]

    person = np.r_[np.arange(n_people), owner]
    when_days = np.r_[first, first[owner] + offsets]
    nu = rng.gamma(gamma_gamma.q, 1.0 / gamma_gamma.gamma, n_people)
    amount = rng.gamma(gamma_gamma.p, 1.0 / nu[person])

    origin = np.datetime64(start, "s")
    ts = origin + np.round(when_days * SECONDS_PER_DAY).astype("timedelta64[s]")
    frame = pd.DataFrame({"person_id": person, "ts": ts, "amount": np.round(amount, 2)})
    return frame.sort_values(["person_id", "ts"], kind="stable").reset_index(drop=True)


def simulation_as_of(start: str = "2022-01-01", observation_days: int = 730) -> pd.Timestamp:
    """The last day of the simulated observation window (the as-of date to summarise it with)."""
    return pd.Timestamp(start) + pd.Timedelta(days=observation_days - 1)
