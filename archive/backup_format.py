"""The backup file: one gzip stream of JSON lines, the same whatever the backend it was taken from.

Uncompressed, a backup reads (one JSON value per line)::

    {"format": "realty-ledger-backup", "version": 1, ...}      the header (what the manifest says
                                                               that is known before the first row)
    {"part": "events", "columns": [["notification_id", "int"], ...]}
    [1, "5f0c...", 1, "realty.customer.received", "AQID...", 0, "q1xH..."]    one row per line
    ...
    {"end": "events", "rows": 1234, "sha256": "..."}           SHA-256 of that part's row lines
    ... more parts ...
    {"manifest": {...header, "parts": {name: {"rows", "sha256"}}}, "sha256": "..."}

The last line is the manifest; its ``sha256`` covers every byte before it, so a reader that finds
the manifest and that digest intact has read the whole file as written. Values are typed by
their column: ``int``, ``text``, ``bytes`` (base64), ``uuid`` (canonical 36-character text) and
``time`` (ISO 8601 text), so that a backup of a SQLite store restores into PostgreSQL and back.
Stored states stay the encrypted bytes they are in the database: a backup holds no plaintext
personal data (see docs/encryption.md).

The file is written as ``FILE.partial`` (0600, created exclusively), fsynced and renamed into
place, so a ``FILE`` that exists is complete. Both reading and writing stream: memory stays
bounded by one row whatever the size of the log.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import uuid
import zlib
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

FORMAT = "realty-ledger-backup"
VERSION = 1
KINDS = ("int", "text", "bytes", "uuid", "time")
Column = tuple[str, str]  # (name, kind)


class NotABackup(Exception):
    """The file is not a Realty Ledger backup (or of a format version this code does not read)."""


class BackupDamaged(Exception):
    """The file is a backup whose content does not match its digests, or that ends too soon."""

    def __init__(self, part: str | None, message: str) -> None:
        super().__init__(message)
        self.part = part


def _encode(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "bytes":
        return base64.b64encode(bytes(value)).decode("ascii")
    if kind == "uuid":
        return str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))
    if kind == "time":
        return value.isoformat() if isinstance(value, datetime) else str(value)
    if kind == "int":
        return int(value)
    return str(value)


def _decode(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "bytes":
        return base64.b64decode(value, validate=True)
    if kind == "uuid":
        return uuid.UUID(value)
    if kind == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"not an integer: {value!r}")
        return value
    if not isinstance(value, str):
        raise ValueError(f"not text: {value!r}")
    return value


def _line(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8") + b"\n"


class BackupWriter:
    """Writes one backup: ``header``, then ``part`` and its rows for each table, then ``finish``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.partial = path.with_name(path.name + ".partial")
        if path.exists():
            raise FileExistsError(f"{path} exists: a backup never replaces another")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError:
            raise FileExistsError(f"{self.partial} exists: another backup is being written there, or one was "
                                  "interrupted (then remove it)") from None
        self._raw: BinaryIO = os.fdopen(fd, "wb")
        # Level 1: the states are ciphertext and do not compress; the base64 and JSON around them do,
        # and a faster level keeps the backup of a large log from being bound by compression.
        self._gz = gzip.GzipFile(fileobj=self._raw, mode="wb", compresslevel=1, mtime=0)
        self._whole = hashlib.sha256()
        self._manifest: dict[str, Any] = {}
        self._parts: dict[str, dict[str, Any]] = {}

    def _write(self, data: bytes) -> None:
        self._gz.write(data)
        self._whole.update(data)

    def header(self, fields: dict[str, Any]) -> None:
        self._manifest = {"format": FORMAT, "version": VERSION, **fields}
        self._write(_line(self._manifest))

    def part(self, name: str, columns: Sequence[Column], rows: Iterator[Sequence[Any]]) -> int:
        """Write one table's rows (already in their order); the number written."""
        kinds = [kind for _, kind in columns]
        self._write(_line({"part": name, "columns": [list(c) for c in columns]}))
        digest, count = hashlib.sha256(), 0
        for row in rows:
            data = _line([_encode(k, v) for k, v in zip(kinds, row, strict=True)])
            self._write(data)
            digest.update(data)
            count += 1
        self._parts[name] = {"rows": count, "sha256": digest.hexdigest()}
        self._write(_line({"end": name, **self._parts[name]}))
        return count

    def finish(self) -> dict[str, Any]:
        """Write the manifest, make the file durable and move it into place; the manifest."""
        manifest = {**self._manifest, "parts": self._parts}
        self._gz.write(_line({"manifest": manifest, "sha256": self._whole.hexdigest()}))
        self._gz.close()
        self._raw.flush()
        os.fsync(self._raw.fileno())
        self._raw.close()
        os.rename(self.partial, self.path)
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the rename itself must survive a crash
        finally:
            os.close(dir_fd)
        return manifest

    def abandon(self) -> None:
        """Something failed: leave no file behind."""
        try:
            self._gz.close()
            self._raw.close()
        except OSError:
            pass
        self.partial.unlink(missing_ok=True)


class Part:
    """One table of a backup being read: its name, its columns, and its rows (read once, in order)."""

    def __init__(self, name: str, columns: list[Column], rows: Iterator[tuple[Any, ...]]) -> None:
        self.name, self.columns, self.rows = name, columns, rows


