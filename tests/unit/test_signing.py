"""Signing keys and signed checkpoints: real Ed25519, real key files under tmp_path."""

from __future__ import annotations

import dataclasses
import json
import stat
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from archive.signing import (
    Checkpoint,
    CheckpointInvalid,
    KeyringError,
    KeyringMissing,
    SigningKeyring,
    load_public_keys,
    sign_checkpoint,
    verify_checkpoint,
)

ORIGIN = "realty-ledger/test"
ROOT = bytes(range(32))
WHEN = datetime(2026, 11, 27, 19, 50, 1, tzinfo=UTC)

# Known answer: a fixed key, root and time give these exact bytes. If this test fails, the
# checkpoint format changed, and every witness's stored checkpoint would stop verifying.
KAT_PRIVATE = bytes.fromhex("029caab99103f715aa66d4c80c81133e142af4df373f5b73d2e1841b19ee1800")
KAT_KEY_ID = "dc88813a33766072"
KAT_PUBLIC_B64 = "cC1VRGiKyxZYHuWU60SliEmT3JdWloMEdnyLQS37qrI="
KAT_BODY = b"realty-ledger/test\n1234\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n2026-11-27T19:50:01Z\n"
KAT_SIGNATURE = ("29f7a3c16c0e32cc1d892cacdc5876e285ed76f0df3c2d2cd55158dcbbecfcea"
                 "c17358f47d266278fedd32a7db20a4a26c808b2141aa3bf10cdc89dea7966a03")


def pem_of(key: object) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,  # type: ignore[attr-defined]
                             serialization.NoEncryption())


def kat_keyring() -> SigningKeyring:
    return SigningKeyring.from_pem(pem_of(Ed25519PrivateKey.from_private_bytes(KAT_PRIVATE)))


def kat_checkpoint() -> Checkpoint:
    return sign_checkpoint(kat_keyring(), ORIGIN, 1234, ROOT, WHEN.replace(microsecond=999_999))


@pytest.fixture
def keyring(tmp_path: Path) -> SigningKeyring:
    keyring = SigningKeyring(tmp_path / "var" / "keys")
    keyring.init()
    return keyring


@pytest.fixture
def checkpoint(keyring: SigningKeyring) -> Checkpoint:
    return sign_checkpoint(keyring, ORIGIN, 1234, ROOT, WHEN)


def refused(reason: str, checkpoint: Checkpoint, keys: dict) -> CheckpointInvalid:  # type: ignore[type-arg]
    with pytest.raises(CheckpointInvalid) as caught:
        verify_checkpoint(checkpoint, keys)
    assert caught.value.reason == reason
    return caught.value


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- the keyring on disk -------------------------------------------------------------------

def test_init_creates_a_private_directory_with_private_files_and_no_leftovers(tmp_path: Path) -> None:
    directory = tmp_path / "var" / "keys"
    key_id = SigningKeyring(directory).init()
    assert mode(directory) == 0o700
    assert sorted(p.name for p in directory.iterdir()) == sorted([f"{key_id}.pem", "keyring.json"])
    assert mode(directory / f"{key_id}.pem") == 0o600
    assert mode(directory / "keyring.json") == 0o600
    manifest = json.loads((directory / "keyring.json").read_text())
    assert manifest["active"] == key_id
    assert [k["key_id"] for k in manifest["keys"]] == [key_id]
    assert manifest["keys"][0]["created_at"].endswith("Z")


def test_a_second_init_keeps_the_existing_key(keyring: SigningKeyring) -> None:
    first = keyring.active_key_id
    assert keyring.init() == first
    assert SigningKeyring(keyring.directory).init() == first  # type: ignore[arg-type]
    assert list(keyring.public_keys()) == [first]


def test_init_tightens_a_directory_that_already_existed_too_open(tmp_path: Path) -> None:
    directory = tmp_path / "keys"
    directory.mkdir(mode=0o755)
    directory.chmod(0o755)
    SigningKeyring(directory).init()
    assert mode(directory) == 0o700


