"""SFTP users: logins on the SftpGo server for an account, homed in one of its buckets or a folder.

SftpGo usernames are global, so the login is ``<account prefix>.<username>``: the prefix is the
account's own (``accounts.sftp_login_prefix``, unique), set on its first SFTP user to the slug cut
to 31 characters (so the login fits the 64-character column) or, when another account already has
that, the slug cut shorter plus ``-`` and 6 random hex digits. Accounts never compete for names and
a 409 only ever names a login of the caller's own account. (Logins made before the prefix was a
column keep their names; see migration 0004.)

A bucket home reaches S3 with a tenant credential of its own, limited to that bucket and held
only by SftpGo (its secret is never stored here). Which credential belongs to a user is read
back from SftpGo (the user's ``s3config.access_key``) when the user is deleted.

Creating writes the row and its audit entry first (a taken login fails before anything
outside changes), then the credential, then the SftpGo user. Each backend change is reversed
when the transaction does not commit (a later error or a failed commit), so a 503 leaves no
row, no SftpGo user and no credential behind; the suspension hooks likewise switch users back.
Deleting removes the credential, then the SftpGo user: a retry after a failure in between finds
what is left. Local homes are folders under ``<SftpGo home base>/<account id>/``, so no account
can point a user at another's files.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy import update as sa_update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from primecloud import clock
from primecloud.actor import Actor
from primecloud.adapters.sftpgo import PROVIDER_S3, LocalHome, S3Home, SftpGoClient, SftpUserNotFound
from primecloud.adapters.storage import TenantCredentials
from primecloud.compensation import undo_unless_committed
from primecloud.errors import Conflict, NotFound, PrimeCloudError, Unavailable
from primecloud.models.enums import SftpUserStatus
from primecloud.models.iam import Account
from primecloud.models.storage import Bucket, SftpUser
from primecloud.observability import logger
from primecloud.pagination import paginate
from primecloud.schemas.common import Page
from primecloud.schemas.sftp_users import SftpUserCreate, SftpUserCreated, SftpUserOut
from primecloud.services import audit

LOGIN_SLUG_CHARS = 31  # 31 + "." + 32 = the username column's 64
PREFIX_SUFFIX_HEX = 6  # "-" + 6 hex digits when the slug's prefix belongs to another account
PREFIX_ATTEMPTS = 4
PASSWORD_BYTES = 24  # 32 URL-safe characters
USERNAME_TAKEN = "This account already has an SFTP user with this username."


@dataclass(frozen=True)
class SftpBackends:
    """Where SFTP users live; each is built on first use (a listing or a 404 needs neither)."""

    sftpgo: Callable[[], SftpGoClient]
    credentials: Callable[[], TenantCredentials]
    storage_endpoint: str | None = None  # the S3 endpoint SftpGo uses for bucket homes (MinIO); None: AWS


@dataclass(frozen=True)
class StatusChange:
    """What a suspension hook did: logins switched, and logins SftpGo could not switch (try again later)."""

    changed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def login_for(account: Account, username: str) -> str:
    """The login of ``username`` in an account that has its prefix (``login_prefix``)."""
    if account.sftp_login_prefix is None:
        raise ValueError("the account has no SFTP login prefix yet")
    return f"{account.sftp_login_prefix}.{username}"


def login_prefix(session: Session, account: Account) -> str:
    """The account's SFTP login prefix, claimed on first use (the unique column decides, not a read:
    row-level security hides other accounts' prefixes). The claim locks the account row, so two
    first SFTP users of one account agree on it."""
    if account.sftp_login_prefix is not None:
        return account.sftp_login_prefix
    short = account.slug[: LOGIN_SLUG_CHARS - 1 - PREFIX_SUFFIX_HEX].rstrip("-")
    candidates = [account.slug[:LOGIN_SLUG_CHARS].rstrip("-")] + [
        f"{short}-{secrets.token_hex(PREFIX_SUFFIX_HEX // 2)}" for _ in range(PREFIX_ATTEMPTS - 1)
    ]
    for candidate in candidates:
        try:
            with session.begin_nested():
                prefix = session.execute(
                    sa_update(Account)
                    .where(Account.id == account.id)
                    .values(sftp_login_prefix=func.coalesce(Account.sftp_login_prefix, candidate))
                    .returning(Account.sftp_login_prefix)
                    .execution_options(synchronize_session=False)
                ).scalar_one()
        except IntegrityError:  # another account's prefix
            continue
        set_committed_value(account, "sftp_login_prefix", prefix)
        return str(prefix)
    raise Unavailable("No free SFTP login prefix was found; try again.")  # 16^6 suffixes: not expected


def _out(user: SftpUser) -> SftpUserOut:
    return SftpUserOut.model_validate(user)


def _live_bucket(session: Session, account: Account, bucket_id: UUID) -> Bucket:
    bucket = session.scalar(
        select(Bucket).where(Bucket.id == bucket_id, Bucket.account_id == account.id, Bucket.deleted_at.is_(None))
    )
    if bucket is None:
        raise NotFound("No such bucket.")
    return bucket


def create(
    session: Session, actor: Actor, account: Account, req: SftpUserCreate, backends: SftpBackends
) -> SftpUserCreated:
    """A new login; its generated password (if any) is in the answer and nowhere else."""
    bucket = _live_bucket(session, account, req.bucket_id) if req.bucket_id is not None else None
    login = f"{login_prefix(session, account)}.{req.username}"
    folder = None if bucket is not None else (req.home_dir or req.username)
    user = SftpUser(
        account_id=account.id,
        username=login,
        bucket_id=bucket.id if bucket is not None else None,
        home_dir=folder,
        quota_bytes=req.quota_bytes,
        status=SftpUserStatus.ACTIVE.value,
    )
    session.add(user)
    try:
        session.flush()
    except IntegrityError:  # uq_sftp_users_live_username: the login is taken
        raise Conflict(USERNAME_TAKEN) from None
    password = secrets.token_urlsafe(PASSWORD_BYTES) if req.wants_password else None
    audit.record(
        session,
        actor,
        "sftp_user.create",
        account_id=account.id,
        target_type="sftp_user",
        target_id=user.id,
        new={
            "username": login,
            "bucket_id": user.bucket_id,
            "home_dir": folder,
            "quota_bytes": req.quota_bytes,
            "auth_methods": [m for m, on in (("password", password), ("public_key", req.public_key)) if on],
        },
    )
    session.flush()

    client = backends.sftpgo()
    home: S3Home | LocalHome
    if bucket is not None:
        credentials = backends.credentials()
        credential = credentials.create_credential(str(account.id), f"sftp:{login}", [bucket.name])
        key_id = credential.access_key_id
        undo_unless_committed(session, "delete credential", lambda: credentials.delete(key_id))
        home = S3Home(
            bucket=bucket.name,
            region=bucket.region,
            access_key_id=credential.access_key_id,
            secret_access_key=credential.secret_access_key,
            endpoint=backends.storage_endpoint,
            force_path_style=backends.storage_endpoint is not None,
        )
    else:
        home = LocalHome(home_dir=f"{client.home_base}/{account.id}/{folder}")
    # Armed before the call: SftpGo may create the user and the answer still be lost.
    remove_user = undo_unless_committed(session, "delete sftpgo user", lambda: client.delete_user(login))
    try:
        client.create_user(
            login,
            home=home,
            password=password,
            public_keys=[req.public_key] if req.public_key else (),
            quota_bytes=req.quota_bytes,
            description=f"PrimeCloud account {account.id}, SFTP user {user.id}",
        )
    except Conflict:
        remove_user.cancel()  # SftpGo already had this login: it is not this request's to remove
        raise
    return SftpUserCreated(**_out(user).model_dump(), password=password)


def list_sftp_users(session: Session, account: Account, *, limit: int, cursor: str | None) -> Page[SftpUserOut]:
    return paginate(
        session,
        select(SftpUser).where(SftpUser.account_id == account.id, SftpUser.deleted_at.is_(None)),
        keys=[SftpUser.created_at, SftpUser.id],
        limit=limit,
        cursor=cursor,
        to_item=_out,
    )


def _s3_access_key_id(client: SftpGoClient, login: str) -> str | None:
    """The tenant credential SftpGo holds for the user's bucket home; None for local homes or no user."""
    try:
        # SftpUserInfo does not carry the key id; the raw user does (see the module docstring).
        raw: dict[str, Any] = client._raw_user(login)
    except SftpUserNotFound:
        return None
    filesystem = raw.get("filesystem") or {}
    if filesystem.get("provider") != PROVIDER_S3:
        return None
    access_key = (filesystem.get("s3config") or {}).get("access_key")
    return str(access_key) if access_key else None


