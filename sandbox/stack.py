"""The sandbox switched on: stand-ins for every upstream system that is not configured.

For each source without configuration, :class:`SandboxStack` provides the stand-in and sets the
variable the loader reads, for the lifetime of the ``with`` block:

| source            | configured by              | sandbox stand-in                                  |
|-------------------|----------------------------|---------------------------------------------------|
| order files       | ``LANDING_URL``            | generated files under ``.local/sandbox/landing``  |
| marketing API     | ``MARKETING_API_URL``      | :class:`MarketingAPIServer` on 127.0.0.1          |
| BCB SGS series    | ``BCB_SGS_URL``            | :class:`SGSAPIServer` on 127.0.0.1                |
| ERP database      | ``ERP_DATABASE_URL``       | database ``erp`` on the warehouse server, seeded  |
| your transactions | ``BYO_TRANSACTIONS_CONFIG``| ``ingestion/examples/byo_transactions.example.yml``|
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from types import TracebackType

from ingestion.byo_transactions import EXAMPLE_CONFIG
from warehouse import database
from warehouse.paths import sandbox_dir
from warehouse.settings import DatabaseSettings

log = logging.getLogger(__name__)

DEFAULT_ORDERS = 100_000
ERP_DATABASE = "erp"


def ensure_data(out: Path | None = None, orders: int | None = None) -> Path:
    """Generate the sandbox's data the first time (later runs reuse it)."""
    out = out or sandbox_dir()
    if not (out / "manifest.json").exists():
        from sandbox.generate import generate

        scale = orders or int(os.environ.get("SANDBOX_ORDERS", DEFAULT_ORDERS))
        log.info("generating sandbox data: %d orders into %s", scale, out)
        generate(out=out, orders=scale, progress=True)
    return out


class SandboxStack:
    """``with SandboxStack(db): ...`` runs the stand-ins the configuration leaves to the sandbox."""

    def __init__(
        self,
        db: DatabaseSettings,
        out: Path | None = None,
        orders: int | None = None,
        marketing_port: int = 0,
        sgs_port: int = 0,
    ) -> None:
        self.db = db
        self.out = out or sandbox_dir()
        self.orders = orders
        self.ports = {"marketing": marketing_port, "sgs": sgs_port}
        self.servers: list = []
        self._set: list[str] = []
        self.stand_ins: dict[str, str] = {}

    def _setenv(self, name: str, value: str, what: str) -> None:
        os.environ[name] = value
        self._set.append(name)
        self.stand_ins[what] = value

    def __enter__(self) -> SandboxStack:
        needs_data = not all(
            os.environ.get(v) for v in ("LANDING_URL", "MARKETING_API_URL", "BCB_SGS_URL", "ERP_DATABASE_URL")
        )
        if needs_data:
            ensure_data(self.out, self.orders)
        if not os.environ.get("LANDING_URL"):
            self.stand_ins["order files"] = str(self.out / "landing")
        if not os.environ.get("MARKETING_API_URL"):
            from sandbox.servers import MarketingAPIServer

            server = MarketingAPIServer(self.out, port=self.ports["marketing"]).preload().start()
            self.servers.append(server)
            self._setenv("MARKETING_API_URL", f"{server.url}/v1", "marketing API")
        if not os.environ.get("BCB_SGS_URL"):
            from sandbox.servers import SGSAPIServer

            server = SGSAPIServer(self.out, port=self.ports["sgs"]).start()
            self.servers.append(server)
            self._setenv("BCB_SGS_URL", server.url, "BCB SGS")
        if not os.environ.get("ERP_DATABASE_URL"):
            from sandbox.erp import seed_erp

            database.ensure_database(self.db, ERP_DATABASE)
            seed_erp(self.db.dsn(dbname=ERP_DATABASE), self.out)
            self.stand_ins["ERP"] = f"database {ERP_DATABASE} on the warehouse server"
        if not os.environ.get("BYO_TRANSACTIONS_CONFIG"):
            self._setenv("BYO_TRANSACTIONS_CONFIG", str(EXAMPLE_CONFIG), "your transactions")
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for server in self.servers:
            server.stop()
        for name in self._set:
            os.environ.pop(name, None)
