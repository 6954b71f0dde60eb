"""crypto.py: KMS encryption bound to the task id, keyed hashes, masks (moto KMS / Secrets Manager)."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from botocore.exceptions import ClientError

from carrier_auth import crypto

REGION = "us-east-1"  # tests/unit/conftest.py's moto region

def task_id() -> str:
    return f"task-{uuid.uuid4().hex}"


# --- KMS ----------------------------------------------------------------------------------------


@pytest.mark.usefixtures("kms_key_id")
@pytest.mark.parametrize("plaintext", ["hunter2", "123456", "张三 11010519491231002X", "x" * 4096])
def test_round_trip(plaintext: str) -> None:
    tid = task_id()
    ciphertext = crypto.encrypt(tid, plaintext)
    assert crypto.decrypt(tid, ciphertext) == plaintext


@pytest.mark.usefixtures("kms_key_id")
def test_empty_plaintext_is_refused_by_kms() -> None:
    # KMS needs at least one byte: callers encrypt only non-empty values (facade skips an empty token)
    with pytest.raises(ClientError):
        crypto.encrypt(task_id(), "")


@pytest.mark.usefixtures("kms_key_id")
def test_ciphertext_does_not_contain_plaintext() -> None:
    secret = f"service-password-{uuid.uuid4().hex}"
    ciphertext = crypto.encrypt(task_id(), secret)
    assert isinstance(ciphertext, str) and ciphertext.isascii()
    assert secret not in ciphertext
    assert secret.encode() not in base64.b64decode(ciphertext)


@pytest.mark.usefixtures("kms_key_id")
def test_ciphertext_is_bound_to_its_task() -> None:
    tid = task_id()
    ciphertext = crypto.encrypt(tid, "sms-code-424242")
    with pytest.raises(ClientError) as info:
        crypto.decrypt(task_id(), ciphertext)
    assert info.value.response["Error"]["Code"] == "InvalidCiphertextException"
    assert crypto.decrypt(tid, ciphertext) == "sms-code-424242"  # still fine for its own task


def test_uses_the_configured_key_and_the_task_as_context(kms_key_id: str) -> None:
    tid = task_id()
    blob = base64.b64decode(crypto.encrypt(tid, "x"))
    kms = boto3.client("kms", region_name=REGION)
    resp = kms.decrypt(CiphertextBlob=blob, EncryptionContext={"task_id": tid})
    assert resp["Plaintext"] == b"x"
    assert resp["KeyId"].endswith(kms_key_id)
    with pytest.raises(ClientError):
        kms.decrypt(CiphertextBlob=blob)  # no context: refused


# --- keyed hash -----------------------------------------------------------------------------------


@pytest.mark.usefixtures("pii_hash_secret")
def test_keyed_hash_is_stable_and_hex() -> None:
    first = crypto.keyed_hash("11010519491231002X")
    assert first == crypto.keyed_hash("11010519491231002X")
    assert len(first) == 64 and int(first, 16) >= 0
    assert "11010519491231002X" not in first


@pytest.mark.usefixtures("pii_hash_secret")
def test_keyed_hash_normalises_case_and_whitespace() -> None:
    expected = crypto.keyed_hash("11010519491231002X")
    assert crypto.keyed_hash("11010519491231002x") == expected
    assert crypto.keyed_hash("  11010519491231002X\n") == expected
    assert crypto.keyed_hash("11010519491231002Y") != expected


@pytest.mark.usefixtures("pii_hash_secret")
def test_keyed_hash_is_an_hmac_not_a_plain_digest() -> None:
    import hashlib

    assert crypto.keyed_hash("13800138000") != hashlib.sha256(b"13800138000").hexdigest()


def test_keyed_hash_differs_with_another_key(
    pii_hash_secret: str, make_secret: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = crypto.keyed_hash("13800138000")
    monkeypatch.setenv("PII_HASH_KEY_SECRET", make_secret(f"another-key-{uuid.uuid4().hex}"))
    second = crypto.keyed_hash("13800138000")
    assert second != first
    monkeypatch.setenv("PII_HASH_KEY_SECRET", pii_hash_secret)
    assert crypto.keyed_hash("13800138000") == first


def test_keyed_hash_follows_a_rotated_secret_after_cache_clear(pii_hash_secret: str) -> None:
    first = crypto.keyed_hash("13800138000")
    boto3.client("secretsmanager", region_name=REGION).put_secret_value(
        SecretId=pii_hash_secret, SecretString=f"rotated-{uuid.uuid4().hex}"
    )
    assert crypto.keyed_hash("13800138000") == first  # cached by Powertools (max_age=300)
    parameters.clear_caches()
    assert crypto.keyed_hash("13800138000") != first


# --- masks ------------------------------------------------------------------------------------------


def test_mask_mobile() -> None:
    assert crypto.mask_mobile("13800138000") == "138****8000"
    assert crypto.mask_mobile("123456") == "******"
    assert crypto.mask_mobile("") == ""


def test_mask_id_number_keeps_four_and_four() -> None:
    masked = crypto.mask_id_number("11010519491231002X")
    assert masked == "1101" + "*" * 10 + "002X"
    assert len(masked) == 18
    assert crypto.mask_id_number("12345678") == "********"
    assert crypto.mask_id_number("123456789") == "1234*6789"


@pytest.mark.parametrize(
    ("name", "masked"),
    [("张", "*"), ("张三", "张*"), ("张三丰", "张*丰"), ("欧阳娜娜", "欧**娜"), ("", "*")],
)
def test_mask_name(name: str, masked: str) -> None:
    assert crypto.mask_name(name) == masked
