"""``realty secrets init --out DIR``: the secret files a deployment mounts (``docker-compose.yml``).

One file per secret, named as the setting it feeds (see ``REALTY_SECRETS_DIR`` in
``service.settings``): the master key that wraps every data key, the Ed25519 key that signs
checkpoints, the database URL with its password, and that password for PostgreSQL itself. Each is
made from fresh random bytes, written 0600, and never printed; an existing file is never
overwritten (a lost master key is lost data), so a second run only fills in what is missing.
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from archive.private_files import write_private
from service.cli import EXIT_OK, EXIT_USAGE, CliError

MASTER_KEY_BYTES = 32  # AES-256


def secret_files(database_host: str, database_port: int, database_name: str, database_user: str) -> dict[str, bytes]:
    """Fresh contents for every secret file, by file name."""
    password = secrets.token_urlsafe(32)
    url = (f"postgresql://{quote(database_user, safe='')}:{quote(password, safe='')}@{database_host}:"
           f"{database_port}/{quote(database_name, safe='')}")
    signing_key = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return {
        "postgres_password": password.encode(),
        "realty_database_url": url.encode(),
        "realty_master_keys": b"1:" + base64.b64encode(os.urandom(MASTER_KEY_BYTES)),
        "realty_signing_key_pem": signing_key,
    }


def cmd_secrets_init(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if not 1 <= args.database_port <= 65535:
        raise CliError("--database-port must be between 1 and 65535", EXIT_USAGE)
    try:
        out.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as e:
        raise CliError(f"cannot create {out}: {e.strerror}") from None
    if not out.is_dir():
        raise CliError(f"{out} is not a directory", EXIT_USAGE)
    files = secret_files(args.database_host, args.database_port, args.database_name, args.database_user)
    if (out / "postgres_password").exists() != (out / "realty_database_url").exists():
        # The URL carries the password: making one without the other would make them disagree.
        raise CliError(f"{out} holds only one of postgres_password and realty_database_url; "
                       "remove it or add the other by hand", EXIT_USAGE)
    written, kept = [], []
    for name, data in files.items():
        try:
            write_private(out / name, data, replace=False)
            written.append(name)
        except FileExistsError:
            kept.append(name)
    print(f"secrets in {out}: written {', '.join(written) or 'none'}"
          + (f"; kept (already there) {', '.join(kept)}" if kept else ""))
    if written:
        print("back up realty_master_keys and realty_signing_key_pem apart from the database: "
              "without the master key no backup can be read (docs/operations.md)")
    return EXIT_OK


def add_parsers(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    group = sub.add_parser("secrets", help="the secret files of a deployment (docker-compose.yml): init")
    actions = group.add_subparsers(dest="action", metavar="ACTION", parser_class=parser_class)
    actions.required = True
    p = actions.add_parser("init", help="write fresh secret files (0600) into a directory; never overwrites one")
    p.add_argument("--out", required=True, metavar="DIR", help="the directory (created 0700 if missing)")
    p.add_argument("--database-host", default="postgres", help="PostgreSQL host in the URL (default: postgres)")
    p.add_argument("--database-port", type=int, default=5432)
    p.add_argument("--database-name", default="realty")
    p.add_argument("--database-user", default="realty")
    p.set_defaults(func=cmd_secrets_init)
