"""The mapper that seals every stored event: personal fields under their record's key, then the
whole state under the log key, each ciphertext bound to its row.

Stored state (``archive.aead`` token, log key)::

    seal(log key, JSON state, aad = "realty-state/v1" 0x00 originator id 0x00 version 0x00 topic)

so a state copied into another row (another record, version or topic) does not open, and the
error names the row it was read from. Inside the JSON, each personal field that the event class
declares (``PERSONAL_FIELDS``; for snapshots every field of that name at any depth) is replaced by
``{"_sealed": base64(token)}``, the token sealed under the record's key with the field's name
bound in as well. Destroying the record key (crypto-shredding) leaves the rest of the event
readable and makes those fields read as ``domain.personal_data.ERASED``; the stored bytes, and so
the hash chain and the Merkle tree over them, never change.

A store that held events before it had a keyring keeps them as written (plain JSON): they read
as before, and only such a store accepts a plain row (``DataKeys.legacy_plaintext``).
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

from eventsourcing.domain import Snapshot
from eventsourcing.persistence import Mapper, MapperDeserialisationError, StoredEvent, Transcoder
from eventsourcing.utils import get_topic, resolve_topic

from archive.aead import CiphertextInvalid, is_sealed, key_id_of, open_sealed, seal
from archive.chain import _canonical_id
from archive.data_keys import DataKeys
from domain.personal_data import aggregates_with_personal_data, personal_field_names, personal_fields_of

SEALED = "_sealed"


class SealedStateInvalid(MapperDeserialisationError):
    """A stored state that does not open for its row: moved from another row, tampered, or its
    key is unknown. The message names the row (never its content)."""


def state_aad(originator_id: Any, version: int, topic: str) -> bytes:
    return b"\x00".join((b"realty-state/v1", _canonical_id(originator_id), str(version).encode(), topic.encode()))


def field_aad(originator_id: Any, version: int, topic: str, path: str) -> bytes:
    return field_aad_of(_row_part(originator_id, version, topic), path)


def _row_part(originator_id: Any, version: int, topic: str) -> bytes:
    return b"\x00".join((_canonical_id(originator_id), str(version).encode(), topic.encode()))


def field_aad_of(row_part: bytes, path: str) -> bytes:
    return b"realty-field/v1\x00" + row_part + b"\x00" + path.encode()


# A sealed field's plaintext: b"s" + UTF-8 for a string (the common case, no JSON on the hot path),
# b"j" + the transcoder's JSON of {"v": value} for anything else.
def _field_plain(transcoder: Transcoder, value: Any) -> bytes:
    if type(value) is str:
        return b"s" + value.encode("utf-8")
    return b"j" + transcoder.encode({"v": value})


def _field_value(transcoder: Transcoder, plain: bytes) -> Any:
    if plain[:1] == b"s":
        return plain[1:].decode("utf-8")
    if plain[:1] == b"j":
        return transcoder.decode(plain[1:])["v"]
    raise CiphertextInvalid("unknown field encoding")


class SealingMapper(Mapper[uuid.UUID]):
    def __init__(self, transcoder: Transcoder, keys: DataKeys | None = None) -> None:
        super().__init__(transcoder)
        self.keys = keys  # attached once the recorder (and so the database) exists

    # --- writing --------------------------------------------------------------------------------

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        keys = self._keys()
        cls = type(domain_event)
        topic = get_topic(cls)
        state = dict(vars(domain_event))
        oid = state.pop("originator_id")
        version = state.pop("originator_version")
        class_version = getattr(cls, "class_version", 1)
        if class_version > 1:
            state["class_version"] = class_version
        if isinstance(domain_event, Snapshot):
            self._seal_snapshot(state, oid, version, topic)
        else:
            self._seal_fields(cls, state, oid, version, topic)
        key_id, key = keys.log_key()
        token = seal(key, key_id, self.transcoder.encode(state), state_aad(oid, version, topic))
        return StoredEvent(originator_id=oid, originator_version=version, topic=topic, state=token)

    def _seal_fields(self, cls: type, state: dict[str, Any], oid: Any, version: int, topic: str) -> None:
        keys = self._keys()
        present = [f for f in personal_fields_of(cls) if state.get(f) is not None]
        new_record = version == 1 and _holds_personal_data(state)
        if not present and not new_record:
            return
        subject_field = getattr(cls, "SUBJECT_FIELD", None)
        subject = state.get(subject_field) if subject_field and version == 1 else None
        key_id, key = keys.record_key(str(oid), str(subject or oid), new_record=new_record)
        row = _row_part(oid, version, topic)
        for name in present:
            token = seal(key, key_id, _field_plain(self.transcoder, state[name]), field_aad_of(row, name))
            state[name] = {SEALED: base64.b64encode(token).decode("ascii")}

    def _seal_snapshot(self, state: dict[str, Any], oid: Any, version: int, topic: str) -> None:
        names = personal_field_names()
        key: tuple[uuid.UUID, Any] | None = None

        def walk(value: Any, path: str) -> Any:
            nonlocal key
            if isinstance(value, dict):
                out = {}
                for k, v in value.items():
                    if k in names and v is not None:
                        key = key or self._keys().record_key(str(oid), None)
                        token = seal(key[1], key[0], _field_plain(self.transcoder, v),
                                     field_aad(oid, version, topic, f"{path}/{k}"))
                        out[k] = {SEALED: base64.b64encode(token).decode("ascii")}
                    else:
                        out[k] = walk(v, f"{path}/{k}")
                return out
            if isinstance(value, list):
                return [walk(v, f"{path}/{i}") for i, v in enumerate(value)]
            return value

        state["state"] = walk(state.get("state"), "state")

    # --- reading --------------------------------------------------------------------------------

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        keys = self._keys()
        cls = resolve_topic(stored_event.topic)
        oid, version, topic = stored_event.originator_id, stored_event.originator_version, stored_event.topic
        where = f"the stored state of record {_canonical_id(oid).decode()} version {version} ({topic})"
        token = bytes(stored_event.state)
        if is_sealed(token):
            key = keys.key_by_id(key_id_of(token))
            if key is None:
                raise SealedStateInvalid(f"{where} names a log key this store does not have")
            try:
                plain = open_sealed(key, token, state_aad(oid, version, topic))
            except CiphertextInvalid:
                raise SealedStateInvalid(f"{where} does not open for its row: copied from another row or "
                                         "tampered") from None
        elif keys.legacy_plaintext and token[:1] == b"{":
            plain = token
        else:
            raise SealedStateInvalid(f"{where} is not sealed, and this store was encrypted from its start")
        try:
            state: dict[str, Any] = self.transcoder.decode(plain)
        except Exception as e:
            raise MapperDeserialisationError(f"cannot decode {where}: {type(e).__name__}") from None
        if issubclass(cls, Snapshot):
            state["state"] = self._open_nested(state.get("state"), oid, version, topic, "state")
        else:
            row = None
            for name in personal_fields_of(cls):
                value = state.get(name)
                if isinstance(value, dict) and SEALED in value:
                    row = row or _row_part(oid, version, topic)
                    state[name] = self._open_field(value, field_aad_of(row, name), where)
        state["originator_id"] = oid if isinstance(oid, uuid.UUID) else uuid.UUID(str(oid))
        state["originator_version"] = version
        class_version = getattr(cls, "class_version", 1)
        from_version = state.pop("class_version", 1)
        while from_version < class_version:
            getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(state)
            from_version += 1
        domain_event = object.__new__(cls)
        object.__setattr__(domain_event, "__dict__", state)
        return domain_event

    def _open_nested(self, value: Any, oid: Any, version: int, topic: str, path: str) -> Any:
        if isinstance(value, dict):
            if SEALED in value and len(value) == 1:
                return self._open_field(value, field_aad(oid, version, topic, path), "a snapshot")
            return {k: self._open_nested(v, oid, version, topic, f"{path}/{k}") for k, v in value.items()}
        if isinstance(value, list):
            return [self._open_nested(v, oid, version, topic, f"{path}/{i}") for i, v in enumerate(value)]
        return value

    def _open_field(self, value: dict[str, Any], aad: bytes, where: str) -> Any:
        try:
            token = base64.b64decode(value[SEALED], validate=True)
            key = self._keys().field_key(key_id_of(token))
        except (ValueError, TypeError, CiphertextInvalid):
            raise SealedStateInvalid(f"a personal field in {where} is malformed") from None
        if isinstance(key, str):
            return key  # ERASED (crypto-shredded) or RESTRICTED (an erasure waits for a retention end)
        try:
            return _field_value(self.transcoder, open_sealed(key, token, aad))
        except CiphertextInvalid:
            raise SealedStateInvalid(f"a personal field in {where} does not open for its row") from None

    def _keys(self) -> DataKeys:
        if self.keys is None:
            raise SealedStateInvalid("the keyring is not open")
        return self.keys


def _holds_personal_data(state: dict[str, Any]) -> bool:
    topic = state.get("originator_topic")
    if not topic:
        return False
    try:
        return resolve_topic(topic) in aggregates_with_personal_data()
    except Exception:  # noqa: BLE001 - an unknown aggregate topic simply has no key
        return False
