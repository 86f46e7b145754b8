"""The closed value sets of the domain (no SQLAlchemy: schemas import these cheaply)."""

from __future__ import annotations

from enum import StrEnum


class UserStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    DELETED = "deleted"


class AccountStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    CLOSED = "closed"


class AccountRole(StrEnum):
    """owner > admin > member > viewer."""

    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"


class BucketStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    DELETING = "deleting"
    DELETED = "deleted"


class AccessKeyStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"
    REVOKED = "revoked"


class PermissionLevel(StrEnum):
    """read < write < admin (admin may share objects and grant permissions on the bucket)."""

    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


class SftpUserStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


class UsageMetric(StrEnum):
    STORAGE_BYTES = "storage_bytes"
    OBJECT_COUNT = "object_count"
    EGRESS_BYTES = "egress_bytes"
    INGRESS_BYTES = "ingress_bytes"
    API_REQUESTS = "api_requests"
    SFTP_STORAGE_BYTES = "sftp_storage_bytes"


class PricingAction(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"


class InvoiceKind(StrEnum):
    USAGE = "usage"
    ORDER = "order"


class InvoiceStatus(StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    PAID = "paid"
    VOID = "void"
    OVERDUE = "overdue"
    UNCOLLECTIBLE = "uncollectible"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class TransactionStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REFUNDED = "refunded"


class Product(StrEnum):
    """What an order or a subscription is for."""

    VPS = "vps"
    BACKUP = "backup"
    STORAGE_PLAN = "storage_plan"


class OrderStatus(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    PROVISIONED = "provisioned"
    CANCELLED = "cancelled"


class SubscriptionStatus(StrEnum):
    ACTIVE = "active"
    PAST_DUE = "past_due"
    CANCELLED = "cancelled"


class AuditSeverity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class AuditOutcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"


class JobTrigger(StrEnum):
    SCHEDULE = "schedule"
    MANUAL = "manual"


class JobRunStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"
    FAILED = "failed"


__all__ = [
    "AccessKeyStatus",
    "AccountRole",
    "AccountStatus",
    "AuditOutcome",
    "AuditSeverity",
    "BucketStatus",
    "DeliveryStatus",
    "InvoiceKind",
    "InvoiceStatus",
    "JobRunStatus",
    "JobTrigger",
    "OrderStatus",
    "PermissionLevel",
    "PricingAction",
    "Product",
    "SftpUserStatus",
    "SubscriptionStatus",
    "TransactionStatus",
    "UsageMetric",
    "UserStatus",
]
