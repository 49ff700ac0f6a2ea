"""Sealed exports for the HTTP API: built by a `realty archive export` child process.

bagit changes the working directory of the process that bags (``os.chdir``), which would pull the
ground from under every other request of a threaded server (SQLite paths are relative to it), so
the server never bags itself: it starts the CLI with its own settings and waits. Packages are kept
under ``settings.exports_path`` by an id of their own, for the caller to download.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from domain.errors import InvalidValue, NotFound
from service.settings import Settings

SUFFIX = {"dir": "", "tar": ".tar", "zip": ".zip"}
TIMEOUT = 3600


class ExportFailed(Exception):
    """The export process failed; the message is its one-line error (never personal data)."""


def settings_env(settings: Settings) -> dict[str, str]:
    """The settings as the environment a child process reads them from (secrets included)."""
    env = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        env[f"REALTY_{name.upper()}"] = str(value)
    return env


def run_export(settings: Settings, *, by: str, customer_id: str | None, deal_id: str | None, archive_no: str | None,
               fmt: str, recipient: str | None) -> dict[str, Any]:
    """Build a package in a child process; its id, file name, size and SHA-256 (of a tar or zip)."""
    if fmt not in SUFFIX or (recipient and fmt == "dir"):
        raise InvalidValue("format", "must be tar or zip (dir is not downloadable; an encrypted package is one file)")
    export_id = uuid.uuid4().hex
    root = settings.exports_path
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    out = root / f"{export_id}{SUFFIX[fmt]}"
    # Through the CLI's own entry point (not ``-m service.cli``, whose module would be ``__main__``
    # and so not the one whose errors the subcommands raise).
    args = [sys.executable, "-c", "import sys; from service.cli import main; sys.exit(main())",
            "archive", "export", "--out", str(out), "--format", fmt, "--by", by, "--json"]
    for flag, value in (("--customer", customer_id), ("--deal", deal_id), ("--archive-no", archive_no)):
        if value is not None:
            args += [flag, value]
    if recipient:
        key_file = root / f"{export_id}.recipient"
        key_file.write_text(recipient, encoding="utf-8")
        args += ["--encrypt-to", str(key_file)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("REALTY_")} | settings_env(settings)
    try:
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False)  # noqa: S603
    except subprocess.TimeoutExpired:
        # The killed child leaves its scratch folder of decrypted documents, and maybe half a package
        # (both named after this export's file, so other exports' are left alone).
        for leftover in root.glob(f".{out.name}.*"):
            shutil.rmtree(leftover, ignore_errors=True)
        raise ExportFailed(f"export_failed: the export took longer than {TIMEOUT} s") from None
    finally:
        if recipient:
            (root / f"{export_id}.recipient").unlink(missing_ok=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["the export failed"])[-1].removeprefix("realty: error: ")
        raise ExportFailed(last)
    answer = json.loads(done.stdout)
    digest = hashlib.sha256()
    with out.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return {"export_id": export_id, "file_name": out.name, "size": out.stat().st_size, "sha256": digest.hexdigest(),
            "external_identifier": answer["external_identifier"], "events": answer["events"],
            "documents": answer["documents"], "tree_size": answer["tree_size"], "format": fmt,
            "encrypted": answer["encrypted"]}


def export_file(settings: Settings, export_id: str) -> Path:
    if not export_id.isalnum() or len(export_id) != 32:
        raise NotFound("export", export_id)
    for suffix in (".tar", ".zip"):
        path = settings.exports_path / f"{export_id}{suffix}"
        if path.is_file():
            return path
    raise NotFound("export", export_id)
