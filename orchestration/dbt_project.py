"""The dbt project as Dagster sees it, and the manifest it is built from."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dagster_dbt import DbtProject

from warehouse.paths import DBT_PROFILES_DIR, DBT_PROJECT_DIR

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


def ensure_manifest() -> Path:
    """Parse the project when the manifest is missing or older than a model, test, macro or seed.

    ``dbt parse`` does not connect to the database; the profile's env_var() defaults let it run
    before any database exists."""
    if MANIFEST.exists() and MANIFEST.stat().st_mtime >= _newest_input_mtime():
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
