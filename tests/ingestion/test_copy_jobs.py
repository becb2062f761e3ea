"""The CSV COPY of every loader (ingestion/copy_jobs.py): an empty table is truncated in the COPY's
transaction, so the embedded server (``wal_level = minimal``) writes no WAL for its rows; a table
with rows keeps them, also when several files of one table load at the same time."""

from __future__ import annotations

from pathlib import Path

import dlt
import pyarrow as pa
import pytest

from warehouse import database

# the loaders' import files carry dlt's load id like every raw row (ingestion/destination.py)
HINTS = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("note", pa.string()),
        pa.field("_dlt_load_id", pa.string()),
    ]
).empty_table()


def _csv(path: Path, first: int, rows: int, width: int = 10) -> str:
    lines = ["id,note,_dlt_load_id", *(f"{i},{'x' * width},{first}" for i in range(first, first + rows))]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _load(pipeline, files: list[str], disposition: str = "append") -> None:
    @dlt.resource(name="things", write_disposition=disposition, primary_key="id")
    def things():
        for file in files:
            rows = Path(file).read_text().count("\n") - 1
            yield dlt.mark.with_file_import(file, "csv", items_count=rows, hints=HINTS)

    pipeline.run(things(), loader_file_format="csv")


def _count(pipeline) -> tuple[int, int]:
    return database.query(f"select count(*), count(distinct id) from {pipeline.dataset_name}.things")[0]


def _wal_bytes() -> int:
    return int(database.query("select pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')")[0][0])


def test_files_of_one_table_loaded_together_and_later_keep_every_row(tmp_path: Path, pipeline) -> None:
    # four files of one table in one load: dlt copies them in parallel jobs, the first of which
    # finds the table empty; no job may truncate the rows another one committed
    files = [_csv(tmp_path / f"part{n}.csv", n * 1000, 1000) for n in range(4)]
    _load(pipeline, files)
    assert _count(pipeline) == (4000, 4000)
    _load(pipeline, [_csv(tmp_path / "later.csv", 4000, 500)])
    assert _count(pipeline) == (4500, 4500)
    # a merge copies into its staging table (emptied by dlt first), then merges: rows replaced by key
    _load(pipeline, [_csv(tmp_path / "merge.csv", 4400, 200, width=3)], disposition="merge")
    assert _count(pipeline) == (4600, 4600)
    notes = database.query(
        f"select length(note), count(*) from {pipeline.dataset_name}.things group by 1 order by 1"
    )
    assert notes == [(3, 200), (10, 4400)]


def test_a_first_load_writes_no_wal_for_its_rows(tmp_path: Path, pipeline) -> None:
    if database.query("show wal_level")[0][0] != "minimal":
        pytest.skip("rows are WAL-logged whenever wal_level is above minimal")
    # about 50 MB of rows: WAL-logged, they would take more than that
    first = _csv(tmp_path / "first.csv", 0, 200_000, width=240)
    size = Path(first).stat().st_size
    before = _wal_bytes()
    _load(pipeline, [first])
    first_load = _wal_bytes() - before
    assert _count(pipeline) == (200_000, 200_000)
    # the same rows into the table that now has rows: logged as usual
    before = _wal_bytes()
    _load(pipeline, [_csv(tmp_path / "second.csv", 200_000, 200_000, width=240)])
    second_load = _wal_bytes() - before
    assert _count(pipeline) == (400_000, 400_000)
    assert second_load > size / 2, (second_load, size)
    assert first_load < size / 10, (first_load, size)
