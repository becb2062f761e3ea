"""The sandbox generator: file formats, a consistent shop, batches and dirty data (small scale)."""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from sandbox import generate as gen
from sandbox import reference as ref

ORDERS = 2000
SEED = 7
T1 = "2018-10-18"  # end of batch 1 (exclusive)
HEADERS = {
    "olist_customers_dataset.csv": [
        "customer_id",
        "customer_unique_id",
        "customer_zip_code_prefix",
        "customer_city",
        "customer_state",
    ],
    "olist_orders_dataset.csv": [
        "order_id",
        "customer_id",
        "order_status",
        "order_purchase_timestamp",
        "order_approved_at",
        "order_delivered_carrier_date",
        "order_delivered_customer_date",
        "order_estimated_delivery_date",
    ],
    "olist_order_items_dataset.csv": [
        "order_id",
        "order_item_id",
        "product_id",
        "seller_id",
        "shipping_limit_date",
        "price",
        "freight_value",
    ],
    "olist_order_payments_dataset.csv": [
        "order_id",
        "payment_sequential",
        "payment_type",
        "payment_installments",
        "payment_value",
    ],
    "olist_order_reviews_dataset.csv": [
        "review_id",
        "order_id",
        "review_score",
        "review_comment_title",
        "review_comment_message",
        "review_creation_date",
        "review_answer_timestamp",
    ],
    "olist_products_dataset.csv": [
        "product_id",
        "product_category_name",
        "product_name_lenght",
        "product_description_lenght",
        "product_photos_qty",
        "product_weight_g",
        "product_length_cm",
        "product_height_cm",
        "product_width_cm",
    ],
    "olist_sellers_dataset.csv": ["seller_id", "seller_zip_code_prefix", "seller_city", "seller_state"],
    "olist_geolocation_dataset.csv": [
        "geolocation_zip_code_prefix",
        "geolocation_lat",
        "geolocation_lng",
        "geolocation_city",
        "geolocation_state",
    ],
    "product_category_name_translation.csv": ["product_category_name", "product_category_name_english"],
}
HEX32 = re.compile(r"^[0-9a-f]{32}$")
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
MONEY = re.compile(r"^\d+\.\d{2}$")
NON_FINAL = {"shipped", "invoiced", "processing", "created", "approved"}


