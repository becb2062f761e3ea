"""Seed the sandbox ERP database (by convention a database named ``erp``) from ``erp/*.csv``.

The generator writes the ERP's contents as CSV files; :func:`seed_erp` makes a PostgreSQL database hold
them, the way the real ERP would: one table per file, keyed, each row carrying ``updated_at``. Seeding
is an upsert (COPY into a temporary table, then ``insert ... on conflict do update``), so it can run
after every batch: new rows are inserted, changed rows updated, unchanged rows left alone.

Cost periods are half-open: a cost applies from ``valid_from`` (inclusive) until ``valid_to``
(exclusive); an empty ``valid_to`` means the period is still open.

``python -m sandbox.erp [--data DIR]`` seeds the ``erp`` database on the project's database server.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path

import psycopg2
from psycopg2 import sql

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ErpTable:
    name: str
    columns: tuple[tuple[str, str], ...]  # (column, SQL type)
    primary_key: tuple[str, ...]

    @property
    def file_name(self) -> str:
        return f"{self.name}.csv"


TABLES = (
    ErpTable(
        "product_costs",
        (
            ("product_id", "text not null"),
            ("valid_from", "date not null"),
            ("valid_to", "date"),
            ("unit_cost", "numeric(12,2) not null"),
            ("currency", "text not null"),
            ("updated_at", "timestamptz not null"),
        ),
        ("product_id", "valid_from"),
    ),
    ErpTable(
        "refunds",
        (
            ("refund_id", "text not null"),
            ("order_id", "text"),
            ("amount", "numeric(12,2)"),
            ("refunded_at", "timestamptz"),
            ("reason", "text"),
            ("updated_at", "timestamptz"),
        ),
        ("refund_id",),
    ),
)


def _connect(dsn: dict | str):
    if isinstance(dsn, dict):
        return psycopg2.connect(**dsn)
    return psycopg2.connect(dsn)


def _erp_dir(data_dir: Path) -> Path:
    data_dir = Path(data_dir)
    return data_dir / "erp" if (data_dir / "erp").is_dir() else data_dir


def create_tables(cur) -> None:
    for table in TABLES:
        columns = [sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t)) for c, t in table.columns]
        columns.append(
            sql.SQL("primary key ({})").format(sql.SQL(", ").join(map(sql.Identifier, table.primary_key)))
        )
        cur.execute(
            sql.SQL("create table if not exists {} ({})").format(
                sql.Identifier(table.name), sql.SQL(", ").join(columns)
            )
        )


def _upsert(cur, table: ErpTable, path: Path) -> dict[str, int]:
    names = [c for c, _ in table.columns]
    stage = sql.Identifier(f"_stage_{table.name}")
    cur.execute(
        sql.SQL("create temporary table {} ({}) on commit drop").format(
            stage, sql.SQL(", ").join(sql.SQL("{} text").format(sql.Identifier(c)) for c in names)
        )
    )
    with open(path, encoding="utf-8") as fh:
        header = fh.readline().strip().split(",")
        if header != names:
            raise ValueError(f"{path}: expected the header {','.join(names)}, found {','.join(header)}")
        fh.seek(0)
        cur.copy_expert(
            sql.SQL("copy {} from stdin with (format csv, header true)").format(stage).as_string(cur), fh
        )
    cur.execute(sql.SQL("select count(*) from {}").format(stage))
    in_file = cur.fetchone()[0]
    key = sql.SQL(", ").join(map(sql.Identifier, table.primary_key))
    casts = sql.SQL(", ").join(
        sql.SQL("nullif({c}, '')::{t} as {c}").format(
            c=sql.Identifier(c), t=sql.SQL(t.replace(" not null", ""))
        )
        for c, t in table.columns
    )
    not_null_key = sql.SQL(" and ").join(
        sql.SQL("coalesce({}, '') <> ''").format(sql.Identifier(c)) for c in table.primary_key
    )
    others = [c for c in names if c not in table.primary_key]
    target = sql.Identifier(table.name)
    statement = sql.SQL(
        """
        insert into {target} ({columns})
        select distinct on ({key}) * from (select {casts} from {stage} where {not_null_key}) as s
        order by {key}, updated_at desc nulls last
        on conflict ({key}) do update set {assignments}
        where ({current}) is distinct from ({incoming})
        returning (xmax = 0) as inserted
        """
    ).format(
        target=target,
        columns=sql.SQL(", ").join(map(sql.Identifier, names)),
        key=key,
        casts=casts,
        stage=stage,
        not_null_key=not_null_key,
        assignments=sql.SQL(", ").join(
            sql.SQL("{c} = excluded.{c}").format(c=sql.Identifier(c)) for c in others
        ),
        current=sql.SQL(", ").join(sql.SQL("{}.{}").format(target, sql.Identifier(c)) for c in others),
        incoming=sql.SQL(", ").join(sql.SQL("excluded.{}").format(sql.Identifier(c)) for c in others),
    )
    cur.execute(statement)
    flags = [row[0] for row in cur.fetchall()]
    cur.execute(sql.SQL("select count(*) from {} where not ({})").format(stage, not_null_key))
    skipped = cur.fetchone()[0]
    cur.execute(sql.SQL("select count(*) from {}").format(target))
    total = cur.fetchone()[0]
    return {
        "rows_in_file": in_file,
        "inserted": sum(flags),
        "updated": len(flags) - sum(flags),
        "skipped_without_key": skipped,
        "rows_in_table": total,
    }


def seed_erp(dsn: dict | str, data_dir: Path) -> dict:
    """Create the ERP tables if needed and upsert ``data_dir/erp/*.csv`` (``data_dir`` may also be the
    ``erp`` folder itself). ``dsn`` is a dict of psycopg2.connect keyword arguments or a libpq
    connection string/URL. Returns, per table, rows in the file, inserted, updated, skipped (no key)
    and rows now in the table."""
    folder = _erp_dir(data_dir)
    paths = {table.name: folder / table.file_name for table in TABLES}
    missing = [str(p) for p in paths.values() if not p.exists()]
    if missing:
        raise FileNotFoundError(
            f"ERP files not found: {', '.join(missing)}. Run `python -m sandbox.generate` first "
            "or pass the sandbox data folder."
        )
    conn = _connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            create_tables(cur)
            result = {table.name: _upsert(cur, table, paths[table.name]) for table in TABLES}
    finally:
        conn.close()
    for name, counts in result.items():
        log.info("erp.%s: %s", name, counts)
    return result


def main(argv: list[str] | None = None) -> int:
    from warehouse import database
    from warehouse.paths import sandbox_dir

    parser = argparse.ArgumentParser(
        prog="python -m sandbox.erp", description="Seed the sandbox ERP database."
    )
    parser.add_argument(
        "--data", type=Path, default=None, help="sandbox data folder (default: the sandbox dir)"
    )
    parser.add_argument(
        "--database", default="erp", help="database name on the project's server (default erp)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    db = database.resolve()
    database.ensure_database(db, args.database)
    seed_erp(db.dsn(dbname=args.database), args.data or sandbox_dir())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
