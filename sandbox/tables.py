"""The simulated shop as its upstream systems show it: the Olist files of each landing batch, the
marketing platform's records, the ERP's rows and the BCB series, as pyarrow tables of strings formatted
exactly as the sandbox writes them."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import date, timedelta
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sandbox import reference as ref
from sandbox.model import (
    CAL_START,
    CATEGORY_NAMES,
    DAY,
    HOUR,
    NEVER,
    PAYMENT_TYPES,
    STATE_CODES,
    STATUSES,
    Shop,
    batch_end,
    batch_start,
    batch_start_of,
    md5_ids,
    rng_for,
)

# ------------------------------------------------------------------------------------------ formatting


@lru_cache(maxsize=1)
def _time_of_day_strings() -> pa.Array:
    """``HH:MM:SS`` for every second of a day, built once."""
    s = np.arange(DAY)
    colon = np.full(DAY, 10)  # '0' + 10 is ':'
    digits = np.stack(
        [s // 36000, s // 3600 % 10, colon, s // 600 % 6, s // 60 % 10, colon, s // 10 % 6, s % 10]
    )
    text = (digits.T + ord("0")).astype(np.uint8)
    return pa.array(np.ascontiguousarray(text).view("S8").ravel()).cast(pa.string())


def _day_strings(days: np.ndarray) -> pa.Array:
    return pa.array(np.datetime_as_string(days.astype("datetime64[D]"))).cast(pa.string())


def fmt_time(t: np.ndarray, style: str = "olist") -> pa.Array:
    """Seconds -> ``YYYY-MM-DD HH:MM:SS`` (olist), ``YYYY-MM-DDTHH:MM:SSZ`` (iso) or ``YYYY-MM-DD`` (date).

    NEVER (or any value >= NEVER) becomes the empty string (olist) or null (iso, date)."""
    t = np.asarray(t, dtype=np.int64)
    missing = t >= NEVER
    tt = np.where(missing, CAL_START, t)
    day = tt // DAY
    if len(tt) == 0:
        return pa.array([], type=pa.string())
    d0 = int(day.min())
    dates = _day_strings(np.arange(d0, int(day.max()) + 1))
    date_part = dates.take(pa.array(day - d0))
    if style == "date":
        out = date_part
    else:
        tod = _time_of_day_strings().take(pa.array(tt % DAY))
        sep = " " if style == "olist" else "T"
        out = pc.binary_join_element_wise(date_part, tod, sep)
        if style == "iso":
            out = pc.binary_join_element_wise(out, pa.scalar("Z"), "")
    if missing.any():
        if style == "olist":
            out = pc.if_else(pa.array(missing), pa.scalar(""), out)
        else:
            out = pc.if_else(pa.array(missing), pa.scalar(None, pa.string()), out)
    return out


def fmt_cents(cents: np.ndarray) -> pa.Array:
    """Integer cents -> ``"58.90"``."""
    cents = np.asarray(cents, dtype=np.int64)
    a = np.abs(cents)
    whole = pa.array(a // 100).cast(pa.string())
    frac = pc.utf8_lpad(pa.array(a % 100).cast(pa.string()), 2, "0")
    out = pc.binary_join_element_wise(whole, frac, ".")
    if (cents < 0).any():
        out = pc.if_else(pa.array(cents < 0), pc.binary_join_element_wise(pa.scalar("-"), out, ""), out)
    return out


def fmt_int(values: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    out = pa.array(np.asarray(values, dtype=np.int64)).cast(pa.string())
    if missing is not None and missing.any():
        out = pc.if_else(pa.array(missing), pa.scalar(""), out)
    return out


def fmt_ids(ids: np.ndarray) -> pa.Array:
    return pa.array(ids).cast(pa.string())


def lookup(names: list[str] | tuple[str, ...], index: np.ndarray, missing: str | None = "") -> pa.Array:
    """Strings by index; index -1 gives ``missing``."""
    index = np.asarray(index, dtype=np.int64)
    table = pa.array(list(names) + [missing], type=pa.string())
    return table.take(pa.array(np.where(index < 0, len(names), index)))


# ------------------------------------------------------------------------------- Olist tables


def olist_files(shop: Shop, k: int) -> Iterator[tuple[str, pa.Table]]:
    """The Olist files of landing batch ``k``, one at a time (so that only one is held in memory).
    Files without rows are left out of later batches; batch 1 has all nine."""
    for name, table in _olist_tables(shop, k):
        if k == 1 or table.num_rows:
            yield name, table


def olist_tables(shop: Shop, k: int) -> dict[str, pa.Table]:
    """All Olist files of landing batch ``k`` at once."""
    return dict(olist_files(shop, k))


def _olist_tables(shop: Shop, k: int) -> Iterator[tuple[str, pa.Table]]:
    new, changed = shop.order_rows(k)
    idx = np.concatenate([new, changed])
    o = shop.orders
    t = batch_end(k)
    snap = shop.status_at(idx, t)
    places = shop.places
    towns = places.town_plain
    customer_uid = shop.people["uid"][o["person"]]
    yield (
        "olist_customers_dataset.csv",
        pa.table(
            {
                "customer_id": fmt_ids(o["customer_uid"][new]),
                "customer_unique_id": fmt_ids(customer_uid[new]),
                "customer_zip_code_prefix": _zip(shop, o["place"][new]),
                "customer_city": lookup(towns, places.town[o["place"][new]]),
                "customer_state": lookup(STATE_CODES, places.state[o["place"][new]]),
            }
        ),
    )
    yield (
        "olist_orders_dataset.csv",
        pa.table(
            {
                "order_id": fmt_ids(o["uid"][idx]),
                "customer_id": fmt_ids(o["customer_uid"][idx]),
                "order_status": lookup(STATUSES, snap["status"]),
                "order_purchase_timestamp": fmt_time(o["purchase"][idx]),
                "order_approved_at": fmt_time(snap["approved"]),
                "order_delivered_carrier_date": fmt_time(snap["carrier"]),
                "order_delivered_customer_date": fmt_time(snap["delivered"]),
                "order_estimated_delivery_date": fmt_time(o["estimated"][idx]),
            }
        ),
    )
    # Items and payments of the new orders, grouped by order in the orders file's order.
    rank = np.full(len(o["uid"]), -1)
    rank[new] = np.arange(len(new))
    it = shop.items
    sel = np.flatnonzero(rank[it["order"]] >= 0)
    sel = sel[np.lexsort((it["item_no"][sel], rank[it["order"][sel]]))]
    cat = shop.catalog
    yield (
        "olist_order_items_dataset.csv",
        pa.table(
            {
                "order_id": fmt_ids(o["uid"][it["order"][sel]]),
                "order_item_id": fmt_int(it["item_no"][sel]),
                "product_id": fmt_ids(cat.products["uid"][it["product"][sel]]),
                "seller_id": fmt_ids(cat.sellers["uid"][it["seller"][sel]]),
                "shipping_limit_date": fmt_time(it["shipping_limit"][sel]),
                "price": fmt_cents(it["price"][sel]),
                "freight_value": fmt_cents(it["freight"][sel]),
            }
        ),
    )
    pay = shop.payments
    sel = np.flatnonzero(rank[pay["order"]] >= 0)
    sel = sel[np.lexsort((pay["seq"][sel], rank[pay["order"][sel]]))]
    yield (
        "olist_order_payments_dataset.csv",
        pa.table(
            {
                "order_id": fmt_ids(o["uid"][pay["order"][sel]]),
                "payment_sequential": fmt_int(pay["seq"][sel]),
                "payment_type": lookup(PAYMENT_TYPES, pay["type"][sel]),
                "payment_installments": fmt_int(pay["installments"][sel]),
                "payment_value": fmt_cents(pay["value"][sel]),
            }
        ),
    )
    rv = shop.reviews
    sel = np.flatnonzero(rv["batch"] == k)
    sel = sel[shop.rng("review-order", k).permutation(len(sel))]
    titles = _texts(ref.REVIEW_TITLES)
    messages = _texts(ref.REVIEW_MESSAGES)
    yield (
        "olist_order_reviews_dataset.csv",
        pa.table(
            {
                "review_id": fmt_ids(rv["uid"][sel]),
                "order_id": fmt_ids(o["uid"][rv["order"][sel]]),
                "review_score": fmt_int(rv["score"][sel]),
                "review_comment_title": _text_column(titles, rv["score"][sel], rv["title"][sel]),
                "review_comment_message": _text_column(messages, rv["score"][sel], rv["message"][sel]),
                "review_creation_date": fmt_time(rv["created"][sel]),
                "review_answer_timestamp": fmt_time(rv["answered"][sel]),
            }
        ),
    )
    prods = np.flatnonzero(shop.product_first_batch() == k)
    prods = prods[shop.rng("product-order", k).permutation(len(prods))]
    p = cat.products
    no_cat = p["category"][prods] < 0
    yield (
        "olist_products_dataset.csv",
        pa.table(
            {
                "product_id": fmt_ids(p["uid"][prods]),
                "product_category_name": lookup(CATEGORY_NAMES, p["category"][prods]),
                "product_name_lenght": fmt_int(p["name_len"][prods], no_cat),
                "product_description_lenght": fmt_int(p["desc_len"][prods], no_cat),
                "product_photos_qty": fmt_int(p["photos"][prods], no_cat),
                "product_weight_g": fmt_int(p["weight_g"][prods]),
                "product_length_cm": fmt_int(p["length_cm"][prods]),
                "product_height_cm": fmt_int(p["height_cm"][prods]),
                "product_width_cm": fmt_int(p["width_cm"][prods]),
            }
        ),
    )
    sellers = np.flatnonzero(shop.seller_first_batch() == k)
    sellers = sellers[shop.rng("seller-order", k).permutation(len(sellers))]
    splace = cat.sellers["place"][sellers]
    yield (
        "olist_sellers_dataset.csv",
        pa.table(
            {
                "seller_id": fmt_ids(cat.sellers["uid"][sellers]),
                "seller_zip_code_prefix": _zip(shop, splace),
                "seller_city": lookup(towns, places.town[splace]),
                "seller_state": lookup(STATE_CODES, places.state[splace]),
            }
        ),
    )
    yield "olist_geolocation_dataset.csv", _geolocation(shop, k)
    if k == 1:
        yield (
            "product_category_name_translation.csv",
            pa.table(
                {
                    "product_category_name": pa.array(
                        [c[0] for c in ref.CATEGORIES if c[1]], type=pa.string()
                    ),
                    "product_category_name_english": pa.array(
                        [c[1] for c in ref.CATEGORIES if c[1]], type=pa.string()
                    ),
                }
            ),
        )


def _zip(shop: Shop, place: np.ndarray) -> pa.Array:
    return pc.utf8_lpad(pa.array(shop.places.prefix[place]).cast(pa.string()), 5, "0")


def _texts(pool: dict[int, tuple[str, ...]]) -> tuple[list[str], np.ndarray]:
    flat: list[str] = []
    offsets = np.zeros(6, dtype=np.int64)
    for s in range(1, 6):
        offsets[s] = len(flat)
        flat.extend(pool[s])
    return flat, offsets


def _text_column(texts: tuple[list[str], np.ndarray], score: np.ndarray, index: np.ndarray) -> pa.Array:
    flat, offsets = texts
    return lookup(flat, np.where(index < 0, -1, offsets[score] + index))


def _geolocation(shop: Shop, k: int) -> pa.Table:
    places = shop.places
    first = shop.place_first_batch()
    rng0 = rng_for(shop.seed, "geolocation")
    n_places = len(places.prefix)
    rank = rng0.permutation(n_places)
    never = rng0.random(n_places) < 0.004  # a few prefixes lack coordinates, as in Olist
    # Batch 1 also covers some prefixes nobody uses yet (a quarter more, as in Olist).
    unused = np.flatnonzero(first > 1)
    extra_idx = unused[np.argsort(rank[unused])[: round(0.25 * int((first == 1).sum()))]]
    extra = np.zeros(n_places, dtype=bool)
    extra[extra_idx] = True
    if k == 1:
        chosen = np.flatnonzero(((first == 1) | extra) & ~never)
    else:
        chosen = np.flatnonzero((first == k) & ~extra & ~never)
    rng = rng_for(shop.seed, "geolocation", k)
    counts = 1 + rng.poisson(9.0, len(chosen))
    place = np.repeat(chosen, counts)
    m = len(place)
    lat = places.lat[place] + rng.normal(0.0, 1.0, m) * places.spread[place]
    lng = places.lng[place] + rng.normal(0.0, 1.0, m) * places.spread[place]
    names = places.town_names
    plain = places.town_plain
    lower = [name.lower() for name in names]
    spelling = rng.random(m)
    town = places.town[place]
    city = pc.if_else(pa.array(spelling < 0.82), lookup(plain, town), lookup(lower, town))
    return pa.table(
        {
            "geolocation_zip_code_prefix": _zip(shop, place),
            "geolocation_lat": pa.array(np.round(lat, 14)).cast(pa.string()),
            "geolocation_lng": pa.array(np.round(lng, 14)).cast(pa.string()),
            "geolocation_city": city,
            "geolocation_state": lookup(STATE_CODES, places.state[place]),
        }
    )


# --------------------------------------------------------------------------- marketing tables


def marketing_tables(shop: Shop) -> dict[str, pa.Table]:
    """channels, ad_spend and leads as seen at the end of the last batch (values as JSON literals)."""
    t_end = batch_end(shop.batches)
    channels = pa.table(
        {
            "channel_id": _json_str([c[0] for c in ref.CHANNELS]),
            "channel_name": _json_str([c[1] for c in ref.CHANNELS]),
            "channel_type": _json_str([c[2] for c in ref.CHANNELS]),
            "updated_at": _json_str(["2016-09-01T00:00:00Z"] * len(ref.CHANNELS)),
        }
    )
    return {"channels": channels, "ad_spend": _ad_spend(shop, t_end), "leads": _lead_table(shop, t_end)}


def _ad_spend(shop: Shop, t_end: int) -> pa.Table:
    shape = shop.spend_shape()
    extra = shop.spend_extra
    n_days = (t_end - CAL_START) // DAY
    channel_of = np.array([[c[0] for c in ref.CHANNELS].index(c[1]) for c in ref.CAMPAIGNS])
    scale = shop.spend_scale[channel_of]
    spend = shape[:n_days] * scale[None, :]
    day = np.arange(n_days)
    updated = CAL_START + (day[:, None] + 1) * DAY + extra["report_lag"][:n_days]
    # Ad platforms restate recent days: each batch revises a few days reported in the one before.
    for k in range(2, shop.batches + 1):
        rng = rng_for(shop.seed, "restatement", k)
        d_hi = (batch_start(k) - CAL_START) // DAY - 2
        days = np.arange(d_hi - 3, d_hi)
        factor = 1.0 + rng.normal(0.0, 0.03, (len(days), spend.shape[1]))
        spend[days] *= factor
        updated[days] = batch_start(k) + rng.integers(6 * HOUR, 30 * HOUR, (len(days), spend.shape[1]))
    d_idx, c_idx = np.nonzero((spend > 0) & (updated < t_end))
    cents = np.round(spend[d_idx, c_idx] * 100).astype(np.int64)
    keep = cents > 0
    d_idx, c_idx, cents = d_idx[keep], c_idx[keep], cents[keep]
    cpm = np.array([c[6] for c in ref.CHANNELS])[channel_of][c_idx]
    ctr = np.array([c[7] for c in ref.CHANNELS])[channel_of][c_idx]
    impressions = np.round(cents / 100 / cpm * 1000 * extra["impression_noise"][d_idx, c_idx]).astype(
        np.int64
    )
    clicks = np.round(impressions * ctr * extra["click_noise"][d_idx, c_idx]).astype(np.int64)
    dates = fmt_time(CAL_START + d_idx * DAY, "date")
    campaign_ids = [c[0] for c in ref.CAMPAIGNS]
    ids = [
        hashlib.md5(f"{d}|{campaign_ids[c]}".encode()).hexdigest()
        for d, c in zip(dates.to_pylist(), c_idx.tolist(), strict=True)
    ]
    return pa.table(
        {
            "spend_id": _json_str(ids),
            "spend_date": _quote(dates),
            "channel_id": lookup(_json_strs([c[0] for c in ref.CHANNELS]), channel_of[c_idx]),
            "campaign_id": lookup(_json_strs(campaign_ids), c_idx),
            "campaign_name": lookup(_json_strs([c[2] for c in ref.CAMPAIGNS]), c_idx),
            "spend": fmt_cents(cents),
            "currency": pa.array(['"BRL"'] * len(cents), type=pa.string()),
            "impressions": fmt_int(impressions),
            "clicks": fmt_int(clicks),
            "updated_at": _quote(fmt_time(updated[d_idx, c_idx], "iso")),
        }
    )


def _lead_table(shop: Shop, t_end: int) -> pa.Table:
    ld = shop.leads
    visible = np.flatnonzero(ld["batch"] <= shop.batches)
    order = np.lexsort((ld["uid"][visible], ld["created"][visible]))
    idx = visible[order]
    converted = (ld["convert_batch"][idx] >= 1) & (ld["convert_batch"][idx] <= shop.batches)
    conv_at = np.where(converted, ld["converted"][idx], NEVER)
    person = np.where(converted, ld["person"][idx], -1)
    updated = np.where(converted, conv_at, ld["created_updated"][idx])
    uid_col = pc.if_else(
        pa.array(person >= 0),
        _quote(fmt_ids(shop.people["uid"][np.maximum(person, 0)])),
        pa.scalar("null"),
    )
    return pa.table(
        {
            "lead_id": _quote(fmt_ids(ld["uid"][idx])),
            "channel_id": lookup(_json_strs([c[0] for c in ref.CHANNELS]), ld["channel"][idx]),
            "campaign_id": lookup(_json_strs([c[0] for c in ref.CAMPAIGNS]), ld["campaign"][idx], "null"),
            "created_at": _quote(fmt_time(ld["created"][idx], "iso")),
            "converted_at": pc.fill_null(_quote(fmt_time(conv_at, "iso")), "null"),
            "customer_unique_id": uid_col,
            "updated_at": _quote(fmt_time(updated, "iso")),
        }
    )


# --------------------------------------------------------------------------------- ERP tables


def erp_tables(shop: Shop) -> dict[str, pa.Table]:
    return {"product_costs": _product_costs(shop), "refunds": _refund_table(shop)}


def _product_costs(shop: Shop) -> pa.Table:
    cat = shop.catalog
    p, ch = cat.products, cat.changes
    t_end = batch_end(shop.batches)
    products = np.flatnonzero(p["launch"] <= shop.batches)
    launch = np.where(p["launch"] == 1, CAL_START, batch_start_of(p["launch"]))
    visible = np.flatnonzero(ch["time"] < t_end)
    # Periods: one opening period per product, one more per change.
    prod = np.concatenate([products, ch["product"][visible]])
    start = np.concatenate([launch[products], ch["time"][visible]])
    created = np.concatenate([launch[products] + 9 * HOUR, ch["updated"][visible]])
    factor = np.concatenate([np.ones(len(products)), ch["cost_factor"][visible]])
    order = np.lexsort((start, prod))
    prod, start, created, factor = prod[order], start[order], created[order], factor[order]
    same_next = np.concatenate([prod[1:] == prod[:-1], [False]])
    end = np.where(same_next, np.concatenate([start[1:], [NEVER]]), NEVER)
    updated = np.where(same_next, np.concatenate([created[1:], [NEVER]]), created)
    group_start = np.concatenate([[True], prod[1:] != prod[:-1]])
    # Cumulative product of factors within each product.
    log_f = np.log(factor)
    cum = np.cumsum(log_f)
    base_at = np.maximum.accumulate(np.where(group_start, np.arange(len(prod)), 0))
    cum_within = cum - cum[base_at] + log_f[base_at]
    cost = p["base_cents"][prod] * p["cost_ratio"][prod] * np.exp(cum_within)
    return pa.table(
        {
            "product_id": fmt_ids(p["uid"][prod]),
            "valid_from": fmt_time(start, "date"),
            "valid_to": pc.fill_null(fmt_time(end, "date"), ""),
            "unit_cost": fmt_cents(np.round(cost).astype(np.int64)),
            "currency": pa.array(["BRL"] * len(prod), type=pa.string()),
            "updated_at": fmt_time(updated, "iso"),
        }
    )


def _refund_table(shop: Shop) -> pa.Table:
    o = shop.orders
    t_end = batch_end(shop.batches)
    idx = np.flatnonzero(o["refund"] & (o["refund_updated"] < t_end))
    idx = idx[np.argsort(o["refunded_at"][idx], kind="stable")]
    ids = md5_ids("refund", o["uid"][idx])
    return pa.table(
        {
            "refund_id": fmt_ids(ids),
            "order_id": fmt_ids(o["uid"][idx]),
            "amount": fmt_cents(o["refund_amount"][idx]),
            "refunded_at": fmt_time(o["refunded_at"][idx], "iso"),
            "reason": lookup([r[0] for r in ref.REFUND_REASONS], o["refund_reason"][idx]),
            "updated_at": fmt_time(o["refund_updated"][idx], "iso"),
        }
    )


# --------------------------------------------------------------------------------- BCB series


def sgs_series(shop: Shop) -> dict[int, list[dict[str, str]]]:
    """IPCA (433, monthly, once published) and Selic (432, every calendar day) up to the snapshot."""
    end = date(1970, 1, 1) + timedelta(days=batch_end(shop.batches) // DAY)  # exclusive
    rng = rng_for(shop.seed, "ipca")
    ipca = []
    y, m = ref.SGS_START.year, ref.SGS_START.month
    while True:
        release = date(y + (m == 12), m % 12 + 1, ref.IPCA_RELEASE_DAY)
        if release >= end:
            break
        value = ref.IPCA.get((y, m))
        noise = rng.normal(0.35, 0.25)  # drawn every month so later months never depend on the batch
        if value is None:
            value = f"{max(-0.6, min(1.4, noise)):.2f}"
        ipca.append({"data": f"01/{m:02d}/{y}", "valor": value})
        y, m = y + (m == 12), m % 12 + 1
    selic = []
    day = ref.SGS_START
    steps = list(ref.SELIC)
    j = 0
    while day < end:
        while j + 1 < len(steps) and steps[j + 1][0] <= day:
            j += 1
        selic.append({"data": day.strftime("%d/%m/%Y"), "valor": steps[j][1]})
        day += timedelta(days=1)
    return {433: ipca, 432: selic}


# ------------------------------------------------------------------------------------------ JSON bits


def _json_strs(values: list[str]) -> list[str]:
    return [json.dumps(v, ensure_ascii=False) for v in values]


def _json_str(values: list[str]) -> pa.Array:
    return pa.array(_json_strs(values), type=pa.string())


def _quote(array: pa.Array) -> pa.Array:
    """Plain strings without quotes or backslashes (ids, timestamps) as JSON string literals."""
    return pc.binary_join_element_wise(pa.scalar('"'), array, pa.scalar('"'), "")
