"""Secrets at rest: KMS encryption bound to the task, keyed hashes and masking of PII.

Every secret a task carries (carrier service password, SMS / captcha codes, callback token,
the identity a later step needs) is encrypted with the deployment's KMS key and the task id
as encryption context, so a ciphertext copied to another task cannot be decrypted there.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from . import aws
from .config import get_settings


def _context(task_id: str) -> dict[str, str]:
    return {"task_id": task_id}


def encrypt(task_id: str, plaintext: str) -> str:
    resp = aws.client("kms").encrypt(
        KeyId=get_settings().kms_key_id,
        Plaintext=plaintext.encode("utf-8"),
        EncryptionContext=_context(task_id),
    )
    return base64.b64encode(resp["CiphertextBlob"]).decode("ascii")


def decrypt(task_id: str, ciphertext: str) -> str:
    resp = aws.client("kms").decrypt(
        CiphertextBlob=base64.b64decode(ciphertext),
        EncryptionContext=_context(task_id),
    )
    return resp["Plaintext"].decode("utf-8")


def _hash_key() -> bytes:
    # imported here: Powertools' parameters package loads every provider it has (tens of ms), and
    # the steps that only encrypt or decrypt never need it
    from aws_lambda_powertools.utilities.parameters import get_secret

    # cached by Powertools for 5 minutes; rotating the secret invalidates old bindings
    return str(get_secret(get_settings().pii_hash_key_secret, max_age=300)).encode("utf-8")


def keyed_hash(value: str) -> str:
    """HMAC-SHA256 of a normalised value: binds later calls to the same person without storing it."""
    normalised = value.strip().upper().encode("utf-8")
    return hmac.new(_hash_key(), normalised, hashlib.sha256).hexdigest()


def mask_mobile(mobile: str) -> str:
    return mobile[:3] + "****" + mobile[-4:] if len(mobile) >= 7 else "*" * len(mobile)


def mask_id_number(id_number: str) -> str:
    return id_number[:4] + "*" * (len(id_number) - 8) + id_number[-4:] if len(id_number) > 8 else "*" * len(id_number)


def mask_name(name: str) -> str:
    if len(name) <= 1:
        return "*"
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]
