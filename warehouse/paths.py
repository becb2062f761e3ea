"""Where the project's files live. Every other module asks here instead of building paths itself."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = ROOT / "dbt_project"
DBT_PROFILES_DIR = ROOT / "profiles"


def local_dir() -> Path:
    """Project-local state: the embedded database, sandbox data, Dagster's home. Git ignores it."""
    return Path(os.environ.get("WAREHOUSE_LOCAL_DIR", ROOT / ".local")).resolve()


def pgdata_dir() -> Path:
    return local_dir() / "pgdata"


def dagster_home() -> Path:
    return Path(os.environ.get("DAGSTER_HOME", local_dir() / "dagster")).resolve()


def sandbox_dir() -> Path:
    """Where the sandbox writes its stand-in upstream data."""
    return local_dir() / "sandbox"


def landing_url() -> str:
    """The landing folder for order files: a local path or any fsspec URL (s3://bucket/prefix).
    Without LANDING_URL, the sandbox's landing folder."""
    return os.environ.get("LANDING_URL") or str(sandbox_dir() / "landing")
