"""The application takes its persistence settings only from ours, never from stray variables."""

from __future__ import annotations

import pytest

from service.application import RealtyLedger
from service.settings import load_settings
from tests.conftest import require_postgres


@pytest.mark.postgres
def test_a_stray_enable_db_functions_variable_cannot_reach_the_library(monkeypatch: pytest.MonkeyPatch) -> None:
    url = require_postgres()
    monkeypatch.setenv("POSTGRES_ENABLE_DB_FUNCTIONS", "y")
    monkeypatch.setenv("PERSISTENCE_MODULE", "eventsourcing.popo")
    app = RealtyLedger(load_settings(database_url=url))
    try:
        datastore = app.recorder.datastore  # type: ignore[attr-defined]
        assert datastore.enable_db_functions is False
        assert type(app.recorder).__name__ == "ChainedPostgresRecorder"
    finally:
        app.close()


def test_each_backend_writes_through_the_guarded_chained_recorder(database_url: str) -> None:
    app = RealtyLedger(load_settings(database_url=database_url))
    try:
        module = type(app.recorder).__module__
        settings = load_settings(database_url=database_url)
        assert module == "archive.chained"
        if settings.database.backend == "sqlite":
            assert type(app.recorder).__name__ == "ChainedSQLiteRecorder"
            assert settings.database.path is not None and settings.database.path.exists()
        else:
            assert type(app.recorder).__name__ == "ChainedPostgresRecorder"
    finally:
        app.close()
