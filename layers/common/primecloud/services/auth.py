"""Signing up and in: sessions (short-lived access token + rotating refresh token), logout, password reset.

Failed sign-ins are throttled per email and per source IP with fixed windows in rate_limits.
A failure's counter and audit entry must outlive the request's rolled-back transaction, so
they are committed on their own (``_commit_apart``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from primecloud import clock, passwords
from primecloud.access import Principal
from primecloud.actor import Actor
from primecloud.adapters.email import Email, Mailer
from primecloud.adapters.queue import MessageQueue
from primecloud.config import Settings
from primecloud.db import unit_of_work
from primecloud.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from primecloud.models.enums import AuditOutcome, AuditSeverity, UserStatus
from primecloud.models.iam import PasswordResetToken, User, UserSession
from primecloud.observability import logger
from primecloud.pagination import paginate
from primecloud.schemas.auth import (
    LoginOut,
    LoginRequest,
    SessionOut,
    SignupOut,
    SignupRequest,
    TokensOut,
)
from primecloud.schemas.common import Page
from primecloud.schemas.iam import AccountCreate, AccountOut, UserOut
from primecloud.services import accounts, audit, rate_limits
from primecloud.services.rate_limits import RateLimited, Window
from primecloud.tokens import ACCESS_TOKEN_PREFIX, REFRESH_TOKEN_PREFIX, hash_token, new_token

# Throttling: failed sign-ins per email and per source IP, reset mails per email.
LOGIN_FAILURES_PER_EMAIL = Window(limit=5, seconds=15 * 60)
LOGIN_FAILURES_PER_IP = Window(limit=20, seconds=15 * 60)
RESET_MAILS_PER_EMAIL = Window(limit=3, seconds=60 * 60)

PASSWORD_RESET_TOKEN_PREFIX = "pcp_"  # noqa: S105 - a prefix, not a secret
PASSWORD_RESET_TTL = timedelta(hours=1)

EMAIL_TAKEN = "An account with this email already exists."
INVALID_LOGIN = "Invalid email or password."
INVALID_REFRESH = "Invalid or expired refresh token."
INVALID_RESET = "Invalid or expired reset token."

# --------------------------------------------------------------------------- helpers


def _commit_apart(session: Session, write: Callable[[Session], None]) -> None:
    """Commit ``write`` in a transaction of its own, although the request is about to fail.

    The request's own transaction is rolled back first (it would be anyway): that gives its
    connection back to the pool (API functions run with one) and releases its row locks.
    Objects it loaded are expired by the rollback: read what ``write`` needs beforehand.
    """
    session.rollback()
    with unit_of_work() as apart:
        write(apart)


def _user_by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(func.lower(User.email) == email.lower()))


def _can_sign_in(user: User | None) -> bool:
    return user is not None and user.status == UserStatus.ACTIVE and user.deleted_at is None


def _login_email_key(email: str) -> str:
    return f"login:email:{email.lower()}"


def _as(actor: Actor, user_id: UUID) -> Actor:
    """The anonymous caller of a public route, once they proved who they are."""
    return replace(actor, user_id=user_id)


def _start_session(
    session: Session, actor: Actor, user_id: UUID, settings: Settings, now: datetime
) -> tuple[UserSession, TokensOut]:
    access, access_hash = new_token(ACCESS_TOKEN_PREFIX)
    refresh, refresh_hash = new_token(REFRESH_TOKEN_PREFIX)
    row = UserSession(
        user_id=user_id,
        access_token_hash=access_hash,
        access_expires_at=now + timedelta(seconds=settings.access_token_ttl_seconds),
        refresh_token_hash=refresh_hash,
        ip=actor.ip,
        user_agent=actor.user_agent,
        expires_at=now + timedelta(days=settings.refresh_token_ttl_days),
        last_seen_at=now,
    )
    session.add(row)
    session.flush()
    tokens = TokensOut(access_token=access, refresh_token=refresh, expires_in=settings.access_token_ttl_seconds)
    return row, tokens


# --------------------------------------------------------------------------- sign-up and sign-in


def signup(session: Session, actor: Actor, req: SignupRequest, settings: Settings) -> SignupOut:
    """A new user, their first account (unless they join by invitation only) and a session."""
    now = clock.now()
    if _user_by_email(session, req.email) is not None:
        raise Conflict(EMAIL_TAKEN)
    user = User(email=req.email, password_hash=passwords.hash_password(req.password), name=req.name, last_login_at=now)
    try:
        with session.begin_nested():
            session.add(user)
            session.flush()
    except IntegrityError:  # the same email signed up concurrently
        raise Conflict(EMAIL_TAKEN) from None
    actor = _as(actor, user.id)
    audit.record(
        session,
        actor,
        "user.signup",
        target_type="user",
        target_id=user.id,
        new={"email": user.email, "name": user.name},
    )

    account = None
    if req.invitation_token is None or req.account_name is not None:
        created = accounts.create(
            session, actor, AccountCreate(name=req.account_name or req.name, billing_email=user.email), settings
        )
        account = AccountOut.model_validate(created)
    if req.invitation_token is not None:
        from primecloud.services.invitations import accept_for_user

        accept_for_user(session, actor, user, req.invitation_token)
        user.email_verified_at = now  # the invitation reached this address

    _row, tokens = _start_session(session, actor, user.id, settings, now)
    return SignupOut(**tokens.model_dump(), user=UserOut.model_validate(user), account=account)


def login(session: Session, actor: Actor, req: LoginRequest, settings: Settings) -> LoginOut:
    """Tokens for a valid email and password; throttled per email and per IP, checked first."""
    now = clock.now()
    email_key = _login_email_key(req.email)
    keys = [(email_key, LOGIN_FAILURES_PER_EMAIL)]
    if actor.ip:
        keys.append((f"login:ip:{actor.ip}", LOGIN_FAILURES_PER_IP))

    # The attempt is counted before the password is checked, committed at once so that concurrent
    # attempts see it: exactly ``limit`` attempts are judged per window. A success gives it back.
    wait: int | None = None
    session.rollback()  # nothing read yet; frees the connection for the count's own transaction
    with unit_of_work() as apart:
        for key, window in keys:
            if (wait := rate_limits.take(apart, key, window, now)) is not None:
                apart.rollback()  # counted for no key: a throttled attempt is not judged
                break
    if wait is not None:

        def record_throttled(apart: Session) -> None:
            audit.record(
                apart,
                actor,
                "auth.login",
                new={"email": req.email, "reason": "rate_limited"},
                severity=AuditSeverity.WARNING,
                outcome=AuditOutcome.FAILURE,
            )

        _commit_apart(session, record_throttled)
        raise RateLimited("Too many failed sign-ins; try again later.", retry_after=wait)

    user = _user_by_email(session, req.email)
    # An unknown email spends the same hashing time as a known one (no user oracle by timing).
    password_ok = passwords.verify_password(user.password_hash if user is not None else None, req.password)
    if user is None or not password_ok or not _can_sign_in(user):
        user_id = user.id if user is not None else None

        def record_failure(apart: Session) -> None:
            audit.record(
                apart,
                actor,
                "auth.login",
                target_type="user" if user_id else None,
                target_id=user_id,
                new={"email": req.email},
                severity=AuditSeverity.WARNING,
                outcome=AuditOutcome.FAILURE,
            )

        _commit_apart(session, record_failure)
        raise Unauthorized(INVALID_LOGIN)

    assert user.password_hash is not None  # verified above
    rate_limits.reset(session, email_key)
    for key, _window in keys[1:]:
        rate_limits.refund(session, key)  # only failures count against the IP
    user.last_login_at = now
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(req.password)
    actor = _as(actor, user.id)
    row, tokens = _start_session(session, actor, user.id, settings, now)
    audit.record(session, actor, "auth.login", target_type="user", target_id=user.id, new={"session_id": row.id})
    return LoginOut(**tokens.model_dump(), user=UserOut.model_validate(user))


def refresh(session: Session, actor: Actor, raw_refresh_token: str, settings: Settings) -> TokensOut:
    """New access and refresh tokens for the same session; a replayed old refresh token kills it."""
    now = clock.now()
    digest = hash_token(raw_refresh_token)
    row = session.scalar(select(UserSession).where(UserSession.refresh_token_hash == digest).with_for_update())
    if row is None:
        stolen = session.scalars(
            select(UserSession).where(UserSession.previous_refresh_token_hash == digest).with_for_update()
        ).first()
        if stolen is not None and stolen.revoked_at is None:
            session_id, user_id = stolen.id, stolen.user_id

            def revoke_stolen(apart: Session) -> None:
                apart.execute(
                    update(UserSession)
                    .where(UserSession.id == session_id, UserSession.revoked_at.is_(None))
                    .values(revoked_at=now)
                )
                audit.record(
                    apart,
                    actor,
                    "auth.refresh_reuse",
                    target_type="session",
                    target_id=session_id,
                    new={"user_id": user_id},
                    severity=AuditSeverity.CRITICAL,
                    outcome=AuditOutcome.FAILURE,
                )

            _commit_apart(session, revoke_stolen)
        raise Unauthorized(INVALID_REFRESH)

    user = session.get(User, row.user_id)
    if row.revoked_at is not None or row.expires_at <= now or not _can_sign_in(user):
        raise Unauthorized(INVALID_REFRESH)

    access, access_hash = new_token(ACCESS_TOKEN_PREFIX)
    new_refresh, new_refresh_hash = new_token(REFRESH_TOKEN_PREFIX)
    row.previous_refresh_token_hash = row.refresh_token_hash
    row.refresh_token_hash = new_refresh_hash
    row.access_token_hash = access_hash
    row.access_expires_at = now + timedelta(seconds=settings.access_token_ttl_seconds)
    row.last_seen_at = now
    audit.record(session, _as(actor, row.user_id), "auth.refresh", target_type="session", target_id=row.id)
    return TokensOut(access_token=access, refresh_token=new_refresh, expires_in=settings.access_token_ttl_seconds)


# --------------------------------------------------------------------------- sessions


def _revoke_live_session(session: Session, user_id: UUID, session_id: UUID, now: datetime) -> bool:
    revoked = session.scalars(
        update(UserSession)
        .where(
            UserSession.id == session_id,
            UserSession.user_id == user_id,
            UserSession.revoked_at.is_(None),
            UserSession.expires_at > now,
        )
        .values(revoked_at=now)
        .returning(UserSession.id)
    ).first()
    return revoked is not None


def logout(session: Session, actor: Actor, principal: Principal) -> None:
    """Revoke the caller's own session: its access and refresh tokens stop working at once."""
    if principal.session_id is None:
        raise BadRequest("API keys have no session: revoke the key instead.")
    if _revoke_live_session(session, principal.user_id, principal.session_id, clock.now()):
        audit.record(session, actor, "auth.logout", target_type="session", target_id=principal.session_id)


