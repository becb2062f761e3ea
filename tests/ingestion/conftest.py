"""Fixtures shared by the loader tests."""

from __future__ import annotations

import uuid

import pytest

from ingestion.destination import make_pipeline
from warehouse import database


@pytest.fixture
def pipeline(request: pytest.FixtureRequest, warehouse_db):
    """A dlt pipeline of its own for the test, named after the test module (``olist_files_test_…``),
    loading into a schema of the same name; the schema and its staging schema are dropped after."""
    module = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    name = f"{module}_test_{uuid.uuid4().hex[:8]}"
    pipe = make_pipeline(name, name, warehouse_db)
    yield pipe
    database.query(f'drop schema if exists "{name}" cascade')
    database.query(f'drop schema if exists "{name}_staging" cascade')
