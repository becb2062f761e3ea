"""Shared fixtures. Tests run on their own embedded PostgreSQL under a temporary directory, never
on the developer's `.local` database, and ignore any server configured in the shell or `.env`
(the tests that exercise a configured server set the variables themselves)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from warehouse import settings as settings_mod

ROOT = Path(__file__).resolve().parents[1]
_SESSION_DIR = Path(tempfile.mkdtemp(prefix="whtest-"))

# Before anything resolves a database: no configured server, state under a temporary directory.
for _name in (
    *settings_mod.CONNECTION_VARIABLES,
    settings_mod.EMBEDDED_MARKER,
    "LANDING_URL",
    "DAGSTER_HOME",
):
    os.environ.pop(_name, None)
os.environ["WAREHOUSE_LOCAL_DIR"] = str(_SESSION_DIR / "local")
os.environ["DAGSTER_HOME"] = str(_SESSION_DIR / "dagster")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
settings_mod._dotenv_loaded = True  # never read the developer's .env in tests
(_SESSION_DIR / "dagster").mkdir(parents=True, exist_ok=True)
(_SESSION_DIR / "dagster" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")


@pytest.fixture(scope="session")
def warehouse_db() -> Iterator[settings_mod.DatabaseSettings]:
    """The tests' embedded PostgreSQL (started once per session), exported as PG* variables."""
    from warehouse import database

    db = database.ensure()
    yield db
    database.stop_embedded()


@pytest.fixture
def landing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty landing folder, set as LANDING_URL for the test."""
    path = tmp_path / "landing"
    path.mkdir()
    monkeypatch.setenv("LANDING_URL", str(path))
    return path


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_SESSION_DIR, ignore_errors=True)
