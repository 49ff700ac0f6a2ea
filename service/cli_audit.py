"""``realty verify`` and ``realty audit ...``: verification, checkpoints, signing keys and proofs.

Exit codes as everywhere in the CLI: 0 done (for ``verify``: only when the log is clean), 1 a
failure (for ``verify``: damage found; the first bad position and what happened are printed),
2 bad input (a checkpoint file that is not ours, a position beyond the tree, ...).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from service.cli import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, CliError, _console, _full_read, _open, _settings


def _read_checkpoint(path: str) -> Any:
    from archive.signing import Checkpoint, CheckpointInvalid

    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise CliError(f"cannot read the checkpoint file {path}: {e.__class__.__name__}", EXIT_USAGE) from None
    try:
        return Checkpoint.from_json(text)
    except CheckpointInvalid as e:
        raise CliError(f"{path} is not a Realty Ledger checkpoint: {e}", EXIT_USAGE) from None


def _read_public_keys(path: str) -> Any:
    from archive.signing import load_public_keys

    try:
        return load_public_keys(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise CliError(f"cannot use the public key file {path}: {e}", EXIT_USAGE) from None


def _write_for_witness(path: str, text: str) -> None:
    """Write a file to hand to someone else (public, not secret: readable by all, 0644)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    os.chmod(target, 0o644)


def cmd_verify(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from archive.audit_trail import ProofUnavailable
    from archive.signing import CheckpointInvalid

    if args.from_position < 0:
        raise CliError("--from must be 0 or more", EXIT_USAGE)
    published = _read_checkpoint(args.checkpoint) if args.checkpoint else None
    keys = _read_public_keys(args.public_keys) if args.public_keys else None
    app = _open(_settings(args))
    try:
        total = app.audit.index.log_size()
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=_console(), transient=True, disable=args.json) as bar:
            task = bar.add_task("verifying", total=total)
            try:
                report = app.audit.verify(published=published, start=args.from_position, public_keys=keys,
                                          progress=lambda n: bar.update(task, completed=n))
            except CheckpointInvalid as e:
                raise CliError(f"the published checkpoint does not verify: {e}", EXIT_USAGE) from None
            except (ProofUnavailable, ValueError) as e:
                raise CliError(str(e), EXIT_USAGE) from None
            # With the keys at hand: does every stored state open for its own row?
            bar.update(task, completed=0, description="decrypting")
            sealed, findings = app.check_sealing(progress=lambda n: bar.update(task, completed=n))
            report.problems.extend(findings)
    finally:
        app.close()
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        _print_report(report)
    return EXIT_OK if report.clean else EXIT_FAILURE


def _print_report(report: Any) -> None:
    console = _console()
    checked = f"{report.events:,} events from position {report.started_at}, {report.checkpoints_checked} checkpoints"
    checked += ", every stored state opened for its row"
    if report.published_checked:
        checked += ", the published checkpoint"
    if report.clean:
        console.print(f"[green]clean[/]: {checked}; tree size {report.tree_size}, root {report.root_hash}",
                      highlight=False, soft_wrap=True)
        return
    first = report.first_problem
    console.print(f"[bold red]NOT CLEAN[/]: first bad position {first.position} ({first.kind}): {first.detail}",
                  highlight=False, soft_wrap=True)
    for other in report.problems:
        if other is not first:
            console.print(f"  also: position {other.position} ({other.kind}): {other.detail}",
                          highlight=False, soft_wrap=True)
    console.print(f"checked {checked}", highlight=False, soft_wrap=True)


def _keyring_directory(args: argparse.Namespace) -> Any:
    from archive.signing import SigningKeyring

    settings = _settings(args)
    if settings.signing_key_pem is not None:
        raise CliError("the signing key comes from REALTY_SIGNING_KEY_PEM: make and rotate it where that secret "
                       "is kept, and list the old public keys in REALTY_SIGNING_PUBLIC_KEYS", EXIT_USAGE)
    return settings, SigningKeyring(settings.keys_dir)


