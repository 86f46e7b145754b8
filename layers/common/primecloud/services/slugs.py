"""Account slugs: a readable, unique, DNS-safe label derived from the account name."""

from __future__ import annotations

import re
import secrets
import unicodedata

from sqlalchemy import select
from sqlalchemy.orm import Session

from primecloud.models.iam import Account

SLUG_MAX_LENGTH = 63
_BASE_MAX_LENGTH = 48  # leaves room for "-" and a suffix
_ATTEMPTS = 8
_FALLBACK = "account"


def slugify(name: str) -> str:
    """``"Ünïcode & Co. GmbH"`` -> ``"unicode-co-gmbh"``; empty names become ``"account"``."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return slug[:_BASE_MAX_LENGTH].rstrip("-") or _FALLBACK


def unique_slug(session: Session, name: str) -> str:
    """The name's slug, or the slug with a short random suffix when that one is taken.

    Deleted accounts keep their slug (the unique constraint covers them), so it is never reused.
    The unique constraint remains the final word: a concurrent insert of the same slug fails there.
    """
    base = slugify(name)
    candidates = [base] + [f"{base}-{secrets.token_hex(3)}" for _ in range(_ATTEMPTS)]
    taken = set(session.scalars(select(Account.slug).where(Account.slug.in_(candidates))))
    for candidate in candidates:
        if candidate not in taken:
            return candidate
    raise RuntimeError("no free slug after several random suffixes")  # 16^6 suffixes: not expected
