"""``realty secrets init`` and settings read from a secrets directory (``REALTY_SECRETS_DIR``), as
``docker-compose.yml`` mounts them: fresh, private, never printed, never overwritten; the
environment wins over a file; a missing directory is a one-line error."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from archive.master_keys import MasterKeys
from service.settings import SettingsError, load_settings
from tests.e2e.cli import realty

FILES = {"postgres_password", "realty_database_url", "realty_master_keys", "realty_signing_key_pem"}


def test_secrets_init_writes_fresh_private_files_and_prints_none_of_them(tmp_path: Path) -> None:
    out = tmp_path / "secrets"
    made = realty("secrets", "init", "--out", str(out), "--database-host", "db.internal")
    assert made.returncode == 0, made.stderr
    assert {p.name for p in out.iterdir()} == FILES
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    for path in out.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
        assert path.read_text(encoding="utf-8") not in made.stdout + made.stderr, path.name
    password = (out / "postgres_password").read_text(encoding="utf-8")
    assert len(password) >= 40
    url = (out / "realty_database_url").read_text(encoding="utf-8")
    assert url == f"postgresql://realty:{password}@db.internal:5432/realty"
    master = MasterKeys.from_secret((out / "realty_master_keys").read_text(encoding="utf-8"))
    assert master.versions == [1] and len(master.key(1)) == 32
    key = serialization.load_pem_private_key((out / "realty_signing_key_pem").read_bytes(), password=None)
    assert isinstance(key, Ed25519PrivateKey)


def test_a_second_run_keeps_every_existing_secret_and_fills_in_a_missing_one(tmp_path: Path) -> None:
    out = tmp_path / "secrets"
    assert realty("secrets", "init", "--out", str(out)).returncode == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    (out / "realty_signing_key_pem").unlink()
    again = realty("secrets", "init", "--out", str(out))
    assert again.returncode == 0, again.stderr
    assert "written realty_signing_key_pem" in again.stdout
    after = {p.name: p.read_bytes() for p in out.iterdir()}
    assert {k: v for k, v in after.items() if k != "realty_signing_key_pem"} == {
        k: v for k, v in before.items() if k != "realty_signing_key_pem"}
    assert after["realty_signing_key_pem"] != before["realty_signing_key_pem"]


def test_a_password_without_its_url_is_refused_rather_than_made_to_disagree(tmp_path: Path) -> None:
    out = tmp_path / "secrets"
    assert realty("secrets", "init", "--out", str(out)).returncode == 0
    (out / "realty_database_url").unlink()
    refused = realty("secrets", "init", "--out", str(out))
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1 and "postgres_password" in refused.stderr
    assert not (out / "realty_database_url").exists()


def test_secrets_init_refuses_a_file_where_the_directory_should_be(tmp_path: Path) -> None:
    target = tmp_path / "secrets"
    target.write_text("not a directory", encoding="utf-8")
    refused = realty("secrets", "init", "--out", str(target))
    assert refused.returncode != 0
    assert refused.stderr.startswith("realty: error:") and refused.stderr.count("\n") == 1


def test_settings_come_from_the_secret_files_and_the_environment_wins(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "secrets"
    assert realty("secrets", "init", "--out", str(out)).returncode == 0
    (out / "realty_database_url").write_text(f"sqlite:///{tmp_path / 'from-file.sqlite3'}\n", encoding="utf-8")
    monkeypatch.setenv("REALTY_SECRETS_DIR", str(out))
    monkeypatch.delenv("REALTY_DATABASE_URL", raising=False)
    monkeypatch.delenv("REALTY_MASTER_KEYS", raising=False)
    settings = load_settings()
    assert settings.database.path == tmp_path / "from-file.sqlite3"
    assert settings.master_keys is not None
    assert settings.master_keys.get_secret_value() == (out / "realty_master_keys").read_text(encoding="utf-8")
    assert settings.signing_key_pem is not None and "PRIVATE KEY" in settings.signing_key_pem.get_secret_value()
    assert "PRIVATE KEY" not in repr(settings)  # secrets stay secret in reprs and logs
    monkeypatch.setenv("REALTY_MASTER_KEYS", "7:" + base64.b64encode(bytes(32)).decode())
    assert load_settings().master_keys.get_secret_value().startswith("7:")  # type: ignore[union-attr]


def test_a_secrets_directory_that_is_not_there_is_a_one_line_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REALTY_SECRETS_DIR", str(tmp_path / "missing"))
    with pytest.raises(SettingsError, match="REALTY_SECRETS_DIR"):
        load_settings()
    refused = realty("summary", extra_env={"REALTY_SECRETS_DIR": str(tmp_path / "missing")})
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1 and "REALTY_SECRETS_DIR" in refused.stderr
