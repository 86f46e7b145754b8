"""KMS envelope encryption of secrets kept at rest (access-key secrets, SFTP passwords).

Each ``encrypt`` asks KMS for a fresh 256-bit data key (GenerateDataKey), encrypts locally with
AES-256-GCM (the ``cryptography`` package) and keeps only the KMS-encrypted copy of the key
inside the blob. ``decrypt`` has KMS decrypt that copy (Decrypt) and opens the blob. The
plaintext data key lives in local variables for the length of one call: never on the object,
never cached, never logged.

Blob, version 1 (all integers big-endian)::

    0x01 | len(encrypted key): u16 | encrypted key | nonce: 12 bytes | ciphertext + 16-byte tag

The header (version, length, encrypted key) and the encryption context are the AES-GCM
associated data, and the encryption context also binds the KMS data key: a blob moved to
another row (another context), an edited header or ciphertext all fail with ``DecryptionFailed``.
"""

from __future__ import annotations

import json
import os
import re
import struct
from collections.abc import Mapping
from typing import Any

from primecloud.errors import PrimeCloudError, Unavailable
from primecloud.observability import logger

BLOB_VERSION = 1
NONCE_BYTES = 12
_HEADER = struct.Struct(">BH")  # version, encrypted-key length
# KMS answers these when the ciphertext or its context is wrong, not when KMS is down.
_BAD_CIPHERTEXT = {"InvalidCiphertextException", "IncorrectKeyException"}


class DecryptionFailed(PrimeCloudError):
    """A stored secret failed its integrity check (tampered, truncated or from another context)."""

    status, slug, title = 500, "secret-integrity", "A stored secret could not be decrypted"


def _associated_data(header: bytes, context: Mapping[str, str]) -> bytes:
    return header + json.dumps(dict(context), sort_keys=True, separators=(",", ":")).encode()


class EnvelopeCipher:
    """Encrypt/decrypt small secrets under one KMS key (id, ARN or alias)."""

    def __init__(self, key_id: str, *, client: Any = None, timeout_seconds: float = 5.0) -> None:
        self.key_id = key_id
        self.timeout_seconds = timeout_seconds
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.client(
                "kms",
                config=Config(
                    connect_timeout=self.timeout_seconds,
                    read_timeout=self.timeout_seconds,
                    retries={"max_attempts": 3, "mode": "standard"},
                ),
            )
        return self._client

    def _kms(self, operation: str, **arguments: Any) -> dict[str, Any]:
        """Call KMS ``operation`` (its API name, e.g. GenerateDataKey) with domain errors."""
        from botocore.exceptions import BotoCoreError, ClientError

        method = re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()
        try:
            response: dict[str, Any] = getattr(self.client, method)(**arguments)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code"))
            if code in _BAD_CIPHERTEXT:
                raise DecryptionFailed("A stored secret failed its integrity check.") from exc
            logger.warning("kms call failed", extra={"operation": operation, "code": code})
            raise Unavailable(f"The key service failed {operation} ({code}).") from exc
        except BotoCoreError as exc:
            logger.warning("kms unreachable", extra={"operation": operation, "error": type(exc).__name__})
            raise Unavailable(f"The key service is unreachable ({operation}).") from exc
        return response

    def encrypt(self, plaintext: bytes | str, *, context: Mapping[str, str] | None = None) -> bytes:
        """Encrypt under a fresh data key; ``context`` (say the row's id) must be given again to decrypt."""
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        encryption_context = dict(context or {})
        data = plaintext.encode() if isinstance(plaintext, str) else bytes(plaintext)
        response = self._kms(
            "GenerateDataKey", KeyId=self.key_id, KeySpec="AES_256", EncryptionContext=encryption_context
        )
        data_key = response.pop("Plaintext")
        try:
            encrypted_key: bytes = response["CiphertextBlob"]
            header = _HEADER.pack(BLOB_VERSION, len(encrypted_key)) + encrypted_key
            nonce = os.urandom(NONCE_BYTES)
            sealed = AESGCM(data_key).encrypt(nonce, data, _associated_data(header, encryption_context))
        finally:
            del data_key
        return header + nonce + sealed

    def decrypt(self, blob: bytes, *, context: Mapping[str, str] | None = None) -> bytes:
        """Open a blob from ``encrypt`` with the same ``context``; any tampering raises ``DecryptionFailed``."""
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        encryption_context = dict(context or {})
        blob = bytes(blob)
        if len(blob) < _HEADER.size:
            raise DecryptionFailed("A stored secret is truncated.")
        version, key_length = _HEADER.unpack_from(blob)
        if version != BLOB_VERSION:
            raise DecryptionFailed(f"Unknown secret format version {version}.")
        body_start = _HEADER.size + key_length
        if len(blob) < body_start + NONCE_BYTES + 16:
            raise DecryptionFailed("A stored secret is truncated.")
        header = blob[:body_start]
        encrypted_key = blob[_HEADER.size : body_start]
        nonce = blob[body_start : body_start + NONCE_BYTES]
        sealed = blob[body_start + NONCE_BYTES :]
        response = self._kms(
            "Decrypt", CiphertextBlob=encrypted_key, KeyId=self.key_id, EncryptionContext=encryption_context
        )
        data_key = response.pop("Plaintext")
        try:
            return AESGCM(data_key).decrypt(nonce, sealed, _associated_data(header, encryption_context))
        except InvalidTag as exc:
            raise DecryptionFailed("A stored secret failed its integrity check.") from exc
        finally:
            del data_key

    def decrypt_text(self, blob: bytes, *, context: Mapping[str, str] | None = None) -> str:
        return self.decrypt(blob, context=context).decode()