def test_a_key_id_is_the_first_16_hex_of_sha256_of_the_raw_public_key(keyring: SigningKeyring) -> None:
    import hashlib

    [(key_id, key)] = keyring.public_keys().items()
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert key_id == hashlib.sha256(raw).hexdigest()[:16] == keyring.active_key_id


@pytest.mark.parametrize("use", ["sign", "active_key_id", "public_keys", "rotate", "export_public"])
def test_a_keyring_never_initialised_says_to_run_init_keys(tmp_path: Path, use: str) -> None:
    keyring = SigningKeyring(tmp_path / "nothing-here")
    with pytest.raises(KeyringMissing, match="realty audit init-keys"):
        attribute = getattr(keyring, use)
        if callable(attribute):
            attribute(b"message") if use == "sign" else attribute()
    assert not (tmp_path / "nothing-here").exists()


def test_a_private_key_file_readable_by_others_is_refused_naming_the_file(keyring: SigningKeyring) -> None:
    path = keyring.directory / f"{keyring.active_key_id}.pem"  # type: ignore[operator]
    path.chmod(0o644)
    with pytest.raises(KeyringError) as caught:
        keyring.sign(b"message")
    assert str(path) in str(caught.value) and "0644" in str(caught.value)
    assert "PRIVATE KEY" not in str(caught.value)
    with pytest.raises(KeyringError, match="chmod 600"):
        keyring.public_keys()
    path.chmod(0o600)
    assert keyring.sign(b"message")[0] == keyring.active_key_id


def test_a_key_file_swapped_for_another_key_is_refused(keyring: SigningKeyring) -> None:
    path = keyring.directory / f"{keyring.active_key_id}.pem"  # type: ignore[operator]
    path.write_bytes(pem_of(Ed25519PrivateKey.generate()))
    with pytest.raises(KeyringError, match="does not hold the Ed25519 key"):
        keyring.sign(b"message")


@pytest.mark.parametrize("manifest", ["not json", "[]", '{"active": "x", "keys": []}',
                                      '{"active": "../../etc/x", "keys": [{"key_id": "../../etc/x"}]}'])
def test_a_damaged_keyring_manifest_is_refused(keyring: SigningKeyring, manifest: str) -> None:
    (keyring.directory / "keyring.json").write_text(manifest)  # type: ignore[operator]
    with pytest.raises(KeyringError, match="keyring.json"):
        keyring.sign(b"message")


# --- signing and verifying -----------------------------------------------------------------

def test_a_signed_checkpoint_verifies_with_the_keyrings_public_keys(keyring: SigningKeyring,
                                                                   checkpoint: Checkpoint) -> None:
    assert (checkpoint.origin, checkpoint.tree_size, checkpoint.root_hash) == (ORIGIN, 1234, ROOT)
    assert checkpoint.timestamp == WHEN and checkpoint.key_id == keyring.active_key_id
    assert verify_checkpoint(checkpoint, keyring.public_keys()) is None


def test_signing_drops_microseconds_and_turns_the_time_into_utc(keyring: SigningKeyring) -> None:
    beijing = timezone(timedelta(hours=8))
    checkpoint = sign_checkpoint(keyring, ORIGIN, 0, ROOT, datetime(2026, 11, 28, 3, 50, 1, 654321, tzinfo=beijing))
    assert checkpoint.timestamp == WHEN and checkpoint.timestamp.tzinfo == UTC
    now = sign_checkpoint(keyring, ORIGIN, 0, ROOT)
    assert now.timestamp.microsecond == 0
    assert abs(datetime.now(UTC) - now.timestamp) < timedelta(seconds=5)
    verify_checkpoint(now, keyring.public_keys())
    with pytest.raises(ValueError, match="timezone-aware"):
        sign_checkpoint(keyring, ORIGIN, 0, ROOT, WHEN.replace(tzinfo=None))


