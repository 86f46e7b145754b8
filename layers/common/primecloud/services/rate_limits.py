"""Fixed-window counters in the rate_limits table (login failures per email and per IP, reset mails)."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete, func, or_, select, update
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


def take(session: Session, key: str, window: Window, now: datetime) -> int | None:
    """Count one attempt at ``key`` unless it is at its limit: None when counted, else the seconds to wait.

    Counting and checking are one statement (an upsert whose update only applies under the limit),
    so concurrent attempts queue on the row and exactly ``limit`` of them are counted per window.
    The row stays locked until the caller's transaction ends: take before the attempt is judged,
    then ``refund`` what should not count (a success) or commit what should (a failure).
    """
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
            where=or_(expired, RateLimit.count < window.limit),
        )
        .returning(RateLimit.count)
    )
    if session.execute(statement).scalar_one_or_none() is not None:
        return None
    # Refused: the row holds a full, live window (locked by the upsert above, so it is still so).
    window_start = session.scalar(select(RateLimit.window_start).where(RateLimit.bucket_key == key))
    ends = (window_start or now) + window.length
    return max(1, math.ceil((ends - now).total_seconds()))


def refund(session: Session, key: str) -> None:
    """Give back one attempt counted by ``take`` (it succeeded: only failures count)."""
    key = _stored(key)
    session.execute(
        update(RateLimit)
        .where(RateLimit.bucket_key == key, RateLimit.count > 0)
        .values(count=RateLimit.count - 1, updated_at=func.now())
    )


def reset(session: Session, key: str) -> None:
    key = _stored(key)
    session.execute(delete(RateLimit).where(RateLimit.bucket_key == key))
