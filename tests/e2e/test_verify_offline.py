"""docs/examples/verify_offline.py, the auditor's standalone verifier, on files the ledger really
produced: it needs nothing of ours (only the standard library and ``cryptography``), accepts what
is genuine, and rejects a changed root, a leaf that is not the event's, and a file that is not
ours (exit 1 for "not verified", 2 for bad input)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from service.application import RealtyLedger
from service.settings import load_settings
from tests.conftest import register_team

SCRIPT = Path(__file__).resolve().parents[2] / "docs" / "examples" / "verify_offline.py"


def offline(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # -I: isolated mode, so neither the working directory nor PYTHONPATH can lend it our packages.
    return subprocess.run([sys.executable, "-I", str(SCRIPT), *args], capture_output=True, text=True,
                          cwd=cwd, timeout=60, check=False)


def test_the_offline_verifier_imports_only_the_standard_library_and_cryptography() -> None:
    imported = set()
    for node in ast.walk(ast.parse(SCRIPT.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module.split(".")[0])
    assert imported <= set(sys.stdlib_module_names) | {"cryptography", "__future__"}, imported


def test_the_offline_verifier_accepts_genuine_files_and_rejects_changed_ones(tmp_path: Path) -> None:
    app = RealtyLedger(load_settings(database_url=f"sqlite:///{tmp_path / 'realty.sqlite3'}",
                                     signing_keys_dir=tmp_path / "keys", checkpoint_interval=0))
    try:
        team = register_team(app)
        old = app.audit.checkpoint()
        now = datetime.now(UTC)
        customer = app.receive_customer(team.consultant, channel="walk_in",
                                        reception_started_at=now - timedelta(minutes=20),
                                        reception_ended_at=now - timedelta(minutes=5)).id
        new = app.audit.checkpoint()
        position = app.audit.positions(customer)[1].position
        inclusion = app.audit.inclusion(position, new.tree_size)
        consistency = app.audit.consistency(old.tree_size, new.tree_size)
        (row,) = app.recorder.select_events(uuid.UUID(customer))
        keys = app.audit.keyring.export_public()
    finally:
        app.close()
    files = {"old.json": old.to_json(), "new.json": new.to_json(), "keys.txt": keys,
             "inclusion.json": json.dumps(inclusion), "consistency.json": json.dumps(consistency)}
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")

    assert offline("checkpoint", "new.json", "keys.txt", cwd=tmp_path).returncode == 0
    assert offline("inclusion", "inclusion.json", "new.json", "--public-keys", "keys.txt", cwd=tmp_path).returncode == 0
    assert offline("consistency", "consistency.json", "old.json", "new.json", "--public-keys", "keys.txt",
                   cwd=tmp_path).returncode == 0
    leaf = offline("leaf", "--originator-id", customer, "--version", "1", "--topic", row.topic,
                   "--state-hex", row.state.hex(), "--expect", inclusion["leaf_hash"], cwd=tmp_path)
    assert leaf.returncode == 0, leaf.stdout + leaf.stderr

    # A changed root, a leaf that is not this event's, a file that is not ours.
    forged = json.loads(new.to_json())
    forged["root_hash"] = ("0" if forged["root_hash"][0] != "0" else "1") + forged["root_hash"][1:]
    (tmp_path / "forged.json").write_text(json.dumps(forged), encoding="utf-8")
    assert offline("checkpoint", "forged.json", "keys.txt", cwd=tmp_path).returncode == 1
    assert offline("inclusion", "inclusion.json", "forged.json", cwd=tmp_path).returncode == 1
    other_leaf = offline("inclusion", "inclusion.json", "new.json", "--leaf-hash", "ab" * 32, cwd=tmp_path)
    assert other_leaf.returncode == 1
    wrong_state = offline("leaf", "--originator-id", customer, "--version", "1", "--topic", row.topic,
                          "--state-hex", row.state.hex() + "00", "--expect", inclusion["leaf_hash"], cwd=tmp_path)
    assert wrong_state.returncode == 1
    (tmp_path / "garbage.json").write_text('{"format": "nope"}', encoding="utf-8")
    assert offline("checkpoint", "garbage.json", "keys.txt", cwd=tmp_path).returncode == 2