@pytest.mark.parametrize("change", [
    pytest.param({"root_hash": bytes([ROOT[0] ^ 1]) + ROOT[1:]}, id="root"),
    pytest.param({"tree_size": 1235}, id="tree_size"),
    pytest.param({"tree_size": 0}, id="tree_size_zero"),
    pytest.param({"timestamp": WHEN + timedelta(seconds=1)}, id="timestamp"),
    pytest.param({"origin": "realty-ledger/tesT"}, id="origin"),
])
def test_a_checkpoint_with_any_signed_field_changed_is_a_bad_signature(keyring: SigningKeyring,
                                                                       checkpoint: Checkpoint, change: dict) -> None:  # type: ignore[type-arg]
    refused("bad_signature", dataclasses.replace(checkpoint, **change), keyring.public_keys())


@pytest.mark.parametrize("index", [0, 31, 63])
def test_a_checkpoint_with_a_flipped_signature_byte_is_a_bad_signature(keyring: SigningKeyring,
                                                                       checkpoint: Checkpoint, index: int) -> None:
    signature = bytearray(checkpoint.signature)
    signature[index] ^= 0x01
    refused("bad_signature", dataclasses.replace(checkpoint, signature=bytes(signature)), keyring.public_keys())


def test_a_checkpoint_from_a_key_nobody_knows_is_an_unknown_key(tmp_path: Path, checkpoint: Checkpoint) -> None:
    stranger = SigningKeyring(tmp_path / "other")
    stranger.init()
    error = refused("unknown_key", checkpoint, stranger.public_keys())
    assert checkpoint.key_id in str(error)
    refused("unknown_key", checkpoint, {})


def test_a_checkpoint_claiming_a_known_key_id_but_signed_by_another_key_is_a_bad_signature(
        tmp_path: Path, keyring: SigningKeyring) -> None:
    stranger = SigningKeyring(tmp_path / "other")
    stranger.init()
    forged = dataclasses.replace(sign_checkpoint(stranger, ORIGIN, 1, ROOT, WHEN), key_id=keyring.active_key_id)
    refused("bad_signature", forged, keyring.public_keys())


def test_an_object_forged_past_validation_is_malformed_not_verified(keyring: SigningKeyring,
                                                                    checkpoint: Checkpoint) -> None:
    object.__setattr__(checkpoint, "root_hash", b"short")
    refused("malformed", checkpoint, keyring.public_keys())


@pytest.mark.parametrize("field, value", [
    ("tree_size", -1), ("tree_size", True), ("tree_size", 2**64), ("tree_size", "5"),
    ("root_hash", ROOT[:31]), ("root_hash", ROOT + b"\0"), ("root_hash", ROOT.hex()),
    ("timestamp", WHEN.replace(tzinfo=None)), ("timestamp", WHEN.replace(microsecond=1)),
    ("origin", ""), ("origin", "realty\nledger"), ("key_id", "ABCDEF0123456789"), ("key_id", "abc"),
    ("signature", b"\0" * 63),
])
def test_a_checkpoint_cannot_be_built_from_invalid_fields(checkpoint: Checkpoint, field: str, value: object) -> None:
    with pytest.raises(ValueError):
        dataclasses.replace(checkpoint, **{field: value})


# --- rotation ------------------------------------------------------------------------------

def test_a_checkpoint_signed_by_a_rotated_out_key_still_verifies(keyring: SigningKeyring,
                                                                 checkpoint: Checkpoint) -> None:
    old = keyring.active_key_id
    new = keyring.rotate()
    assert new != old and keyring.active_key_id == new
    assert list(keyring.public_keys()) == [old, new]
    verify_checkpoint(checkpoint, keyring.public_keys())
    verify_checkpoint(checkpoint, SigningKeyring(keyring.directory).public_keys())  # type: ignore[arg-type]


def test_after_a_rotation_only_the_new_key_signs(keyring: SigningKeyring) -> None:
    old = keyring.active_key_id
    new = keyring.rotate()
    other_process = SigningKeyring(keyring.directory)  # type: ignore[arg-type]
    for signer in (keyring, other_process):
        checkpoint = sign_checkpoint(signer, ORIGIN, 7, ROOT, WHEN)
        assert checkpoint.key_id == new
        verify_checkpoint(checkpoint, keyring.public_keys())
        refused("unknown_key", checkpoint, {old: keyring.public_keys()[old]})
    assert keyring.init() == new
    assert mode(keyring.directory / f"{new}.pem") == 0o600  # type: ignore[operator]


