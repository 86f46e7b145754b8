"""EnvelopeCipher against moto's KMS in server mode: round trip, blob layout, tampering, key handling."""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from primecloud.adapters.crypto import BLOB_VERSION, NONCE_BYTES, DecryptionFailed, EnvelopeCipher
from primecloud.errors import Unavailable

CONTEXT = {"purpose": "access-key-secret", "access_key_id": "AKIAEXAMPLE"}


class SpyKms:
    """The real KMS client, recording the plaintext data keys KMS hands out."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.data_keys: list[bytes] = []
        self.calls: list[str] = []

    def generate_data_key(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append("GenerateDataKey")
        response: dict[str, Any] = self._client.generate_data_key(**kwargs)
        self.data_keys.append(bytes(response["Plaintext"]))
        return response

    def decrypt(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append("Decrypt")
        response: dict[str, Any] = self._client.decrypt(**kwargs)
        self.data_keys.append(bytes(response["Plaintext"]))
        return response


@pytest.fixture
def kms(aws_server: dict[str, str]) -> SpyKms:
    return SpyKms(boto3.client("kms", endpoint_url=aws_server["AWS_ENDPOINT_URL"]))


@pytest.fixture
def cipher(aws_server: dict[str, str], kms: SpyKms) -> EnvelopeCipher:
    return EnvelopeCipher(aws_server["KMS_KEY_ID"], client=kms)


def _contains(value: Any, needle: bytes, seen: set[int] | None = None) -> bool:
    """Whether ``needle`` is reachable from ``value`` through attributes, containers or bytes."""
    seen = seen if seen is not None else set()
    if id(value) in seen:
        return False
    seen.add(id(value))
    if isinstance(value, bytes | bytearray | memoryview):
        return needle in bytes(value)
    if isinstance(value, dict):
        return any(_contains(k, needle, seen) or _contains(v, needle, seen) for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return any(_contains(item, needle, seen) for item in value)
    if hasattr(value, "__dict__") and not isinstance(value, type):
        return any(_contains(item, needle, seen) for item in vars(value).values())
    return False


def test_round_trip_with_the_same_context(cipher: EnvelopeCipher) -> None:
    blob = cipher.encrypt("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", context=CONTEXT)
    assert cipher.decrypt_text(blob, context=CONTEXT) == "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    assert cipher.decrypt(cipher.encrypt(b"\x00binary\xff"), context={}) == b"\x00binary\xff"


def test_blob_layout_is_version_encrypted_key_nonce_ciphertext(cipher: EnvelopeCipher, kms: SpyKms) -> None:
    secret = b"the secret value"
    blob = cipher.encrypt(secret, context=CONTEXT)
    version, key_length = struct.unpack_from(">BH", blob)
    assert version == BLOB_VERSION == 1
    encrypted_key = blob[3 : 3 + key_length]
    sealed = blob[3 + key_length + NONCE_BYTES :]
    assert len(sealed) == len(secret) + 16  # AES-GCM: same length plus the tag
    assert secret not in blob
    # the encrypted key inside the blob is what KMS issued, and KMS alone can open it
    assert kms.decrypt(CiphertextBlob=encrypted_key, EncryptionContext=CONTEXT)["Plaintext"] == kms.data_keys[0]


def test_every_secret_gets_its_own_data_key_and_nonce(cipher: EnvelopeCipher, kms: SpyKms) -> None:
    first = cipher.encrypt(b"same", context=CONTEXT)
    second = cipher.encrypt(b"same", context=CONTEXT)
    assert first != second
    assert kms.calls == ["GenerateDataKey", "GenerateDataKey"]
    assert kms.data_keys[0] != kms.data_keys[1]


def test_the_plaintext_data_key_is_not_kept_anywhere(cipher: EnvelopeCipher, kms: SpyKms) -> None:
    blob = cipher.encrypt(b"secret", context=CONTEXT)
    cipher.decrypt(blob, context=CONTEXT)
    data_key = kms.data_keys[0]
    assert len(data_key) == 32
    assert kms.data_keys[1] == data_key  # Decrypt gave the same key back ...
    own_state = {name: value for name, value in vars(cipher).items() if name != "_client"}  # the spy records keys
    assert not _contains(own_state, data_key)  # ... and the cipher holds on to neither
    assert data_key not in blob


@pytest.mark.parametrize(
    ("what", "tamper"),
    [
        ("ciphertext byte", lambda blob: blob[:-1] + bytes([blob[-1] ^ 0x01])),
        ("nonce byte", lambda blob: _at(blob, 3 + _key_length(blob), lambda b: b ^ 0x80)),
        ("encrypted key byte", lambda blob: _at(blob, 3 + _key_length(blob) - 1, lambda b: b ^ 0x01)),
        ("key length", lambda blob: _at(blob, 2, lambda b: b ^ 0x01)),
        ("truncated", lambda blob: blob[:20]),
        ("empty", lambda blob: b""),
        ("unknown version", lambda blob: bytes([2]) + blob[1:]),
    ],
)
def test_tampering_is_detected(cipher: EnvelopeCipher, what: str, tamper: Callable[[bytes], bytes]) -> None:
    blob = cipher.encrypt(b"s3cr3t-value", context=CONTEXT)
    with pytest.raises(DecryptionFailed) as raised:
        cipher.decrypt(tamper(blob), context=CONTEXT)
    assert raised.value.status == 500
    assert "s3cr3t-value" not in raised.value.detail


def test_a_blob_moved_to_another_context_does_not_open(cipher: EnvelopeCipher) -> None:
    blob = cipher.encrypt(b"secret", context=CONTEXT)
    with pytest.raises(DecryptionFailed):
        cipher.decrypt(blob, context={**CONTEXT, "access_key_id": "AKIAOTHER"})
    with pytest.raises(DecryptionFailed):
        cipher.decrypt(blob)


def test_an_unknown_key_or_an_unreachable_kms_is_unavailable(aws_server: dict[str, str]) -> None:
    with pytest.raises(Unavailable) as raised:
        EnvelopeCipher("alias/does-not-exist").encrypt(b"x")
    assert raised.value.detail == "The key service failed GenerateDataKey (NotFoundException)."

    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = EnvelopeCipher("alias/primecloud-local", client=boto3.client("kms", endpoint_url=f"http://127.0.0.1:{port}"))
    with pytest.raises(Unavailable):
        down.encrypt(b"x")


def _key_length(blob: bytes) -> int:
    return int(struct.unpack_from(">H", blob, 1)[0])


def _at(blob: bytes, index: int, change: Any) -> bytes:
    return blob[:index] + bytes([change(blob[index])]) + blob[index + 1 :]
