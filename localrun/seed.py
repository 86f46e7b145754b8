"""Demo data for the local stack: a platform admin, a demo tenant with members, fresh tokens.

Idempotent: users and the account are created once; every start issues new session tokens
(the raw tokens exist only in this process's output, the database keeps their hashes).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

DEMO_PASSWORD = "demo-password-123"  # local demo only; printed by `make dev`  # noqa: S105
DEMO_USERS = {
    "owner": "owner@demo.primecloud.local",
    "admin": "admin@demo.primecloud.local",
    "member": "member@demo.primecloud.local",
    "viewer": "viewer@demo.primecloud.local",
}
PLATFORM_ADMIN = "staff@primecloud.local"
DEMO_ACCOUNT_SLUG = "demo"


@dataclass
class DemoData:
    account_id: str
    tokens: dict[str, str]  # email -> live access token


def seed(session: Session) -> DemoData:
    from primecloud.models.iam import Account, AccountMember, User, UserSession
    from primecloud.passwords import hash_password
    from primecloud.tokens import ACCESS_TOKEN_PREFIX, REFRESH_TOKEN_PREFIX, new_token

    users: dict[str, User] = {}
    password_hash: str | None = None
    for email in [*DEMO_USERS.values(), PLATFORM_ADMIN]:
        user = session.scalar(select(User).where(func.lower(User.email) == email.lower()))
        if user is None:
            password_hash = password_hash or hash_password(DEMO_PASSWORD)
            user = User(
                email=email,
                password_hash=password_hash,
                name=email.split("@")[0].title(),
                is_platform_admin=email == PLATFORM_ADMIN,
                email_verified_at=datetime.now(UTC),
            )
            session.add(user)
            session.flush()
        users[email] = user

    account = session.scalar(select(Account).where(Account.slug == DEMO_ACCOUNT_SLUG))
    if account is None:
        account = Account(
            name="Demo Storage Co.",
            slug=DEMO_ACCOUNT_SLUG,
            owner_user_id=users[DEMO_USERS["owner"]].id,
            billing_email="billing@demo.primecloud.local",
        )
        session.add(account)
        session.flush()
        for role, email in DEMO_USERS.items():
            session.add(AccountMember(account_id=account.id, user_id=users[email].id, role=role))

    seed_vps_plans(session)
    seed_prices(session)

    now = datetime.now(UTC)
    tokens: dict[str, str] = {}
    for email, user in users.items():
        access, access_hash = new_token(ACCESS_TOKEN_PREFIX)
        _refresh, refresh_hash = new_token(REFRESH_TOKEN_PREFIX)
        session.add(
            UserSession(
                user_id=user.id,
                access_token_hash=access_hash,
                access_expires_at=now + timedelta(hours=12),  # a working day of local clicking
                refresh_token_hash=refresh_hash,
                expires_at=now + timedelta(days=1),
                user_agent="localrun seed",
            )
        )
        tokens[email] = access
    session.flush()
    return DemoData(account_id=str(account.id), tokens=tokens)


# name, cores, memory MiB, disk GiB, bandwidth GiB, EUR per month, EUR per hour
DEMO_VPS_PLANS = (
    ("Small", 1, 2048, 40, 1000, "4.99", "0.0075"),
    ("Medium", 2, 4096, 80, 2000, "9.99", "0.0150"),
    ("Large", 4, 8192, 160, 4000, "19.99", "0.0300"),
)


def seed_vps_plans(session: Session) -> None:
    """The orderable VPS plans (GET /v1/vps-plans), created once by name."""
    from decimal import Decimal

    from primecloud.models.billing import VpsConfig

    existing = set(session.scalars(select(VpsConfig.name)))
    for name, cores, memory_mb, disk_gb, bandwidth_gb, monthly, hourly in DEMO_VPS_PLANS:
        if name not in existing:
            session.add(
                VpsConfig(
                    name=name,
                    cpu_cores=cores,
                    memory_mb=memory_mb,
                    disk_gb=disk_gb,
                    bandwidth_gb=bandwidth_gb,
                    price_monthly=Decimal(monthly),
                    price_hourly=Decimal(hourly),
                    currency="EUR",
                )
            )
    session.flush()


# Demo prices (EUR), in force since 2026-01-01; a metric without a price is not billed.
DEMO_PRICES = (
    {"metric": "storage_bytes", "unit_price": "0.023", "included_quantity": "10"},  # per GiB-month
    {"metric": "sftp_storage_bytes", "unit_price": "0.03"},  # per GiB-month
    {  # per GiB: 100 GiB free, the next 10 TiB at 0.09, above at 0.07
        "metric": "egress_bytes",
        "unit_price": "0.07",
        "included_quantity": "100",
        "tiers": [{"up_to": "10240", "unit_price": "0.09"}, {"up_to": None, "unit_price": "0.07"}],
    },
    {"metric": "ingress_bytes", "unit_price": "0"},  # free, but priced: shown on invoices
    {"metric": "api_requests", "unit_price": "0.004", "included_quantity": "100"},  # per 1,000 requests
)


def seed_prices(session: Session) -> None:
    """The price list (GET /v1/pricing), created once per metric; later versions come from PUT /v1/admin/pricing."""
    from primecloud.services.billing.pricing import seed_defaults

    seed_defaults(session, DEMO_PRICES, effective_from=datetime(2026, 1, 1, tzinfo=UTC))


def restore_backend_buckets(session: Session) -> int:
    """moto keeps its state in memory: recreate (empty) the backend side of every live bucket row.

    PostgreSQL keeps its data under .local/ between ``make dev`` starts, moto does not; without this,
    buckets made in an earlier session would answer 404 from the backend. Returns how many were made.
    """
    from sqlalchemy import select

    from primecloud.adapters import registry
    from primecloud.models.storage import Bucket

    storage = registry.storage()
    made = 0
    for name in session.scalars(select(Bucket.name).where(Bucket.deleted_at.is_(None))):
        if not storage.bucket_exists(name):
            storage.create_bucket(name)
            made += 1
    return made


def restore_backend_access_keys(session: Session) -> list[str]:
    """moto forgets IAM on stop: recreate the IAM user of every unrevoked access key row, under the key's own id.

    Each key gets its user, its policies (what ``refresh_account_policies`` says its buckets are now)
    and its id, status and secret (decrypted from the row: the local KMS key is kept across starts,
    see ``localrun.services.moto.keep_kms_key``). Returns the access key ids whose secret could not be
    restored (keys made before the KMS key was kept): they answer policy changes again, but S3
    clients must use a new key. Storage backends other than AWS (moto) are left alone.
    """
    from botocore.exceptions import ClientError

    from localrun.services.moto import adopt_access_key
    from primecloud.adapters import registry
    from primecloud.adapters.tenant_aws import AwsTenantCredentials
    from primecloud.enums import AccessKeyStatus
    from primecloud.errors import PrimeCloudError
    from primecloud.models.storage import AccessKey
    from primecloud.services.access_keys import decrypt_secret, refresh_account_policies

    credentials = registry.tenant_credentials()
    if not isinstance(credentials, AwsTenantCredentials):
        return []
    keys = session.scalars(
        select(AccessKey)
        .where(AccessKey.status != AccessKeyStatus.REVOKED.value)
        .order_by(AccessKey.created_at, AccessKey.id)
    ).all()
    lost_secrets: list[str] = []
    restored_accounts = set()
    for key in keys:
        try:
            credentials.iam.get_access_key_last_used(AccessKeyId=key.access_key_id)
            continue  # moto kept it (it was not restarted)
        except ClientError:
            pass
        try:
            secret: str | None = decrypt_secret(registry.crypto(), key)
        except PrimeCloudError:
            secret = None
            lost_secrets.append(key.access_key_id)
        created = credentials.create_credential(str(key.account_id), key.name, [])
        adopt_access_key(
            created.access_key_id, key.access_key_id, secret, active=key.status == AccessKeyStatus.ACTIVE.value
        )
        restored_accounts.add(key.account_id)
    for account_id in sorted(restored_accounts):
        refresh_account_policies(session, credentials, account_id)
    return lost_secrets