def cmd_init_keys(args: argparse.Namespace) -> int:
    settings, keyring = _keyring_directory(args)
    key_id = keyring.init()
    print(f"signing key {key_id} in {settings.keys_dir} (the directory is 0700, key files 0600)")
    return EXIT_OK


def cmd_rotate_key(args: argparse.Namespace) -> int:
    from archive.signing import KeyringMissing

    _, keyring = _keyring_directory(args)
    try:
        key_id = keyring.rotate()
    except KeyringMissing as e:
        raise CliError(str(e), EXIT_USAGE) from None
    print(f"new signing key {key_id}; older keys still verify the checkpoints they signed. "
          "Hand the new public key (realty audit public-key) to your witnesses.")
    return EXIT_OK


def cmd_public_key(args: argparse.Namespace) -> int:
    app = _open(_settings(args))
    try:
        text = app.audit.keyring.export_public()
    finally:
        app.close()
    if args.out:
        _write_for_witness(args.out, text)
        print(f"public keys written to {args.out}")
    else:
        print(text, end="" if text.endswith("\n") else "\n")
    return EXIT_OK


def cmd_checkpoint(args: argparse.Namespace) -> int:
    from archive.checkpoints import EmptyLog

    app = _open(_settings(args))
    try:
        try:
            checkpoint = app.audit.checkpoint()
        except EmptyLog as e:
            raise CliError(str(e), EXIT_USAGE) from None
    finally:
        app.close()
    text = checkpoint.to_json()
    if args.out:
        _write_for_witness(args.out, text)
        print(f"checkpoint of {checkpoint.tree_size} events (root {checkpoint.root_hash.hex()}) written to "
              f"{args.out}; hand it to a witness")
    else:
        print(text)
    return EXIT_OK


def cmd_proof(args: argparse.Namespace) -> int:
    from archive.audit_trail import ProofUnavailable

    app = _open(_settings(args))
    try:
        try:
            if args.kind == "inclusion":
                answer = app.audit.inclusion(args.position, args.tree_size)
            else:
                answer = app.audit.consistency(args.first, args.second)
        except (ProofUnavailable, ValueError) as e:
            raise CliError(str(e), EXIT_USAGE) from None
    finally:
        app.close()
    print(json.dumps(answer, indent=2))
    return EXIT_OK


def _audit_reader(app: Any, args: argparse.Namespace, record_id: str) -> tuple[dict[str, Any], bool]:
    """The record's state, and whether the reader sees personal data in full: only with --reveal,
    and only as a compliance officer named with --by, whose read is then recorded on their log."""
    state = app.state(record_id)
    full = _full_read(app, args, record_id, state["kind"], f"cli audit {args.action}",
                      roles=frozenset({"compliance_officer"}))
    return state, full


def cmd_audit_history(args: argparse.Namespace) -> int:
    from service.audit_reads import history_with_proofs
    from service.redaction import redact_events

    app = _open(_settings(args))
    try:
        _, full = _audit_reader(app, args, args.id)
        events = app.history(args.id)
        answer = history_with_proofs(app, args.id, events if full else redact_events(events))
    finally:
        app.close()
    if args.json:
        print(json.dumps(answer, ensure_ascii=False, indent=2))
        return EXIT_OK
    from rich.table import Table

    checkpoint = answer["checkpoint"]
    table = Table(title=f"{args.id}: every event, and its proof against checkpoint "
                        f"{checkpoint['tree_size'] if checkpoint else '(none yet)'}")
    for column in ("v", "event", "occurred at", "actor", "role", "correlation", "position", "proof"):
        table.add_column(column)
    for e in answer["events"]:
        inclusion = e["inclusion"] or {}
        proof = f"{len(inclusion['proof'])} hashes" if inclusion.get("covered") else "after the checkpoint"
        table.add_row(str(e["version"]), e["name"], e["occurred_at"][:19], e["actor_id"][:8], e["actor_role"],
                      str(e["correlation_id"])[:12], str(inclusion.get("position", "")), proof)
    _console().print(table)
    return EXIT_OK


