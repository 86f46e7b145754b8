"""Invitations: an admin invites an email address to an account; its owner accepts with the emailed token."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from primecloud import clock
from primecloud.access import check_role_change, role_at_least
from primecloud.actor import Actor
from primecloud.adapters.email import Email, Mailer
from primecloud.config import Settings
from primecloud.db import xact_lock
from primecloud.errors import Conflict, Forbidden, NotFound
from primecloud.models.enums import AccountRole, AccountStatus
from primecloud.models.iam import Account, AccountMember, Invitation, User
from primecloud.pagination import paginate
from primecloud.schemas.common import Page
from primecloud.schemas.invitations import InvitationAccepted, InvitationCreate, InvitationOut, InvitationStatus
from primecloud.services import audit, notifications
from primecloud.tokens import hash_token, new_token

INVITATION_TOKEN_PREFIX = "pci_"  # noqa: S105 - a prefix, not a secret
INVITATION_TTL = timedelta(days=7)
# One answer for every token that can't be used, so the route tells nothing about which case it is.
_UNUSABLE = "No usable invitation for this token: it is unknown, expired, revoked or already used."


def status_of(invitation: Invitation, now: datetime) -> InvitationStatus:
    if invitation.accepted_at is not None:
        return "accepted"
    if invitation.revoked_at is not None:
        return "revoked"
    if invitation.expires_at <= now:
        return "expired"
    return "pending"


def _out(invitation: Invitation, now: datetime) -> InvitationOut:
    return InvitationOut(
        id=invitation.id,
        account_id=invitation.account_id,
        email=invitation.email,
        role=invitation.role,
        status=status_of(invitation, now),
        invited_by=invitation.invited_by,
        expires_at=invitation.expires_at,
        accepted_at=invitation.accepted_at,
        revoked_at=invitation.revoked_at,
        created_at=invitation.created_at,
    )


def _lock_address(session: Session, account_id: UUID, email_key: str) -> None:
    """Serialize invitations of one address to one account, so two requests can't both be 'the pending one'."""
    xact_lock(session, "invitation", f"{account_id}:{email_key}")


def _invitation_email(
    invitation: Invitation, raw_token: str, account: Account, inviter: User | None, settings: Settings
) -> Email:
    accept_url = f"{settings.public_base_url.rstrip('/')}/v1/invitations/accept"
    inviter_name = (inviter.name or inviter.email) if inviter is not None else "An administrator"
    text = (
        f'{inviter_name} invited you to join the PrimeCloud account "{account.name}" as {invitation.role}.\n'
        "\n"
        "To accept, sign in with this email address (or sign up with it) and send this invitation token:\n"
        "\n"
        f"    {raw_token}\n"
        "\n"
        f'as POST {accept_url} with the body {{"token": "<the token>"}}.\n'
        "\n"
        f"The invitation expires on {invitation.expires_at:%Y-%m-%d %H:%M} UTC and works once.\n"
        "If you did not expect it, ignore this email.\n"
    )
    return Email(to=invitation.email, subject=f"You are invited to join {account.name} on PrimeCloud", text=text)


def create(
    session: Session,
    mailer: Mailer,
    actor: Actor,
    account: Account,
    req: InvitationCreate,
    *,
    inviter_role: str,
    settings: Settings,
) -> InvitationOut:
    """Invite ``req.email`` with ``req.role`` (at most the inviter's own; an owner only by an owner's
    own sign-in, ``access.check_role_change``) and email them the token."""
    if not role_at_least(inviter_role, req.role):
        raise Forbidden(f"You can invite people with a role up to your own ({inviter_role}).")
    check_role_change(
        actor, inviter_role, "Inviting an owner" if req.role == AccountRole.OWNER else "This invitation", req.role.value
    )
    email_key = req.email.lower()
    _lock_address(session, account.id, email_key)
    invitee = session.scalar(select(User).where(func.lower(User.email) == email_key, User.deleted_at.is_(None)))
    if invitee is not None and session.scalar(
        select(AccountMember.id).where(AccountMember.account_id == account.id, AccountMember.user_id == invitee.id)
    ):
        raise Conflict("This person is already a member of the account.")
    now = clock.now()
    pending = session.scalar(
        select(Invitation.id).where(
            Invitation.account_id == account.id,
            func.lower(Invitation.email) == email_key,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
            Invitation.expires_at > now,
        )
    )
    if pending is not None:
        raise Conflict("A pending invitation for this address exists; revoke it to send a new one.")

    raw_token, token_hash = new_token(INVITATION_TOKEN_PREFIX)
    invitation = Invitation(
        account_id=account.id,
        email=req.email,
        role=req.role.value,
        token_hash=token_hash,
        invited_by=actor.user_id,
        expires_at=now + INVITATION_TTL,
    )
    session.add(invitation)
    session.flush()
    audit.record(
        session,
        actor,
        "invitation.create",
        account_id=account.id,
        target_type="invitation",
        target_id=invitation.id,
        new={"email": invitation.email, "role": invitation.role, "expires_at": invitation.expires_at.isoformat()},
    )
    if invitee is not None:
        notifications.notify(
            session,
            user_id=invitee.id,
            type="invitation.received",
            title=f"You are invited to join {account.name}",
            body=f"You were invited as {invitation.role}; the email we sent you holds the token to accept.",
            data={"account_id": str(account.id), "invitation_id": str(invitation.id), "role": invitation.role},
        )
    session.flush()
    inviter = session.get(User, actor.user_id) if actor.user_id is not None else None
    # Last: a failed send (503) rolls the invitation back, so nobody holds a pending one they never got.
    mailer.send(_invitation_email(invitation, raw_token, account, inviter, settings))
    return _out(invitation, now)


