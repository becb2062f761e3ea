"""WarehouseDbtCliResource: dagster-dbt's resource without `dbt --version` and the in-process adapter."""

from __future__ import annotations

import inspect
import os
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


def test_prune_targets_removes_only_the_steps_oldest_directories(tmp_path) -> None:
    from orchestration.assets.dbt import prune_targets

    step, other = "warehouse_dbt_assets", "warehouse_dbt_assets_after_clv"  # one name prefixes the other
    names = [f"{step}-{n:07x}-{n:07x}" for n in range(5)] + [f"{other}-{n:07x}-{n:07x}" for n in range(5)]
    for age, name in enumerate(reversed(names)):
        (tmp_path / name).mkdir()
        os.utime(tmp_path / name, (0, 1_000_000 - age))
    for kept in ("compiled", "manifest.json", f"{step}-notarun"):
        (tmp_path / kept).mkdir()
    current = tmp_path / f"{step}-0000000-0000000"  # the oldest by mtime, still this invocation's

    removed = prune_targets(current, keep=3)

    assert [path.name for path in removed] == [f"{step}-{n:07x}-{n:07x}" for n in (2, 1)]
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        [current.name, f"{step}-0000004-0000004", f"{step}-0000003-0000003"]
        + [name for name in names if name.startswith(other)]
        + ["compiled", "manifest.json", f"{step}-notarun"]
    )