class BackupReader:
    """Reads a backup part by part, checking every digest on the way. A ``BackupDamaged`` names the
    part in which the damage was found; ``manifest`` is set once every part has been read and the
    whole file's digest has matched."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.manifest: dict[str, Any] | None = None
        self.header: dict[str, Any] = {}
        self._whole = hashlib.sha256()
        self._where: str | None = None
        self.rows_read = 0

    def _lines(self) -> Iterator[bytes]:
        try:
            with open(self.path, "rb") as raw:
                if raw.read(2) != b"\x1f\x8b":
                    raise NotABackup(f"{self.path} is not a Realty Ledger backup (not a gzip file)")
                raw.seek(0)
                with gzip.GzipFile(fileobj=raw, mode="rb") as gz:
                    yield from gz
        except (EOFError, gzip.BadGzipFile, zlib.error) as e:
            where = f"in part {self._where}" if self._where else "before its first part"
            kind = "ends too soon" if isinstance(e, EOFError) else "is damaged"
            raise BackupDamaged(self._where, f"the backup {self.path} {kind} ({where}): {e}") from None

    def _damaged(self, message: str) -> BackupDamaged:
        where = f"part {self._where}" if self._where else "its header"
        return BackupDamaged(self._where, f"the backup {self.path} is damaged in {where}: {message}")

    def parts(self) -> Iterator[Part]:
        lines = self._lines()
        first = next(lines, None)
        try:
            header = json.loads(first) if first else None
        except ValueError:
            header = None
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise NotABackup(f"{self.path} is not a Realty Ledger backup")
        if header.get("version") != VERSION:
            raise NotABackup(f"{self.path} is a backup of format version {header.get('version')}; "
                             f"this version of realty reads version {VERSION}")
        self.header = header
        self._whole.update(first or b"")
        seen: dict[str, dict[str, Any]] = {}
        for line in lines:
            control = self._control(line)
            if "manifest" in control:
                self._check_manifest(control, seen, lines)
                return
            name, columns = control.get("part"), control.get("columns")
            if not isinstance(name, str) or not isinstance(columns, list) or name in seen:
                raise self._damaged("a part does not start where one should")
            self._whole.update(line)
            self._where = name
            try:
                cols = [(str(n), str(k)) for n, k in columns]
            except (TypeError, ValueError):
                raise self._damaged("its columns are not readable") from None
            if any(k not in KINDS for _, k in cols):
                raise self._damaged("a column of an unknown kind")
            counted: dict[str, Any] = {}
            part = Part(name, cols, self._rows(lines, name, cols, counted))
            yield part
            for _ in part.rows:  # what the caller left unread, so that the digests still add up
                pass
            seen[name] = counted
        raise BackupDamaged(self._where, f"the backup {self.path} ends too soon (after part {self._where}): "
                                         "it has no manifest")

    def _control(self, line: bytes) -> dict[str, Any]:
        try:
            value = json.loads(line)
        except ValueError:
            raise self._damaged("a line is not readable") from None
        if not isinstance(value, dict):
            raise self._damaged("a row where none should be")
        return value

    def _rows(self, lines: Iterator[bytes], name: str, columns: list[Column],
              counted: dict[str, Any]) -> Iterator[tuple[Any, ...]]:
        kinds = [k for _, k in columns]
        digest, count = hashlib.sha256(), 0
        for line in lines:
            if line.startswith(b"["):
                try:
                    values = json.loads(line)
                    row = tuple(_decode(k, v) for k, v in zip(kinds, values, strict=True))
                except (ValueError, TypeError):
                    raise self._damaged(f"row {count + 1} is not readable") from None
                digest.update(line)
                self._whole.update(line)
                count += 1
                self.rows_read += 1
                yield row
                continue
            end = self._control(line)
            if end.get("end") != name:
                raise self._damaged("the part does not end where it should")
            if end.get("rows") != count or end.get("sha256") != digest.hexdigest():
                raise self._damaged(f"its rows do not match their digest ({count} rows read, "
                                    f"{end.get('rows')} written)")
            self._whole.update(line)
            counted.update(rows=count, sha256=digest.hexdigest())
            return
        raise BackupDamaged(name, f"the backup {self.path} ends too soon (in part {name})")

    def _check_manifest(self, control: dict[str, Any], seen: dict[str, dict[str, Any]], lines: Iterator[bytes]) -> None:
        self._where = None
        manifest = control.get("manifest")
        if control.get("sha256") != self._whole.hexdigest() or not isinstance(manifest, dict):
            raise BackupDamaged(None, f"the backup {self.path} is damaged: its manifest does not match its content")
        if manifest.get("parts") != seen:
            missing = sorted(set(manifest.get("parts") or {}) ^ set(seen))
            raise BackupDamaged(missing[0] if missing else None, f"the backup {self.path} is damaged: its parts "
                                f"are not the ones its manifest lists ({', '.join(missing) or 'digests differ'})")
        if next(lines, None) is not None:
            raise BackupDamaged(None, f"the backup {self.path} is damaged: something follows its manifest")
        self.manifest = manifest


def check_backup(path: Path) -> dict[str, Any]:
    """Read the whole backup and check every digest; its manifest (else NotABackup / BackupDamaged)."""
    reader = BackupReader(path)
    for part in reader.parts():
        for _ in part.rows:
            pass
    assert reader.manifest is not None
    return reader.manifest
