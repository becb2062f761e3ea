"""WarehouseDbtCliResource: dagster-dbt's resource without `dbt --version` and the in-process adapter."""

from __future__ import annotations

import inspect
import re
import subprocess
from functools import cached_property

from dagster_dbt import DbtCliResource

from orchestration.dbt_project import WarehouseDbtCliResource, dbt_executable, dbt_project


def test_the_overridden_methods_are_still_dagster_dbts_and_still_called_by_cli() -> None:
    # An upgrade that renames them would leave the overrides unused, silently.
    assert isinstance(inspect.getattr_static(DbtCliResource, "_cli_version"), cached_property)
    assert callable(inspect.getattr_static(DbtCliResource, "_initialize_dbt_core_adapter"))
    cli = inspect.getsource(DbtCliResource.cli)
    assert "self._cli_version" in cli and "self._initialize_dbt_core_adapter(" in cli


def test_the_version_is_the_one_dbt_reports_without_running_it() -> None:
    reported = subprocess.run([dbt_executable(), "--version"], capture_output=True, text=True, check=True)
    core = re.search(r"installed:\s*(\d+\.\d+\.\d+)", reported.stdout)
    assert core, reported.stdout
    resource = WarehouseDbtCliResource(project_dir=dbt_project, dbt_executable=dbt_executable())
    assert str(resource._cli_version) == core.group(1)
    assert resource._initialize_dbt_core_adapter(["build"]) is None


def test_another_dbt_executable_is_asked_for_its_version(tmp_path) -> None:
    other = tmp_path / "dbt"
    other.write_text("#!/bin/sh\necho 'Core:\n  - installed: 9.8.7'\n")
    other.chmod(0o755)
    resource = WarehouseDbtCliResource(project_dir=dbt_project, dbt_executable=str(other))
    assert str(resource._cli_version) == "9.8.7"
