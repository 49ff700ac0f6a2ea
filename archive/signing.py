"""Signing keys and signed checkpoints (signed tree heads) of the audit ledger.

A checkpoint says "the log had ``tree_size`` events with this RFC 9162 Merkle root at this
time", signed with Ed25519. Witnesses keep checkpoints (``to_json``) and our public keys
(``export_public``) and can later hold us to them: a log that was rewritten cannot produce a
consistency proof to a root it once signed. Private keys live in a ``SigningKeyring``
directory (or come from one PEM secret); rotated-out keys only verify, they never sign again.

The signed message (``Checkpoint.body``) is UTF-8 text, four lines, each ending in ``\\n``::

    <origin>\\n                      non-empty, no control characters; e.g. realty-ledger/prod
    <tree_size>\\n                   decimal, no sign, no leading zeros
    <root hash>\\n                   standard base64 of the 32 bytes, with padding (44 chars)
    <timestamp>\\n                   RFC 3339 UTC, whole seconds: 2026-11-27T19:50:01Z

The signature is plain Ed25519 (RFC 8032) over exactly those bytes. Timestamps are whole
seconds: ``sign_checkpoint`` drops the microseconds, and a ``Checkpoint`` refuses any, so an
object never claims more precision than its signature covers. A key id is the first 16 hex
characters of SHA-256 over the raw 32-byte public key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from archive.private_files import write_private

FORMAT = "realty-checkpoint/v1"
_KEY_ID = re.compile(r"[0-9a-f]{16}")
_FIELDS = {"format": str, "origin": str, "tree_size": int, "root_hash": str,
           "timestamp": str, "key_id": str, "signature": str}


class CheckpointInvalid(Exception):
    """The one error of every failed parse or verification; ``reason`` says which kind."""

    def __init__(self, reason: Literal["unknown_key", "bad_signature", "malformed"], detail: str = "") -> None:
        super().__init__(f"checkpoint invalid ({reason}){': ' + detail if detail else ''}")
        self.reason = reason


class KeyringError(Exception):
    """The keyring on disk cannot be used (bad permissions, damaged files)."""


class KeyringMissing(KeyringError):
    """No keyring was ever initialised in the directory."""


def _key_id(public_key: Ed25519PublicKey) -> str:
    return hashlib.sha256(public_key.public_bytes_raw()).hexdigest()[:16]


def _strict_b64(text: str, size: int) -> bytes:
    # Only the canonical spelling is accepted, so one value has exactly one text form.
    raw = base64.b64decode(text, validate=True)
    if len(raw) != size or base64.b64encode(raw).decode() != text:
        raise ValueError(f"expected canonical base64 of {size} bytes")
    return raw


def _rfc3339(ts: datetime) -> str:
    return ts.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement about the log. Building or parsing one does NOT verify it."""

    origin: str
    tree_size: int
    root_hash: bytes
    timestamp: datetime
    key_id: str
    signature: bytes

    def __post_init__(self) -> None:
        Checkpoint.body(self.origin, self.tree_size, self.root_hash, self.timestamp)
        if not isinstance(self.key_id, str) or not _KEY_ID.fullmatch(self.key_id):
            raise ValueError("key_id must be 16 lowercase hex characters")
        if not isinstance(self.signature, bytes) or len(self.signature) != 64:
            raise ValueError("signature must be 64 bytes")
        object.__setattr__(self, "timestamp", self.timestamp.astimezone(UTC))

    @staticmethod
    def body(origin: str, tree_size: int, root_hash: bytes, timestamp: datetime) -> bytes:
        """The exact signed bytes (see the module docstring); ValueError on unsignable input."""
        if not isinstance(origin, str) or not origin or any(c < " " or c == "\x7f" for c in origin):
            raise ValueError("origin must be non-empty text without control characters")
        if type(tree_size) is not int or not 0 <= tree_size < 2**64:  # bool is an int: refuse it
            raise ValueError("tree_size must be an integer in [0, 2**64)")
        if not isinstance(root_hash, bytes) or len(root_hash) != 32:
            raise ValueError("root_hash must be exactly 32 bytes")
        if not isinstance(timestamp, datetime) or timestamp.utcoffset() is None or timestamp.microsecond:
            raise ValueError("timestamp must be timezone-aware with whole seconds")
        root = base64.b64encode(root_hash).decode()
        return f"{origin}\n{tree_size}\n{root}\n{_rfc3339(timestamp)}\n".encode()

    def to_json(self) -> str:
        """The witness file: a JSON object of exactly the fields format ("realty-checkpoint/v1"), origin,
        tree_size (number), root_hash (lowercase hex), timestamp (as in the body), key_id, signature
        (standard base64, padded)."""
        return json.dumps({"format": FORMAT, "origin": self.origin, "tree_size": self.tree_size,
                           "root_hash": self.root_hash.hex(), "timestamp": _rfc3339(self.timestamp),
                           "key_id": self.key_id, "signature": base64.b64encode(self.signature).decode()},
                          indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Checkpoint:
        """Parse exactly our format (see ``to_json``); anything else is ``malformed``. Not verified."""
        def no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
            if len({k for k, _ in pairs}) != len(pairs):
                raise ValueError("duplicate key")
            return dict(pairs)
        try:
            data = json.loads(text, object_pairs_hook=no_duplicates)
            if not isinstance(data, dict) or set(data) != set(_FIELDS):
                raise ValueError(f"expected exactly the fields {sorted(_FIELDS)}")
            for name, kind in _FIELDS.items():
                if type(data[name]) is not kind:
                    raise ValueError(f"{name} must be a JSON {kind.__name__}")
            if data["format"] != FORMAT:
                raise ValueError(f"format is not {FORMAT}")
            # Parse, then demand the canonical spelling back: one checkpoint has exactly one file form.
            root = bytes.fromhex(data["root_hash"])
            ts = datetime.strptime(data["timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            if root.hex() != data["root_hash"] or _rfc3339(ts) != data["timestamp"]:
                raise ValueError("root_hash must be lowercase hex; timestamp like 2026-11-27T19:50:01Z")
            return cls(origin=data["origin"], tree_size=data["tree_size"], root_hash=root, timestamp=ts,
                       key_id=data["key_id"], signature=_strict_b64(data["signature"], 64))
        except (ValueError, TypeError, OverflowError, RecursionError, binascii.Error) as e:
            raise CheckpointInvalid("malformed", str(e)) from None


def sign_checkpoint(keyring: SigningKeyring, origin: str, tree_size: int, root_hash: bytes,
                    timestamp: datetime | None = None) -> Checkpoint:
    """Sign with the keyring's active key; ``timestamp`` (default now) is cut to whole seconds UTC."""
    ts = timestamp or datetime.now(UTC)
    if ts.utcoffset() is None:  # astimezone would silently read a naive time as this machine's local time
        raise ValueError("timestamp must be timezone-aware")
    ts = ts.astimezone(UTC).replace(microsecond=0)
    key_id, signature = keyring.sign(Checkpoint.body(origin, tree_size, root_hash, ts))
    return Checkpoint(origin, tree_size, root_hash, ts, key_id, signature)


def verify_checkpoint(checkpoint: Checkpoint, public_keys: Mapping[str, Ed25519PublicKey]) -> None:
    """Return only if the signature holds under the named key; otherwise raise CheckpointInvalid."""
    try:
        body = Checkpoint.body(checkpoint.origin, checkpoint.tree_size, checkpoint.root_hash, checkpoint.timestamp)
        key_id, signature = checkpoint.key_id, checkpoint.signature
    except (ValueError, TypeError, AttributeError, OverflowError) as e:  # also objects forged past __post_init__
        raise CheckpointInvalid("malformed", str(e)) from None
    key = public_keys.get(key_id) if isinstance(key_id, str) else None
    if key is None:
        raise CheckpointInvalid("unknown_key", f"no public key with id {key_id!r}")
    try:
        key.verify(signature, body)
    except (InvalidSignature, TypeError, ValueError):
        raise CheckpointInvalid("bad_signature") from None


def load_public_keys(text: str) -> dict[str, Ed25519PublicKey]:
    """Parse ``SigningKeyring.export_public`` output: ``<key_id> ed25519 <base64>`` lines, ``#`` comments."""
    keys: dict[str, Ed25519PublicKey] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split(" ")
        try:
            if len(fields) != 3 or fields[1] != "ed25519" or not _KEY_ID.fullmatch(fields[0]):
                raise ValueError("expected '<16 hex key id> ed25519 <base64 public key>'")
            key = Ed25519PublicKey.from_public_bytes(_strict_b64(fields[2], 32))
            if _key_id(key) != fields[0] or fields[0] in keys:
                raise ValueError("key id does not match its key, or appears twice")
        except (ValueError, binascii.Error) as e:
            raise ValueError(f"public key file, line {number}: {e}") from None
        keys[fields[0]] = key
    if not keys:
        raise ValueError("public key file holds no keys")
    return keys


class SigningKeyring:
    """Ed25519 keys in a directory: ``<key_id>.pem`` (PKCS8, 0600) and ``keyring.json`` (0600)."""

    def __init__(self, directory: Path) -> None:
        self.directory: Path | None = Path(directory)
        self._secret: Ed25519PrivateKey | None = None
        self._earlier: dict[str, Ed25519PublicKey] = {}

    @classmethod
    def from_pem(cls, pem: bytes | str, earlier_public_keys: Path | None = None) -> SigningKeyring:
        """A keyring of one signing key from a secret (env var, docker secret); cannot rotate. The
        public keys of earlier keys (a ``export_public`` file) keep their checkpoints verifiable."""
        try:
            key = serialization.load_pem_private_key(pem.encode() if isinstance(pem, str) else pem, password=None)
        except (ValueError, TypeError):
            raise KeyringError("the signing key secret is not an unencrypted PEM private key") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyringError("the signing key secret is not an Ed25519 key")
        keyring = cls.__new__(cls)
        keyring.directory, keyring._secret = None, key
        keyring._earlier = {}
        if earlier_public_keys is not None:
            try:
                keyring._earlier = load_public_keys(Path(earlier_public_keys).read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, ValueError) as e:
                raise KeyringError(f"cannot use the public key file {earlier_public_keys}: {e}") from None
        return keyring

    def init(self) -> str:
        """Create the directory (0700) and a first key unless one exists; return the active key id."""
        directory = self._directory("initialised")
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        directory.chmod(0o700)  # mkdir's mode yields to umask, and the directory may pre-exist
        if (directory / "keyring.json").exists():
            return self.active_key_id
        return self._add_key({"active": None, "keys": []})

    def rotate(self) -> str:
        """Make a new key the active one; older keys stay for verifying only."""
        self._directory("rotated")
        return self._add_key(self._manifest())

    @property
    def active_key_id(self) -> str:
        if self._secret is not None:
            return _key_id(self._secret.public_key())
        return self._manifest()["active"]

    def sign(self, message: bytes) -> tuple[str, bytes]:
        # Re-read on every call: checkpoints are rare, and a rotation by the CLI takes effect at once.
        key_id = self.active_key_id
        key = self._secret if self._secret is not None else self._load_private(key_id)
        return key_id, key.sign(message)

    def public_keys(self) -> dict[str, Ed25519PublicKey]:
        if self._secret is not None:
            return {**self._earlier, self.active_key_id: self._secret.public_key()}
        return {entry["key_id"]: self._load_private(entry["key_id"]).public_key() for entry in self._manifest()["keys"]}

    def export_public(self) -> str:
        active = self.active_key_id
        lines = ["# realty-ledger checkpoint signing keys, oldest first: <key id> ed25519 <base64 raw public key>",
                 f"# active (newest): {active}"]
        for key_id, key in self.public_keys().items():
            lines.append(f"{key_id} ed25519 {base64.b64encode(key.public_bytes_raw()).decode()}")
        return "\n".join(lines) + "\n"

    def _directory(self, action: str) -> Path:
        if self.directory is None:
            raise KeyringError(f"a keyring from a PEM secret cannot be {action}")
        return self.directory

    def _manifest(self) -> dict:
        path = self._directory("read") / "keyring.json"
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
            ids = [entry["key_id"] for entry in manifest["keys"]]
            # Ids become file names: a damaged or planted manifest must not point outside the directory.
            valid = manifest["active"] in ids and all(isinstance(i, str) and _KEY_ID.fullmatch(i) for i in ids)
        except FileNotFoundError:
            raise KeyringMissing(f"no signing keyring in {path.parent}; run `realty audit init-keys`") from None
        except (ValueError, TypeError, KeyError):
            valid = False
        if not valid:
            raise KeyringError(f"{path} is damaged: it must list key ids and name one of them active")
        return manifest

    def _add_key(self, manifest: dict) -> str:
        key = Ed25519PrivateKey.generate()
        key_id = _key_id(key.public_key())
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        directory = self._directory("changed")
        write_private(directory / f"{key_id}.pem", pem)  # the key first: the manifest never names a missing file
        manifest["keys"].append({"key_id": key_id, "created_at": _rfc3339(datetime.now(UTC).replace(microsecond=0))})
        manifest["active"] = key_id
        write_private(directory / "keyring.json", (json.dumps(manifest, indent=2) + "\n").encode())
        return key_id

    def _load_private(self, key_id: str) -> Ed25519PrivateKey:
        path = self._directory("read") / f"{key_id}.pem"
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError as e:
            raise KeyringError(f"cannot open private key file {path}: {e.strerror}") from None
        with os.fdopen(fd, "rb") as f:
            mode = os.fstat(f.fileno()).st_mode  # of the file we read, not of whatever the path names later
            if mode & 0o077:
                raise KeyringError(f"private key file {path} is accessible by group or others "
                                   f"(mode {mode & 0o777:04o}); run: chmod 600 {path}")
            data = f.read()
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError):
            raise KeyringError(f"private key file {path} is not an unencrypted PEM private key") from None
        if not isinstance(key, Ed25519PrivateKey) or _key_id(key.public_key()) != key_id:
            raise KeyringError(f"private key file {path} does not hold the Ed25519 key {key_id}")
        return key
