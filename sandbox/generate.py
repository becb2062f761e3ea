"""Write the sandbox's stand-ins for the shop's upstream systems.

``python -m sandbox.generate --out DIR --orders N --seed S --dirty-share F --batch K`` writes, under DIR:

* ``landing/batch_0001/`` -- the nine order files in the public Olist format (names, headers, every
  field quoted, ``YYYY-MM-DD HH:MM:SS``), 2016-09-04 to 2018-10-17, ``N`` orders;
* ``landing/batch_000K/`` (K >= 2) -- the week after batch K-1, only what changed: about 1% of ``N`` new
  orders with their customers, items, payments and reviews; the complete orders row of every earlier
  order that reached a final status (delivered or canceled) that week, with its review; products and
  sellers sold for the first time; geolocation rows of new zip prefixes. Files without rows are left out;
* ``marketing/{channels,ad_spend,leads}.jsonl`` -- the marketing platform's records, rewritten whole;
* ``erp/{product_costs,refunds}.csv`` -- what :func:`sandbox.erp.seed_erp` loads into the ERP database,
  rewritten whole;
* ``sgs/{433,432}.json`` -- the BCB series IPCA (monthly) and Selic (daily), as the BCB API returns them;
* ``manifest.json`` -- the arguments, the period covered, each batch's window and the rows of every file;
* ``dirty_manifest.json`` -- with ``--dirty-share`` > 0, every problem injected on purpose: file, row
  (the record number, the header being row 1; for JSON Lines the line number), column, kind, value.

Rewritten files only ever change rows by giving them a later ``updated_at``: a row changed or added by
batch K carries an ``updated_at`` inside batch K's week, so loads by ``updated_at`` cursor see them.

The same arguments always give byte-identical files. Batch K comes from the same simulation as batch 1
(see :mod:`sandbox.model`), so generating batch 2 leaves batch 1 as it was. Missing earlier batches are
written too; existing ones are kept as they are (a loader that fingerprints files by modification time
would load them again), and batches from other arguments or later than K are removed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from sandbox import model, tables

log = logging.getLogger(__name__)

# Bump when the files written for the same arguments change, so stale batches are rewritten.
FORMAT_VERSION = 1

OLIST_FILES = (
    "olist_customers_dataset.csv",
    "olist_orders_dataset.csv",
    "olist_order_items_dataset.csv",
    "olist_order_payments_dataset.csv",
    "olist_order_reviews_dataset.csv",
    "olist_products_dataset.csv",
    "olist_sellers_dataset.csv",
    "olist_geolocation_dataset.csv",
    "product_category_name_translation.csv",
)
EXTRA_COLUMN = "order_channel_hint"
BAD_TIMESTAMPS = ("2017-13-45 25:61:00", "not a date", "31/12/2017 10:00", "2018-02-30 12:00:00")


def batch_dir_name(k: int) -> str:
    return f"batch_{k:04d}"


# ------------------------------------------------------------------------------------------- writers


def _replace(path: Path, data_writer) -> None:
    """Write through a hidden temporary file and rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    data_writer(tmp)
    os.replace(tmp, path)


def write_olist_csv(path: Path, table: pa.Table) -> None:
    """Every field double-quoted, header included, LF line ends: the Olist export's format."""
    options = pacsv.WriteOptions(include_header=True, quoting_style="all_valid")
    _replace(path, lambda tmp: pacsv.write_csv(table, str(tmp), options))


