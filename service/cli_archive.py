"""``realty archive ...``: verify a sealed package offline, and make a recipient's key pair.

``verify`` prints every check, one line each, with the file it is about (never personal data),
then a verdict. Exit codes as everywhere in the CLI: 0 every check passed, 1 a check failed,
2 unusable input (no such package, an unreadable public key or identity file, an encrypted
package without its identity or with another recipient's).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from service.cli import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, CliError, _open, _settings


def _public_keys(args: argparse.Namespace) -> Any:
    from archive.signing import KeyringMissing, load_public_keys

    if args.public_key:
        try:
            return load_public_keys(Path(args.public_key).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as e:
            raise CliError(f"cannot use the public key file {args.public_key}: {e}", EXIT_USAGE) from None
    app = _open(_settings(args))  # no file: this installation's own signing keys
    try:
        return app.audit.public_keys()
    except KeyringMissing:
        raise CliError("no --public-key file given and no signing keyring here to take the keys from",
                       EXIT_USAGE) from None
    finally:
        app.close()


def _identity(path: str | None) -> Any:
    from archive.package_crypto import load_identity

    if path is None:
        return None
    try:
        return load_identity(Path(path).read_bytes())
    except (OSError, ValueError) as e:
        raise CliError(f"cannot use the identity file {path}: {e}", EXIT_USAGE) from None


def cmd_verify(args: argparse.Namespace) -> int:
    from archive.package_verify import PackageUnusable, verify_package

    keys = _public_keys(args)
    identity = _identity(args.identity)
    bagit_log = logging.getLogger("bagit")  # bagit logs every file it hashes and each failure: the report says it
    bagit_log.addHandler(logging.NullHandler())
    bagit_log.propagate = False
    try:
        report = verify_package(Path(args.path), public_keys=keys, identity=identity)
    except PackageUnusable as e:
        raise CliError(str(e), EXIT_USAGE) from None
    if args.json:
        print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
        return EXIT_OK if report.ok else EXIT_FAILURE
    good, bad = _marks()
    print(f"{args.path}: {report.kind or 'package'}")
    for check in report.checks:
        print(f"  {good if check.ok else bad} {check.name}: {check.detail}")
    failed = len(report.failures)
    if report.ok:
        print(f"VERIFIED: all {len(report.checks)} checks passed")
        return EXIT_OK
    print(f"NOT VERIFIED: {failed} of {len(report.checks)} checks failed")
    return EXIT_FAILURE


def _marks() -> tuple[str, str]:
    try:
        "✓✗".encode(sys.stdout.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return "ok", "FAILED"
    return "✓", "✗"


def cmd_keygen(args: argparse.Namespace) -> int:
    from archive.package_crypto import generate_identity, identity_pem, recipient_key_id, recipient_text

    private, public = Path(args.out), Path(args.out + ".pub")
    for path in (private, public):
        if path.exists():
            raise CliError(f"{path} exists; a key file is never written over", EXIT_USAGE)
    identity = generate_identity()
    private.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)  # 0600 from the first byte
    with os.fdopen(fd, "wb") as f:
        f.write(identity_pem(identity))
    public.write_text(recipient_text(identity.public_key()), encoding="utf-8")
    os.chmod(public, 0o644)
    print(f"recipient key {recipient_key_id(identity.public_key())}: private key (identity) {private} (0600, keep it "
          f"secret), public key {public} (hand it to the archivist who seals packages for you)")
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

    from archive.package_crypto import load_recipient
    from service.application import Acting

    recipient = None
    if args.encrypt_to:
        try:
            recipient = load_recipient(Path(args.encrypt_to).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as e:
            raise CliError(f"cannot use the recipient key {args.encrypt_to}: {e}", EXIT_USAGE) from None
    if args.encrypt_to and args.format == "dir":
        raise CliError("an encrypted package is one file: use --format tar or zip", EXIT_USAGE)
    out = Path(args.out)
    if out.exists():
        raise CliError(f"{out} exists; a package is never written over another", EXIT_USAGE)
    logging.getLogger("bagit").addHandler(logging.NullHandler())
    logging.getLogger("bagit").propagate = False
    app = _open(_settings(args))
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), transient=True,
                      disable=args.json or not sys.stderr.isatty()) as bar:
            task = bar.add_task("sealing", total=None)
            answer = app.export_package(
                Acting(args.by), out=out, fmt=args.format, encrypt_to=recipient, customer_id=args.customer,
                deal_id=args.deal, archive_no=args.archive_no,
                progress=lambda step, name, size: bar.update(task, advance=size, description=f"{step} {name}"))
    finally:
        app.close()
    if args.json:
        print(json.dumps(answer, indent=2))
    else:
        print(f"sealed {answer['external_identifier']}: {answer['events']} events, {answer['documents']} documents, "
              f"checkpoint of {answer['tree_size']} events -> {answer['path']}"
              + (" (encrypted for the recipient)" if answer["encrypted"] else ""))
        print(f"verify it with: realty archive verify {answer['path']} --public-key <the ledger's public keys>")
    return EXIT_OK


def add_parsers(sub: Any, parser_class: type[argparse.ArgumentParser]) -> Any:
    """Add ``archive verify`` and ``archive keygen``; return the actions, for ``archive export``."""
    archive = sub.add_parser("archive", help="sealed packages (BagIt): verify one offline, make a recipient key")
    actions = archive.add_subparsers(dest="action", metavar="ACTION", parser_class=parser_class)
    actions.required = True
    p = actions.add_parser("verify", help="verify a sealed package (folder, .tar, .zip or encrypted) offline")
    p.add_argument("path", help="the package: a bag folder, a tar, a zip, or an encrypted package")
    p.add_argument("--public-key", metavar="FILE",
                   help="the signing public keys (`realty audit public-key`); default: this installation's")
    p.add_argument("--identity", metavar="FILE", help="the recipient's X25519 private key, for an encrypted package")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_verify)
    p = actions.add_parser("export", help="export a customer's or deal's service file as a sealed package")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--customer", help="a customer id: the customer's record and service files")
    which.add_argument("--deal", help="a deal id: the deal's record and its deal file")
    which.add_argument("--archive-no", help="an archive number (档案号): that file and its owner's record")
    p.add_argument("--out", required=True, help="where to write the package (must not exist)")
    p.add_argument("--format", choices=["dir", "tar", "zip"], default="tar", help="a folder, a .tar or a .zip")
    p.add_argument("--encrypt-to", help="a recipient's public key file (realty archive keygen): encrypt the package")
    p.add_argument("--by", required=True, help="the archivist or compliance officer exporting (staff id)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_export)

    p = actions.add_parser("keygen", help="make an X25519 key pair for a package recipient")
    p.add_argument("--out", metavar="FILE", required=True,
                   help="the private key file (0600); the public key goes to FILE.pub")
    p.set_defaults(func=cmd_keygen)
    return actions