def _require_session_caller(principal: Principal) -> None:
    # A leaked API key must not see where its owner signs in, nor sign them out.
    if principal.api_key_id is not None:
        raise Forbidden("Sessions are managed with a signed-in session, not an API key.")


def list_sessions(session: Session, principal: Principal, *, limit: int, cursor: str | None) -> Page[SessionOut]:
    """The caller's live sessions (not revoked, not expired), newest first."""
    _require_session_caller(principal)
    statement = select(UserSession).where(
        UserSession.user_id == principal.user_id,
        UserSession.revoked_at.is_(None),
        UserSession.expires_at > clock.now(),
    )

    def to_item(row: UserSession) -> SessionOut:
        return SessionOut(
            id=row.id,
            ip=row.ip,
            user_agent=row.user_agent,
            created_at=row.created_at,
            last_seen_at=row.last_seen_at,
            expires_at=row.expires_at,
            current=row.id == principal.session_id,
        )

    return paginate(
        session, statement, keys=[UserSession.created_at, UserSession.id], limit=limit, cursor=cursor, to_item=to_item
    )


def revoke_session(session: Session, actor: Actor, principal: Principal, session_id: UUID) -> None:
    """Sign out one of the caller's sessions; another user's (or a dead) session is 404."""
    _require_session_caller(principal)
    if not _revoke_live_session(session, principal.user_id, session_id, clock.now()):
        raise NotFound("No such session.")
    audit.record(session, actor, "session.revoke", target_type="session", target_id=session_id)


