"""Every raw table the warehouse loads, as ``<schema>.<table>``: the list each raw table's quality
gate is checked against.

Kept free of heavy imports (Great Expectations takes seconds to import), so the Dagster definitions
and tests can compare it with the raw assets cheaply. A raw table added to the warehouse goes here and
gets a suite in :mod:`quality.suites`; ``tests/quality`` fails until both agree.
"""

from __future__ import annotations

RAW_TABLES: tuple[str, ...] = (
    # Olist-format order files (ingestion/olist_files.py)
    "raw_olist.customers",
    "raw_olist.orders",
    "raw_olist.order_items",
    "raw_olist.order_payments",
    "raw_olist.order_reviews",
    "raw_olist.products",
    "raw_olist.sellers",
    "raw_olist.geolocation",
    "raw_olist.product_category_name_translation",
    # the marketing platform's REST API
    "raw_marketing.channels",
    "raw_marketing.ad_spend",
    "raw_marketing.leads",
    # the ERP database
    "raw_erp.product_costs",
    "raw_erp.refunds",
    # Banco Central do Brasil SGS series (IPCA, Selic)
    "raw_bcb.series_values",
    # bring-your-own transaction files
    "raw_byo.transactions",
)

RAW_SCHEMAS: tuple[str, ...] = tuple(dict.fromkeys(name.split(".")[0] for name in RAW_TABLES))