# --- the public key file for witnesses ----------------------------------------------------

def test_exported_public_keys_load_back_and_verify_old_and_new_checkpoints(keyring: SigningKeyring,
                                                                            checkpoint: Checkpoint) -> None:
    new = keyring.rotate()
    text = keyring.export_public()
    assert f"# active (newest): {new}" in text
    assert [line.split(" ")[0] for line in text.splitlines() if not line.startswith("#")] == list(keyring.public_keys())
    loaded = load_public_keys(text)
    assert {k: v.public_bytes_raw() for k, v in loaded.items()} == {
        k: v.public_bytes_raw() for k, v in keyring.public_keys().items()}
    verify_checkpoint(checkpoint, loaded)
    verify_checkpoint(sign_checkpoint(keyring, ORIGIN, 9, ROOT, WHEN), loaded)


GOOD_LINE = f"{KAT_KEY_ID} ed25519 {KAT_PUBLIC_B64}"


@pytest.mark.parametrize("text", [
    pytest.param("", id="empty"),
    pytest.param("# only a comment\n", id="no-keys"),
    pytest.param("hello world\n", id="garbage"),
    pytest.param(GOOD_LINE.replace("ed25519", "rsa"), id="other-algorithm"),
    pytest.param(GOOD_LINE + " extra", id="extra-field"),
    pytest.param(GOOD_LINE.replace(" ", "  ", 1), id="double-space"),
    pytest.param(GOOD_LINE.replace(KAT_KEY_ID, KAT_KEY_ID.upper()), id="uppercase-id"),
    pytest.param(GOOD_LINE.replace(KAT_KEY_ID, "0" * 16), id="id-not-of-this-key"),
    pytest.param(GOOD_LINE[:-2] + "!=", id="bad-base64"),
    pytest.param(GOOD_LINE.rstrip("="), id="unpadded-base64"),
    pytest.param(f"{KAT_KEY_ID} ed25519 AAAA", id="short-key"),
    pytest.param(f"{GOOD_LINE}\n{GOOD_LINE}\n", id="duplicate"),
])
def test_a_public_key_file_not_in_our_format_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="public key file"):
        load_public_keys(text)


# --- the checkpoint file for witnesses ----------------------------------------------------

def test_a_checkpoint_survives_json_and_still_verifies(keyring: SigningKeyring, checkpoint: Checkpoint) -> None:
    text = checkpoint.to_json()
    assert json.loads(text)["format"] == "realty-checkpoint/v1"
    again = Checkpoint.from_json(text)
    assert again == checkpoint and again.to_json() == text
    verify_checkpoint(again, keyring.public_keys())


def valid_json() -> dict:  # type: ignore[type-arg]
    return json.loads(kat_checkpoint().to_json())


def mutated(**changes: object) -> str:
    data = valid_json()
    for key, value in changes.items():
        if value is ...:
            del data[key]
        else:
            data[key] = value
    return json.dumps(data)