# --------------------------------------------------------------------------- password reset


def request_password_reset(session: Session, queue: MessageQueue, actor: Actor, email: str) -> None:
    """Throttle per address, then queue the reset mail; silent when throttled.

    The same work whether the address belongs to someone or not (one counter statement, one queued
    message): the user lookup, the token and the mail happen in ``send_password_reset``, off the
    request path (SendPasswordResetFunction), so the answer's timing tells nothing about the address.
    """
    key = f"password-reset:email:{email.lower()}"
    if rate_limits.take(session, key, RESET_MAILS_PER_EMAIL, clock.now()) is not None:
        logger.info("password reset throttled")
        return
    queue.send_all([{"email": email, "ip": actor.ip, "user_agent": actor.user_agent, "request_id": actor.request_id}])


def send_password_reset(session: Session, mailer: Mailer, actor: Actor, email: str, settings: Settings) -> bool:
    """Mail a one-hour reset link to an active user (the queue worker); False when there is nobody to mail.

    A mail outage raises Unavailable, so the transaction rolls back (no token row) and the message is retried.
    """
    now = clock.now()
    user = _user_by_email(session, email)
    if user is None or not _can_sign_in(user):
        return False
    raw_token, token_hash = new_token(PASSWORD_RESET_TOKEN_PREFIX)
    session.add(PasswordResetToken(user_id=user.id, token_hash=token_hash, expires_at=now + PASSWORD_RESET_TTL))
    session.flush()
    audit.record(session, actor, "user.password_reset_request", target_type="user", target_id=user.id)
    link = f"{settings.public_base_url.rstrip('/')}/reset-password?token={raw_token}"
    text = (
        f"Hello {user.name},\n\n"
        "Someone asked to reset the password of your PrimeCloud user. To choose a new one, open this link "
        f"within the next hour:\n\n{link}\n\n"
        f"Or use this reset token: {raw_token}\n\n"
        "If it wasn't you, ignore this email: your password stays as it is.\n"
    )
    mailer.send(Email(to=user.email, subject="Reset your PrimeCloud password", text=text))
    return True