def delete(session: Session, actor: Actor, account: Account, sftp_user_id: UUID, backends: SftpBackends) -> None:
    """Remove the login from SftpGo and its credential from the backend; the row is soft-deleted.

    The credential goes first: if SftpGo then fails, the request is retried with the SftpGo
    user (and so the credential's id) still there. Files stay in the bucket or folder.
    """
    user = session.scalar(
        select(SftpUser)
        .where(SftpUser.id == sftp_user_id, SftpUser.account_id == account.id, SftpUser.deleted_at.is_(None))
        .with_for_update()
    )
    if user is None:
        raise NotFound("No such SFTP user.")
    user.deleted_at = clock.now()
    audit.record(
        session,
        actor,
        "sftp_user.delete",
        account_id=account.id,
        target_type="sftp_user",
        target_id=user.id,
        old={"username": user.username, "bucket_id": user.bucket_id, "home_dir": user.home_dir},
    )
    session.flush()
    client = backends.sftpgo()
    access_key_id = _s3_access_key_id(client, user.username)
    if access_key_id is not None:
        backends.credentials().delete(access_key_id)
    client.delete_user(user.username)


# --------------------------------------------------------------------------- suspension hooks


def _switch_all(
    session: Session,
    actor: Actor,
    account_id: UUID,
    backends: SftpBackends,
    *,
    enable: bool,
    reason: str,
) -> StatusChange:
    current, target = (
        (SftpUserStatus.DISABLED.value, SftpUserStatus.ACTIVE.value)
        if enable
        else (SftpUserStatus.ACTIVE.value, SftpUserStatus.DISABLED.value)
    )
    users = list(
        session.scalars(
            select(SftpUser)
            .where(SftpUser.account_id == account_id, SftpUser.deleted_at.is_(None), SftpUser.status == current)
            .order_by(SftpUser.username)
            .with_for_update()
        )
    )
    result = StatusChange()
    if not users:
        return result
    client = backends.sftpgo()
    for index, user in enumerate(users):
        try:
            if enable:
                client.enable_user(user.username)
            else:
                client.disable_user(user.username)
        except SftpUserNotFound:
            logger.warning("sftp user missing in sftpgo", extra={"login": user.username, "enable": enable})
            if enable:  # it cannot be let in again; when disabling, nobody can log in as it anyway
                result.failed.append(user.username)
                continue
        except Unavailable:
            logger.warning("sftpgo unavailable", extra={"account_id": str(account_id), "enable": enable})
            result.failed.extend(other.username for other in users[index:])  # SftpGo is down: stop here
            break
        except PrimeCloudError as exc:
            logger.warning("sftp user not switched", extra={"login": user.username, "error": type(exc).__name__})
            result.failed.append(user.username)
            continue
        switch_back = functools.partial(client.disable_user if enable else client.enable_user, user.username)
        undo_unless_committed(session, "switch sftpgo user back", switch_back)
        user.status = target
        audit.record(
            session,
            actor,
            "sftp_user.enable" if enable else "sftp_user.disable",
            account_id=account_id,
            target_type="sftp_user",
            target_id=user.id,
            old={"status": current},
            new={"status": target, "reason": reason},
        )
        result.changed.append(user.username)
    return result


def disable_all_for_account(
    session: Session, actor: Actor, account_id: UUID, backends: SftpBackends, *, reason: str = "account_suspended"
) -> StatusChange:
    """Refuse every SFTP login of the account (its files stay); for dunning's suspension.

    Rows follow SftpGo user by user: a user SftpGo could not disable stays ``active`` and is
    tried again on the next call. Idempotent; the caller commits (a rollback enables them again).
    """
    return _switch_all(session, actor, account_id, backends, enable=False, reason=reason)


def enable_for_account(
    session: Session, actor: Actor, account_id: UUID, backends: SftpBackends, *, reason: str = "account_reactivated"
) -> StatusChange:
    """Let the account's disabled SFTP users log in again (on reactivation); idempotent.

    The caller commits; a rollback disables them again.
    """
    return _switch_all(session, actor, account_id, backends, enable=True, reason=reason)
