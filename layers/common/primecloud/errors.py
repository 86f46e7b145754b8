"""Domain errors raised by services and mapped to problem+json in one place (primecloud.api)."""

from __future__ import annotations

from typing import Any


class PrimeCloudError(Exception):
    status: int = 500
    slug: str = "internal"
    title: str = "Internal error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = errors
        self.headers = headers or {}  # e.g. Retry-After on a 429


class Invalid(PrimeCloudError):
    status, slug, title = 422, "validation-error", "Invalid request"


class BadRequest(PrimeCloudError):
    status, slug, title = 400, "bad-request", "Malformed request"


class Unauthorized(PrimeCloudError):
    status, slug, title = 401, "unauthorized", "Authentication required"


class Forbidden(PrimeCloudError):
    status, slug, title = 403, "forbidden", "Not allowed"


class AccountSuspended(Forbidden):
    slug, title = "account-suspended", "Account suspended"


class NotFound(PrimeCloudError):
    status, slug, title = 404, "not-found", "Not found"


class Conflict(PrimeCloudError):
    status, slug, title = 409, "conflict", "Conflict"


class TooManyRequests(PrimeCloudError):
    status, slug, title = 429, "too-many-requests", "Too many requests"


class Unavailable(PrimeCloudError):
    status, slug, title = 503, "unavailable", "A dependency is unavailable"