def list_invitations(session: Session, account: Account, *, limit: int, cursor: str | None) -> Page[InvitationOut]:
    now = clock.now()
    return paginate(
        session,
        select(Invitation).where(Invitation.account_id == account.id),
        keys=[Invitation.created_at, Invitation.id],
        limit=limit,
        cursor=cursor,
        to_item=lambda invitation: _out(invitation, now),
    )


def revoke(session: Session, actor: Actor, account: Account, invitation_id: UUID) -> None:
    """Withdraw an invitation; revoking a revoked one again changes nothing (DELETE is idempotent)."""
    invitation = session.scalar(
        select(Invitation).where(Invitation.id == invitation_id, Invitation.account_id == account.id).with_for_update()
    )
    if invitation is None:
        raise NotFound("No such invitation.")
    if invitation.accepted_at is not None:
        raise Conflict("This invitation was accepted; remove the member instead.")
    if invitation.revoked_at is not None:
        return
    invitation.revoked_at = clock.now()
    audit.record(
        session,
        actor,
        "invitation.revoke",
        account_id=account.id,
        target_type="invitation",
        target_id=invitation.id,
        old={"email": invitation.email, "role": invitation.role},
    )


def accept_for_user(session: Session, actor: Actor, user: User, raw_token: str) -> AccountMember:
    """Make ``user`` a member with the invited role; the token works once, for the invited address only.

    Also used by signup ("accept during signup"), where the actor has no user yet: the audit
    entry names ``user`` either way.
    """
    from primecloud.db import system_scope

    system_scope(session, "invitation accept: the token names the account")
    invitation = session.scalar(
        select(Invitation)
        .join(Account, Account.id == Invitation.account_id)
        .where(
            Invitation.token_hash == hash_token(raw_token),
            Account.deleted_at.is_(None),
            Account.status != AccountStatus.CLOSED.value,
        )
        .with_for_update(of=Invitation)  # a concurrent accept or revoke waits, then sees this one's outcome
    )
    now = clock.now()
    if invitation is None or status_of(invitation, now) != "pending":
        raise NotFound(_UNUSABLE)
    if invitation.email.lower() != user.email.lower():
        raise Forbidden("This invitation was sent to another email address.")
    if session.scalar(
        select(AccountMember.id).where(
            AccountMember.account_id == invitation.account_id, AccountMember.user_id == user.id
        )
    ):
        raise Conflict("You are already a member of this account.")
    member = AccountMember(account_id=invitation.account_id, user_id=user.id, role=invitation.role)
    session.add(member)
    invitation.accepted_at = now
    try:
        session.flush()
    except IntegrityError as exc:  # joined by another route in the meantime
        raise Conflict("You are already a member of this account.") from exc
    audit.record(
        session,
        actor if actor.user_id is not None else replace(actor, user_id=user.id),
        "invitation.accept",
        account_id=invitation.account_id,
        target_type="invitation",
        target_id=invitation.id,
        new={"user_id": str(user.id), "role": invitation.role},
    )
    return member


def accept(session: Session, actor: Actor, user_id: UUID, raw_token: str) -> InvitationAccepted:
    """The accept route: the signed-in user (never an API key) joins the account they were invited to."""
    if actor.api_key_id is not None:
        raise Forbidden("Invitations are accepted by a signed-in user, not an API key.")
    user = session.scalar(select(User).where(User.id == user_id, User.deleted_at.is_(None)))
    if user is None:
        raise NotFound("No such user.")
    member = accept_for_user(session, actor, user, raw_token)
    return InvitationAccepted(account_id=member.account_id, role=member.role)
