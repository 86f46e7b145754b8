"""Opaque bearer tokens: generated with ``secrets``, stored only as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import secrets

ACCESS_TOKEN_PREFIX = "pca_"  # noqa: S105 - a prefix, not a secret
REFRESH_TOKEN_PREFIX = "pcr_"  # noqa: S105 - a prefix, not a secret
API_KEY_PREFIX = "pck_"
API_KEY_VISIBLE_CHARS = 12  # "pck_" + 8 characters, shown in listings to tell keys apart


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def new_token(prefix: str, nbytes: int = 32) -> tuple[str, str]:
    """A fresh token and its hash; the raw value is shown once and never stored."""
    raw = prefix + secrets.token_urlsafe(nbytes)
    return raw, hash_token(raw)


def api_key_display_prefix(raw: str) -> str:
    return raw[:API_KEY_VISIBLE_CHARS]
