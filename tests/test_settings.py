"""Where PostgreSQL is: one resolution rule, shared by every tool."""

from __future__ import annotations

import pytest

from warehouse import settings


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in (*settings.CONNECTION_VARIABLES, settings.EMBEDDED_MARKER):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_no_settings_means_embedded(clean_env: pytest.MonkeyPatch) -> None:
    assert settings.configured_settings() is None


def test_pg_variables_name_a_server_with_defaults(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("PGHOST", "db.example.internal")
    clean_env.setenv("PGPASSWORD", "s3cret")
    db = settings.configured_settings()
    assert db == settings.DatabaseSettings(
        host="db.example.internal", port=5432, user="postgres", password="s3cret", dbname="warehouse"
    )
    assert db.url() == "postgresql://postgres:s3cret@db.example.internal:5432/warehouse"
    assert "s3cret" not in db.describe()


def test_database_url_wins_and_decodes(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("PGHOST", "ignored")
    clean_env.setenv("DATABASE_URL", "postgresql://loader:p%40ss@pg.local:6543/shop")
    db = settings.configured_settings()
    assert (db.host, db.port, db.user, db.password, db.dbname) == ("pg.local", 6543, "loader", "p@ss", "shop")


def test_socket_urls_round_trip(clean_env: pytest.MonkeyPatch) -> None:
    db = settings.DatabaseSettings(
        host="/tmp/pg socket", port=5432, user="postgres", password="", dbname="wh"
    )
    assert settings.parse_url(db.url()) == db


def test_rejects_other_schemes(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("DATABASE_URL", "mysql://x@y/z")
    with pytest.raises(ValueError, match="postgresql://"):
        settings.configured_settings()


def test_exported_embedded_settings_are_not_mistaken_for_a_server(clean_env: pytest.MonkeyPatch) -> None:
    env: dict[str, str] = {}
    embedded = settings.DatabaseSettings("/sock", 5432, "postgres", "", "warehouse", embedded=True)
    settings.export_to_environ(embedded, env)
    assert env["PGHOST"] == "/sock" and settings.EMBEDDED_MARKER in env
    for name, value in env.items():
        clean_env.setenv(name, value)
    assert settings.configured_settings() is None


def test_dotenv_is_read_but_environment_wins(clean_env: pytest.MonkeyPatch, tmp_path) -> None:
    (tmp_path / ".env").write_text("PGHOST=from-dotenv\nPGPORT=7777\n")
    clean_env.setattr(settings, "ROOT", tmp_path)
    clean_env.setattr(settings, "_dotenv_loaded", False)
    clean_env.setenv("PGPORT", "5555")
    db = settings.configured_settings()
    assert (db.host, db.port) == ("from-dotenv", 5555)
