"""Members of an account: listing, role changes, removal and leaving (docs/domain.md section 2).

An account always keeps at least one owner, and ``accounts.owner_user_id`` always names one
of its owners. Changes that could take an owner away lock the account's owner rows first, in
id order, so two concurrent demotions can't both see "another owner is left".
"""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from primecloud import clock
from primecloud.access import check_role_change, role_at_least
from primecloud.actor import Actor
from primecloud.errors import Conflict, Forbidden, NotFound
from primecloud.models.enums import AccountRole
from primecloud.models.iam import Account, AccountMember, ApiKey, User
from primecloud.models.storage import Bucket, BucketPermission, ObjectShare
from primecloud.pagination import paginate
from primecloud.schemas.common import Page
from primecloud.schemas.iam import MemberOut
from primecloud.services import audit

OWNER = AccountRole.OWNER.value
LAST_OWNER = "The account's last owner can be neither removed nor demoted: transfer ownership first."


def _out(membership: AccountMember, user: User) -> MemberOut:
    return MemberOut(
        id=membership.id,
        user_id=membership.user_id,
        email=user.email,
        name=user.name,
        role=membership.role,
        joined_at=membership.created_at,
    )


def list_members(session: Session, account_id: UUID, *, limit: int, cursor: str | None) -> Page[MemberOut]:
    """The account's members with their users' email and name, longest-standing first: one statement."""
    return paginate(
        session,
        select(
            AccountMember.id,
            AccountMember.user_id,
            AccountMember.role,
            AccountMember.created_at,
            User.email,
            User.name,
        )
        .join(User, User.id == AccountMember.user_id)
        .where(AccountMember.account_id == account_id),
        keys=[AccountMember.created_at, AccountMember.id],
        limit=limit,
        cursor=cursor,
        to_item=lambda row: MemberOut(
            id=row.id, user_id=row.user_id, email=row.email, name=row.name, role=row.role, joined_at=row.created_at
        ),
        descending=False,
        rows=True,
    )


def lock_membership(
    session: Session, account_id: UUID, user_id: UUID
) -> tuple[AccountMember | None, list[AccountMember]]:
    """``user_id``'s membership and the account's owners, locked in id order."""
    rows = list(
        session.scalars(
            select(AccountMember)
            .where(
                AccountMember.account_id == account_id,
                or_(AccountMember.user_id == user_id, AccountMember.role == OWNER),
            )
            .order_by(AccountMember.id)
            .with_for_update()
        )
    )
    target = next((row for row in rows if row.user_id == user_id), None)
    return target, [row for row in rows if row.role == OWNER]


def _hand_over_owner_id(account: Account, leaving_user_id: UUID, owners: list[AccountMember]) -> None:
    """Keep accounts.owner_user_id on an owner when the one it names stops being one."""
    if account.owner_user_id != leaving_user_id:
        return
    remaining = [owner.user_id for owner in owners if owner.user_id != leaving_user_id]
    if not remaining:
        raise Conflict(LAST_OWNER)
    account.owner_user_id = remaining[0]


def change_role(
    session: Session, actor: Actor, account: Account, caller_role: str, user_id: UUID, *, new_role: AccountRole
) -> MemberOut:
    """Owners may change any role; admins may change non-owners' roles, but never grant owner.
    Making or unmaking an owner takes an owner's own sign-in (``access.check_role_change``)."""
    check_role_change(
        actor, caller_role, "Making someone an owner" if new_role == OWNER else "This role change", new_role.value
    )
    target, owners = lock_membership(session, account.id, user_id)
    if target is None:
        raise NotFound("No such member in this account.")
    check_role_change(
        actor, caller_role, "Changing an owner's role" if target.role == OWNER else "This role change", target.role
    )
    old_role = target.role
    if new_role != old_role:
        if old_role == OWNER:
            if len(owners) == 1:
                raise Conflict(LAST_OWNER)
            _hand_over_owner_id(account, user_id, owners)
        target.role = new_role.value
        audit.record(
            session,
            actor,
            "member.role_change",
            account_id=account.id,
            target_type="user",
            target_id=user_id,
            old={"role": old_role},
            new={"role": new_role.value},
            severity="warning" if OWNER in (old_role, new_role) else "info",
        )
        session.flush()
    user = session.get_one(User, user_id)
    return _out(target, user)


def remove(session: Session, actor: Actor, account: Account, caller_role: str, user_id: UUID) -> None:
    """Admins remove non-owners, owners anyone; every member may remove themselves (leave)."""
    leaving = user_id == actor.user_id
    if not leaving and not role_at_least(caller_role, AccountRole.ADMIN.value):
        raise Forbidden("This needs the admin role or higher, unless you remove yourself.")
    target, owners = lock_membership(session, account.id, user_id)
    if target is None:
        raise NotFound("No such member in this account.")
    what = "Leaving the account" if leaving else "Removing an owner" if target.role == OWNER else "Removing this member"
    check_role_change(actor, caller_role, what, target.role)
    if target.role == OWNER and len(owners) == 1:
        raise Conflict(LAST_OWNER)
    detach(session, actor, account, target, owners)
    audit.record(
        session,
        actor,
        "member.remove",
        account_id=account.id,
        target_type="user",
        target_id=user_id,
        old={"role": target.role},
        new={"left": leaving},
        severity="warning" if target.role == OWNER else "info",
    )
    session.flush()


def detach(
    session: Session, actor: Actor, account: Account, membership: AccountMember, owners: list[AccountMember]
) -> None:
    """Take a user out of an account with what only made sense as a member: their bucket
    permissions there, the API keys they made for it (a key acts for its creator) and the share
    links they made (public links nobody in the account would otherwise think of)."""
    if membership.role == OWNER:
        _hand_over_owner_id(account, membership.user_id, owners)
    session.execute(
        delete(BucketPermission).where(
            BucketPermission.user_id == membership.user_id,
            BucketPermission.bucket_id.in_(select(Bucket.id).where(Bucket.account_id == account.id)),
        )
    )
    session.execute(
        update(ApiKey)
        .where(
            ApiKey.account_id == account.id,
            ApiKey.created_by == membership.user_id,
            ApiKey.revoked_at.is_(None),
        )
        .values(revoked_at=clock.now())
    )
    _revoke_share_links(session, actor, account, membership.user_id)
    session.delete(membership)


def _revoke_share_links(session: Session, actor: Actor, account: Account, user_id: UUID) -> None:
    """Revoke the live links ``user_id`` made in the account's buckets, one audit entry each (as
    ``services.shares.revoke`` writes): one statement, and nothing more when there are none."""
    now = clock.now()
    revoked = session.execute(
        update(ObjectShare)
        .where(
            ObjectShare.created_by == user_id,
            ObjectShare.bucket_id.in_(select(Bucket.id).where(Bucket.account_id == account.id)),
            ObjectShare.revoked_at.is_(None),
            or_(ObjectShare.expires_at.is_(None), ObjectShare.expires_at > now),
        )
        .values(revoked_at=now)
        .returning(ObjectShare.id, ObjectShare.bucket_id, ObjectShare.object_key, ObjectShare.download_count)
        .execution_options(synchronize_session=False)
    ).all()
    for share_id, bucket_id, object_key, download_count in revoked:
        audit.record(
            session,
            actor,
            "share.revoke",
            account_id=account.id,
            target_type="object_share",
            target_id=share_id,
            old={"bucket_id": bucket_id, "object_key": object_key, "download_count": download_count},
            new={"reason": "its creator left the account", "user_id": user_id},
        )
