"""The simulated shop behind the sandbox's upstream systems.

One simulation, fixed by ``(seed, orders)``, covers every batch, so that batch 1 never changes when later
batches are generated:

* batch 1 is the shop from 2016-09-04 up to 2018-10-18 00:00 (``BATCH1_END``), about ``orders`` orders;
* batch k >= 2 is the week after batch k-1: about 1% of ``orders`` new orders, plus the orders placed
  earlier that reached a final status (delivered or canceled) during that week.

People follow a Pareto/NBD-like process: each person arrives (first purchase) following the shop's
growth and seasonality, buys again at an individual rate drawn from a gamma distribution, and drops out
after an exponentially distributed lifetime whose rate is also gamma distributed. Each person has a
price level (which products they pick) and an address. Orders carry the whole life cycle (approval,
carrier, delivery, cancellation) so that a snapshot at the end of any batch gives the status an export
taken at that moment would show.

All times are integer seconds since the Unix epoch, read as the shop's local time (Olist's timestamps
have no zone); ``NEVER`` marks a moment that does not happen. Everything random comes from generators
keyed by ``(seed, purpose, batch)``, never from global state.

:class:`Shop` runs the simulation and answers questions about it in numbers (which orders a batch
holds, their status at a moment, ...); :mod:`sandbox.tables` turns that into the upstream systems'
contents, formatted as the files the sandbox writes.
"""

from __future__ import annotations

import binascii
import hashlib
import math
import unicodedata
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cached_property, lru_cache

import numpy as np

from sandbox import reference as ref

DAY = 86_400
HOUR = 3_600
NEVER = np.int64(2**62)


def _epoch(text: str) -> int:
    return int(np.datetime64(text, "s").astype(np.int64))


CAL_START = _epoch("2016-09-01")  # day 0 of the calendar; marketing and ERP start here
FIRST_ORDER = _epoch("2016-09-04")
BATCH1_END = _epoch("2018-10-18")  # exclusive end of batch 1
BATCH_DAYS = 7
MAX_BATCHES = 520  # ten years of weekly batches
CAL_DAYS = (BATCH1_END - CAL_START) // DAY + BATCH_DAYS * MAX_BATCHES + 120

# Pareto/NBD parameters, rates per day: purchase rate ~ Gamma(shape, 1/rate), dropout rate likewise.
PURCHASE_SHAPE, PURCHASE_RATE = 0.5, 170.0
DROPOUT_SHAPE, DROPOUT_RATE = 1.0, 150.0
LEAD_SHARE = 0.60  # share of people who arrive through a marketing lead
NEW_ORDERS_PER_BATCH = 0.01  # of the batch-1 order count
COMPANION_SHARE = 0.007  # orders placed together with another order of the same person (shared review)

OUTCOMES = ("delivered", "canceled", "unavailable")
STATUSES = (
    "delivered",
    "shipped",
    "canceled",
    "unavailable",
    "invoiced",
    "processing",
    "created",
    "approved",
)
DELIVERED, CANCELED, UNAVAILABLE = 0, 1, 2
PAYMENT_TYPES = ("credit_card", "boleto", "voucher", "debit_card", "not_defined")
CARD, BOLETO, VOUCHER, DEBIT, NOT_DEFINED = range(5)

WEEKDAY_FACTOR = np.array([1.12, 1.12, 1.08, 1.04, 0.99, 0.78, 0.87])  # Monday first
# Orders by hour of the day (Olist's profile: quiet nights, busy from 10 to 22).
# fmt: off
HOUR_WEIGHTS = np.array([2.4, 1.2, 0.5, 0.3, 0.2, 0.2, 0.5, 1.2, 3.0, 4.8, 6.2, 6.6,
                         6.0, 6.5, 6.7, 6.4, 6.5, 6.0, 5.8, 5.8, 6.2, 6.1, 5.7, 4.2])
# fmt: on
HOUR_WEIGHTS = HOUR_WEIGHTS / HOUR_WEIGHTS.sum()

Frame = dict[str, np.ndarray]


# ------------------------------------------------------------------------------------------- helpers


def batch_end(k: int) -> int:
    """Exclusive end of batch ``k`` (the moment its snapshot is taken)."""
    return BATCH1_END + (k - 1) * BATCH_DAYS * DAY


def batch_start(k: int) -> int:
    return FIRST_ORDER if k == 1 else batch_end(k - 1)


def batch_start_of(k: np.ndarray) -> np.ndarray:
    """Vectorised :func:`batch_start`."""
    k = np.asarray(k, dtype=np.int64)
    return np.where(k <= 1, FIRST_ORDER, BATCH1_END + (k - 2) * BATCH_DAYS * DAY)


def batch_of(t: np.ndarray) -> np.ndarray:
    """The batch whose window holds each moment (NEVER gives a batch that never comes)."""
    t = np.asarray(t, dtype=np.int64)
    later = 2 + (np.maximum(t, BATCH1_END) - BATCH1_END) // (BATCH_DAYS * DAY)
    return np.where(t < BATCH1_END, 1, later).astype(np.int64)


def rng_for(seed: int, purpose: str, k: int = 0) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(purpose.encode()), k])