def cmd_audit_diff(args: argparse.Namespace) -> int:
    from service.audit_reads import diff
    from service.redaction import redact_state

    if args.from_version < 1 or args.to_version < args.from_version:
        raise CliError("need 1 ≤ --from ≤ --to", EXIT_USAGE)
    app = _open(_settings(args))
    try:
        _, full = _audit_reader(app, args, args.id)
        before, after = (app.state(args.id, version=v) for v in (args.from_version, args.to_version))
        if not full:
            before, after = redact_state(before), redact_state(after)
        answer = diff(before, after, app.history(args.id))
    finally:
        app.close()
    print(json.dumps(answer, ensure_ascii=False, indent=2))
    return EXIT_OK


def add_parsers(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("verify", help="verify the whole log: chain, Merkle roots, signed checkpoints")
    p.add_argument("--from", dest="from_position", type=int, default=0,
                   help="start at this position (trusting the chain hash before it); default 0, everything")
    p.add_argument("--checkpoint", metavar="FILE", help="also verify against a published checkpoint (a witness's)")
    p.add_argument("--public-keys", metavar="FILE", help="verify signatures with these public keys, not the keyring's")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_verify)

    audit = sub.add_parser("audit", help="signed checkpoints, signing keys and proofs")
    actions = audit.add_subparsers(dest="action", metavar="ACTION", parser_class=parser_class)
    actions.required = True
    p = actions.add_parser("checkpoint", help="sign a checkpoint of the log now; --out writes it for a witness")
    p.add_argument("--out", metavar="FILE")
    p.set_defaults(func=cmd_checkpoint)
    p = actions.add_parser("public-key", help="print (or --out write) the public keys that verify checkpoints")
    p.add_argument("--out", metavar="FILE")
    p.set_defaults(func=cmd_public_key)
    p = actions.add_parser("init-keys", help="create the signing keyring (idempotent)")
    p.set_defaults(func=cmd_init_keys)
    p = actions.add_parser("rotate-key", help="make a new signing key; old checkpoints stay verifiable")
    p.set_defaults(func=cmd_rotate_key)
    p = actions.add_parser("history", help="a record's every event with its place in the log and inclusion proof")
    p.add_argument("id", help="any record's id (customer, deal, listing, staff member)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--reveal", action="store_true", help="personal data in full (needs --by; the read is recorded)")
    p.add_argument("--by", help="the compliance officer reading (staff id)")
    p.set_defaults(func=cmd_audit_history)
    p = actions.add_parser("diff", help="what changed in a record between two versions, and who changed it")
    p.add_argument("id")
    p.add_argument("--from", dest="from_version", type=int, required=True)
    p.add_argument("--to", dest="to_version", type=int, required=True)
    p.add_argument("--reveal", action="store_true", help="personal data in full (needs --by; the read is recorded)")
    p.add_argument("--by", help="the compliance officer reading (staff id)")
    p.set_defaults(func=cmd_audit_diff)
    p = actions.add_parser("proof", help="an inclusion or consistency proof, as JSON")
    kinds = p.add_subparsers(dest="kind", metavar="KIND", parser_class=parser_class)
    kinds.required = True
    q = kinds.add_parser("inclusion", help="that the event at --position is in the tree of --tree-size events")
    q.add_argument("--position", type=int, required=True)
    q.add_argument("--tree-size", type=int, help="default: the latest checkpoint's")
    q.set_defaults(func=cmd_proof)
    q = kinds.add_parser("consistency", help="that the tree of --second events extends the one of --first")
    q.add_argument("--first", type=int, required=True)
    q.add_argument("--second", type=int, help="default: the latest checkpoint's")
    q.set_defaults(func=cmd_proof)
