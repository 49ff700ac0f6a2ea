"""The S3 document store against a real S3-compatible server (moto's, in this process), which
checks every request's Signature Version 4 against an IAM user's keys: round trips, the address
check against an object changed in the bucket, wrong keys, deletion, and documents of a service
file uploaded and read through the application.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from archive.documents import BlobNotFound, DocumentIntegrityError
from archive.s3_documents import S3DocumentStore, S3Error

moto_server = pytest.importorskip("moto.server", reason="moto[server] is in the dev extra")
boto3 = pytest.importorskip("boto3")

BUCKET = "realty-documents"
AAD = b"realty-document/v1\x00test"


@dataclass(frozen=True)
class Bucket:
    endpoint: str
    access_key_id: str
    secret_access_key: str
    raw: Any  # a boto3 S3 client with the same keys: the "raw API" a tamperer would use

    def store(self, prefix: str | None = None, **overrides: Any) -> S3DocumentStore:
        args = dict(endpoint=self.endpoint, bucket=BUCKET, prefix=prefix or f"t/{uuid.uuid4().hex[:12]}",
                    access_key_id=self.access_key_id, secret_access_key=self.secret_access_key)
        return S3DocumentStore(**{**args, **overrides})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def bucket() -> Iterator[Bucket]:
    from moto import settings as moto_settings
    from moto.core.authorization import ActionAuthenticatorMixin

    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    saved = moto_settings.INITIAL_NO_AUTH_ACTION_COUNT, ActionAuthenticatorMixin.request_count
    try:
        # An IAM user with S3 rights, made while the server still takes anything; then every
        # request must carry a valid signature by its keys.
        iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1",
                           aws_access_key_id="setup", aws_secret_access_key="setup")
        iam.create_user(UserName="realty-ledger")
        iam.put_user_policy(UserName="realty-ledger", PolicyName="documents", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
        keys = iam.create_access_key(UserName="realty-ledger")["AccessKey"]
        raw = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                           aws_access_key_id=keys["AccessKeyId"], aws_secret_access_key=keys["SecretAccessKey"])
        raw.create_bucket(Bucket=BUCKET)
        moto_settings.INITIAL_NO_AUTH_ACTION_COUNT, ActionAuthenticatorMixin.request_count = 0, 0
        yield Bucket(endpoint, keys["AccessKeyId"], keys["SecretAccessKey"], raw)
    finally:
        moto_settings.INITIAL_NO_AUTH_ACTION_COUNT, ActionAuthenticatorMixin.request_count = saved
        server.stop()


def object_bytes(bucket: Bucket, store: S3DocumentStore, address: str) -> bytes:
    return bucket.raw.get_object(Bucket=BUCKET, Key=store.key(address))["Body"].read()


@pytest.mark.parametrize("size", [0, 5_000, (1 << 20) * 2 + 12_345], ids=["empty", "small", "three-segments"])
def test_a_document_goes_into_the_bucket_encrypted_and_comes_back_whole(bucket: Bucket, size: int) -> None:
    store, key = bucket.store(), secrets.token_bytes(32)
    plaintext = secrets.token_bytes(size)
    stored = store.put(plaintext, key=key, aad=AAD)
    assert (stored.size, stored.sha256) == (size, hashlib.sha256(plaintext).hexdigest())
    assert store.exists(stored.address)
    blob = object_bytes(bucket, store, stored.address)
    assert hashlib.sha256(blob).hexdigest() == stored.address  # content-addressed in the bucket too
    assert plaintext[:4096] not in blob or size == 0
    assert store.get(stored.address, key=key, aad=AAD) == plaintext
    pieces = list(store.stream(stored.address, key=key, aad=AAD))
    assert b"".join(pieces) == plaintext and len(pieces) == max(1, -(-size // (1 << 20)))


def test_storing_the_same_blob_again_gives_the_same_address_and_bytes(bucket: Bucket) -> None:
    store = bucket.store()
    first = store._store([b"header", b"segment-1", b"segment-2"])
    again = store._store([b"header", b"segment-1", b"segment-2"])
    assert first == again == hashlib.sha256(b"headersegment-1segment-2").hexdigest()
    assert object_bytes(bucket, store, first) == b"headersegment-1segment-2"


@pytest.mark.parametrize("damage", ["flipped byte", "truncated", "another document's blob"])
def test_an_object_changed_in_the_bucket_fails_the_address_check(bucket: Bucket, damage: str) -> None:
    store, key = bucket.store(), secrets.token_bytes(32)
    stored = store.put(secrets.token_bytes(70_000), key=key, aad=AAD)
    blob = object_bytes(bucket, store, stored.address)
    if damage == "flipped byte":
        changed = blob[:40_000] + bytes([blob[40_000] ^ 1]) + blob[40_001:]
    elif damage == "truncated":
        changed = blob[:-16]
    else:  # a valid blob under the same key and associated data, moved under this address
        changed = object_bytes(bucket, store, store.put(b"other", key=key, aad=AAD).address)
    bucket.raw.put_object(Bucket=BUCKET, Key=store.key(stored.address), Body=changed)
    with pytest.raises(DocumentIntegrityError):
        store.get(stored.address, key=key, aad=AAD)


def test_a_wrong_key_or_associated_data_fails_the_integrity_check(bucket: Bucket) -> None:
    store, key = bucket.store(), secrets.token_bytes(32)
    stored = store.put(b"%PDF-1.7 contract", key=key, aad=AAD)
    with pytest.raises(DocumentIntegrityError):
        store.get(stored.address, key=secrets.token_bytes(32), aad=AAD)
    with pytest.raises(DocumentIntegrityError):
        store.get(stored.address, key=key, aad=AAD + b"-another-document")


def test_a_deleted_blob_is_gone_and_a_second_delete_says_so(bucket: Bucket) -> None:
    store, key = bucket.store(), secrets.token_bytes(32)
    stored = store.put(b"to be disposed of", key=key, aad=AAD)
    assert store.delete(stored.address) is True
    assert store.exists(stored.address) is False
    assert store.delete(stored.address) is False
    with pytest.raises(BlobNotFound):
        store.get(stored.address, key=key, aad=AAD)
    never = hashlib.sha256(b"never stored").hexdigest()
    assert store.exists(never) is False
    with pytest.raises(BlobNotFound):
        store.stream(never, key=key, aad=AAD)


def test_wrong_credentials_are_refused_with_the_status_and_code_and_no_secret(bucket: Bucket) -> None:
    stored = bucket.store("shared").put(b"x", key=secrets.token_bytes(32), aad=AAD)
    wrong = bucket.store("shared", secret_access_key="not-the-secret-" + "x" * 20)
    with pytest.raises(S3Error) as refused:
        wrong.put(b"y", key=secrets.token_bytes(32), aad=AAD)
    assert (refused.value.operation, refused.value.status, refused.value.code) == ("PUT", 403, "SignatureDoesNotMatch")
    with pytest.raises(S3Error) as refused:
        wrong.get(stored.address, key=secrets.token_bytes(32), aad=AAD)
    assert (refused.value.status, refused.value.code) == (403, "SignatureDoesNotMatch")
    unknown = bucket.store("shared", access_key_id="AKIAUNKNOWNKEY000000")
    with pytest.raises(S3Error) as refused:
        unknown.get(stored.address, key=secrets.token_bytes(32), aad=AAD)
    assert (refused.value.status, refused.value.code) == (403, "InvalidAccessKeyId")
    message = str(refused.value)
    for secret in (bucket.secret_access_key, "not-the-secret-"):
        assert secret not in message


def test_a_missing_bucket_or_a_dead_endpoint_is_an_s3_error(bucket: Bucket) -> None:
    with pytest.raises(S3Error) as refused:
        bucket.store(bucket="no-such-bucket").put(b"x", key=secrets.token_bytes(32), aad=AAD)
    assert (refused.value.status, refused.value.code) == (404, "NoSuchBucket")
    dead = bucket.store(endpoint=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(S3Error) as refused:
        dead.exists(hashlib.sha256(b"").hexdigest())
    assert refused.value.status is None and "ConnectionRefusedError" in str(refused.value)


def test_a_service_file_keeps_its_documents_in_the_bucket(bucket: Bucket, tmp_path: Path) -> None:
    from service.application import RealtyLedger
    from service.settings import load_settings
    from tests.conftest import register_team
    from tests.integration.scenarios import receive
    from tests.unit.test_content_types import minimal_png

    prefix = f"ledger/{uuid.uuid4().hex[:12]}"
    settings = load_settings(
        database_url=f"sqlite:///{tmp_path}/s.sqlite3", signing_keys_dir=tmp_path / "keys",
        documents_url=f"s3://{BUCKET}/{prefix}?endpoint={bucket.endpoint}&region=us-east-1",
        s3_access_key_id=bucket.access_key_id, s3_secret_access_key=bucket.secret_access_key,
    )
    app = RealtyLedger(settings)
    try:
        assert isinstance(app.documents, S3DocumentStore)
        team = register_team(app)
        customer = receive(app, team)
        file_id = app.open_service_file(team.consultant, owner_kind="customer", owner_id=customer,
                                        record_class="customer_file").id
        png = minimal_png()
        document = app.upload_document(team.consultant, file_id, content=png, kind="id_copy").entity_id or ""
        facts, content = app.read_document(team.compliance, file_id, document, purpose="合规抽查")
        assert content == png and facts["media_type"] == "image/png"
        address = facts["storage_key"]
        assert app.documents.key(address) == f"{prefix}/{address[:2]}/{address[2:]}"
        head = bucket.raw.head_object(Bucket=BUCKET, Key=f"{prefix}/{address[:2]}/{address[2:]}")
        assert head["ContentLength"] > len(png)  # the header, the ciphertext and its tag
        assert not settings.documents_path.exists()  # nothing went to the local directory
    finally:
        app.close()


def test_a_server_that_never_answers_times_out_as_an_s3_error() -> None:
    with socket.socket() as silent:  # accepts connections (the backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        port = silent.getsockname()[1]
        store = S3DocumentStore(f"http://127.0.0.1:{port}", BUCKET, "p", "AK", "SK", timeout=0.3)
        with pytest.raises(S3Error) as refused:
            store.exists(hashlib.sha256(b"").hexdigest())
    assert refused.value.status is None and "TimeoutError" in str(refused.value)