def hex_ids(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` random 32-character lower-case hex ids (numpy ``S32``)."""
    if n == 0:
        return np.empty(0, dtype="S32")
    return np.frombuffer(binascii.hexlify(rng.bytes(16 * n)), dtype="S32").copy()


def md5_ids(prefix: str, keys: np.ndarray) -> np.ndarray:
    """Stable 32-hex ids derived from other ids (the same key always gives the same id)."""
    out = [hashlib.md5(prefix.encode() + bytes(key)).hexdigest().encode() for key in keys]
    return np.array(out, dtype="S32") if out else np.empty(0, dtype="S32")


def unaccent(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))


def concat(a: Frame, b: Frame) -> Frame:
    if not a:
        return {key: np.asarray(value) for key, value in b.items()}
    return {key: np.concatenate([a[key], b[key]]) for key in a}


def take(frame: Frame, index: np.ndarray) -> Frame:
    return {key: value[index] for key, value in frame.items()}


def split_cents(rng: np.random.Generator, total: np.ndarray, parts: np.ndarray) -> np.ndarray:
    """Split each ``total`` (cents) into ``parts`` random positive shares that add up exactly.

    Returns the shares flattened in order (``parts[0]`` shares of ``total[0]`` first)."""
    owner = np.repeat(np.arange(len(total)), parts)
    weights = rng.uniform(0.3, 1.0, len(owner))
    sums = np.bincount(owner, weights, minlength=len(total))
    shares = np.floor(total[owner] * weights / sums[owner]).astype(np.int64)
    shares = np.maximum(shares, 1)
    first = np.concatenate([[0], np.cumsum(parts)[:-1]])
    rest = total - np.bincount(owner, shares, minlength=len(total)).astype(np.int64)
    shares[first[parts > 0]] += rest[parts > 0]
    return shares


def position_in_group(counts: np.ndarray) -> np.ndarray:
    """0, 1, ..., counts[i]-1 for each group, flattened."""
    total = int(counts.sum())
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return np.arange(total) - starts


def haversine_km(lat1, lng1, lat2, lng2) -> np.ndarray:
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(lng2 - lng1)
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 6371.0 * 2 * np.arcsin(np.sqrt(np.minimum(a, 1.0)))


# -------------------------------------------------------------------------------------------- calendar


def _black_friday(year: int) -> date:
    first = date(year, 11, 1)
    return first + timedelta(days=(4 - first.weekday()) % 7 + 21)


def _mothers_day(year: int) -> date:
    first = date(year, 5, 1)
    return first + timedelta(days=(6 - first.weekday()) % 7 + 7)


def _holiday_factor(day: date) -> float:
    factor = 1.0
    bf = _black_friday(day.year)
    delta = (day - bf).days
    if delta == 0:
        factor *= 4.5
    elif delta in (1, 2):
        factor *= 1.7
    elif delta == 3:  # Cyber Monday
        factor *= 2.2
    elif -7 <= delta < 0:
        factor *= 1.35
    elif 4 <= delta <= 6:
        factor *= 1.2
    if day.month == 12:
        if day.day <= 20:
            factor *= 1.3
        elif day.day <= 23:
            factor *= 1.1
        elif day.day == 24:
            factor *= 0.7
        elif day.day == 25:
            factor *= 0.4
        else:
            factor *= 0.85
    elif day.month == 1:
        factor *= 0.92
    md = _mothers_day(day.year)
    if 0 < (md - day).days <= 10:
        factor *= 1.2
    return factor


class Calendar:
    """Daily seasonality (week days, Black Friday, Christmas, Mother's Day) and the shop's growth trend.

    ``cum_season`` integrates the seasonality alone (it drives repeat purchases); ``cum_arrival`` also
    includes the growth trend (it drives the arrival of new people)."""

    def __init__(self, n_days: int = CAL_DAYS) -> None:
        start = date(2016, 9, 1)
        days = [start + timedelta(days=i) for i in range(n_days)]
        season = np.array([WEEKDAY_FACTOR[d.weekday()] * _holiday_factor(d) for d in days])
        x = np.arange(n_days, dtype=float)
        trend = 0.03 + 1.0 / (1.0 + np.exp(-(x - 240.0) / 55.0))
        self.n_days = n_days
        self.season = season / WEEKDAY_FACTOR.mean()
        self.arrival = self.season * trend
        self.grid = np.arange(n_days + 1, dtype=float)
        self.cum_season = np.concatenate([[0.0], np.cumsum(self.season)])
        self.cum_arrival = np.concatenate([[0.0], np.cumsum(self.arrival)])

    def integral(self, cum: np.ndarray, t0, t1) -> np.ndarray:
        x0 = (np.asarray(t0, dtype=float) - CAL_START) / DAY
        x1 = (np.asarray(t1, dtype=float) - CAL_START) / DAY
        return np.interp(x1, self.grid, cum) - np.interp(x0, self.grid, cum)

    def sample(self, rng: np.random.Generator, cum: np.ndarray, lo, hi, n: int) -> np.ndarray:
        """``n`` moments in ``[lo, hi)`` (scalars or arrays) following the daily intensity ``cum``,
        with the shop's hour-of-day profile."""
        lo = np.broadcast_to(np.asarray(lo, dtype=np.int64), (n,))
        hi = np.broadcast_to(np.asarray(hi, dtype=np.int64), (n,))
        c0 = np.interp((lo - CAL_START) / DAY, self.grid, cum)
        c1 = np.interp((hi - CAL_START) / DAY, self.grid, cum)
        x = np.interp(c0 + rng.random(n) * (c1 - c0), cum, self.grid)
        day = np.floor(x).astype(np.int64)
        tod = rng.choice(24, n, p=HOUR_WEIGHTS) * HOUR + rng.integers(0, HOUR, n)
        t = CAL_START + day * DAY + tod
        outside = (t < lo) | (t >= hi)
        t[outside] = CAL_START + (x[outside] * DAY).astype(np.int64)
        return np.clip(t, lo, np.maximum(hi - 1, lo))

    def day_index(self, t: np.ndarray) -> np.ndarray:
        return ((np.asarray(t, dtype=np.int64) - CAL_START) // DAY).astype(np.int64)


# ---------------------------------------------------------------------------------------------- places

STATE_CODES = tuple(ref.STATES)
# Rough spread (degrees) of a state's small towns around its listed cities.
_STATE_SPREAD = {
    "DF": 0.12,
    "SE": 0.3,
    "AL": 0.3,
    "RJ": 0.5,
    "ES": 0.5,
    "PB": 0.5,
    "RN": 0.5,
    "SC": 0.6,
    "PE": 0.8,
    "AP": 0.8,
    "CE": 1.0,
    "AC": 1.0,
    "PR": 1.1,
    "SP": 1.1,
    "RR": 1.2,
    "RO": 1.2,
    "RS": 1.3,
    "GO": 1.4,
    "MS": 1.4,
    "TO": 1.5,
    "MA": 1.5,
    "PI": 1.5,
    "BA": 1.8,
    "MG": 1.8,
    "MT": 2.0,
    "PA": 2.5,
    "AM": 3.0,
}


@dataclass
class Places:
    """Every 5-digit zip prefix the shop knows: its town, state, centre and how many people live there."""

    prefix: np.ndarray  # int
    state: np.ndarray  # index into STATE_CODES
    town: np.ndarray  # index into town_names
    lat: np.ndarray
    lng: np.ndarray
    spread: np.ndarray  # degrees, for geolocation points around the centre
    customer_p: np.ndarray
    seller_p: np.ndarray
    town_names: list[str]  # with accents, e.g. "São Paulo"

    @cached_property
    def town_plain(self) -> list[str]:
        """Olist's spelling in customers and sellers: lower case, no accents."""
        return [unaccent(name).lower() for name in self.town_names]

    @classmethod
    def build(cls, seed: int) -> Places:
        from faker import Faker

        rng = rng_for(seed, "places")
        faker = Faker("pt_BR")
        faker.seed_instance(seed)
        names: list[str] = []
        name_index: dict[tuple[str, str], int] = {}
        cols: dict[str, list[np.ndarray]] = {
            k: [] for k in ("prefix", "state", "town", "lat", "lng", "spread", "cw", "sw")
        }

        def add(prefixes, state_i, town_i, lat, lng, spread, weights, cshare, sshare):
            n = len(prefixes)
            cols["prefix"].append(np.asarray(prefixes))
            cols["state"].append(np.full(n, state_i))
            cols["town"].append(np.full(n, town_i))
            cols["lat"].append(lat)
            cols["lng"].append(lng)
            cols["spread"].append(np.full(n, spread))
            cols["cw"].append(weights * cshare)
            cols["sw"].append(weights * sshare)

        for state_i, code in enumerate(STATE_CODES):
            cshare, sshare, ranges = ref.STATES[code]
            candidates = np.concatenate([np.arange(lo, hi + 1) for lo, hi in ranges])
            free = np.ones(len(candidates), dtype=bool)
            cities = [c for c in ref.CITIES if c[0] == code]
            total = sum(c[6] for c in cities)
            for _, city, lat, lng, lo, hi, weight in cities:
                mask = free & (candidates >= lo) & (candidates <= hi)
                prefixes = candidates[mask]
                free &= ~mask
                key = (code, city)
                if key not in name_index:
                    name_index[key] = len(names)
                    names.append(city)
                n = len(prefixes)
                spread = min(0.15, 0.01 + 0.002 * math.sqrt(n))
                w = rng.lognormal(0.0, 1.0, n)
                w = w / w.sum() * weight / total * (1 - ref.SMALL_TOWN_SHARE)
                add(
                    prefixes,
                    state_i,
                    name_index[key],
                    lat + rng.uniform(-1, 1, n) * spread,
                    lng + rng.uniform(-1, 1, n) * spread,
                    spread * 0.4,
                    w,
                    cshare,
                    sshare,
                )
            # The long tail: small towns in blocks of free prefixes, named from Faker's pt_BR places.
            n_towns = max(4, round(12 * cshare) + 4)
            town_weights = rng.lognormal(0.0, 1.0, n_towns)
            town_weights = town_weights / town_weights.sum() * ref.SMALL_TOWN_SHARE
            used_names = {c[1] for c in cities}
            anchors = np.array([(c[2], c[3]) for c in cities])
            state_spread = _STATE_SPREAD.get(code, 1.0)
            for t in range(n_towns):
                free_idx = np.flatnonzero(free)
                if len(free_idx) == 0:
                    break
                start = free_idx[rng.integers(len(free_idx))]
                length = min(int(rng.geometric(0.25)), 25)
                end = start
                while (
                    end + 1 < len(candidates)
                    and end + 1 - start < length
                    and free[end + 1]
                    and candidates[end + 1] == candidates[end] + 1
                ):
                    end += 1
                block = candidates[start : end + 1]
                free[start : end + 1] = False
                while True:
                    name = (
                        faker.city()
                        if rng.random() < 0.6
                        else (
                            f"{ref.TOWN_PREFIXES[rng.integers(len(ref.TOWN_PREFIXES))]} {faker.last_name()}"
                        )
                    )
                    if name[0].isupper() and name not in used_names:
                        break
                used_names.add(name)
                name_index[(code, name)] = len(names)
                names.append(name)
                anchor = anchors[rng.integers(len(anchors))]
                clat = anchor[0] + rng.normal(0, state_spread)
                clng = anchor[1] + rng.normal(0, state_spread)
                n = len(block)
                w = rng.lognormal(0.0, 0.7, n)
                w = w / w.sum() * town_weights[t]
                add(
                    block,
                    state_i,
                    len(names) - 1,
                    clat + rng.uniform(-0.02, 0.02, n),
                    clng + rng.uniform(-0.02, 0.02, n),
                    0.008,
                    w,
                    cshare,
                    sshare,
                )

        merged = {k: np.concatenate(v) for k, v in cols.items()}
        order = np.argsort(merged["prefix"], kind="stable")
        merged = {k: v[order] for k, v in merged.items()}
        return cls(
            prefix=merged["prefix"].astype(np.int64),
            state=merged["state"].astype(np.int64),
            town=merged["town"].astype(np.int64),
            lat=np.clip(merged["lat"], -33.7, 5.2),
            lng=np.clip(merged["lng"], -73.9, -34.8),
            spread=merged["spread"],
            customer_p=merged["cw"] / merged["cw"].sum(),
            seller_p=merged["sw"] / merged["sw"].sum(),
            town_names=names,
        )


@lru_cache(maxsize=4)
def places_for(seed: int) -> Places:
    """The places of a seed (built once per process: Faker makes it the slowest part of a small run)."""
    return Places.build(seed)


# --------------------------------------------------------------------------------------------- catalog

CATEGORY_NAMES = tuple(c[0] for c in ref.CATEGORIES)


class Catalog:
    """Products and sellers. Grows by a few launches per batch; prices and unit costs change at dated
    events (the ERP's cost periods)."""

    def __init__(self, seed: int, n_orders: int, places: Places) -> None:
        self.seed = seed
        self.places = places
        rng = rng_for(seed, "catalog", 1)
        n_sellers = max(20, round(0.036 * n_orders))
        self.sellers: Frame = {}
        self.products: Frame = {}
        self._add_sellers(rng, n_sellers, 1)
        n_products = max(60, round(0.85 * n_orders))
        self._add_products(rng, n_products, 1, np.arange(n_sellers))
        base = self.products["base_cents"]
        self.bucket_edges = np.quantile(base, np.linspace(0.1, 0.9, 9))
        self.products["bucket"] = np.searchsorted(self.bucket_edges, base)
        # Price/cost change events: product, moment (midnight), price factor, cost factor.
        n_changes = rng.choice(3, n_products, p=[0.55, 0.33, 0.12])
        first_day = (_epoch("2016-12-01") - CAL_START) // DAY
        last_day = (BATCH1_END - CAL_START) // DAY - 2
        d1 = rng.integers(first_day, last_day - 60, n_products)
        d2 = d1 + 30 + (rng.random(n_products) * (last_day - d1 - 30)).astype(np.int64)
        prod = np.concatenate([np.flatnonzero(n_changes >= 1), np.flatnonzero(n_changes >= 2)])
        days = np.concatenate([d1[n_changes >= 1], d2[n_changes >= 2]])
        self.changes: Frame = {}
        self._add_changes(rng, prod, CAL_START + days * DAY)

    # -- construction

    def _add_sellers(self, rng, n: int, batch: int) -> np.ndarray:
        start = len(self.sellers.get("uid", ()))
        frame = {
            "uid": hex_ids(rng, n),
            "place": rng.choice(len(self.places.prefix), n, p=self.places.seller_p),
            "weight": rng.lognormal(0.0, 1.4, n),
            "launch": np.full(n, batch),
        }
        self.sellers = concat(self.sellers, frame)
        return np.arange(start, start + n)

    def _add_products(self, rng, n: int, batch: int, sellers: np.ndarray, boost: float = 1.0) -> None:
        weights = np.array([c[2] for c in ref.CATEGORIES])
        category = rng.choice(len(weights), n, p=weights / weights.sum())
        category[rng.random(n) < 0.015] = -1
        median_price = np.array([c[3] for c in ref.CATEGORIES])[category]
        median_price = np.where(category < 0, 80.0, median_price)
        price = np.clip(rng.lognormal(np.log(median_price), 0.75), 0.85, 6735.0)
        ending = rng.choice([90, 99, 0, 50], n, p=[0.45, 0.25, 0.2, 0.1])
        base_cents = np.maximum(np.floor(price).astype(np.int64) * 100 + ending, 85)
        median_weight = np.where(category < 0, 1000.0, np.array([c[4] for c in ref.CATEGORIES])[category])
        weight = np.clip(np.round(rng.lognormal(np.log(median_weight), 0.8)), 50, 40425).astype(np.int64)
        volume = weight * rng.uniform(2.0, 8.0, n)
        length = np.clip(np.round(np.cbrt(volume) * rng.uniform(0.9, 1.7, n)), 16, 105)
        width = np.clip(np.round(np.cbrt(volume) * rng.uniform(0.7, 1.3, n)), 11, 118)
        height = np.clip(np.round(volume / (length * width)), 2, 105)
        no_cat = category < 0
        sw = self.sellers["weight"][sellers]
        frame = {
            "uid": hex_ids(rng, n),
            "category": category,
            "base_cents": base_cents,
            "weight_g": weight,
            "length_cm": length.astype(np.int64),
            "height_cm": height.astype(np.int64),
            "width_cm": width.astype(np.int64),
            "name_len": np.where(no_cat, -1, np.clip(np.round(rng.normal(48, 10, n)), 5, 76)).astype(
                np.int64
            ),
            "desc_len": np.where(
                no_cat, -1, np.clip(np.round(rng.lognormal(np.log(600), 0.7, n)), 4, 3992)
            ).astype(np.int64),
            "photos": np.where(no_cat, -1, np.clip(1 + rng.poisson(1.2, n), 1, 20)).astype(np.int64),
            "popularity": rng.lognormal(0.0, 1.6, n) * boost,
            "seller": sellers[rng.choice(len(sellers), n, p=sw / sw.sum())],
            "launch": np.full(n, batch),
            "cost_ratio": rng.uniform(0.4, 0.8, n),
            "bucket": np.zeros(n, dtype=np.int64),
        }
        if "bucket_edges" in self.__dict__:
            frame["bucket"] = np.searchsorted(self.bucket_edges, base_cents)
        self.products = concat(self.products, frame)

    def _add_changes(self, rng, product: np.ndarray, when: np.ndarray) -> None:
        factor = rng.uniform(0.95, 1.15, len(product))
        frame = {
            "product": product.astype(np.int64),
            "time": when.astype(np.int64),
            "price_factor": factor,
            "cost_factor": factor * rng.uniform(0.97, 1.03, len(product)),
            "updated": when.astype(np.int64) + 9 * HOUR + rng.integers(0, 8 * HOUR, len(product)),
        }
        merged = concat(self.changes, frame)
        order = np.lexsort((merged["time"], merged["product"]))
        self.changes = take(merged, order)

    def launch_batch(self, k: int) -> None:
        """New products (some from new sellers) and price/cost changes during batch ``k``."""
        rng = rng_for(self.seed, "catalog", k)
        n_products = int((self.products["launch"] == 1).sum())
        n_sellers = int((self.sellers["launch"] == 1).sum())
        new_sellers = self._add_sellers(rng, max(1, round(0.004 * n_sellers)), k)
        n_new = max(1, round(0.002 * n_products))
        existing = np.flatnonzero(self.sellers["launch"] < k)
        pool = np.where(rng.random(n_new) < 0.2, -1, 0)
        self._add_products(rng, n_new, k, existing, boost=2.5)
        fresh = np.flatnonzero(pool < 0)
        if len(fresh):
            self.products["seller"][-n_new:][fresh] = new_sellers[
                rng.integers(0, len(new_sellers), len(fresh))
            ]
        old = np.flatnonzero(self.products["launch"] < k)
        changed = old[rng.random(len(old)) < 0.012]
        days = rng.integers(0, BATCH_DAYS, len(changed))
        self._add_changes(rng, changed, batch_start(k) + days * DAY)

    # -- queries

    def sampler(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Products available in batch ``k`` sorted by price bucket, and a monotone key for sampling:
        ``bucket + u`` (u uniform) searched in the key picks a product of that bucket by popularity."""
        avail = np.flatnonzero(self.products["launch"] <= k)
        bucket = self.products["bucket"][avail]
        order = np.lexsort((avail, bucket))
        avail, bucket = avail[order], bucket[order]
        w = self.products["popularity"][avail]
        totals = np.bincount(bucket, w, minlength=10)
        cum = np.cumsum(w)
        before = np.concatenate([[0.0], np.cumsum(totals)])[bucket]
        key = bucket + (cum - before) / np.maximum(totals[bucket], 1e-12)
        return avail, key

    def price_factor(self, product: np.ndarray, t: np.ndarray) -> np.ndarray:
        """The product of price factors of every change of ``product`` at or before ``t``."""
        ch = self.changes
        start = np.searchsorted(ch["product"], product, side="left")
        stop = np.searchsorted(ch["product"], product, side="right")
        factor = np.ones(len(product))
        depth = int((stop - start).max()) if len(product) else 0
        for j in range(depth):
            idx = np.minimum(start + j, len(ch["product"]) - 1)
            hit = (start + j < stop) & (ch["time"][idx] <= t)
            factor = np.where(hit, factor * ch["price_factor"][idx], factor)
        return factor

    def price_cents(self, product: np.ndarray, t: np.ndarray) -> np.ndarray:
        base = self.products["base_cents"][product]
        factor = self.price_factor(product, t)
        changed = np.round(base * factor).astype(np.int64)
        snapped = np.maximum(changed // 100 * 100 + 90, 85)
        return np.where(factor == 1.0, base, snapped)


# ----------------------------------------------------------------------------------------------- shop


class Shop:
    """The whole simulation for batches ``1..batches``. ``progress`` is called with a short label after
    each step."""

    def __init__(
        self, seed: int, orders: int, batches: int = 1, progress: Callable[[str], None] | None = None
    ) -> None:
        if orders < 100:
            raise ValueError(f"orders must be at least 100, got {orders}")
        if seed < 0:
            raise ValueError(f"seed must be zero or positive, got {seed}")
        if not 1 <= batches <= MAX_BATCHES:
            raise ValueError(f"batch must be between 1 and {MAX_BATCHES}, got {batches}")
        self.seed = seed
        self.n_orders = orders
        self.batches = batches
        self._progress = progress or (lambda label: None)
        self.calendar = Calendar()
        self.places = places_for(seed)
        self.catalog = Catalog(seed, orders, self.places)
        self._progress("places and catalog")
        self.people: Frame = {}
        self.orders: Frame = {}
        self.items: Frame = {}
        self.payments: Frame = {}
        self.reviews: Frame = {}
        self.leads: Frame = {}
        self._simulate_batch_one()
        self._progress("batch 1")
        for k in range(2, batches + 1):
            self.catalog.launch_batch(k)
            self._simulate_batch(k)
        if batches > 1:
            self._progress(f"batches 2..{batches}")
        self.spend_scale = self._marketing_scale()

    def rng(self, purpose: str, k: int) -> np.random.Generator:
        return rng_for(self.seed, purpose, k)

    # -- people and purchase events

    def _draw_people(self, rng: np.random.Generator, arrival: np.ndarray) -> Frame:
        n = len(arrival)
        lam = rng.gamma(PURCHASE_SHAPE, 1.0 / PURCHASE_RATE, n)
        mu = rng.gamma(DROPOUT_SHAPE, 1.0 / DROPOUT_RATE, n)
        life_days = np.minimum(rng.exponential(1.0, n) / np.maximum(mu, 1e-9), 365.0 * 50)
        return {
            "arrival": arrival.astype(np.int64),
            "life_end": arrival + (life_days * DAY).astype(np.int64),
            "lam": lam,
        }

    def _finish_people(self, rng: np.random.Generator, people: Frame, k: int) -> Frame:
        n = len(people["arrival"])
        people["uid"] = hex_ids(rng, n)
        people["place"] = rng.choice(len(self.places.prefix), n, p=self.places.customer_p)
        people["bucket"] = rng.uniform(-0.5, 9.5, n)
        people["batch"] = np.full(n, k)
        people["channel"] = np.full(n, -1)
        people["first_order"] = np.full(n, NEVER)
        return people

    def _simulate_batch_one(self) -> None:
        rng = self.rng("people", 1)
        cal = self.calendar
        target = self.n_orders
        chunks: list[Frame] = []
        events = 0
        chunk = int(target / 1.3) + 50
        while events < target:
            arrival = cal.sample(rng, cal.cum_arrival, FIRST_ORDER, BATCH1_END, chunk)
            people = self._draw_people(rng, arrival)
            end = np.minimum(people["life_end"], BATCH1_END)
            expected = people["lam"] * np.maximum(cal.integral(cal.cum_season, arrival, end), 0.0)
            people["repeats"] = rng.poisson(expected)
            chunks.append(people)
            events += chunk + int(people["repeats"].sum())
            per_person = events / sum(len(c["arrival"]) for c in chunks)
            chunk = int((target - events) / per_person * 1.1) + 50
        sim = chunks[0]
        for c in chunks[1:]:
            sim = concat(sim, c)
        n_sim = len(sim["arrival"])
        reps = sim["repeats"]
        rep_person = np.repeat(np.arange(n_sim), reps)
        lo = sim["arrival"][rep_person] + 60
        hi = np.minimum(sim["life_end"], BATCH1_END)[rep_person]
        rep_time = cal.sample(rng, cal.cum_season, lo, np.maximum(hi, lo + 1), len(rep_person))
        rep_time = np.minimum(rep_time, BATCH1_END - 1)
        person = np.concatenate([np.arange(n_sim), rep_person])
        when = np.concatenate([sim["arrival"], rep_time])
        # Thin to exactly the requested number of orders.
        keep = np.sort(rng.choice(len(person), target, replace=False))
        person, when = person[keep], when[keep]
        self._people_rate = n_sim / cal.integral(cal.cum_arrival, FIRST_ORDER, BATCH1_END)
        person, when, anchor = self._companions(rng, person, when, BATCH1_END)
        kept = np.flatnonzero(np.bincount(person, minlength=n_sim))
        remap = np.full(n_sim, -1)
        remap[kept] = np.arange(len(kept))
        people = take({k: v for k, v in sim.items() if k != "repeats"}, kept)
        self.people = self._finish_people(self.rng("people-attributes", 1), people, 1)
        self._add_orders(1, remap[person], when, anchor, new_people=np.arange(len(kept)))

    def _companions(self, rng, person, when, end) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Turn a few orders into companions of another order (same person, minutes later), then sort
        by time. Returns person, time and the anchor of each order (-1 for none), in time order."""
        n = len(person)
        n_comp = int(round(COMPANION_SHARE * n))
        anchor = np.full(n, -1)
        if n_comp and n > 2 * n_comp:
            pick = rng.choice(n, 2 * n_comp, replace=False)
            comp, anc = pick[:n_comp], pick[n_comp:]
            person = person.copy()
            when = when.copy()
            person[comp] = person[anc]
            when[comp] = np.minimum(when[anc] + rng.integers(20, 900, n_comp), end - 1)
            anchor[comp] = anc
        order = np.argsort(when, kind="stable")
        inverse = np.empty(n, dtype=np.int64)
        inverse[order] = np.arange(n)
        anchor = anchor[order]
        anchor = np.where(anchor >= 0, inverse[np.maximum(anchor, 0)], -1)
        return person[order], when[order], anchor

    def _simulate_batch(self, k: int) -> None:
        rng = self.rng("people", k)
        cal = self.calendar
        lo_t, hi_t = batch_start(k), batch_end(k)
        n_orders = max(1, round(NEW_ORDERS_PER_BATCH * self.n_orders))
        p = self.people
        start = np.maximum(p["arrival"], lo_t)
        stop = np.minimum(p["life_end"], hi_t)
        w = p["lam"] * np.maximum(cal.integral(cal.cum_season, start, np.maximum(stop, start)), 0.0)
        expected_returning = float(w.sum())
        expected_new = self._people_rate * float(cal.integral(cal.cum_arrival, lo_t, hi_t))
        share = expected_returning / max(expected_returning + expected_new, 1e-9)
        n_ret = int(rng.binomial(n_orders, share)) if w.sum() > 0 else 0
        n_new = n_orders - n_ret
        ret_person = rng.choice(len(w), n_ret, p=w / w.sum()) if n_ret else np.empty(0, dtype=np.int64)
        ret_time = cal.sample(
            rng, cal.cum_season, start[ret_person], np.maximum(stop[ret_person], start[ret_person] + 1), n_ret
        )
        arrival = cal.sample(rng, cal.cum_arrival, lo_t, hi_t, n_new)
        newcomers = self._finish_people(self.rng("people-attributes", k), self._draw_people(rng, arrival), k)
        first_new = len(p["arrival"])
        self.people = concat(self.people, newcomers)
        person = np.concatenate([ret_person, first_new + np.arange(n_new)])
        when = np.concatenate([ret_time, arrival])
        person, when, anchor = self._companions(rng, person, when, hi_t)
        self._add_orders(k, person, when, anchor, new_people=first_new + np.arange(n_new))

    # -- orders and what hangs off them

    def _add_orders(
        self, k: int, person: np.ndarray, when: np.ndarray, anchor: np.ndarray, new_people: np.ndarray
    ) -> None:
        rng = self.rng("orders", k)
        n = len(person)
        offset = len(self.orders.get("person", ()))
        cat, places = self.catalog, self.places
        people = self.people

        # Outcome of each order; "lost" orders get stuck in the pipeline until a later batch resolves them.
        u = rng.random(n)
        outcome = np.full(n, DELIVERED)
        outcome[u < 0.006] = CANCELED
        outcome[(u >= 0.006) & (u < 0.012)] = UNAVAILABLE
        lost = (u >= 0.012) & (u < 0.016)
        has_anchor = anchor >= 0
        src = np.where(has_anchor, anchor, np.arange(n))

        # Items: distinct products per order, units per product, product by the person's price level.
        n_distinct = rng.choice(np.arange(1, 7), n, p=[0.955, 0.033, 0.008, 0.002, 0.001, 0.001])
        slot_order = np.repeat(np.arange(n), n_distinct)
        n_slots = len(slot_order)
        units = rng.choice(np.arange(1, 7), n_slots, p=[0.95, 0.035, 0.009, 0.004, 0.001, 0.001])
        products, key = cat.sampler(k)
        pref = people["bucket"][person][slot_order] + rng.normal(0.0, 1.3, n_slots)
        bucket = np.clip(np.round(pref), 0, 9)
        pos = np.searchsorted(key, bucket + rng.random(n_slots) * 0.999999, side="right")
        slot_product = products[np.clip(pos, 0, len(products) - 1)]
        row_slot = np.repeat(np.arange(n_slots), units)
        row_order = slot_order[row_slot]
        row_product = slot_product[row_slot]
        row_seller = cat.products["seller"][row_product]
        row_price = cat.price_cents(row_product, when[row_order])
        cust_place = people["place"][person]
        sell_place = cat.sellers["place"][row_seller]
        km = haversine_km(
            places.lat[sell_place],
            places.lng[sell_place],
            places.lat[cust_place[row_order]],
            places.lng[cust_place[row_order]],
        )
        kg = cat.products["weight_g"][row_product] / 1000.0
        freight = (900 + 0.6 * km + 320 * kg**0.75) * rng.lognormal(0.0, 0.12, n_slots)[row_slot]
        row_freight = np.round(freight).astype(np.int64)
        item_no = position_in_group(np.bincount(row_order, minlength=n)) + 1
        order_km = np.zeros(n)
        order_km[row_order[::-1]] = km[::-1]  # the first item's distance

        # Natural timeline: approval (boleto takes days), carrier pick-up, transit by distance.
        pay_group = rng.choice(5, n, p=[0.758, 0.195, 0.015, 0.012, 0.02])
        approve_lag = np.where(
            pay_group == 1,
            rng.uniform(0.4, 3.0, n) * DAY,
            np.clip(rng.lognormal(np.log(900), 1.2, n), 60, 3 * DAY),
        )
        approved = when + approve_lag.astype(np.int64)
        pickup = np.clip(rng.lognormal(np.log(2.5 * DAY), 0.55, n), 3 * HOUR, 20 * DAY)
        carrier = approved + pickup.astype(np.int64)
        dates = np.datetime64("2016-09-01") + self.calendar.day_index(when)
        day_of_month = (dates - dates.astype("datetime64[M]")).astype(np.int64) + 1
        month = dates.astype("datetime64[M]").astype(np.int64) % 12 + 1
        rush = ((month == 11) & (day_of_month >= 18)) | ((month == 12) & (day_of_month <= 22))
        mean_transit = 3.0 + order_km / 200.0
        transit = mean_transit * rng.lognormal(0.0, 0.5, n) * np.where(rush, 1.35, 1.0)
        delivered = carrier + (np.maximum(transit, 0.6) * DAY).astype(np.int64)
        promise = 1.0 + 2.8 + mean_transit * 1.13 + rng.uniform(4.0, 11.0, n)
        estimated = (when // DAY + np.ceil(promise).astype(np.int64)) * DAY
        invoiced = approved + ((carrier - approved) * rng.uniform(0.3, 0.8, n)).astype(np.int64)
        final = delivered.copy()
        cancel_at = when + np.clip(rng.lognormal(np.log(1.5 * DAY), 1.0, n), HOUR, 30 * DAY).astype(np.int64)
        final = np.where(outcome == CANCELED, cancel_at, final)
        final = np.where(outcome == UNAVAILABLE, when, final)  # out of stock: known at once
        delivered = np.where(outcome == DELIVERED, delivered, NEVER)
        carrier = np.where((outcome == UNAVAILABLE) | (carrier >= final), NEVER, carrier)
        invoiced = np.where(outcome == UNAVAILABLE, NEVER, invoiced)

        # Lost orders: stuck as shipped (0), invoiced (1) or processing (2) until the batch that
        # resolves them (delivered late or canceled).
        stage = rng.choice(3, n, p=[0.7, 0.15, 0.15])
        resolve_batch = batch_of(when) + rng.geometric(0.55, n)
        resolve_at = batch_start_of(resolve_batch) + rng.integers(HOUR, BATCH_DAYS * DAY - HOUR, n)
        natural_carrier = approved + pickup.astype(np.int64)
        resolve_at = np.maximum(resolve_at, natural_carrier + DAY)
        window_start = np.maximum(batch_start_of(batch_of(resolve_at)), approved + HOUR)
        late_carrier = resolve_at - ((resolve_at - window_start) * rng.uniform(0.2, 0.8, n)).astype(np.int64)
        resolved_delivered = rng.random(n) < 0.4
        stuck_carrier = np.where(lost, np.where(stage == 0, natural_carrier, NEVER), carrier)
        outcome = np.where(lost, np.where(resolved_delivered, DELIVERED, CANCELED), outcome)
        final = np.where(lost, resolve_at, final)
        delivered = np.where(lost, np.where(resolved_delivered, resolve_at, NEVER), delivered)
        carrier = np.where(
            lost,
            np.where(stage == 0, natural_carrier, np.where(resolved_delivered, late_carrier, NEVER)),
            carrier,
        )
        invoiced = np.where(lost & (stage == 1), approved + rng.integers(2 * HOUR, DAY, n), invoiced)
        invoiced = np.where(lost & (stage == 2), NEVER, invoiced)

        # Companions copy their anchor's life cycle, shifted by the minutes between the two purchases.
        shift = when - when[src]
        approved, invoiced, carrier, stuck_carrier, delivered, final = (
            np.where(arr[src] >= NEVER, NEVER, arr[src] + shift)
            for arr in (approved, invoiced, carrier, stuck_carrier, delivered, final)
        )
        outcome, lost, estimated = outcome[src], lost[src], estimated[src]
        # Display quirks of final rows, as in Olist.
        q = rng.random(n)
        quirk = np.zeros(n, dtype=np.int64)
        quirk[q < 0.012] = 1  # approval recorded after the carrier pick-up
        quirk[(q >= 0.012) & (q < 0.0122)] = 2  # delivered without a delivery date
        quirk[(q >= 0.0122) & (q < 0.01235)] = 3  # no approval date
        approved_late = np.where(carrier < NEVER, carrier, approved) + rng.integers(HOUR, 36 * HOUR, n)

        order_total = np.bincount(row_order, row_price + row_freight, minlength=n).astype(np.int64)
        orders = {
            "person": person.astype(np.int64),
            "uid": hex_ids(rng, n),
            "customer_uid": hex_ids(rng, n),
            "purchase": when.astype(np.int64),
            "approved": approved,
            "invoiced": invoiced,
            "carrier": carrier,
            "stuck_carrier": stuck_carrier,
            "delivered": delivered,
            "estimated": estimated,
            "final": final,
            "outcome": outcome,
            "lost": lost,
            "quirk": quirk,
            "approved_late": approved_late,
            "b0": np.full(n, k),
            "bf": batch_of(final),
            "total": order_total,
            "place": cust_place,
        }
        emit = outcome[row_order] != UNAVAILABLE
        items = {
            "order": offset + row_order[emit],
            "item_no": item_no[emit],
            "product": row_product[emit],
            "seller": row_seller[emit],
            "shipping_limit": (approved + rng.integers(2 * DAY, 7 * DAY, n))[row_order][emit],
            "price": row_price[emit],
            "freight": row_freight[emit],
            "b0": np.full(int(emit.sum()), k),
        }
        payments = self._payments(rng, offset, pay_group, order_total, outcome, lost)
        reviews = self._reviews(rng, offset, orders, src)
        self._refunds(rng, orders)
        self.orders = concat(self.orders, orders)
        self.items = concat(self.items, items)
        self.payments = concat(self.payments, payments)
        self.reviews = concat(self.reviews, reviews)
        first = np.full(len(self.people["arrival"]), NEVER)
        np.minimum.at(first, person, when)
        self.people["first_order"] = np.minimum(self.people["first_order"], first)
        self._add_leads(k, new_people)

    def _payments(self, rng, offset, group, total, outcome, lost) -> Frame:
        n = len(group)
        n_voucher = np.where(group == 3, np.clip(rng.geometric(0.6, n), 1, 6), 0)
        n_voucher = np.where(group == 4, np.clip(rng.geometric(0.7, n), 1, 5), n_voucher)
        rows = np.where(group == 4, n_voucher + 1, np.maximum(n_voucher, 1))
        owner = np.repeat(np.arange(n), rows)
        seq = position_in_group(rows) + 1
        ptype = np.repeat(
            np.select([group == 1, group == 2, group == 3], [BOLETO, DEBIT, VOUCHER], CARD), rows
        )
        voucher_total = np.where(group == 4, np.round(total * rng.uniform(0.05, 0.6, n)), total).astype(
            np.int64
        )
        voucher_total = np.where(
            group == 4, np.clip(voucher_total, n_voucher, np.maximum(total - 1, 0)), voucher_total
        )
        value = np.zeros(len(owner), dtype=np.int64)
        is_voucher_row = (group[owner] >= 3) & (seq <= n_voucher[owner])
        ptype[is_voucher_row] = VOUCHER
        vshares = split_cents(rng, voucher_total, n_voucher)
        value[is_voucher_row] = vshares
        single = ~is_voucher_row
        value[single] = np.where(
            group[owner[single]] == 4,
            total[owner[single]] - voucher_total[owner[single]],
            total[owner[single]],
        )
        # Installments: credit cards spread larger orders; the rest pay at once. Rarely 0, as in Olist.
        inst = np.where(
            rng.random(n) < 0.5,
            1,
            rng.choice(
                [2, 3, 4, 5, 6, 7, 8, 10, 12, 15, 18, 24],
                n,
                p=[0.22, 0.2, 0.14, 0.1, 0.08, 0.05, 0.07, 0.1, 0.02, 0.008, 0.006, 0.006],
            ),
        )
        inst = np.minimum(inst, np.maximum(1, total // 2500))
        inst = np.where(rng.random(n) < 0.0001, 0, inst)
        installments = np.where(ptype == CARD, inst[owner], 1)
        undefined = (outcome == CANCELED) & ~lost & (group == 0) & (rng.random(n) < 0.03)
        ptype = np.where(undefined[owner], NOT_DEFINED, ptype)
        return {
            "order": offset + owner,
            "seq": seq,
            "type": ptype,
            "installments": installments,
            "value": value,
        }

    def _reviews(self, rng, offset, orders: Frame, src: np.ndarray) -> Frame:
        n = len(src)
        outcome, final = orders["outcome"], orders["final"]
        delivered, estimated = orders["delivered"], orders["estimated"]
        late_days = np.where(delivered < NEVER, (delivered - estimated) / DAY, 0.0)
        probs = np.array(
            [
                [0.05, 0.02, 0.07, 0.21, 0.65],  # on time
                [0.25, 0.09, 0.17, 0.18, 0.31],  # up to 5 days late
                [0.55, 0.12, 0.12, 0.08, 0.13],  # later
                [0.72, 0.08, 0.09, 0.04, 0.07],  # not delivered
            ]
        )
        kind = np.select([outcome != DELIVERED, late_days > 5, late_days > 0], [3, 2, 1], 0)
        cum = np.cumsum(probs, axis=1)[kind]
        score = 1 + (rng.random(n)[:, None] > cum).sum(axis=1)
        score = np.minimum(score, 5)
        titles = np.full(n, -1)
        has_title = rng.random(n) < 0.12
        messages = np.full(n, -1)
        has_message = rng.random(n) < np.where(score == 1, 0.75, 0.4)
        for s in range(1, 6):
            m = score == s
            titles[m & has_title] = rng.integers(0, len(ref.REVIEW_TITLES[s]), int((m & has_title).sum()))
            messages[m & has_message] = rng.integers(
                0, len(ref.REVIEW_MESSAGES[s]), int((m & has_message).sum())
            )
        basis = np.where(outcome == DELIVERED, delivered, final)
        basis = np.where(basis >= NEVER, final, basis)
        created = (basis // DAY + 1 + rng.choice([0, 0, 0, 1, 2], n)) * DAY
        answered = created + np.clip(rng.lognormal(np.log(1.2 * DAY), 1.0, n), 600, 60 * DAY).astype(np.int64)
        bf = orders["bf"]
        limit = np.where(
            bf <= MAX_BATCHES, BATCH1_END + (np.minimum(bf, MAX_BATCHES) - 1) * BATCH_DAYS * DAY, NEVER
        )
        created = np.where(limit < NEVER, np.minimum(created, limit - DAY), created)
        earliest = np.maximum(created, basis) + 60  # answered after the order's last event
        answered = np.minimum(np.maximum(answered, earliest), np.maximum(limit - 1, created + 60))
        has = rng.random(n) < 0.992
        uid = hex_ids(rng, n)
        # Companions share their anchor's review: same id, same words.
        for arr in (score, titles, messages, created, answered, has, uid):
            arr[:] = arr[src]
        keep = np.flatnonzero(has)
        return {
            "uid": uid[keep],
            "order": offset + keep,
            "score": score[keep],
            "title": titles[keep],
            "message": messages[keep],
            "created": created[keep],
            "answered": answered[keep],
            "batch": bf[keep],
        }

    def _refunds(self, rng, orders: Frame) -> None:
        n = len(orders["final"])
        delivered = orders["delivered"]
        is_delivered = (orders["outcome"] == DELIVERED) & (delivered < NEVER)
        late = is_delivered & (delivered > orders["estimated"] + DAY)
        chance = np.where(late, 0.09, 0.025)
        has = is_delivered & (rng.random(n) < chance)
        full = rng.random(n) < 0.55
        total = orders["total"]
        partial = np.maximum(np.round(total * rng.uniform(0.15, 0.7, n)), np.minimum(total, 100))
        amount = np.where(full, total, partial).astype(np.int64)
        at = delivered + np.clip(rng.lognormal(np.log(6 * DAY), 0.6, n), DAY, 60 * DAY).astype(np.int64)
        reasons = np.array([r[1] for r in ref.REFUND_REASONS])
        reason = rng.choice(len(reasons), n, p=reasons / reasons.sum())
        reason = np.where(late & (rng.random(n) < 0.5), 3, reason)
        orders["refund"] = has
        orders["refund_amount"] = np.where(has, amount, 0)
        orders["refunded_at"] = np.where(has, at, NEVER)
        orders["refund_updated"] = np.where(has, at + rng.integers(60, 3 * HOUR, n), NEVER)
        orders["refund_reason"] = reason

    # -- marketing

    def _add_leads(self, k: int, new_people: np.ndarray) -> None:
        """Leads of the people who arrived in batch ``k`` (about LEAD_SHARE of them) plus leads that did
        not convert. A lead created before the batch started already existed as unconverted: those are
        taken from the unconverted leads of earlier batches and converted now."""
        rng = self.rng("leads", k)
        cal = self.calendar
        people = self.people
        shares = np.array([c[3] for c in ref.CHANNELS])
        conv_rate = np.array([c[4] for c in ref.CHANNELS])
        new_people = new_people[people["first_order"][new_people] < NEVER]  # companions may take all
        n = len(new_people)
        with_lead = new_people[rng.random(n) < LEAD_SHARE]
        m = len(with_lead)
        lam = people["lam"][with_lead]
        loyal = lam / (lam + PURCHASE_SHAPE / PURCHASE_RATE)
        names = [c[0] for c in ref.CHANNELS]
        weights = np.tile(shares, (m, 1))
        weights[:, names.index("ch_email")] *= 0.4 + 1.6 * loyal
        weights[:, names.index("ch_referral")] *= 0.5 + 1.2 * loyal
        weights[:, names.index("ch_display")] *= 1.4 - 0.9 * loyal
        weights[:, names.index("ch_paid_search")] *= 0.8 + 0.04 * people["bucket"][with_lead]
        cum = np.cumsum(weights, axis=1)
        channel = (rng.random(m)[:, None] * cum[:, -1:] > cum).sum(axis=1)
        lo = batch_start(k) if k > 1 else CAL_START
        # Converted at checkout, just before the first purchase (never before the batch began).
        converted = np.maximum(people["first_order"][with_lead] - rng.integers(0, 600, m), lo)
        lag = np.where(
            rng.random(m) < 0.3,
            rng.integers(60, 3 * HOUR, m),
            (rng.exponential(12.0, m) * DAY).astype(np.int64),
        )
        created = np.maximum(converted - lag, CAL_START)
        fresh = created >= lo
        reuse_idx = np.full(m, -1)
        if k > 1 and self.leads:
            reuse_idx = self._reuse_leads(channel, created, converted, ~fresh)
        fresh = reuse_idx < 0
        created = np.where(fresh, np.maximum(created, lo), created)
        people["channel"][with_lead] = channel
        if (~fresh).any():
            idx = reuse_idx[~fresh]
            self.leads["person"][idx] = with_lead[~fresh]
            self.leads["converted"][idx] = converted[~fresh]
            self.leads["convert_batch"][idx] = k
            people["channel"][with_lead[~fresh]] = self.leads["channel"][idx]
        # Leads that never convert, in proportion to the conversion rate of each channel.
        conv_counts = np.bincount(channel, minlength=len(shares))
        n_open = rng.poisson(conv_counts * (1 - conv_rate) / conv_rate)
        open_channel = np.repeat(np.arange(len(shares)), n_open)
        open_created = cal.sample(rng, cal.cum_arrival, lo, batch_end(k), len(open_channel))
        ch = np.concatenate([channel[fresh], open_channel])
        cr = np.concatenate([created[fresh], open_created])
        frame = {
            "uid": hex_ids(rng, len(ch)),
            "channel": ch,
            "campaign": self._campaigns(rng, ch, cr),
            "created": cr,
            "created_updated": np.minimum(cr + rng.integers(0, 600, len(ch)), batch_end(k) - 1),
            "converted": np.concatenate([converted[fresh], np.full(len(open_channel), NEVER)]),
            "person": np.concatenate([with_lead[fresh], np.full(len(open_channel), -1)]),
            "convert_batch": np.concatenate([np.full(int(fresh.sum()), k), np.full(len(open_channel), 0)]),
            "batch": np.full(len(ch), k),
        }
        self.leads = concat(self.leads, frame)

    def _reuse_leads(self, channel, created, converted, wanted) -> np.ndarray:
        """For each wanted lead, an unconverted lead of the same channel created close to ``created``
        (and between 120 days and an hour before the conversion), or -1. Each lead is used once."""
        leads = self.leads
        result = np.full(len(channel), -1)
        open_leads = np.flatnonzero(leads["person"] < 0)
        for ci in np.unique(channel[wanted]):
            want = np.flatnonzero(wanted & (channel == ci))
            pool = open_leads[leads["channel"][open_leads] == ci]
            if len(pool) == 0:
                continue
            pool = pool[np.argsort(leads["created"][pool], kind="stable")]
            pool_created = leads["created"][pool]
            pos = np.searchsorted(pool_created, created[want])
            left, right = np.clip(pos - 1, 0, len(pool) - 1), np.clip(pos, 0, len(pool) - 1)
            nearer_left = np.abs(pool_created[left] - created[want]) <= np.abs(
                pool_created[right] - created[want]
            )
            pick = pool[np.where(nearer_left, left, right)]
            at = leads["created"][pick]
            ok = (at < converted[want] - HOUR) & (at > converted[want] - 120 * DAY)
            first = np.zeros(len(pick), dtype=bool)
            first[np.unique(pick, return_index=True)[1]] = True
            ok &= first
            result[want[ok]] = pick[ok]
        return result

    def _campaigns(self, rng, channel: np.ndarray, created: np.ndarray) -> np.ndarray:
        campaign = np.full(len(channel), -1)
        day = self.calendar.day_index(created)
        for ci, (cid, *_rest) in enumerate(ref.CHANNELS):
            members = [j for j, c in enumerate(ref.CAMPAIGNS) if c[1] == cid]
            rows = np.flatnonzero(channel == ci)
            if not members or not len(rows):
                continue
            w = self._campaign_activity(members, day[rows])
            cum = np.cumsum(w, axis=1)
            total = cum[:, -1]
            pick = (rng.random(len(rows))[:, None] * total[:, None] > cum).sum(axis=1)
            campaign[rows] = np.where(total > 0, np.array(members)[np.minimum(pick, len(members) - 1)], -1)
        return campaign

    def _campaign_activity(self, members: list[int], day: np.ndarray) -> np.ndarray:
        w = np.zeros((len(day), len(members)))
        for j, cj in enumerate(members):
            _, _, _, first, last, weight = ref.CAMPAIGNS[cj]
            d0 = (first - date(2016, 9, 1)).days
            d1 = (last - date(2016, 9, 1)).days if last else 10**9
            w[:, j] = np.where((day >= d0) & (day <= d1), weight, 0.0)
        return w

    def _marketing_scale(self) -> np.ndarray:
        """BRL of spend per unit of (arrival intensity x campaign weight x noise), per channel, such that
        each paid channel's batch-1 spend gives its target return on ad spend."""
        o = self.orders
        in_one = (o["b0"] == 1) & (o["outcome"] != UNAVAILABLE)
        channel = self.people["channel"][o["person"][in_one]]
        revenue = np.bincount(
            channel[channel >= 0], o["total"][in_one][channel >= 0] / 100.0, minlength=len(ref.CHANNELS)
        )
        shape = self.spend_shape()
        n1 = (BATCH1_END - CAL_START) // DAY
        scale = np.zeros(len(ref.CHANNELS))
        for ci, (cid, _name, kind, _s, _c, roas, _cpm, _ctr) in enumerate(ref.CHANNELS):
            cols = [j for j, c in enumerate(ref.CAMPAIGNS) if c[1] == cid]
            if kind != "paid" or not cols or not roas:
                continue
            units = shape[:n1, cols].sum()
            scale[ci] = revenue[ci] / roas / max(units, 1e-9)
        return scale

    def spend_shape(self) -> np.ndarray:
        """Per day and campaign: arrival intensity x campaign weight x noise (0 when inactive)."""
        if getattr(self, "_shape_cache", None) is None:
            rng = rng_for(self.seed, "spend-noise")
            noise = rng.lognormal(0.0, 0.25, (self.calendar.n_days, len(ref.CAMPAIGNS)))
            day = np.arange(self.calendar.n_days)
            activity = self._campaign_activity(list(range(len(ref.CAMPAIGNS))), day)
            self._shape_cache = self.calendar.arrival[:, None] * activity * noise
            self.spend_extra = {
                "impression_noise": rng.lognormal(0.0, 0.1, noise.shape),
                "click_noise": rng.lognormal(0.0, 0.15, noise.shape),
                "report_lag": rng.integers(3 * HOUR, 9 * HOUR, noise.shape),
            }
        return self._shape_cache

    # ------------------------------------------------------------------------------------ snapshots

    def order_rows(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Indices of the orders in landing batch ``k``: new ones first, then those that reached a final
        status during the batch; each group in a fixed random order."""
        o = self.orders
        new = np.flatnonzero(o["b0"] == k)
        changed = np.flatnonzero((o["bf"] == k) & (o["b0"] < k))
        rng = self.rng("row-order", k)
        return new[rng.permutation(len(new))], changed[rng.permutation(len(changed))]

    def status_at(self, idx: np.ndarray, t: int) -> Frame:
        """Status (index into STATUSES) and the timestamps an export at moment ``t`` shows for ``idx``."""
        o = take(self.orders, idx)
        final = o["final"] < t
        approved, carrier = o["approved"], o["carrier"]
        stuck = o["stuck_carrier"]  # the carrier date while the order is still in progress
        status = np.full(len(idx), STATUSES.index("created"))
        status[approved <= t] = STATUSES.index("approved")
        status[approved + 1800 <= t] = STATUSES.index("processing")
        status[o["invoiced"] <= t] = STATUSES.index("invoiced")
        status[stuck <= t] = STATUSES.index("shipped")
        status = np.where(final, np.array([STATUSES.index(x) for x in OUTCOMES])[o["outcome"]], status)
        shown_approved = np.where(approved <= t, approved, NEVER)
        shown_carrier = np.where(stuck <= t, stuck, NEVER)
        shown_delivered = np.full(len(idx), NEVER)
        # Final rows show the whole life cycle, with Olist's quirks.
        dl = final & (o["outcome"] == DELIVERED)
        shown_approved = np.where(final, np.where(approved < o["final"], approved, NEVER), shown_approved)
        unavailable = final & (o["outcome"] == UNAVAILABLE)
        shown_approved = np.where(unavailable & (approved <= t), approved, shown_approved)
        shown_carrier = np.where(final, np.where(carrier < o["final"], carrier, NEVER), shown_carrier)
        shown_carrier = np.where(dl, carrier, shown_carrier)
        shown_delivered = np.where(dl, o["delivered"], shown_delivered)
        quirk = o["quirk"]
        shown_approved = np.where(dl & (quirk == 1), o["approved_late"], shown_approved)
        shown_delivered = np.where(dl & (quirk == 2), NEVER, shown_delivered)
        shown_approved = np.where(dl & (quirk == 3), NEVER, shown_approved)
        return {
            "status": status,
            "approved": shown_approved,
            "carrier": shown_carrier,
            "delivered": shown_delivered,
        }

    def product_first_batch(self) -> np.ndarray:
        first = np.full(len(self.catalog.products["uid"]), 10**9)
        np.minimum.at(first, self.items["product"], self.items["b0"])
        return first

    def seller_first_batch(self) -> np.ndarray:
        first = np.full(len(self.catalog.sellers["uid"]), 10**9)
        np.minimum.at(first, self.items["seller"], self.items["b0"])
        return first

    def place_first_batch(self) -> np.ndarray:
        """The batch in which each zip prefix is first needed (customers and sellers)."""
        first = np.full(len(self.places.prefix), 10**9)
        o = self.orders
        np.minimum.at(first, o["place"], o["b0"])
        sellers_first = self.seller_first_batch()
        has = sellers_first < 10**9
        np.minimum.at(first, self.catalog.sellers["place"][has], sellers_first[has])
        return first
