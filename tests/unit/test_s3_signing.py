"""AWS Signature Version 4 of the S3 document store, against AWS's published examples, and the
settings that choose a bucket for documents (no I/O)."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime

import pytest

from archive.s3_documents import EMPTY_SHA256, S3DocumentStore, S3Error, _uri_path, sign_v4
from service.settings import SettingsError, load_settings

# The SigV4 test suite's credentials (AWS General Reference, "Signature Version 4 test suite").
SUITE = dict(access_key_id="AKIDEXAMPLE", secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
             region="us-east-1", service="service", when=datetime(2015, 8, 30, 12, 36, tzinfo=UTC))
# The S3 API reference's examples ("Signature Calculations for the Authorization Header").
S3_DOCS = dict(access_key_id="AKIAIOSFODNN7EXAMPLE", secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
               region="us-east-1", service="s3", when=datetime(2013, 5, 24, tzinfo=UTC))


def test_the_get_vanilla_example_of_the_aws_test_suite_signs_as_published() -> None:
    signed = sign_v4("GET", "/", {}, {"Host": "example.amazonaws.com"}, EMPTY_SHA256, **SUITE)  # type: ignore[arg-type]
    assert signed.canonical_request == (
        "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert signed.string_to_sign == (
        "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
        "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"
    )
    assert signed.headers["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        "SignedHeaders=host;x-amz-date, "
        "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    )
    assert signed.headers["x-amz-date"] == "20150830T123600Z"


def test_the_s3_get_object_example_signs_as_published() -> None:
    signed = sign_v4("GET", "/test.txt", {},
                     {"host": "examplebucket.s3.amazonaws.com", "range": "bytes=0-9",
                      "x-amz-content-sha256": EMPTY_SHA256}, EMPTY_SHA256, **S3_DOCS)  # type: ignore[arg-type]
    assert signed.string_to_sign.endswith("7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972")
    assert signed.signature == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    assert "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date," in signed.headers["Authorization"]


def test_the_s3_put_object_example_encodes_its_key_once_and_signs_its_payload() -> None:
    body_hash = hashlib.sha256(b"Welcome to Amazon S3.").hexdigest()
    assert body_hash == "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
    path = _uri_path("test$file.text")
    assert path == "/test%24file.text"
    signed = sign_v4("PUT", path, {},
                     {"Host": "examplebucket.s3.amazonaws.com", "Date": "Fri, 24 May 2013 00:00:00 GMT",
                      "x-amz-storage-class": "REDUCED_REDUNDANCY", "x-amz-content-sha256": body_hash},
                     body_hash, **S3_DOCS)  # type: ignore[arg-type]
    assert signed.string_to_sign.endswith("9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d")
    assert signed.signature == "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"


def test_a_blob_is_keyed_under_the_prefix_with_a_two_character_fan_out() -> None:
    address = hashlib.sha256(b"blob").hexdigest()
    store = S3DocumentStore("http://127.0.0.1:9000", "realty-docs", "/tenant/a/", "AK", "SK")
    assert store.key(address) == f"tenant/a/{address[:2]}/{address[2:]}"
    assert S3DocumentStore("http://h", "realty-docs", "", "AK", "SK").key(address) == f"{address[:2]}/{address[2:]}"
    with pytest.raises(ValueError):
        store.key("../etc/passwd")


@pytest.mark.parametrize(("args", "problem"), [
    (("ftp://h", "docs", ""), "http(s)://host"),
    (("http://h/base", "docs", ""), "no path"),
    (("http://h", "Docs", ""), "bucket name"),
    (("http://h", "docs", "a//b"), "prefix"),
    (("http://h", "docs", "a/../b"), "prefix"),
])
def test_a_store_refuses_an_endpoint_bucket_or_prefix_it_could_not_address(args: tuple[str, str, str],
                                                                           problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        S3DocumentStore(*args, "AK", "SK")


def test_neither_the_repr_nor_an_error_shows_a_credential() -> None:
    store = S3DocumentStore("http://127.0.0.1:9000", "realty-docs", "p", "AKIDVISIBLE", "very-secret-key")
    assert "very-secret-key" not in repr(store) and "AKIDVISIBLE" not in repr(store)
    error = S3Error("GET", "p/ab/cd", 403, "SignatureDoesNotMatch", request_id="ABC123")
    assert str(error) == "S3 GET of p/ab/cd failed: HTTP 403 SignatureDoesNotMatch, request id ABC123"
    assert str(S3Error("PUT", "k", None, None, reason="TimeoutError")) == "S3 PUT of k failed: no response (TimeoutError)"


# --- settings ---------------------------------------------------------------------------------

URL = "s3://realty-docs/ledger/prod?endpoint=http://127.0.0.1:9000&region=eu-central-1"


def test_a_documents_url_names_the_bucket_prefix_endpoint_and_region() -> None:
    settings = load_settings(documents_url=URL, s3_access_key_id="AK", s3_secret_access_key="topsecret")
    bucket = settings.documents_bucket
    assert bucket is not None
    assert (bucket.endpoint, bucket.bucket, bucket.prefix, bucket.region) == (
        "http://127.0.0.1:9000", "realty-docs", "ledger/prod", "eu-central-1")
    assert load_settings(documents_url="s3://realty-docs?endpoint=https://s3.example.com",
                         s3_access_key_id="AK", s3_secret_access_key="SK").documents_bucket.region == "us-east-1"  # type: ignore[union-attr]
    assert load_settings(documents_url="").documents_bucket is None


@pytest.mark.parametrize(("overrides", "problem"), [
    ({"documents_url": "s3://realty-docs/p"}, "REALTY_DOCUMENTS_URL: an s3 URL needs its endpoint"),
    ({"documents_url": "gs://realty-docs/p?endpoint=http://h"}, "REALTY_DOCUMENTS_URL: unsupported scheme 'gs'"),
    ({"documents_url": "s3://AK:topsecret@realty-docs/p?endpoint=http://h"}, "not in the URL"),
    ({"documents_url": "s3://realty-docs/p?endpoint=http://h&acl=public"}, "unknown s3 URL parameter 'acl'"),
    ({"documents_url": URL}, "needs REALTY_S3_ACCESS_KEY_ID and REALTY_S3_SECRET_ACCESS_KEY"),
    ({"documents_url": URL, "s3_access_key_id": "AK"}, "needs REALTY_S3_SECRET_ACCESS_KEY"),
    ({"documents_url": URL, "s3_secret_access_key": "topsecret"}, "needs REALTY_S3_ACCESS_KEY_ID"),
])
def test_a_bucket_without_its_endpoint_or_credentials_is_refused_without_showing_a_secret(
        overrides: dict[str, str], problem: str) -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings(**overrides)
    assert problem in str(refused.value)
    assert "topsecret" not in str(refused.value)