def confirm_password_reset(session: Session, actor: Actor, raw_token: str, new_password: str) -> None:
    """Set the new password with a live reset token (once), and sign the user out everywhere."""
    now = clock.now()
    token = session.scalar(
        select(PasswordResetToken).where(PasswordResetToken.token_hash == hash_token(raw_token)).with_for_update()
    )
    if token is None or token.used_at is not None or token.expires_at <= now:
        raise BadRequest(INVALID_RESET)
    user = session.get(User, token.user_id)
    if user is None or not _can_sign_in(user):
        raise BadRequest(INVALID_RESET)

    user.password_hash = passwords.hash_password(new_password)
    token.used_at = now
    # Any other link still in a mailbox dies with this reset.
    session.execute(
        update(PasswordResetToken)
        .where(
            PasswordResetToken.user_id == user.id,
            PasswordResetToken.used_at.is_(None),
            PasswordResetToken.id != token.id,
        )
        .values(used_at=now)
    )
    revoked = session.scalars(
        update(UserSession)
        .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
        .values(revoked_at=now)
        .returning(UserSession.id)
    ).all()
    rate_limits.reset(session, _login_email_key(user.email))  # the owner may sign in again at once
    audit.record(
        session,
        _as(actor, user.id),
        "user.password_reset",
        target_type="user",
        target_id=user.id,
        new={"sessions_revoked": len(revoked)},
    )
