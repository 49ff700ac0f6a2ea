"""The archive's one AEAD token format, and the master keys that wrap the data keys.

A known answer pins the token layout (version byte, key id, nonce, ciphertext and tag, with the
header bound into the associated data); every way a token can fail to open raises the one
``CiphertextInvalid``. Master keys are refused, with one line that holds no key material, when a
key file is readable by others or a ``REALTY_MASTER_KEYS`` entry is malformed.
"""

from __future__ import annotations

import base64
import os
import uuid
from pathlib import Path

import pytest

from archive.aead import OVERHEAD, CiphertextInvalid, _seal_with_nonce, is_sealed, key_id_of, open_sealed, seal
from archive.master_keys import MasterKeyError, MasterKeys

KEY = bytes(range(32))
KEY_ID = uuid.UUID("00112233-4455-6677-8899-aabbccddeeff")
NONCE = bytes.fromhex("cafebabefacedbaddecaf888")
AAD = b"realty-state/v1\x00abc\x001\x00Customer.Received"
PLAINTEXT = b'{"name":"x"}'
# Computed independently with pycryptodome's AES-GCM (see the test below): 01 || key id || nonce ||
# ciphertext || tag, the tag over associated data 01 || key id || AAD.
KNOWN_TOKEN = ("01" "00112233445566778899aabbccddeeff" "cafebabefacedbaddecaf888"
               "f181ce47c71f6d2164737fa0" "708743288c30ddac8b4c6abe0d9e1ca5")


def test_a_token_sealed_with_a_fixed_nonce_is_the_known_answer() -> None:
    token = _seal_with_nonce(KEY, KEY_ID, PLAINTEXT, AAD, NONCE)
    assert token.hex() == KNOWN_TOKEN
    assert len(token) == OVERHEAD + len(PLAINTEXT)
    assert is_sealed(token) and key_id_of(token) == KEY_ID
    assert open_sealed(KEY, token, AAD) == PLAINTEXT


def test_the_known_answer_agrees_with_an_independent_aes_gcm() -> None:
    aes = pytest.importorskip("Crypto.Cipher.AES")
    cipher = aes.new(KEY, aes.MODE_GCM, nonce=NONCE)
    cipher.update(b"\x01" + KEY_ID.bytes + AAD)
    body, tag = cipher.encrypt_and_digest(PLAINTEXT)
    assert (b"\x01" + KEY_ID.bytes + NONCE + body + tag).hex() == KNOWN_TOKEN


def test_random_nonces_make_every_token_different_and_each_opens() -> None:
    a, b = seal(KEY, KEY_ID, PLAINTEXT, AAD), seal(KEY, KEY_ID, PLAINTEXT, AAD)
    assert a != b
    assert open_sealed(KEY, a, AAD) == open_sealed(KEY, b, AAD) == PLAINTEXT


@pytest.mark.parametrize("how", ["wrong key", "wrong associated data", "flipped byte in the body",
                                 "flipped byte in the tag", "flipped byte in the nonce", "relabelled key id",
                                 "short token", "empty token", "unknown version byte"])
def test_a_token_that_does_not_open_raises_the_one_integrity_error(how: str) -> None:
    token = bytearray(bytes.fromhex(KNOWN_TOKEN))
    key, aad = KEY, AAD
    if how == "wrong key":
        key = bytes(32)
    elif how == "wrong associated data":
        aad = AAD.replace(b"\x001\x00", b"\x002\x00")  # the same state read as another version
    elif how == "flipped byte in the body":
        token[OVERHEAD - 16] ^= 0x01
    elif how == "flipped byte in the tag":
        token[-1] ^= 0x80
    elif how == "flipped byte in the nonce":
        token[17] ^= 0x01
    elif how == "relabelled key id":
        token[1:17] = uuid.uuid4().bytes
    elif how == "short token":
        token = token[:OVERHEAD - 1]
    elif how == "empty token":
        token = bytearray()
    elif how == "unknown version byte":
        token[0] = 0x02
    with pytest.raises(CiphertextInvalid):
        open_sealed(key, bytes(token), aad)


def test_the_integrity_error_says_nothing_about_which_check_failed() -> None:
    token = bytes.fromhex(KNOWN_TOKEN)
    messages = set()
    for key, aad in ((bytes(32), AAD), (KEY, b"other")):
        with pytest.raises(CiphertextInvalid) as caught:
            open_sealed(key, token, aad)
        messages.add(str(caught.value))
    assert len(messages) == 1


# --- master keys -------------------------------------------------------------------------------


