"""Master keys (key-encryption keys): versioned, from a directory or a secret, never in the database.

A master key only wraps data keys (``archive.data_keys``); the data keys encrypt the data. Each
master key has a version number; the newest is the active one that wraps new and rotated data
keys, and older ones stay readable until no data key is wrapped by them any more (``realty keys
status`` says when one can be removed).

Two sources:

* a directory (default ``<keys>/master``, mode 0700) of files ``master-v<N>.key``, each the
  base64 of 32 random bytes and a newline, mode 0600 — ``realty keys init|rotate`` write them;
* a secret (``REALTY_MASTER_KEYS``, e.g. a Docker or Kubernetes secret): ``<N>:<base64>``
  entries separated by commas; it cannot be rotated in place (the operator adds the new version).
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from pathlib import Path

from archive.aead import KEY_SIZE, new_key
from archive.private_files import write_private

_FILE = re.compile(r"master-v([1-9][0-9]{0,5})\.key")


class MasterKeyError(Exception):
    """Master keys that cannot be used; the message says where and why, never a key."""


class MasterKeys:
    def __init__(self, keys: dict[int, bytes], *, directory: Path | None = None, source: str = "") -> None:
        self._keys = dict(keys)
        self.directory = directory
        self.source = source or (str(directory) if directory else "a secret")

    @classmethod
    def from_directory(cls, directory: Path) -> MasterKeys:
        directory = Path(directory)
        keys: dict[int, bytes] = {}
        if directory.is_dir():
            for path in directory.iterdir():
                match = _FILE.fullmatch(path.name)
                if match:
                    keys[int(match.group(1))] = _read_key_file(path)
        return cls(keys, directory=directory)

    @classmethod
    def from_secret(cls, text: str) -> MasterKeys:
        keys: dict[int, bytes] = {}
        for n, entry in enumerate(e.strip() for e in text.split(",") if e.strip()):
            version, sep, b64 = entry.partition(":")
            if not sep or not version.isdigit() or int(version) < 1:
                raise MasterKeyError(f"REALTY_MASTER_KEYS entry {n + 1} must be <version>:<base64 key>")
            keys[int(version)] = _decode(b64, f"REALTY_MASTER_KEYS entry {n + 1} (version {version})")
        if not keys:
            raise MasterKeyError("REALTY_MASTER_KEYS is set but holds no key")
        return cls(keys, source="REALTY_MASTER_KEYS")

    @property
    def versions(self) -> list[int]:
        return sorted(self._keys)

    @property
    def active_version(self) -> int:
        if not self._keys:
            raise MasterKeyError(f"no master key in {self.source}; run `realty keys init`")
        return max(self._keys)

    def key(self, version: int) -> bytes:
        if version not in self._keys and self.directory is not None:
            # `realty keys rotate` in another process re-wraps the data keys under a version this
            # process has not read yet: take it from the directory rather than fail every read.
            for new_version, key in MasterKeys.from_directory(self.directory)._keys.items():
                self._keys.setdefault(new_version, key)
        try:
            return self._keys[version]
        except KeyError:
            raise MasterKeyError(f"master key v{version} is not in {self.source}") from None

    def init(self) -> int:
        """A first master key unless one exists; the active version."""
        if self._keys:
            return self.active_version
        return self._add(1)

    def rotate(self) -> int:
        """A new master key, one version above the newest; it becomes the active one."""
        return self._add(self.active_version + 1)

    def _add(self, version: int) -> int:
        if self.directory is None:
            raise MasterKeyError("master keys from a secret cannot be created here: add the new version to the secret")
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.directory.chmod(0o700)  # mkdir's mode yields to umask, and the directory may pre-exist
        key = new_key()
        _write_new(self.directory / f"master-v{version}.key", base64.b64encode(key) + b"\n")
        self._keys[version] = key
        return version


def _decode(text: str, where: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise MasterKeyError(f"{where} is not base64") from None
    if len(key) != KEY_SIZE:
        raise MasterKeyError(f"{where} is {len(key)} bytes; a master key is {KEY_SIZE}")
    return key


def _read_key_file(path: Path) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as e:
        raise MasterKeyError(f"cannot open master key file {path}: {e.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        mode = os.fstat(f.fileno()).st_mode
        if mode & 0o077:
            raise MasterKeyError(f"master key file {path} is accessible by group or others "
                                 f"(mode {mode & 0o777:04o}); run: chmod 600 {path}")
        data = f.read()
    try:
        return _decode(data.decode("ascii"), f"master key file {path}")
    except UnicodeDecodeError:
        raise MasterKeyError(f"master key file {path} is not base64") from None


def _write_new(path: Path, data: bytes) -> None:
    # Never replaces an existing key: a lost master key loses the data it wrapped.
    try:
        write_private(path, data, replace=False)
    except FileExistsError:
        raise MasterKeyError(f"{path} exists already (another process rotated at the same time?)") from None
