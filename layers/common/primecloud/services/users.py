"""Users as they see themselves: profile, password, GDPR export, deleting themselves."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from primecloud import clock
from primecloud.actor import Actor
from primecloud.errors import Conflict, Forbidden, Invalid, NotFound
from primecloud.models.enums import AccountRole, AccountStatus, UserStatus
from primecloud.models.iam import (
    Account,
    AccountMember,
    ApiKey,
    Invitation,
    PasswordResetToken,
    User,
    UserSession,
)
from primecloud.models.storage import AccessKey, Bucket, BucketPermission, ObjectFavorite, ObjectShare
from primecloud.models.system import AuditLog, Notification
from primecloud.passwords import hash_password, verify_password
from primecloud.schemas.iam import (
    ExportAccessKey,
    ExportApiKey,
    ExportAuditEntry,
    ExportBucketPermission,
    ExportFavorite,
    ExportInvitation,
    ExportMembership,
    ExportNotification,
    ExportPasswordReset,
    ExportProfile,
    ExportSession,
    ExportShare,
    MeUpdate,
    UserDeletion,
    UserExport,
    UserOut,
)
from primecloud.services import audit, members

OWNER = AccountRole.OWNER.value


def require_session(actor: Actor) -> UUID:
    """The signed-in user behind ``actor``; an API key may not act on the user's identity or
    ownership (it is a narrower credential than the person who made it)."""
    if actor.user_id is None or actor.api_key_id is not None:
        raise Forbidden("This needs a signed-in user session, not an API key.")
    return actor.user_id


def _live_user(session: Session, user_id: UUID, *, for_update: bool = False) -> User:
    statement = select(User).where(User.id == user_id, User.deleted_at.is_(None))
    user = session.scalar(statement.with_for_update() if for_update else statement)
    if user is None:
        raise NotFound("No such user.")
    return user


def get_me(session: Session, user_id: UUID) -> UserOut:
    return UserOut.model_validate(_live_user(session, user_id))


# --------------------------------------------------------------------------- PATCH /v1/me


def _current_password_problem(message: str) -> Invalid:
    return Invalid(
        f"body.current_password: {message}",
        errors=[{"field": "body.current_password", "message": message, "type": "current_password"}],
    )


def update_me(session: Session, actor: Actor, current_session_id: UUID | None, req: MeUpdate) -> UserOut:
    """Change name, email or password. A new email or password needs the current password;
    a new password signs out every other session of the user."""
    user = _live_user(session, require_session(actor), for_update=True)
    sent = req.model_fields_set
    new_email = req.email if "email" in sent and req.email != user.email else None
    new_name = req.name if "name" in sent and req.name != user.name else None
    email_changes_identity = new_email is not None and new_email.lower() != user.email.lower()

    if email_changes_identity or req.new_password is not None:
        if req.current_password is None:
            raise _current_password_problem("required to change the email or the password")
        if not verify_password(user.password_hash, req.current_password):
            raise _current_password_problem("does not match")

    old: dict[str, str] = {}
    new: dict[str, str] = {}
    if new_name is not None:
        old["name"], new["name"] = user.name, new_name
        user.name = new_name
    if new_email is not None:
        if email_changes_identity and session.scalar(
            select(User.id).where(func.lower(User.email) == new_email.lower(), User.id != user.id)
        ):
            raise Conflict("Another user has this email address.")
        old["email"], new["email"] = user.email, new_email
        user.email = new_email
        if email_changes_identity:
            user.email_verified_at = None  # the new address is not proven yet
    if new:
        audit.record(session, actor, "user.update", target_type="user", target_id=user.id, old=old, new=new)

    if req.new_password is not None:
        now = clock.now()
        user.password_hash = hash_password(req.new_password)
        other_sessions = update(UserSession).where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
        if current_session_id is not None:
            other_sessions = other_sessions.where(UserSession.id != current_session_id)
        session.execute(other_sessions.values(revoked_at=now))
        # A reset link mailed before the change must not undo it.
        session.execute(
            update(PasswordResetToken)
            .where(PasswordResetToken.user_id == user.id, PasswordResetToken.used_at.is_(None))
            .values(used_at=now)
        )
        audit.record(session, actor, "user.password_change", target_type="user", target_id=user.id, severity="warning")
    try:
        session.flush()
    except IntegrityError as exc:  # a concurrent request took the address between check and write
        raise Conflict("Another user has this email address.") from exc
    return UserOut.model_validate(user)


# --------------------------------------------------------------------------- GET /v1/me/export


def export(session: Session, actor: Actor) -> UserExport:
    """Everything stored about the caller (GDPR art. 15/20), without any password or token hash."""
    from primecloud.db import system_scope

    user_id = require_session(actor)
    # The caller's rows in every account (keys, grants, shares they made): each query below names them.
    system_scope(session, f"export of user {user_id}'s own data")
    user = _live_user(session, user_id)
    me = user.id
    memberships = session.execute(
        select(AccountMember.account_id, Account.name, AccountMember.role, AccountMember.created_at)
        .join(Account, Account.id == AccountMember.account_id)
        .where(AccountMember.user_id == me)
        .order_by(AccountMember.created_at)
    ).all()
    invitations = session.scalars(
        select(Invitation)
        .where(or_(Invitation.invited_by == me, func.lower(Invitation.email) == user.email.lower()))
        .order_by(Invitation.created_at)
    ).all()
    permissions = session.execute(
        select(BucketPermission, Bucket.name, Bucket.account_id)
        .join(Bucket, Bucket.id == BucketPermission.bucket_id)
        .where(BucketPermission.user_id == me)
        .order_by(BucketPermission.created_at)
    ).all()
    shares = session.scalars(select(ObjectShare).where(ObjectShare.created_by == me).order_by(ObjectShare.created_at))
    result = UserExport(
        exported_at=clock.now(),
        profile=ExportProfile.model_validate(user),
        memberships=[
            ExportMembership(account_id=account_id, account_name=name, role=role, joined_at=joined_at)
            for account_id, name, role, joined_at in memberships
        ],
        sessions=[
            ExportSession.model_validate(row)
            for row in session.scalars(
                select(UserSession).where(UserSession.user_id == me).order_by(UserSession.created_at)
            )
        ],
        password_resets=[
            ExportPasswordReset.model_validate(row)
            for row in session.scalars(
                select(PasswordResetToken)
                .where(PasswordResetToken.user_id == me)
                .order_by(PasswordResetToken.created_at)
            )
        ],
        api_keys=[
            ExportApiKey.model_validate(row)
            for row in session.scalars(select(ApiKey).where(ApiKey.created_by == me).order_by(ApiKey.created_at))
        ],
        access_keys=[
            ExportAccessKey.model_validate(row)
            for row in session.scalars(
                select(AccessKey).where(AccessKey.created_by == me).order_by(AccessKey.created_at)
            )
        ],
        invitations=[
            ExportInvitation(
                id=row.id,
                account_id=row.account_id,
                direction="sent" if row.invited_by == me else "received",
                email=row.email,
                role=row.role,
                created_at=row.created_at,
                expires_at=row.expires_at,
                accepted_at=row.accepted_at,
                revoked_at=row.revoked_at,
            )
            for row in invitations
        ],
        bucket_permissions=[
            ExportBucketPermission(
                bucket_id=permission.bucket_id,
                bucket_name=bucket_name,
                account_id=account_id,
                level=permission.level,
                created_at=permission.created_at,
            )
            for permission, bucket_name, account_id in permissions
        ],
        favorites=[
            ExportFavorite.model_validate(row)
            for row in session.scalars(
                select(ObjectFavorite).where(ObjectFavorite.user_id == me).order_by(ObjectFavorite.created_at)
            )
        ],
        shares=[
            ExportShare(
                id=share.id,
                bucket_id=share.bucket_id,
                object_key=share.object_key,
                password_protected=share.password_hash is not None,
                max_downloads=share.max_downloads,
                download_count=share.download_count,
                created_at=share.created_at,
                expires_at=share.expires_at,
                revoked_at=share.revoked_at,
            )
            for share in shares
        ],
        notifications=[
            ExportNotification.model_validate(row)
            for row in session.scalars(
                select(Notification).where(Notification.user_id == me).order_by(Notification.created_at)
            )
        ],
        audit_entries=[
            ExportAuditEntry.model_validate(row)
            for row in session.scalars(
                select(AuditLog).where(AuditLog.actor_user_id == me).order_by(AuditLog.created_at)
            )
        ],
    )
    audit.record(session, actor, "user.export", target_type="user", target_id=me)
    return result


# --------------------------------------------------------------------------- DELETE /v1/me


def delete_me(session: Session, actor: Actor) -> UserDeletion:
    """Close the caller's solo accounts, leave the others, sign out everywhere and anonymize
    what invoices and the audit log don't need. The purge job removes the rest later.

    Refused (409) while the caller is the only owner of an account that has other members.
    """
    from primecloud.db import system_scope

    user_id = require_session(actor)
    # Every account of the caller, with its other members and owners: each query below names them.
    system_scope(session, f"deletion of user {user_id}")
    user = _live_user(session, user_id, for_update=True)
    now = clock.now()
    joined = session.execute(
        select(AccountMember, Account)
        .join(Account, Account.id == AccountMember.account_id)
        .where(AccountMember.user_id == user.id, Account.deleted_at.is_(None))
        .order_by(Account.id)
        .with_for_update(of=Account)
    ).all()
    sizes = {
        account_id: (member_count, owner_count)
        for account_id, member_count, owner_count in session.execute(
            select(
                AccountMember.account_id,
                func.count(),
                func.count().filter(AccountMember.role == OWNER),
            )
            .where(AccountMember.account_id.in_([account.id for _, account in joined]))
            .group_by(AccountMember.account_id)
        )
    }
    blocking = [
        account
        for membership, account in joined
        if membership.role == OWNER and sizes[account.id][1] == 1 and sizes[account.id][0] > 1
    ]
    if blocking:
        names = ", ".join(f"{account.name} ({account.id})" for account in blocking)
        raise Conflict(
            f"You are the only owner of {names}, which other members still use: transfer the ownership "
            "(POST /v1/accounts/{account_id}/transfer-ownership) or remove the other members first.",
            errors=[
                {
                    "field": "account_id",
                    "account_id": str(account.id),
                    "account_name": account.name,
                    "message": "needs an ownership transfer first",
                    "type": "sole_owner",
                }
                for account in blocking
            ],
        )

    closed: list[UUID] = []
    for membership, account in joined:
        if sizes[account.id][0] == 1:
            account.deleted_at = now
            account.status = AccountStatus.CLOSED.value
            closed.append(account.id)
            session.delete(membership)
            audit.record(
                session,
                actor,
                "account.delete",
                account_id=account.id,
                target_type="account",
                target_id=account.id,
                new={"status": AccountStatus.CLOSED.value, "reason": "its only member deleted their user"},
                severity="warning",
            )
        else:
            locked, owners = members.lock_membership(session, account.id, user.id)
            if locked is None:  # removed meanwhile by an admin
                continue
            members.detach(session, actor, account, locked, owners)
            audit.record(
                session,
                actor,
                "member.remove",
                account_id=account.id,
                target_type="user",
                target_id=user.id,
                old={"role": membership.role},
                new={"left": True, "reason": "user deleted"},
            )

    anonymize_user(session, user, now)
    audit.record(
        session,
        actor,
        "user.delete",
        target_type="user",
        target_id=user.id,
        new={"closed_account_ids": closed, "left_account_ids": [a.id for _, a in joined if a.id not in closed]},
        severity="warning",
    )
    session.flush()
    return UserDeletion(id=user.id, status=user.status, deleted_at=now, closed_account_ids=closed)


def anonymize_user(session: Session, user: User, now: datetime) -> None:
    """Sign the user out everywhere, kill their keys and reset links, and scrub what names them.

    The row stays (invoices, accounts and the audit log point at it); it can never log in again.
    Used by DELETE /v1/me and by the retention purge for the sole members of purged accounts.
    """
    session.execute(
        update(UserSession)
        .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    session.execute(
        update(ApiKey).where(ApiKey.created_by == user.id, ApiKey.revoked_at.is_(None)).values(revoked_at=now)
    )
    session.execute(
        update(PasswordResetToken)
        .where(PasswordResetToken.user_id == user.id, PasswordResetToken.used_at.is_(None))
        .values(used_at=now)
    )
    user.status = UserStatus.DELETED.value
    user.deleted_at = now
    user.email = f"deleted-{user.id}@invalid"
    user.name = ""
    user.password_hash = None
    user.email_verified_at = None
