"""Who did something: the user or API key behind a request, or a scheduled job."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID


@dataclass(frozen=True)
class Actor:
    user_id: UUID | None = None
    api_key_id: UUID | None = None
    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None
    job: str | None = None

    @classmethod
    def system(cls, job: str, request_id: str | None = None) -> Actor:
        return cls(job=job, request_id=request_id)