def read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def records(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def all_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def two(tmp_path_factory) -> Path:
    """Batches 1 and 2 of a clean shop."""
    out = tmp_path_factory.mktemp("two")
    gen.generate(out, orders=ORDERS, seed=SEED, batch=2, progress=False)
    return out


@pytest.fixture(scope="module")
def one(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("one")
    gen.generate(out, orders=ORDERS, seed=SEED, batch=1, progress=False)
    return out


@pytest.fixture(scope="module")
def dirty(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dirty")
    gen.generate(out, orders=ORDERS, seed=SEED, batch=2, dirty_share=0.05, progress=False)
    return out


@pytest.fixture(scope="module")
def batch1(two: Path) -> dict[str, pd.DataFrame]:
    folder = two / "landing" / "batch_0001"
    return {name.removeprefix("olist_").removesuffix("_dataset.csv"): read(folder / name) for name in HEADERS}


# ------------------------------------------------------------------------------------------ determinism


def test_same_arguments_give_the_same_bytes(two: Path, tmp_path: Path) -> None:
    gen.generate(tmp_path, orders=ORDERS, seed=SEED, batch=2, progress=False)
    assert all_files(tmp_path) == all_files(two)


def test_another_seed_gives_other_data(one: Path, tmp_path: Path) -> None:
    gen.generate(tmp_path, orders=ORDERS, seed=SEED + 1, progress=False)
    name = "landing/batch_0001/olist_orders_dataset.csv"
    assert (tmp_path / name).read_bytes() != (one / name).read_bytes()


def test_batch_two_leaves_batch_one_files_unchanged(one: Path, two: Path) -> None:
    assert all_files(one / "landing" / "batch_0001") == all_files(two / "landing" / "batch_0001")


def test_generating_batch_two_later_does_not_touch_batch_one(two: Path, tmp_path: Path) -> None:
    gen.generate(tmp_path, orders=ORDERS, seed=SEED, batch=1, progress=False)
    folder = tmp_path / "landing" / "batch_0001"
    stamps = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    gen.generate(tmp_path, orders=ORDERS, seed=SEED, batch=2, progress=False)
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == stamps
    assert all_files(tmp_path) == all_files(two)


def test_going_back_to_batch_one_removes_later_batches(one: Path, tmp_path: Path) -> None:
    gen.generate(tmp_path, orders=ORDERS, seed=SEED, batch=2, progress=False)
    gen.generate(tmp_path, orders=ORDERS, seed=SEED, batch=1, progress=False)
    assert not (tmp_path / "landing" / "batch_0002").exists()
    assert all_files(tmp_path) == all_files(one)


def test_batch_one_is_rewritten_when_missing(two: Path, tmp_path: Path) -> None:
    gen.generate(tmp_path, orders=ORDERS, seed=SEED, batch=2, progress=False)
    (tmp_path / "landing" / "batch_0001" / "olist_orders_dataset.csv").unlink()
    gen.generate(tmp_path, orders=ORDERS, seed=SEED, batch=2, progress=False)
    assert all_files(tmp_path) == all_files(two)


# ---------------------------------------------------------------------------------------------- format


def test_landing_files_have_olist_headers_and_quote_every_field(two: Path) -> None:
    folder = two / "landing" / "batch_0001"
    assert sorted(p.name for p in folder.iterdir()) == sorted(HEADERS)
    for name, header in HEADERS.items():
        raw = (folder / name).read_bytes().decode("utf-8")
        assert raw.splitlines()[0] == ",".join(f'"{c}"' for c in header), name
        assert raw.endswith("\n") and '\r\n"' not in raw
        rows = records(folder / name)
        assert rows[0] == header
        assert all(len(r) == len(header) for r in rows), name
        if name != "olist_order_reviews_dataset.csv":  # the only file whose values hold quotes or line breaks
            pattern = re.compile(r'^"[^"]*"(,"[^"]*")*$')
            assert all(pattern.match(line) for line in raw.splitlines()), name
    reviews = (folder / "olist_order_reviews_dataset.csv").read_bytes().decode("utf-8")
    assert '""' in reviews and "\r\n" in reviews  # escaped quotes and line breaks inside messages


def test_values_look_like_olist(batch1: dict[str, pd.DataFrame]) -> None:
    orders, items, customers = batch1["orders"], batch1["order_items"], batch1["customers"]
    for frame, columns in (
        (orders, ["order_id", "customer_id"]),
        (items, ["order_id", "product_id", "seller_id"]),
        (customers, ["customer_id", "customer_unique_id"]),
        (batch1["order_reviews"], ["review_id", "order_id"]),
        (batch1["products"], ["product_id"]),
        (batch1["sellers"], ["seller_id"]),
    ):
        for column in columns:
            assert frame[column].str.match(HEX32).all(), column
    assert orders["order_purchase_timestamp"].str.match(TIMESTAMP).all()
    for column in ["order_approved_at", "order_delivered_carrier_date", "order_delivered_customer_date"]:
        values = orders[column]
        assert (values.eq("") | values.str.match(TIMESTAMP)).all(), column
    assert orders["order_estimated_delivery_date"].str.endswith(" 00:00:00").all()
    assert items["price"].str.match(MONEY).all() and items["freight_value"].str.match(MONEY).all()
    assert batch1["order_payments"]["payment_value"].str.match(MONEY).all()
    assert customers["customer_zip_code_prefix"].str.match(r"^\d{5}$").all()
    assert customers["customer_zip_code_prefix"].str.startswith("0").any()  # leading zeros kept (SP 01000-)
    assert set(customers["customer_state"]) <= set(ref.STATES)
    assert customers["customer_city"].eq(customers["customer_city"].str.lower()).all()
    geo = batch1["geolocation"]
    lat, lng = geo["geolocation_lat"].astype(float), geo["geolocation_lng"].astype(float)
    assert lat.between(-34, 5.5).all() and lng.between(-74, -34.5).all()
    assert set(batch1["order_payments"]["payment_type"]) <= {
        "credit_card",
        "boleto",
        "voucher",
        "debit_card",
        "not_defined",
    }


def test_categories_and_translation(batch1: dict[str, pd.DataFrame]) -> None:
    translation = batch1["product_category_name_translation.csv"]
    products = batch1["products"]
    assert len(translation) == 71
    used = set(products["product_category_name"]) - {""}
    assert used <= {c[0] for c in ref.CATEGORIES}
    untranslated = {c[0] for c in ref.CATEGORIES} - set(translation["product_category_name"])
    assert untranslated == {"pc_gamer", "portateis_cozinha_e_preparadores_de_alimentos"}
    empty = products["product_category_name"].eq("")
    assert 0.003 < empty.mean() < 0.04
    assert products.loc[empty, "product_name_lenght"].eq("").all()


def test_geolocation_has_many_rows_per_prefix_and_both_spellings(batch1: dict[str, pd.DataFrame]) -> None:
    geo = batch1["geolocation"]
    per_prefix = geo.groupby("geolocation_zip_code_prefix").size()
    assert 7 <= per_prefix.mean() <= 13
    sp = geo.loc[geo["geolocation_zip_code_prefix"].str.startswith("01"), "geolocation_city"]
    assert {"sao paulo", "são paulo"} <= set(sp)
    covered = batch1["customers"]["customer_zip_code_prefix"].isin(set(geo["geolocation_zip_code_prefix"]))
    assert covered.mean() > 0.98


# ------------------------------------------------------------------------------------------ consistency


def test_referential_consistency(batch1: dict[str, pd.DataFrame]) -> None:
    orders, items, customers = batch1["orders"], batch1["order_items"], batch1["customers"]
    assert len(orders) == ORDERS and orders["order_id"].is_unique
    assert customers["customer_id"].is_unique
    assert set(orders["customer_id"]) == set(customers["customer_id"])  # one customer_id per order
    order_ids = set(orders["order_id"])
    assert set(items["order_id"]) <= order_ids
    assert set(batch1["order_payments"]["order_id"]) <= order_ids
    assert set(batch1["order_reviews"]["order_id"]) <= order_ids
    assert set(items["product_id"]) == set(batch1["products"]["product_id"])
    assert set(items["seller_id"]) == set(batch1["sellers"]["seller_id"])
    numbering = items.groupby("order_id")["order_item_id"].apply(lambda s: sorted(map(int, s)))
    assert all(n == list(range(1, len(n) + 1)) for n in numbering)
    # Unavailable orders have no items, as in Olist; the others do.
    without_items = orders.loc[~orders["order_id"].isin(set(items["order_id"])), "order_status"]
    assert set(without_items) == {"unavailable"}


def test_payments_add_up_to_items_and_freight(batch1: dict[str, pd.DataFrame]) -> None:
    items, payments = batch1["order_items"], batch1["order_payments"]
    cents = lambda s: (s.astype(float) * 100).round().astype(int)  # noqa: E731
    owed = (cents(items["price"]) + cents(items["freight_value"])).groupby(items["order_id"]).sum()
    paid = cents(payments["payment_value"]).groupby(payments["order_id"]).sum()
    both = pd.concat([owed, paid], axis=1, keys=["owed", "paid"]).dropna()
    assert len(both) == len(owed)
    assert (both["owed"] == both["paid"]).all()
    assert payments.groupby("order_id").size().max() > 1  # some orders pay in several rows
    assert set(payments["payment_installments"].astype(int)) >= {1, 2, 10}


def test_timestamps_follow_the_life_cycle(batch1: dict[str, pd.DataFrame]) -> None:
    orders = batch1["orders"]
    ts = {c: pd.to_datetime(orders[c].replace("", None)) for c in orders.columns if "date" in c or "_at" in c}
    purchase = pd.to_datetime(orders["order_purchase_timestamp"])
    assert (ts["order_approved_at"].dropna() >= purchase[ts["order_approved_at"].notna()]).all()
    delivered = ts["order_delivered_customer_date"]
    assert (delivered.dropna() > ts["order_delivered_carrier_date"][delivered.notna()]).all()
    assert (ts["order_estimated_delivery_date"] > purchase).all()
    assert purchase.max() < pd.Timestamp(T1) and purchase.min() >= pd.Timestamp("2016-09-04")
    # Olist's quirks: some pick-ups recorded before the approval.
    assert (ts["order_delivered_carrier_date"] < ts["order_approved_at"]).sum() > 0
    is_delivered = orders["order_status"].eq("delivered")
    assert orders.loc[~is_delivered, "order_delivered_customer_date"].eq("").all()
    late = (delivered > ts["order_estimated_delivery_date"])[is_delivered].mean()
    assert 0.02 < late < 0.15


def test_status_mix_is_olist_like(batch1: dict[str, pd.DataFrame]) -> None:
    share = batch1["orders"]["order_status"].value_counts(normalize=True)
    assert set(share.index) <= {"delivered", *NON_FINAL, "canceled", "unavailable"}
    assert 0.93 < share["delivered"] < 0.985
    assert {"shipped", "canceled", "unavailable", "invoiced", "processing"} <= set(share.index)


def test_people_repeat_purchases(batch1: dict[str, pd.DataFrame]) -> None:
    customers = batch1["customers"]
    per_person = customers.groupby("customer_unique_id").size()
    one_time = (per_person == 1).mean()
    assert 0.7 < one_time < 0.88
    assert per_person.max() >= 4  # some loyal customers
    # Spend per person varies a lot (gamma-distributed price level).
    items = batch1["order_items"].merge(customers.merge(batch1["orders"], on="customer_id"), on="order_id")
    spend = items.groupby("customer_unique_id")["price"].apply(lambda s: s.astype(float).mean())
    assert spend.quantile(0.9) > 4 * spend.quantile(0.1)


def test_seasonality(batch1: dict[str, pd.DataFrame]) -> None:
    purchase = pd.to_datetime(batch1["orders"]["order_purchase_timestamp"])
    monthly = purchase.dt.strftime("%Y-%m").value_counts()
    mean = monthly[(monthly.index >= "2017-01") & (monthly.index <= "2018-09")].mean()
    assert monthly["2017-11"] > mean and monthly["2017-12"] > mean
    assert monthly["2018-03"] > monthly["2017-03"]  # growth
    daily = purchase.dt.date.value_counts()
    october = daily[[d for d in daily.index if d.year == 2017 and d.month == 10]].mean()
    assert daily[datetime(2017, 11, 24).date()] > 2 * october  # Black Friday
    weekday = purchase.dt.weekday.value_counts()
    assert weekday[[0, 1]].mean() > weekday[[5, 6]].mean()


def test_reviews_olist_quirks(batch1: dict[str, pd.DataFrame]) -> None:
    reviews = batch1["order_reviews"]
    assert reviews["review_id"].duplicated().any()  # one review for several orders
    assert not reviews[["review_id", "order_id"]].duplicated().any()
    assert reviews["review_comment_message"].eq("").mean() > 0.4
    assert reviews["review_comment_title"].eq("").mean() > 0.8
    assert set(reviews["review_score"]) == {"1", "2", "3", "4", "5"}
    assert reviews["review_creation_date"].str.endswith(" 00:00:00").all()


# ---------------------------------------------------------------------------------------------- batches


def test_batch_two_holds_new_orders_and_status_changes(two: Path, batch1: dict[str, pd.DataFrame]) -> None:
    folder = two / "landing" / "batch_0002"
    orders = read(folder / "olist_orders_dataset.csv")
    old = batch1["orders"].set_index("order_id")
    changed = orders[orders["order_id"].isin(old.index)]
    new = orders[~orders["order_id"].isin(old.index)]
    assert len(new) == round(0.01 * ORDERS)
    assert len(changed) > 0
    # Changed orders were in progress in batch 1 and are final now; the rest of the row is the same.
    assert set(old.loc[changed["order_id"], "order_status"]) <= NON_FINAL
    assert set(changed["order_status"]) <= {"delivered", "canceled"}
    before = old.loc[changed["order_id"]]
    assert (changed["customer_id"].to_numpy() == before["customer_id"].to_numpy()).all()
    assert (
        changed["order_purchase_timestamp"].to_numpy() == before["order_purchase_timestamp"].to_numpy()
    ).all()
    assert (pd.to_datetime(changed["order_purchase_timestamp"]) < pd.Timestamp(T1)).all()
    assert (pd.to_datetime(new["order_purchase_timestamp"]) >= pd.Timestamp(T1)).all()
    # Rows hanging off orders come only for the new ones.
    customers = read(folder / "olist_customers_dataset.csv")
    assert set(customers["customer_id"]) == set(new["customer_id"])
    items = read(folder / "olist_order_items_dataset.csv")
    assert set(items["order_id"]) <= set(new["order_id"])
    assert set(read(folder / "olist_order_payments_dataset.csv")["order_id"]) <= set(new["order_id"])
    reviews = read(folder / "olist_order_reviews_dataset.csv")
    assert set(reviews["order_id"]) <= set(orders["order_id"])
    # New orders come from new and returning people.
    returning = customers["customer_unique_id"].isin(set(batch1["customers"]["customer_unique_id"]))
    assert 0 < returning.sum() < len(customers)
    # Zip prefixes seen for the first time get their geolocation rows in this batch.
    geo = set(batch1["geolocation"]["geolocation_zip_code_prefix"])
    geo |= set(read(folder / "olist_geolocation_dataset.csv")["geolocation_zip_code_prefix"])
    assert customers["customer_zip_code_prefix"].isin(geo).mean() > 0.95
    # Products and sellers: only new rows; no translation file in a delta batch.
    assert not (folder / "product_category_name_translation.csv").exists()
    products = read(folder / "olist_products_dataset.csv")
    assert not set(products["product_id"]) & set(batch1["products"]["product_id"])
    assert set(items["product_id"]) <= set(products["product_id"]) | set(batch1["products"]["product_id"])


def _rows(path: Path) -> list[dict]:
    if path.suffix == ".jsonl":
        return read_jsonl(path)
    return read(path).to_dict("records")


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("marketing/leads.jsonl", ("lead_id",)),
        ("marketing/ad_spend.jsonl", ("spend_id",)),
        ("erp/product_costs.csv", ("product_id", "valid_from")),
        ("erp/refunds.csv", ("refund_id",)),
    ],
)
def test_rewritten_outputs_change_only_with_a_later_updated_at(one: Path, two: Path, name, key) -> None:
    before = {tuple(r[k] for k in key): r for r in _rows(one / name)}
    after = {tuple(r[k] for k in key): r for r in _rows(two / name)}
    assert len(before) == len(_rows(one / name))  # keys are unique
    assert set(before) <= set(after)
    touched = [k for k in after if k not in before or after[k] != before[k]]
    assert touched, name
    assert all(after[k]["updated_at"] >= T1 for k in touched)
    assert all(r["updated_at"] < T1 for r in before.values())


# -------------------------------------------------------------------------------------------- marketing


def test_marketing_records(two: Path) -> None:
    channels = read_jsonl(two / "marketing" / "channels.jsonl")
    assert [c["channel_id"] for c in channels] == [c[0] for c in ref.CHANNELS]
    assert {c["channel_type"] for c in channels} == {"paid", "organic"}
    spend = read_jsonl(two / "marketing" / "ad_spend.jsonl")
    assert len({s["spend_id"] for s in spend}) == len(spend)
    assert all(s["currency"] == "BRL" and isinstance(s["spend"], int | float) for s in spend)
    assert all(round(s["spend"], 2) == s["spend"] and s["clicks"] <= s["impressions"] for s in spend)
    assert all(ISO_Z.match(s["updated_at"]) for s in spend)
    assert min(s["spend_date"] for s in spend) == "2016-09-01"
    leads = read_jsonl(two / "marketing" / "leads.jsonl")
    assert list(leads[0]) == [
        "lead_id",
        "channel_id",
        "campaign_id",
        "created_at",
        "converted_at",
        "customer_unique_id",
        "updated_at",
    ]
    assert all(ISO_Z.match(x["created_at"]) for x in leads)


def test_converted_leads_point_at_real_people_before_their_first_purchase(two: Path) -> None:
    customers = pd.concat(read(p) for p in sorted(two.glob("landing/*/olist_customers_dataset.csv")))
    orders = pd.concat(read(p) for p in sorted(two.glob("landing/*/olist_orders_dataset.csv")))
    orders = orders.drop_duplicates("order_id", keep="first").merge(customers, on="customer_id")
    first = pd.to_datetime(orders.groupby("customer_unique_id")["order_purchase_timestamp"].min())
    leads = pd.DataFrame(read_jsonl(two / "marketing" / "leads.jsonl"))
    converted = leads[leads["customer_unique_id"].notna()]
    assert converted["customer_unique_id"].is_unique  # at most one channel per person
    assert set(converted["customer_unique_id"]) <= set(first.index)
    at = pd.to_datetime(converted["converted_at"]).dt.tz_localize(None)
    assert (at.to_numpy() <= first[converted["customer_unique_id"]].to_numpy()).all()
    assert (pd.to_datetime(converted["created_at"]) <= pd.to_datetime(converted["converted_at"])).all()
    assert 0.5 < len(converted) / len(first) < 0.7
    assert leads["converted_at"].isna().sum() > len(converted)  # most leads never buy


def test_return_on_ad_spend_is_plausible(one: Path) -> None:
    customers = read(one / "landing/batch_0001/olist_customers_dataset.csv")
    orders = read(one / "landing/batch_0001/olist_orders_dataset.csv").merge(customers, on="customer_id")
    payments = read(one / "landing/batch_0001/olist_order_payments_dataset.csv")
    value = payments.assign(v=payments["payment_value"].astype(float)).groupby("order_id")["v"].sum()
    orders = orders[~orders["order_status"].isin(["canceled", "unavailable"])]
    orders["value"] = orders["order_id"].map(value)
    leads = pd.DataFrame(read_jsonl(one / "marketing" / "leads.jsonl"))
    channel = leads.dropna(subset=["customer_unique_id"]).set_index("customer_unique_id")["channel_id"]
    revenue = orders.groupby(orders["customer_unique_id"].map(channel))["value"].sum()
    spend = (
        pd.DataFrame(read_jsonl(one / "marketing" / "ad_spend.jsonl")).groupby("channel_id")["spend"].sum()
    )
    roas = (revenue[spend.index] / spend).to_dict()
    assert set(roas) == {c[0] for c in ref.CHANNELS if c[2] == "paid"}
    assert all(1.0 < value < 20.0 for value in roas.values()), roas
    assert roas["ch_email"] > roas["ch_paid_search"] > roas["ch_display"]


# ------------------------------------------------------------------------------------------- ERP, SGS


def test_product_costs_have_periods(one: Path, batch1: dict[str, pd.DataFrame]) -> None:
    costs = read(one / "erp" / "product_costs.csv")
    assert list(costs.columns) == [
        "product_id",
        "valid_from",
        "valid_to",
        "unit_cost",
        "currency",
        "updated_at",
    ]
    periods = costs.groupby("product_id").size()
    assert set(periods) <= {1, 2, 3} and {1, 2, 3} <= set(periods)
    assert set(batch1["products"]["product_id"]) <= set(costs["product_id"])
    for _, group in costs.groupby("product_id"):
        assert list(group["valid_from"])[1:] == list(group["valid_to"])[:-1]  # contiguous, half-open
        assert group["valid_to"].iloc[-1] == ""
    price = (
        batch1["order_items"].assign(p=lambda f: f["price"].astype(float)).groupby("product_id")["p"].median()
    )
    first = costs.drop_duplicates("product_id").set_index("product_id")["unit_cost"].astype(float)
    ratio = (first[price.index] / price).median()
    assert 0.45 < ratio < 0.75


def test_refunds(one: Path, batch1: dict[str, pd.DataFrame]) -> None:
    refunds = read(one / "erp" / "refunds.csv")
    assert refunds["refund_id"].is_unique and refunds["refund_id"].str.match(HEX32).all()
    orders = batch1["orders"].set_index("order_id")
    assert set(orders.loc[refunds["order_id"], "order_status"]) == {"delivered"}
    assert 0.01 < len(refunds) / orders["order_status"].eq("delivered").sum() < 0.06
    payments = batch1["order_payments"]
    value = payments.assign(v=payments["payment_value"].astype(float)).groupby("order_id")["v"].sum()
    assert (refunds["amount"].astype(float).to_numpy() <= value[refunds["order_id"]].to_numpy() + 1e-9).all()
    assert set(refunds["reason"]) <= {r[0] for r in ref.REFUND_REASONS}
    assert (refunds["refunded_at"] <= refunds["updated_at"]).all()


def test_sgs_series(two: Path) -> None:
    ipca = json.loads((two / "sgs" / "433.json").read_text())
    selic = json.loads((two / "sgs" / "432.json").read_text())
    assert all(set(p) == {"data", "valor"} and isinstance(p["valor"], str) for p in ipca + selic)
    assert all(p["data"].startswith("01/") for p in ipca)
    months = [p["data"][3:] for p in ipca]
    assert "09/2016" in months and "09/2018" in months and len(months) == len(set(months))
    days = [datetime.strptime(p["data"], "%d/%m/%Y").date() for p in selic]
    assert all((b - a).days == 1 for a, b in zip(days, days[1:], strict=False))
    values = {p["data"]: p["valor"] for p in selic}
    assert values["01/09/2016"] == "14.25" and values["17/10/2018"] == "6.50"
    assert days[-1].isoformat() == "2018-10-24"  # covers batch 2


def test_manifest_counts_rows(two: Path) -> None:
    manifest = json.loads((two / "manifest.json").read_text())
    assert manifest["seed"] == SEED and manifest["orders"] == ORDERS and manifest["batch"] == 2
    assert manifest["period"] == {"start": "2016-09-04T00:00:00", "end": "2018-10-25T00:00:00"}
    for name, count in manifest["rows"].items():
        path = two / name
        if path.suffix == ".csv":
            assert len(records(path)) - 1 == count, name
        elif path.suffix == ".jsonl":
            assert len(read_jsonl(path)) == count, name
        else:
            assert len(json.loads(path.read_text())) == count, name
    assert not (two / "dirty_manifest.json").exists()


# ----------------------------------------------------------------------------------------------- dirty


def test_dirty_manifest_entries_are_really_in_the_files(dirty: Path, two: Path) -> None:
    problems = json.loads((dirty / "dirty_manifest.json").read_text())["problems"]
    kinds = Counter(p["kind"] for p in problems)
    assert set(kinds) == {
        "duplicate_row",
        "missing_value",
        "malformed_timestamp",
        "negative_value",
        "unknown_foreign_key",
        "extra_column",
    }
    assert {p["file"] for p in problems} >= {"marketing/leads.jsonl", "erp/refunds.csv"}
    cache: dict[str, list] = {}
    for p in problems:
        path = dirty / p["file"]
        if p["file"].endswith(".jsonl"):
            lines = cache.setdefault(p["file"], read_jsonl(path))
            assert lines[p["row"] - 1][p["column"]] is None
            continue
        rows = cache.setdefault(p["file"], records(path))
        header, row = rows[0], rows[p["row"] - 1]
        if p["kind"] == "extra_column":
            assert p["row"] == 1 and header[-1] == p["column"] == gen.EXTRA_COLUMN
            continue
        if p["kind"] == "duplicate_row":
            assert row == rows[p["row"] - 2]
            continue
        value = row[header.index(p["column"])]
        assert value == p["value"]
        if p["kind"] == "missing_value":
            assert value == ""
        elif p["kind"] == "malformed_timestamp":
            with pytest.raises(ValueError):
                datetime.strptime(value, "%Y-%m-%d %H:%M:%S")
        elif p["kind"] == "negative_value":
            assert float(value) < 0
        elif p["kind"] == "unknown_foreign_key":
            assert HEX32.match(value)
    # The clean files of the same seed have none of these problems, and the same row counts less duplicates.
    clean = read(two / "landing/batch_0001/olist_orders_dataset.csv")
    spoiled = [p for p in problems if p["file"] == "landing/batch_0001/olist_orders_dataset.csv"]
    duplicates = sum(p["kind"] == "duplicate_row" for p in spoiled)
    assert len(records(dirty / "landing/batch_0001/olist_orders_dataset.csv")) - 1 == len(clean) + duplicates
    unknown = [
        p["value"] for p in problems if p["kind"] == "unknown_foreign_key" and p["column"] == "customer_id"
    ]
    customers = set(read(dirty / "landing/batch_0001/olist_customers_dataset.csv")["customer_id"])
    assert unknown and not set(unknown) & customers


def test_dirty_data_is_deterministic(dirty: Path, tmp_path: Path) -> None:
    gen.generate(tmp_path, orders=ORDERS, seed=SEED, batch=2, dirty_share=0.05, progress=False)
    assert all_files(tmp_path) == all_files(dirty)


# ------------------------------------------------------------------------------------------------- CLI


def test_cli(tmp_path: Path) -> None:
    code = gen.main(
        ["--out", str(tmp_path), "--orders", "300", "--seed", "3", "--batch", "2", "--no-progress"]
    )
    assert code == 0
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["rows"]["landing/batch_0001/olist_orders_dataset.csv"] == 300
    assert (tmp_path / "landing" / "batch_0002" / "olist_orders_dataset.csv").exists()


def test_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="orders"):
        gen.generate(tmp_path, orders=10, progress=False)
    with pytest.raises(ValueError, match="dirty_share"):
        gen.generate(tmp_path, orders=500, dirty_share=0.9, progress=False)
