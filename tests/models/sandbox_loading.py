"""Load a generated sandbox into the warehouse with the project's loaders, for the model tests.

Every source the dbt project reads is loaded the way the orchestration does it: the Olist files,
the marketing API and the BCB SGS API (through the sandbox's local servers), the ERP (seeded into
its own database by sandbox.erp, then read by the ERP loader) and a bring-your-own transactions
file. The BYO
file is written from the sandbox's own order files (one line per order item, `;`-separated with
decimal commas and day-first dates, the way a Brazilian shop exports), so the test knows exactly
what the BYO marts must contain.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
from pathlib import Path

import pandas as pd

from warehouse import database
from warehouse.settings import DatabaseSettings

log = logging.getLogger(__name__)


def seed_erp(db: DatabaseSettings, sandbox_dir: Path, dbname: str = "erp") -> DatabaseSettings:
    """The ERP database ``dbname`` seeded from the sandbox's ``erp/*.csv`` (sandbox.erp.seed_erp)."""
    from sandbox.erp import seed_erp as sandbox_seed_erp

    database.ensure_database(db, dbname)
    sandbox_seed_erp(db.dsn(dbname=dbname), sandbox_dir)
    return dataclasses.replace(db, dbname=dbname)


def write_byo_file(landing: Path, out: Path) -> Path:
    """A BYO export of the sandbox's orders: customer, order, day-first date, amount (price +
    freight of each item) with a decimal comma, quantity 1. Canceled and unavailable orders are
    left out, as a shop's sales export would."""
    orders = pd.concat(pd.read_csv(p, dtype=str) for p in sorted(landing.glob("**/olist_orders_dataset.csv")))
    orders = orders.drop_duplicates("order_id", keep="last")
    customers = pd.concat(
        pd.read_csv(p, dtype=str) for p in sorted(landing.glob("**/olist_customers_dataset.csv"))
    )
    items = pd.concat(
        pd.read_csv(p, dtype=str) for p in sorted(landing.glob("**/olist_order_items_dataset.csv"))
    )
    frame = (
        items.merge(orders, on="order_id")
        .merge(customers.drop_duplicates("customer_id"), on="customer_id")
        .query("order_status not in ('canceled', 'unavailable')")
    )
    purchased = pd.to_datetime(frame["order_purchase_timestamp"], format="%Y-%m-%d %H:%M:%S", errors="coerce")
    price = pd.to_numeric(frame["price"], errors="coerce")
    freight = pd.to_numeric(frame["freight_value"], errors="coerce").fillna(0.0)
    usable = purchased.notna() & price.notna() & (price >= 0)
    frame, purchased, amount = frame[usable], purchased[usable], (price + freight)[usable]
    export = pd.DataFrame(
        {
            "cliente": frame["customer_unique_id"],
            "data_compra": purchased.dt.strftime("%d/%m/%Y %H:%M:%S"),
            "valor_total": amount.map(lambda v: f"{v:.2f}".replace(".", ",")),
            "pedido": frame["order_id"],
            "qtd": "1",
        }
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    export.to_csv(out, sep=";", index=False, quoting=csv.QUOTE_MINIMAL)
    return out


def byo_config(path: Path) -> dict:
    return {
        "path": str(path),
        "format": "csv",
        "delimiter": ";",
        "decimal": ",",
        "date_format": "%d/%m/%Y %H:%M:%S",
        "currency": "BRL",
        "source_name": "sandbox-export",
        "columns": {
            "customer_id": "cliente",
            "purchased_at": "data_compra",
            "amount": "valor_total",
            "order_id": "pedido",
            "quantity": "qtd",
        },
    }


def _pipeline(name: str, dataset: str, db: DatabaseSettings, pipelines_dir: Path | None):
    """The loader's pipeline, with its state under ``pipelines_dir`` when given (tests keep theirs
    apart, so no other test's incremental cursor or loaded-file list applies)."""
    import dlt

    from ingestion.destination import make_pipeline, postgres_destination

    if pipelines_dir is None:
        return make_pipeline(name, dataset, db)
    return dlt.pipeline(
        pipeline_name=name,
        destination=postgres_destination(db),
        dataset_name=dataset,
        pipelines_dir=str(pipelines_dir),
    )


def load_sandbox(
    sandbox_dir: Path,
    db: DatabaseSettings | None = None,
    pipelines_dir: Path | None = None,
    erp_database: str = "erp",
) -> dict[str, dict]:
    """Load every source of the sandbox in ``sandbox_dir``; returns the loaders' summaries."""
    from ingestion import bcb_sgs, byo_transactions, erp, marketing_api, olist_files
    from ingestion.pipelines import load_olist_files
    from sandbox.servers import MarketingAPIServer, SGSAPIServer

    db = db or database.ensure()
    summaries: dict[str, dict] = {}
    _, summary = load_olist_files(
        landing_url=str(sandbox_dir / "landing"),
        db=db,
        pipeline=_pipeline("olist_files", olist_files.DATASET, db, pipelines_dir),
    )
    summaries["olist"] = summary.as_dict()
    with MarketingAPIServer(sandbox_dir) as server:
        _, summary = marketing_api.load_marketing(
            db=db,
            base_url=server.url,
            pipeline=_pipeline(marketing_api.PIPELINE_NAME, marketing_api.DATASET, db, pipelines_dir),
        )
    summaries["marketing"] = summary.as_dict()
    with SGSAPIServer(sandbox_dir) as server:
        _, summary = bcb_sgs.load_bcb(
            db=db,
            base_url=server.url,
            pipeline=_pipeline(bcb_sgs.PIPELINE_NAME, bcb_sgs.DATASET, db, pipelines_dir),
        )
    summaries["bcb"] = summary.as_dict()
    erp_db = seed_erp(db, sandbox_dir, erp_database)
    _, summary = erp.load_erp(
        db=db,
        erp_url=erp_db.url(),
        pipeline=_pipeline(erp.PIPELINE_NAME, erp.DATASET, db, pipelines_dir),
    )
    summaries["erp"] = summary.as_dict()
    byo_file = write_byo_file(sandbox_dir / "landing", sandbox_dir / "byo" / "transactions.csv")
    config = byo_transactions.MappingConfig.from_dict(byo_config(byo_file))
    _, summary = byo_transactions.load_byo_transactions(
        config,
        db=db,
        pipeline=_pipeline(byo_transactions.PIPELINE_NAME, byo_transactions.DATASET, db, pipelines_dir),
    )
    summaries["byo"] = summary.as_dict()
    return summaries