@pytest.mark.parametrize("text", [
    pytest.param("not json", id="not-json"),
    pytest.param("", id="empty"),
    pytest.param("[]", id="a-list"),
    pytest.param("null", id="null"),
    pytest.param(b"\xff\xfe", id="not-utf8"),
    pytest.param("[" * 100_000, id="deeply-nested"),
    pytest.param(mutated(format="realty-checkpoint/v2"), id="other-format"),
    pytest.param(mutated(format=...), id="no-format"),
    pytest.param(mutated(signature=...), id="no-signature"),
    pytest.param(mutated(extra=1), id="extra-field"),
    pytest.param(mutated(tree_size="1234"), id="tree-size-string"),
    pytest.param(mutated(tree_size=1234.0), id="tree-size-float"),
    pytest.param(mutated(tree_size=True), id="tree-size-bool"),
    pytest.param(mutated(tree_size=-1), id="tree-size-negative"),
    pytest.param(mutated(tree_size=2**64), id="tree-size-too-big"),
    pytest.param(mutated(root_hash=ROOT[:31].hex()), id="root-31-bytes"),
    pytest.param(mutated(root_hash=ROOT.hex().upper()), id="root-uppercase"),
    pytest.param(mutated(root_hash="zz" * 32), id="root-not-hex"),
    pytest.param(mutated(root_hash=list(ROOT)), id="root-a-list"),
    pytest.param(mutated(timestamp="2026-11-27T19:50:01+00:00"), id="timestamp-offset"),
    pytest.param(mutated(timestamp="2026-11-27T19:50:01.5Z"), id="timestamp-fraction"),
    pytest.param(mutated(timestamp="2026-13-27T19:50:01Z"), id="timestamp-month-13"),
    pytest.param(mutated(timestamp=1795895401), id="timestamp-number"),
    pytest.param(mutated(key_id="dc88"), id="key-id-short"),
    pytest.param(mutated(origin=""), id="origin-empty"),
    pytest.param(mutated(origin="a\nb"), id="origin-newline"),
    pytest.param(mutated(signature="!!!!"), id="signature-not-base64"),
    pytest.param(mutated(signature="AAAA"), id="signature-too-short"),
    pytest.param(mutated(signature=valid_json()["signature"].rstrip("=")), id="signature-unpadded"),
    pytest.param(mutated(signature=5), id="signature-number"),
    pytest.param(mutated()[:-1] + ', "origin": "x"}', id="duplicate-key"),
])
def test_a_checkpoint_file_not_exactly_in_our_format_is_malformed(text: str) -> None:
    with pytest.raises(CheckpointInvalid) as caught:
        Checkpoint.from_json(text)
    assert caught.value.reason == "malformed"
    assert str(caught.value).startswith("checkpoint invalid (malformed)")


# --- a key from a secret, and the known answer ------------------------------------------

def test_a_keyring_from_a_pem_secret_signs_and_knows_only_its_key() -> None:
    keyring = SigningKeyring.from_pem(pem_of(Ed25519PrivateKey.from_private_bytes(KAT_PRIVATE)).decode())
    assert keyring.active_key_id == KAT_KEY_ID and list(keyring.public_keys()) == [KAT_KEY_ID]
    verify_checkpoint(sign_checkpoint(keyring, ORIGIN, 1, ROOT), keyring.public_keys())
    assert keyring.export_public().splitlines()[-1] == GOOD_LINE
    with pytest.raises(KeyringError, match="PEM secret cannot be rotated"):
        keyring.rotate()


@pytest.mark.parametrize("pem", [b"not a pem", pem_of(generate_private_key(SECP256R1()))], ids=["garbage", "ecdsa"])
def test_a_pem_secret_that_is_not_an_ed25519_key_is_refused(pem: bytes) -> None:
    with pytest.raises(KeyringError, match="signing key secret"):
        SigningKeyring.from_pem(pem)


def test_a_fixed_key_root_and_time_give_the_exact_body_and_signature() -> None:
    checkpoint = kat_checkpoint()
    assert Checkpoint.body(ORIGIN, 1234, ROOT, checkpoint.timestamp) == KAT_BODY
    assert checkpoint.key_id == KAT_KEY_ID
    assert checkpoint.signature.hex() == KAT_SIGNATURE
    verify_checkpoint(checkpoint, load_public_keys(GOOD_LINE))
    assert json.loads(checkpoint.to_json()) == {
        "format": "realty-checkpoint/v1", "origin": ORIGIN, "tree_size": 1234, "root_hash": ROOT.hex(),
        "timestamp": "2026-11-27T19:50:01Z", "key_id": KAT_KEY_ID,
        "signature": "KfejwWwOMswdiSys3Fh24oXtdvDfPC0s1VFY3Lvs/OrBc1j0fSZieP7dMqfbIKSibICLIUGqO/EM3Inep5ZqAw=="}
