"""The time services use; tests move it with ``monkeypatch.setattr(clock, "now", ...)``."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)