def _key_file(directory: Path, version: int, mode: int, key: bytes | None = None) -> tuple[Path, bytes]:
    key = key if key is not None else os.urandom(32)
    directory.mkdir(mode=0o700, exist_ok=True)
    path = directory / f"master-v{version}.key"
    path.write_bytes(base64.b64encode(key) + b"\n")
    path.chmod(mode)
    return path, key


def test_master_keys_are_read_from_a_directory_of_private_files(tmp_path: Path) -> None:
    _, one = _key_file(tmp_path / "master", 1, 0o600)
    _, two = _key_file(tmp_path / "master", 2, 0o400)
    (tmp_path / "master" / "README").write_text("not a key")
    masters = MasterKeys.from_directory(tmp_path / "master")
    assert masters.versions == [1, 2] and masters.active_version == 2
    assert masters.key(1) == one and masters.key(2) == two


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_a_master_key_file_others_can_read_is_refused(tmp_path: Path, mode: int) -> None:
    path, key = _key_file(tmp_path / "master", 1, mode)
    with pytest.raises(MasterKeyError) as caught:
        MasterKeys.from_directory(tmp_path / "master")
    message = str(caught.value)
    assert str(path) in message and f"chmod 600 {path}" in message and f"{mode:04o}" in message
    assert "\n" not in message and not _holds_key(message, key)


def test_a_master_key_file_of_the_wrong_size_is_refused(tmp_path: Path) -> None:
    path, key = _key_file(tmp_path / "master", 1, 0o600, key=os.urandom(16))
    with pytest.raises(MasterKeyError) as caught:
        MasterKeys.from_directory(tmp_path / "master")
    assert str(path) in str(caught.value) and "16 bytes" in str(caught.value)
    assert not _holds_key(str(caught.value), key)


def test_init_and_rotate_write_private_key_files_and_never_replace_one(tmp_path: Path) -> None:
    masters = MasterKeys.from_directory(tmp_path / "master")
    assert masters.versions == []
    with pytest.raises(MasterKeyError, match="realty keys init"):
        masters.active_version  # noqa: B018 - the property raises
    assert masters.init() == 1 and masters.init() == 1
    assert masters.rotate() == 2
    directory = tmp_path / "master"
    assert directory.stat().st_mode & 0o777 == 0o700
    assert sorted(p.name for p in directory.iterdir()) == ["master-v1.key", "master-v2.key"]
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in directory.iterdir())
    again = MasterKeys.from_directory(directory)
    assert again.key(1) == masters.key(1) and again.key(2) == masters.key(2)
    stale = MasterKeys({1: masters.key(1)}, directory=directory)  # another process, started before v2 existed
    with pytest.raises(MasterKeyError, match="exists already"):
        stale.rotate()
    assert MasterKeys.from_directory(directory).key(2) == masters.key(2)


def test_master_keys_from_the_secret() -> None:
    one, two = os.urandom(32), os.urandom(32)
    masters = MasterKeys.from_secret(f" 1:{_b64(one)} , 2:{_b64(two)} ")
    assert masters.versions == [1, 2] and masters.active_version == 2 and masters.key(1) == one
    assert masters.directory is None and masters.source == "REALTY_MASTER_KEYS"
    with pytest.raises(MasterKeyError, match="cannot be created here"):
        masters.rotate()


@pytest.mark.parametrize(("secret", "expected"), [
    ("", "holds no key"),
    (" , ", "holds no key"),
    ("{key}", "entry 1 must be <version>:<base64 key>"),
    ("1:{key},{key}", "entry 2 must be <version>:<base64 key>"),
    ("0:{key}", "entry 1 must be <version>:<base64 key>"),
    ("v1:{key}", "entry 1 must be <version>:<base64 key>"),
    ("1:{key}!", "entry 1 (version 1) is not base64"),
    ("1:{short}", "entry 1 (version 1) is 16 bytes; a master key is 32"),
])
def test_a_malformed_secret_is_refused_in_one_line_without_key_material(secret: str, expected: str) -> None:
    key, short = os.urandom(32), os.urandom(16)
    text = secret.format(key=_b64(key), short=_b64(short))
    with pytest.raises(MasterKeyError) as caught:
        MasterKeys.from_secret(text)
    message = str(caught.value)
    assert expected in message
    assert "REALTY_MASTER_KEYS" in message and "\n" not in message
    assert not _holds_key(message, key) and not _holds_key(message, short)


def _b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def _holds_key(message: str, key: bytes) -> bool:
    encoded = _b64(key)
    return any(part in message for part in (encoded, encoded[:12], key.hex()[:16]))
