"""Fixed-window counters in the rate_limits table (login failures per email and per IP, reset mails)."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from primecloud.errors import TooManyRequests
from primecloud.models.system import RateLimit


@dataclass(frozen=True)
class Window:
    """At most ``limit`` hits per ``seconds``, counted from the first hit of the window."""

    limit: int
    seconds: int

    @property
    def length(self) -> timedelta:
        return timedelta(seconds=self.seconds)


class RateLimited(TooManyRequests):
    """Over a limit; ``retry_after`` seconds until the window ends (sent as Retry-After)."""

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})
        self.retry_after = retry_after


# rate_limits.bucket_key is VARCHAR(255); a key holding a long input (a 320-character email) is
# stored as its prefix and a SHA-256 of the whole key, so it fits and stays distinct.
_MAX_KEY = 255


def _stored(key: str) -> str:
    if len(key) <= _MAX_KEY:
        return key
    prefix = key[: key.rfind(":") + 1] if ":" in key else ""
    return f"{prefix[:128]}sha256:{hashlib.sha256(key.encode()).hexdigest()}"


def retry_after(session: Session, key: str, window: Window, now: datetime) -> int | None:
    """Seconds until ``key`` may be hit again, or None while it is under its limit."""
    key = _stored(key)
    row = session.execute(select(RateLimit.window_start, RateLimit.count).where(RateLimit.bucket_key == key)).first()
    if row is None:
        return None
    window_start, count = row
    if count < window.limit:
        return None
    ends = window_start + window.length
    if ends <= now:
        return None
    return max(1, math.ceil((ends - now).total_seconds()))


def hit(session: Session, key: str, window: Window, now: datetime) -> int:
    """Count one hit (a new window starts when the last one is over); the count in this window."""
    key = _stored(key)
    expired = RateLimit.window_start <= now - window.length
    statement = (
        insert(RateLimit)
        .values(bucket_key=key, window_start=now, count=1)
        .on_conflict_do_update(
            index_elements=[RateLimit.bucket_key],
            set_={
                "window_start": case((expired, now), else_=RateLimit.window_start),
                "count": case((expired, 1), else_=RateLimit.count + 1),
                "updated_at": func.now(),  # ON CONFLICT DO UPDATE skips the column's onupdate
            },
        )
        .returning(RateLimit.count)
    )
    return int(session.execute(statement).scalar_one())


def reset(session: Session, key: str) -> None:
    key = _stored(key)
    session.execute(delete(RateLimit).where(RateLimit.bucket_key == key))
