"""The dbt project as Dagster sees it, and the manifest it is built from."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from functools import cached_property
from pathlib import Path
from typing import Any

from dagster_dbt import DbtCliResource, DbtProject
from packaging import version

from warehouse.paths import DBT_PROFILES_DIR, DBT_PROJECT_DIR
from warehouse.settings import DEFAULT_DATABASE

MANIFEST = DBT_PROJECT_DIR / "target" / "manifest.json"
_INPUTS = ("models", "tests", "snapshots", "analyses")


def dbt_executable() -> str:
    return str(Path(sys.executable).with_name("dbt"))


def _newest_input_mtime() -> float:
    roots = [DBT_PROJECT_DIR / name for name in _INPUTS]
    roots += [DBT_PROJECT_DIR.parent / "macros", DBT_PROJECT_DIR.parent / "seeds"]
    newest = (DBT_PROJECT_DIR / "dbt_project.yml").stat().st_mtime
    for root in roots:
        if root.exists():
            for path in root.rglob("*"):
                if path.is_file():
                    newest = max(newest, path.stat().st_mtime)
    return newest


def _profile_database() -> str:
    """The database the profile names (``dbname`` in every target of profiles/profiles.yml)."""
    return os.environ.get("PGDATABASE", DEFAULT_DATABASE)


def manifest_database(path: Path = MANIFEST) -> str | None:
    """The database the manifest's relations are in: dbt writes the profile's database into every
    node when it parses, so a manifest written by a run against another database names that one."""
    nodes = json.loads(path.read_bytes()).get("nodes", {})
    return next((node["database"] for node in nodes.values() if node.get("database")), None)


def ensure_manifest() -> Path:
    """Parse the project when the manifest is missing, older than a model, test, macro or seed, or
    written for another database than the profile's now (a run, a test or `dbt docs generate` with
    another PGDATABASE): its relation names would send the row counts and the UI elsewhere.

    ``dbt parse`` does not connect to the database; the profile's env_var() defaults let it run
    before any database exists."""
    if (
        MANIFEST.exists()
        and MANIFEST.stat().st_mtime >= _newest_input_mtime()
        and manifest_database() == _profile_database()
    ):
        return MANIFEST
    result = subprocess.run(
        [
            dbt_executable(),
            "parse",
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROFILES_DIR),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
    )
    if result.returncode != 0:
        raise RuntimeError(f"`dbt parse` failed, so the dbt assets cannot be built:\n{result.stdout[-4000:]}")
    return MANIFEST


dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROFILES_DIR)


class WarehouseDbtCliResource(DbtCliResource):
    """dagster-dbt's resource without two things it does before a `dbt` command, which this project
    does not use. From the start of a dbt step to dbt's first log line, in Dagster runs with nothing new
    at 1,500 orders: 10.4-14.5 s before, 3.2-3.4 s after in the first dbt step; 4.4-5.0 s before,
    3.5 s after in the second (what is left is the dbt process importing dbt).

    - The dbt version, which dagster-dbt asks ``dbt --version`` for, once per run: a process that
      imports dbt (3-4 s) and asks PyPI for the latest release. With the project's own dbt
      (``dbt_executable()``, the default) it is the installed dbt-core's.
    - A dbt adapter in the Dagster process (project, profile and every macro loaded) for every step,
      which dagster-dbt uses only for ``fetch_row_counts()`` and ``fetch_column_metadata()``; the
      row counts of orchestration/assets/dbt.py ask PostgreSQL themselves.

    Both override private methods of dagster-dbt 0.29 (requirements.lock pins it);
    tests/orchestration/test_dbt_resource.py checks that they still exist and are still called."""

    @cached_property
    def _cli_version(self) -> version.Version:
        if Path(self.dbt_executable).resolve() != Path(dbt_executable()).resolve():
            return DbtCliResource._cli_version.func(self)  # another dbt: ask it
        return version.parse(importlib.metadata.version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args: Any) -> None:
        return None
