"""The files a newcomer meets first: Makefile targets, docker-compose, the psql shell."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_make_help_lists_every_documented_target() -> None:
    out = subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for target in ("run", "test", "dagster", "docs", "psql", "db-stop", "lint", "clean", "bench-ingest"):
        assert f" {target} " in out or f"{target}  " in out, f"`make help` does not list {target}"


def test_docker_compose_defines_the_server_stack() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "code", "webserver", "daemon"} <= set(services)
    assert services["code"]["build"]["dockerfile"] == "docker/Dockerfile"
    assert (ROOT / "docker" / "Dockerfile").exists()
    # Dagster's instance storage is PostgreSQL, configured from the environment
    instance = yaml.safe_load((ROOT / "docker" / "dagster.yaml").read_text())
    assert instance["storage"]["postgres"]["postgres_db"]["hostname"] == {"env": "PGHOST"}


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose is not installed")
def test_docker_compose_config_is_valid(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            "docker-compose",
            "--env-file",
            str(ROOT / ".env.example"),
            "-f",
            str(ROOT / "docker-compose.yml"),
            "config",
            "--quiet",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_psql_reads_sql_from_standard_input(warehouse_db) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "warehouse", "psql", "-At"],
        input="select 40 + 2;\n",
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "42"


def test_psql_stops_at_the_first_error(warehouse_db) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "warehouse", "psql"],
        input="select * from no_such_table;\nselect 1;\n",
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "no_such_table" in result.stderr
