"""Settings are validated at start, with errors that name the variable, and translated once."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.settings import DEFAULT_DATABASE_URL, SettingsError, load_settings


def test_the_default_store_is_the_embedded_sqlite_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REALTY_DATABASE_URL", raising=False)
    settings = load_settings()
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.database.backend == "sqlite"
    assert settings.database.path == Path("var/realty.sqlite3")
    env = settings.library_env()
    assert env["PERSISTENCE_MODULE"] == "eventsourcing.sqlite"
    assert env["SQLITE_DBNAME"] == "var/realty.sqlite3"


def test_the_database_url_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REALTY_DATABASE_URL", "postgresql://ledger:s%40cret@db.internal:6543/realty")
    db = load_settings().database
    assert (db.backend, db.host, db.port, db.user, db.password, db.dbname) == (
        "postgres", "db.internal", 6543, "ledger", "s@cret", "realty",
    )
    assert "s@cret" not in db.describe()


def test_absolute_sqlite_paths_keep_their_leading_slash() -> None:
    assert load_settings(database_url="sqlite:////srv/realty/ledger.db").database.path == Path("/srv/realty/ledger.db")


def test_postgres_settings_never_enable_the_library_db_functions() -> None:
    env = load_settings(database_url="postgresql://postgres@127.0.0.1:5432/test").library_env()
    assert env["PERSISTENCE_MODULE"] == "eventsourcing.postgres"
    assert "POSTGRES_ENABLE_DB_FUNCTIONS" not in env
    assert env["POSTGRES_DBNAME"] == "test"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("mysql://root@localhost/realty", "unsupported scheme 'mysql'"),
        ("sqlite://", "needs a file path"),
        ("sqlite:///:memory:", "needs a file path"),
        ("postgresql://localhost", "needs a host and a database"),
        ("postgresql://u@h:notaport/db", "invalid port"),
        ("var/realty.sqlite3", "unsupported scheme"),
    ],
)
def test_a_bad_database_url_is_refused_with_a_clear_message(url: str, problem: str) -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings(database_url=url)
    message = str(refused.value)
    assert message.startswith("invalid settings: REALTY_DATABASE_URL: ")
    assert problem in message


def test_a_bad_number_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REALTY_POOL_SIZE", "0")
    with pytest.raises(SettingsError) as refused:
        load_settings()
    assert "REALTY_POOL_SIZE" in str(refused.value)


def test_a_password_in_a_bad_url_is_not_echoed() -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings(database_url="mysql://root:hunter2@localhost/x")
    assert "hunter2" not in str(refused.value)


def test_each_store_has_a_checkpoint_journal_of_its_own_and_stores_beside_each_other_share_the_keys() -> None:
    a = load_settings(database_url="sqlite:////srv/ledger/a.sqlite3")
    b = load_settings(database_url="sqlite:////srv/ledger/b.sqlite3")
    assert a.journal_path != b.journal_path
    assert a.journal_path == Path("/srv/ledger/a-checkpoints.jsonl")
    assert a.keys_dir == b.keys_dir == Path("/srv/ledger/keys")
    pg = load_settings(database_url="postgresql://u@db.internal:5432/realty")
    assert pg.journal_path == Path("var/checkpoints-realty.jsonl") and pg.keys_dir == Path("var/keys")
    chosen = load_settings(database_url="sqlite:////srv/ledger/a.sqlite3", checkpoint_journal="/safe/j.jsonl",
                           signing_keys_dir="/safe/keys")
    assert (chosen.journal_path, chosen.keys_dir) == (Path("/safe/j.jsonl"), Path("/safe/keys"))