def write_plain_csv(path: Path, table: pa.Table) -> None:
    """A plain CSV (no quotes; the values never hold commas, quotes or line breaks), nulls empty."""

    def writer(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            fh.write((",".join(table.column_names) + "\n").encode())
            if table.num_rows:
                pacsv.write_csv(table, fh, pacsv.WriteOptions(include_header=False, quoting_style="none"))

    _replace(path, writer)


def json_lines(table: pa.Table) -> pa.Array:
    """One JSON object per row from a table whose values are JSON literals already."""
    parts: list[pa.Array | pa.Scalar] = []
    for i, name in enumerate(table.column_names):
        parts.append(pa.scalar(("{" if i == 0 else ",") + json.dumps(name) + ":"))
        parts.append(table.column(name).combine_chunks())
    parts.append(pa.scalar("}"))
    return pc.binary_join_element_wise(*parts, "")


def write_jsonl(path: Path, lines: pa.Array) -> None:
    def writer(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            for chunk_start in range(0, len(lines), 200_000):
                chunk = lines.slice(chunk_start, 200_000).to_pylist()
                fh.write("\n".join(chunk) + "\n")

    _replace(path, writer)


def write_json(path: Path, value) -> None:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    _replace(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_manifest(path: Path, value) -> None:
    text = json.dumps(value, ensure_ascii=False, indent=2) + "\n"
    _replace(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


# ----------------------------------------------------------------------------------------- dirty data

# file -> the problems it can carry: (kind, column).
DIRTY_PLAN: dict[str, tuple[tuple[str, str | None], ...]] = {
    "olist_orders_dataset.csv": (
        ("duplicate_row", None),
        ("missing_value", "order_id"),
        ("missing_value", "customer_id"),
        ("malformed_timestamp", "order_purchase_timestamp"),
        ("malformed_timestamp", "order_approved_at"),
        ("unknown_foreign_key", "customer_id"),
    ),
    "olist_order_items_dataset.csv": (
        ("duplicate_row", None),
        ("missing_value", "order_id"),
        ("negative_value", "price"),
        ("unknown_foreign_key", "product_id"),
        ("malformed_timestamp", "shipping_limit_date"),
    ),
    "olist_order_payments_dataset.csv": (
        ("duplicate_row", None),
        ("missing_value", "order_id"),
        ("negative_value", "payment_value"),
    ),
    "olist_customers_dataset.csv": (
        ("duplicate_row", None),
        ("missing_value", "customer_id"),
    ),
}


def _bad_value(kind: str, original: str, rng: np.random.Generator) -> str:
    if kind == "missing_value":
        return ""
    if kind == "malformed_timestamp":
        return BAD_TIMESTAMPS[int(rng.integers(len(BAD_TIMESTAMPS)))]
    if kind == "negative_value":
        return original if original.startswith("-") else "-" + (original if original != "0.00" else "1.00")
    if kind == "unknown_foreign_key":
        return model.hex_ids(rng, 1)[0].decode()
    raise ValueError(kind)


def inject_dirty(
    name: str, table: pa.Table, prefix: str, share: float, rng: np.random.Generator
) -> tuple[pa.Table, list[dict]]:
    """Spoil ``share`` of the rows (at least one) of an order file named in DIRTY_PLAN; the orders file
    also gets an extra column. Returns the new table and one manifest entry per problem; ``row``
    counts the header as row 1, as a loader numbering records does."""
    plan = DIRTY_PLAN.get(name)
    if plan is None or table.num_rows == 0:
        return table, []
    file = f"{prefix}/{name}"
    entries: list[dict] = []
    n = table.num_rows
    count = min(n, max(1, round(share * n)))
    rows = np.sort(rng.choice(n, count, replace=False))
    kinds = rng.integers(0, len(plan), count)
    columns = {c: table.column(c).to_pylist() for c in sorted({col for _, col in plan if col})}
    duplicates: list[int] = []
    edits: list[tuple[int, str, str, str]] = []
    for row, kind_i in zip(rows.tolist(), kinds.tolist(), strict=True):
        kind, column = plan[kind_i]
        if kind == "duplicate_row":
            duplicates.append(row)
            continue
        value = _bad_value(kind, columns[column][row], rng)
        columns[column][row] = value
        edits.append((row, column, kind, value))
    for column, values in columns.items():
        table = table.set_column(table.column_names.index(column), column, pa.array(values, pa.string()))
    if name == "olist_orders_dataset.csv":
        hints = np.array(["web", "app", "marketplace", ""])[rng.integers(0, 4, n)]
        table = table.append_column(EXTRA_COLUMN, pa.array(hints, pa.string()))
        entries.append(
            {"file": file, "row": 1, "column": EXTRA_COLUMN, "kind": "extra_column", "value": None}
        )
    # Each duplicate goes right after its original.
    dup = np.array(duplicates, dtype=np.int64)
    table = table.take(pa.array(np.sort(np.concatenate([np.arange(n), dup]), kind="stable")))
    shift = np.searchsorted(dup, np.arange(n), side="left")  # duplicates inserted before each row
    for row, column, kind, value in edits:
        entries.append(
            {"file": file, "row": int(row + shift[row]) + 2, "column": column, "kind": kind, "value": value}
        )
    for row in duplicates:
        entries.append(
            {
                "file": file,
                "row": int(row + shift[row]) + 3,
                "column": None,
                "kind": "duplicate_row",
                "value": None,
            }
        )
    entries.sort(key=lambda e: (e["row"], e["column"] or ""))
    return table, entries


def _hash_unit(ids: pa.Array, start: int = 0) -> np.ndarray:
    """A stable number in [0, 1) from eight hex digits of each id (nulls give 1.0)."""
    digits = pc.utf8_slice_codeunits(ids, start, start + 8).to_pylist()
    return np.array([int(d, 16) / 2**32 if d and len(d) == 8 else 1.0 for d in digits])


def dirty_leads(table: pa.Table, share: float) -> tuple[pa.Table, list[dict]]:
    """Half of ``share`` of the leads lose their id. Chosen by id, so the same leads are spoiled in
    every batch."""
    ids = table.column("lead_id").combine_chunks()
    bad = _hash_unit(ids, 1) < share * 0.5
    if not bad.any():
        return table, []
    table = table.set_column(0, "lead_id", pc.if_else(pa.array(bad), pa.scalar("null"), ids))
    rows = np.flatnonzero(bad) + 1  # JSON Lines: the line number
    return table, [
        {
            "file": "marketing/leads.jsonl",
            "row": int(r),
            "column": "lead_id",
            "kind": "missing_value",
            "value": None,
        }
        for r in rows
    ]


def dirty_refunds(table: pa.Table, share: float) -> tuple[pa.Table, list[dict]]:
    """``share`` of the refunds get a negative amount, half as many lose their order id. Chosen by
    refund id, so the same refunds are spoiled in every batch."""
    ids = table.column("refund_id").combine_chunks()
    negative = _hash_unit(ids) < share
    no_order = (_hash_unit(ids, 8) < share * 0.5) & ~negative
    amount = table.column("amount").combine_chunks()
    amount = pc.if_else(pa.array(negative), pc.binary_join_element_wise(pa.scalar("-"), amount, ""), amount)
    order = table.column("order_id").combine_chunks()
    order = pc.if_else(pa.array(no_order), pa.scalar(None, pa.string()), order)
    table = table.set_column(table.column_names.index("amount"), "amount", amount)
    table = table.set_column(table.column_names.index("order_id"), "order_id", order)
    entries = [
        {
            "file": "erp/refunds.csv",
            "row": int(r) + 2,
            "column": "amount",
            "kind": "negative_value",
            "value": amount[int(r)].as_py(),
        }
        for r in np.flatnonzero(negative)
    ]
    entries += [
        {
            "file": "erp/refunds.csv",
            "row": int(r) + 2,
            "column": "order_id",
            "kind": "missing_value",
            "value": "",
        }
        for r in np.flatnonzero(no_order)
    ]
    entries.sort(key=lambda e: e["row"])
    return table, entries


# -------------------------------------------------------------------------------------------- generate


def _iso(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _read_manifest(out: Path) -> dict | None:
    try:
        return json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def generate(
    out: Path,
    orders: int = 100_000,
    seed: int = 42,
    dirty_share: float = 0.0,
    batch: int = 1,
    progress: bool = True,
) -> dict:
    """Write batches ``1..batch`` of the sandbox data under ``out``; returns the manifest (rows per file
    under ``"rows"``)."""
    from tqdm import tqdm

    if not 0.0 <= dirty_share < 0.5:
        raise ValueError(f"dirty_share must be in [0, 0.5), got {dirty_share}")
    out = Path(out)
    bar = tqdm(total=batch + 7, desc="sandbox", unit="step", file=sys.stderr, disable=not progress)

    def step(label: str) -> None:
        bar.set_postfix_str(label)
        bar.update(1)

    shop = model.Shop(seed, orders, batch, progress=step)
    if batch == 1:
        bar.update(1)
    previous = _read_manifest(out)
    same_run = previous is not None and all(
        previous.get(key) == value
        for key, value in (
            ("seed", seed),
            ("orders", orders),
            ("dirty_share", dirty_share),
            ("format_version", FORMAT_VERSION),
        )
    )
    landing = out / "landing"
    if landing.exists():
        # Batches from other arguments, or later than this one, would not fit the data written now.
        for stale in sorted(landing.glob("batch_*")):
            number = stale.name.removeprefix("batch_")
            if stale.is_dir() and (not same_run or not number.isdigit() or int(number) > batch):
                log.info("removing %s (it belongs to another run)", stale)
                shutil.rmtree(stale)
    rows: dict[str, int] = {}
    dirty: list[dict] = []
    batches = []
    for k in range(1, batch + 1):
        prefix = f"landing/{batch_dir_name(k)}"
        for name, table in tables.olist_files(shop, k):
            if dirty_share > 0:
                rng = model.rng_for(seed, f"dirty/{name}", k)
                table, entries = inject_dirty(name, table, prefix, dirty_share, rng)
                dirty.extend(entries)
            path = out / prefix / name
            key = f"{prefix}/{name}"
            if same_run and path.exists() and previous.get("rows", {}).get(key) == table.num_rows:
                log.debug("keeping %s", path)
            else:
                write_olist_csv(path, table)
            rows[key] = table.num_rows
            del table
        new, changed = shop.order_rows(k)
        batches.append(
            {
                "batch": k,
                "directory": prefix,
                "start": _iso(model.batch_start(k)),
                "end": _iso(model.batch_end(k)),
                "new_orders": len(new),
                "status_changes": len(changed),
            }
        )
        step(f"batch {k} files")

    marketing = tables.marketing_tables(shop)
    if dirty_share > 0:
        marketing["leads"], entries = dirty_leads(marketing["leads"], dirty_share)
        dirty.extend(entries)
    for name, table in marketing.items():
        write_jsonl(out / "marketing" / f"{name}.jsonl", json_lines(table))
        rows[f"marketing/{name}.jsonl"] = table.num_rows
    step("marketing")

    erp = tables.erp_tables(shop)
    if dirty_share > 0:
        erp["refunds"], entries = dirty_refunds(erp["refunds"], dirty_share)
        dirty.extend(entries)
    for name, table in erp.items():
        write_plain_csv(out / "erp" / f"{name}.csv", table)
        rows[f"erp/{name}.csv"] = table.num_rows
    step("erp")

    for code, points in tables.sgs_series(shop).items():
        write_json(out / "sgs" / f"{code}.json", points)
        rows[f"sgs/{code}.json"] = len(points)
    step("sgs")

    dirty_path = out / "dirty_manifest.json"
    if dirty_share > 0:
        dirty.sort(key=lambda e: (e["file"], e["row"], e["column"] or ""))
        write_manifest(dirty_path, {"seed": seed, "dirty_share": dirty_share, "problems": dirty})
    elif dirty_path.exists():
        dirty_path.unlink()
    manifest = {
        "generator": "sandbox.generate",
        "format_version": FORMAT_VERSION,
        "seed": seed,
        "orders": orders,
        "batch": batch,
        "dirty_share": dirty_share,
        "period": {"start": _iso(model.FIRST_ORDER), "end": _iso(model.batch_end(batch))},
        "batches": batches,
        "rows": rows,
    }
    write_manifest(out / "manifest.json", manifest)
    step("manifest")
    bar.close()
    return manifest


def main(argv: list[str] | None = None) -> int:
    from warehouse.paths import sandbox_dir

    parser = argparse.ArgumentParser(prog="python -m sandbox.generate", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", type=Path, default=None, help="output folder (default: warehouse sandbox dir)"
    )
    parser.add_argument("--orders", type=int, default=100_000, help="orders in batch 1 (default 100000)")
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    parser.add_argument(
        "--dirty-share",
        type=float,
        default=0.0,
        help="share of rows to spoil on purpose, e.g. 0.01 (default 0: clean)",
    )
    parser.add_argument("--batch", type=int, default=1, help="write batches 1..K (default 1)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    out = args.out or sandbox_dir()
    try:
        manifest = generate(
            out,
            orders=args.orders,
            seed=args.seed,
            dirty_share=args.dirty_share,
            batch=args.batch,
            progress=not args.no_progress,
        )
    except ValueError as exc:
        parser.error(str(exc))
    total = sum(manifest["rows"].values())
    log.info(
        "wrote %d rows in %d files under %s (batches 1..%d)", total, len(manifest["rows"]), out, args.batch
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
