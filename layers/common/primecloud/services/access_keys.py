"""Access keys: tenants' S3 credentials in the storage backend, each limited to some or all of its buckets.

The backend holds the credential (AWS: an IAM user with one access key and a policy naming the
allowed buckets' ARNs); the row holds its name, status, allowed bucket ids and the secret,
envelope-encrypted under KMS with the account and access key id as encryption context. The
secret is kept (encrypted) rather than dropped so that features acting for the tenant in the
backend, such as SFTP users backed by an S3 filesystem, can use the key later (``decrypt_secret``);
it is cleared when the key is revoked.

Keys with no bucket ids cover every live bucket of the account: ``grant_new_bucket`` must run
whenever the account gains a bucket and ``refresh_account_policies`` whenever it loses one (bucket
names are global and reused, so a stale policy could name another tenant's future bucket). A key's
backend grants always equal its live buckets: a policy change the backend refuses or fails fails
the whole operation (409 for a list beyond the backend's limit, 503 otherwise), never silently
leaves the old grants. Policy changes of one key are serialized by a row lock on the key (the
backend's policy updates are read-modify-write), taken before the bucket list is read, so the
last writer sees every bucket committed before it.

A row lock cannot cover a key that is being created, nor a bucket that is: neither transaction
sees the other's uncommitted row. So the account's grants lock (``GrantsLock``, a transaction-scoped
advisory lock on the account id) comes first: shared by bucket create and delete and the purge's
re-sync (they may run together: the keys' row locks order them), exclusive for creating a key and
for re-scoping one (the PATCH route takes it for every change of a key: its access check runs
before the body is looked at). Whichever side comes second reads the buckets or the keys after the
first has committed. It is taken before any key's row lock, so the two never wait in a cycle.

Every backend change is reversed when the transaction it belongs to rolls back (a failed commit
included), so the backend never keeps a credential or a status the database does not.
"""

from __future__ import annotations

import uuid
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, ScalarSelect, Uuid, func, literal, or_, select
from sqlalchemy.orm import Session

from primecloud.access import TENANT_SETTING
from primecloud.actor import Actor
from primecloud.compensation import undo_unless_committed
from primecloud.db import xact_lock_sql
from primecloud.enums import AccessKeyStatus, BucketStatus
from primecloud.errors import Conflict, Invalid, NotFound, PrimeCloudError
from primecloud.models.iam import Account
from primecloud.models.storage import AccessKey, Bucket
from primecloud.models.system import AuditLog
from primecloud.observability import logger
from primecloud.pagination import paginate
from primecloud.schemas.access_keys import AccessKeyCreate, AccessKeyCreated, AccessKeyOut, AccessKeyUpdate
from primecloud.schemas.common import Page
from primecloud.services import audit

if TYPE_CHECKING:
    from primecloud.adapters.crypto import EnvelopeCipher
    from primecloud.adapters.storage import TenantCredentials

TARGET_TYPE = "access_key"
SUSPENSION = "suspension"
REACTIVATION = "reactivation"
_GONE_BUCKET_STATUSES = (BucketStatus.DELETING.value, BucketStatus.DELETED.value)


# --------------------------------------------------------------------------- the account's grants lock

_GRANTS_LOCK_HELD = "primecloud.access_key_grants_lock"


@dataclass(frozen=True)
class GrantsLock:
    """The account's grants lock in one mode (see the module docstring); held till the transaction ends.

    It rides on a statement that returns one row for the account before the buckets or keys are
    read (the routes' membership query: ``account_access(lock=...)``), or is taken by
    ``lock_grants`` in a statement of its own: an advisory lock needs no row, and unlike a lock on
    the account row it is not held up by, nor holds up, other changes to the account.
    """

    exclusive: bool

    def column(self, account_id: ColumnElement[uuid.UUID]) -> ColumnElement[Any]:
        """The SQL that takes the lock, to add to a statement that reads ``account_id`` once."""
        return xact_lock_sql("access-key-grants", account_id, shared=not self.exclusive)

    def taken(self, session: Session, account_id: uuid.UUID) -> None:
        """Record that the statement carrying ``column`` ran in the session's current transaction."""
        transaction = session.get_transaction()
        if transaction is not None:
            session.info[_GRANTS_LOCK_HELD] = (weakref.ref(transaction), account_id, self.exclusive)

    def held(self, session: Session, account_id: uuid.UUID) -> bool:
        """Whether this transaction holds the lock in this mode or a stronger one."""
        held = session.info.get(_GRANTS_LOCK_HELD)
        if held is None:
            return False
        transaction, held_account, held_exclusive = held
        current = session.get_transaction()
        return (
            current is not None
            and transaction() is current
            and held_account == account_id
            and (held_exclusive or not self.exclusive)
        )


BUCKET_CHANGE = GrantsLock(exclusive=False)  # a bucket created or deleted; the purge's re-sync
KEY_CHANGE = GrantsLock(exclusive=True)  # a key created, or its buckets changed


def lock_grants(session: Session, account_id: uuid.UUID, lock: GrantsLock) -> None:
    """Take the account's grants lock in ``lock``'s mode unless this transaction holds it already.

    Every path that changes which buckets a key must name, or which keys there are, calls this
    before it reads buckets, keys or takes a key's row lock (a route's access check usually took
    it already, at no statement's cost).
    """
    if lock.held(session, account_id):
        return
    session.execute(select(lock.column(literal(account_id, Uuid))))
    lock.taken(session, account_id)


# --------------------------------------------------------------------------- helpers


def secret_context(account_id: uuid.UUID | str, access_key_id: str) -> dict[str, str]:
    """The KMS encryption context of a key's secret: a ciphertext moved to another row fails to decrypt."""
    return {"account_id": str(account_id), "access_key_id": access_key_id}


def decrypt_secret(cipher: EnvelopeCipher, key: AccessKey) -> str:
    """The key's secret, for code acting as the tenant in the backend (never log it or send it to a client)."""
    if key.secret_ciphertext is None or key.status == AccessKeyStatus.REVOKED:
        raise Conflict("This access key has no stored secret (it was revoked).")
    return cipher.decrypt_text(key.secret_ciphertext, context=secret_context(key.account_id, key.access_key_id))


def _out(key: AccessKey) -> AccessKeyOut:
    return AccessKeyOut(
        id=key.id,
        name=key.name,
        access_key_id=key.access_key_id,
        status=AccessKeyStatus(key.status),
        bucket_ids=list(key.allowed_bucket_ids),
        created_by=key.created_by,
        last_used_at=key.last_used_at,
        created_at=key.created_at,
    )


def _invalid_buckets() -> Invalid:
    message = "every id must name a live bucket of this account"
    return Invalid(
        f"body.bucket_ids: {message}",
        errors=[{"field": "body.bucket_ids", "message": message, "type": "value_error"}],
    )


def _live_buckets(session: Session, account_id: uuid.UUID) -> dict[uuid.UUID, str]:
    """The account's live buckets, id -> name (deleted or being deleted ones are out)."""
    rows = session.execute(
        select(Bucket.id, Bucket.name).where(
            Bucket.account_id == account_id,
            Bucket.deleted_at.is_(None),
            Bucket.status.not_in(_GONE_BUCKET_STATUSES),
        )
    )
    return {bucket_id: name for bucket_id, name in rows}


def _chosen_bucket_names(session: Session, account_id: uuid.UUID, bucket_ids: Sequence[uuid.UUID]) -> list[str]:
    """Names of ``bucket_ids`` (all live buckets when empty); Invalid naming body.bucket_ids if one is not live."""
    live = _live_buckets(session, account_id)
    if not bucket_ids:
        return sorted(live.values())
    if not set(bucket_ids) <= live.keys():
        raise _invalid_buckets()
    return sorted(live[bucket_id] for bucket_id in bucket_ids)


def _policy_names(live: dict[uuid.UUID, str], key: AccessKey) -> list[str]:
    """What the key's backend policy must name now: its live buckets, or all of them."""
    if not key.allowed_bucket_ids:
        return sorted(live.values())
    return sorted(live[bucket_id] for bucket_id in key.allowed_bucket_ids if bucket_id in live)


def _status_setter(credentials: TenantCredentials, access_key_id: str, status: str) -> Callable[[], None]:
    return lambda: _set_backend_status(credentials, access_key_id, status)


def _set_backend_status(credentials: TenantCredentials, access_key_id: str, status: str) -> None:
    if status == AccessKeyStatus.ACTIVE:
        credentials.enable(access_key_id)
    else:
        credentials.disable(access_key_id)


def _get_for_update(session: Session, account: Account, key_id: uuid.UUID) -> AccessKey:
    key = session.scalar(
        select(AccessKey).where(AccessKey.id == key_id, AccessKey.account_id == account.id).with_for_update()
    )
    if key is None:
        raise NotFound("No such access key.")
    return key


# --------------------------------------------------------------------------- routes


def create(
    session: Session,
    actor: Actor,
    account: Account,
    req: AccessKeyCreate,
    *,
    credentials: TenantCredentials,
    cipher: EnvelopeCipher,
) -> AccessKeyCreated:
    """Create the credential in the backend and the row; the secret is returned here and never again."""
    lock_grants(session, account.id, KEY_CHANGE)
    bucket_names = _chosen_bucket_names(session, account.id, req.bucket_ids)
    key = AccessKey(
        account_id=account.id,
        name=req.name,
        # The backend names the key; the row is flushed first so the database's rules come first.
        access_key_id=f"pending-{uuid.uuid4().hex}",
        allowed_bucket_ids=list(req.bucket_ids),
        created_by=actor.user_id,
    )
    session.add(key)
    session.flush()

    credential = credentials.create_credential(str(account.id), req.name, bucket_names)
    remove_credential = undo_unless_committed(
        session, "delete new credential", lambda: credentials.delete(credential.access_key_id)
    )
    try:
        key.access_key_id = credential.access_key_id
        key.secret_ciphertext = cipher.encrypt(
            credential.secret_access_key.encode(), context=secret_context(account.id, credential.access_key_id)
        )
        session.flush()
    except Exception:
        remove_credential()
        raise
    audit.record(
        session,
        actor,
        "access_key.create",
        account_id=account.id,
        target_type=TARGET_TYPE,
        target_id=key.id,
        new={
            "name": key.name,
            "access_key_id": key.access_key_id,
            "bucket_ids": [str(bucket_id) for bucket_id in key.allowed_bucket_ids],
            "status": key.status,
        },
    )
    return AccessKeyCreated(**_out(key).model_dump(), secret_access_key=credential.secret_access_key)


def list_access_keys(session: Session, account: Account, *, limit: int, cursor: str | None) -> Page[AccessKeyOut]:
    """The account's keys, revoked ones included, newest first."""
    return paginate(
        session,
        select(AccessKey).where(AccessKey.account_id == account.id),
        keys=[AccessKey.created_at, AccessKey.id],
        limit=limit,
        cursor=cursor,
        to_item=_out,
    )


def update(
    session: Session,
    actor: Actor,
    account: Account,
    key_id: uuid.UUID,
    req: AccessKeyUpdate,
    *,
    credentials: TenantCredentials,
) -> AccessKeyOut:
    """Rename, enable/disable or re-scope a key; the backend changes last, after the row and the audit entry."""
    if req.bucket_ids is not None:
        lock_grants(session, account.id, KEY_CHANGE)  # before the key's row lock
    key = _get_for_update(session, account, key_id)
    if key.status == AccessKeyStatus.REVOKED:
        raise Conflict("A revoked access key cannot be changed.")
    # None means "not sent": the schema refuses an explicit null.
    old: dict[str, Any] = {}
    new: dict[str, Any] = {}
    old_policy: list[str] | None = None
    new_policy: list[str] | None = None
    if req.name is not None and req.name != key.name:
        old["name"], new["name"] = key.name, req.name
        key.name = req.name
    if req.status is not None and req.status != key.status:
        old["status"], new["status"] = key.status, req.status
        key.status = req.status
    if req.bucket_ids is not None and req.bucket_ids != list(key.allowed_bucket_ids):
        live = _live_buckets(session, account.id)
        old_policy = _policy_names(live, key)
        new_policy = _chosen_bucket_names(session, account.id, req.bucket_ids)
        old["bucket_ids"] = [str(bucket_id) for bucket_id in key.allowed_bucket_ids]
        new["bucket_ids"] = [str(bucket_id) for bucket_id in req.bucket_ids]
        key.allowed_bucket_ids = list(req.bucket_ids)
    if not new:
        return _out(key)
    session.flush()
    audit.record(
        session,
        actor,
        "access_key.update",
        account_id=account.id,
        target_type=TARGET_TYPE,
        target_id=key.id,
        old=old,
        new=new,
    )
    access_key_id = key.access_key_id
    if new_policy is not None and old_policy is not None:
        credentials.update_policy(access_key_id, new_policy)
        undo_unless_committed(
            session, "restore policy", lambda: credentials.update_policy(access_key_id, old_policy or [])
        )
    if "status" in new:
        _set_backend_status(credentials, access_key_id, new["status"])
        undo_unless_committed(session, "restore status", _status_setter(credentials, access_key_id, old["status"]))
    return _out(key)


def revoke(
    session: Session, actor: Actor, account: Account, key_id: uuid.UUID, *, credentials: TenantCredentials
) -> None:
    """Remove the credential from the backend for good and forget the secret; revoking again changes nothing."""
    key = _get_for_update(session, account, key_id)
    if key.status == AccessKeyStatus.REVOKED:
        return
    old_status = key.status
    key.status = AccessKeyStatus.REVOKED.value
    key.secret_ciphertext = None
    session.flush()
    audit.record(
        session,
        actor,
        "access_key.revoke",
        account_id=account.id,
        target_type=TARGET_TYPE,
        target_id=key.id,
        old={"name": key.name, "access_key_id": key.access_key_id, "status": old_status},
        new={"status": AccessKeyStatus.REVOKED.value},
    )
    # Last, and not reversible: should the commit fail now, the row stays unrevoked and revoking
    # it again finishes the job (a credential already gone is not an error).
    credentials.delete(key.access_key_id)


# --------------------------------------------------------------------------- hooks for other services


def refresh_account_policies(
    session: Session,
    credentials: TenantCredentials,
    account_id: uuid.UUID,
    *,
    bucket_id: uuid.UUID | None = None,
) -> int:
    """Bring the backend policies of the account's keys in line with its live buckets; returns how many changed.

    Call after a bucket is deleted (or starts deleting), once its row says so and before the
    backend bucket itself is removed (a new bucket takes ``grant_new_bucket``). With ``bucket_id``
    only keys whose policy can depend on that bucket are touched ("every bucket" keys and keys
    listing it); without it, every unrevoked key. Revoked keys have no backend credential; disabled
    keys are refreshed too so they are right when enabled again. The keys are locked (see the
    module docstring), after the account's grants lock; a backend failure raises (503, or 409 for
    too many buckets) and, like a rollback for any other reason, brings the policies back in line
    with what is committed.
    """
    lock_grants(session, account_id, BUCKET_CHANGE)
    keys = _lock_unrevoked_keys(session, account_id, bucket_id=bucket_id)
    if not keys:
        return 0
    return _update_policies(session, credentials, account_id, _policies(session, account_id, keys))


def every_bucket_key_ids(account_id: uuid.UUID) -> ScalarSelect[list[str]]:
    """The backend ids of the account's unrevoked "every bucket" keys, oldest first; NULL when it has none.

    A scalar subquery for a new bucket's INSERT to return beside the row, so that creating a bucket
    in an account without such keys (the common case) spends no statement on them; what it returns
    goes to ``grant_new_bucket``. Keys listing chosen buckets cannot list a bucket that did not exist.
    The INSERT must come after ``BUCKET_CHANGE`` is held, so it sees every key created before.
    """
    return (
        select(func.array_agg(AccessKey.access_key_id).aggregate_order_by(AccessKey.created_at, AccessKey.id))
        .where(
            AccessKey.account_id == account_id,
            AccessKey.status != AccessKeyStatus.REVOKED.value,
            func.cardinality(AccessKey.allowed_bucket_ids) == 0,
        )
        .scalar_subquery()
    )


def grant_new_bucket(
    session: Session, credentials: TenantCredentials, account_id: uuid.UUID, every_bucket_keys: Sequence[str] | None
) -> int:
    """A new bucket, flushed, joins the backend policies of ``every_bucket_keys`` (``every_bucket_key_ids``).

    Each such key's policy names every live bucket of the account: the keys are locked first, then
    one statement reads the buckets (so concurrent creates each see the others' committed buckets),
    only when there is a key to refresh. Failures, the backend's size limit (409: the bucket is
    not created) and a rollback are handled as in ``refresh_account_policies``.
    """
    if not every_bucket_keys:
        return 0
    locked = session.scalars(
        select(AccessKey.access_key_id)
        .where(
            AccessKey.account_id == account_id,
            AccessKey.access_key_id.in_(list(every_bucket_keys)),
            AccessKey.status != AccessKeyStatus.REVOKED.value,
        )
        .order_by(AccessKey.created_at, AccessKey.id)
        .with_for_update()
    ).all()
    if not locked:
        return 0
    every_live_bucket = sorted(_live_buckets(session, account_id).values())
    return _update_policies(session, credentials, account_id, dict.fromkeys(locked, every_live_bucket))


def _update_policies(
    session: Session, credentials: TenantCredentials, account_id: uuid.UUID, policies: dict[str, list[str]]
) -> int:
    """Set each key's policy (access key id -> bucket names; the caller holds the keys' row locks).

    The resync is armed before the first backend call: if one key fails after another changed,
    or the transaction rolls back later, every key is set back to what is committed (under the
    keys' locks again, in a session of its own once this one has given its connection back).
    """
    bind = session.get_bind()
    access_key_ids = list(policies)

    def resync_committed() -> None:
        with Session(bind) as fresh, fresh.begin():
            # Narrowed to the account as the request was: row-level security shows nothing otherwise.
            fresh.execute(select(func.set_config(TENANT_SETTING, str(account_id), True)))
            committed = fresh.scalars(
                select(AccessKey)
                .where(
                    AccessKey.account_id == account_id,
                    AccessKey.access_key_id.in_(access_key_ids),
                    AccessKey.status != AccessKeyStatus.REVOKED.value,
                )
                .order_by(AccessKey.created_at, AccessKey.id)
                .with_for_update()
            ).all()
            _apply_policies(credentials, _policies(fresh, account_id, committed))

    undo_unless_committed(session, "resync policies", resync_committed)
    return _apply_policies(credentials, policies)


def _lock_unrevoked_keys(session: Session, account_id: uuid.UUID, *, bucket_id: uuid.UUID | None) -> list[AccessKey]:
    """The unrevoked keys whose policy can name ``bucket_id`` (all with None), locked, oldest first."""
    query = select(AccessKey).where(
        AccessKey.account_id == account_id, AccessKey.status != AccessKeyStatus.REVOKED.value
    )
    if bucket_id is not None:
        query = query.where(
            or_(func.cardinality(AccessKey.allowed_bucket_ids) == 0, AccessKey.allowed_bucket_ids.contains([bucket_id]))
        )
    return list(session.scalars(query.order_by(AccessKey.created_at, AccessKey.id).with_for_update()))


def _policies(session: Session, account_id: uuid.UUID, keys: Iterable[AccessKey]) -> dict[str, list[str]]:
    """What each key's backend policy must name now (access key id -> bucket names)."""
    live = _live_buckets(session, account_id)
    return {key.access_key_id: _policy_names(live, key) for key in keys}


def _apply_policies(credentials: TenantCredentials, policies: dict[str, list[str]]) -> int:
    """Every key's policy, or the first failure raised: grants that differ from the buckets are never kept."""
    for access_key_id, bucket_names in policies.items():
        credentials.update_policy(access_key_id, bucket_names)
    return len(policies)


def disable_all_for_account(
    session: Session, credentials: TenantCredentials, account_id: uuid.UUID, *, actor: Actor | None = None
) -> int:
    """Suspension: disable every active key in the backend; returns how many were disabled.

    Each is recorded as an ``access_key.update`` to disabled with reason "suspension", which is
    how ``enable_suspended_for_account`` knows to enable it again (and no other disabled key).
    A key the backend fails on stays active and is logged; calling this again retries it.
    """
    actor = actor or Actor.system(SUSPENSION)
    keys = session.scalars(
        select(AccessKey)
        .where(AccessKey.account_id == account_id, AccessKey.status == AccessKeyStatus.ACTIVE.value)
        .order_by(AccessKey.created_at, AccessKey.id)
        .with_for_update()
    ).all()
    return _switch_status(session, credentials, actor, keys, status=AccessKeyStatus.DISABLED, reason=SUSPENSION)


def enable_suspended_for_account(
    session: Session, credentials: TenantCredentials, account_id: uuid.UUID, *, actor: Actor | None = None
) -> int:
    """Reactivation: enable again exactly the keys the suspension disabled; returns how many.

    A key counts when its latest status change in the audit log is the suspension's; keys an
    admin disabled themselves stay disabled.
    """
    actor = actor or Actor.system(REACTIVATION)
    disabled = session.scalars(
        select(AccessKey)
        .where(AccessKey.account_id == account_id, AccessKey.status == AccessKeyStatus.DISABLED.value)
        .order_by(AccessKey.created_at, AccessKey.id)
        .with_for_update()
    ).all()
    if not disabled:
        return 0
    latest_reason: dict[str, Any] = {}
    status_changes = session.execute(
        select(AuditLog.target_id, AuditLog.new_value)
        .where(
            AuditLog.account_id == account_id,
            AuditLog.action == "access_key.update",
            AuditLog.target_type == TARGET_TYPE,
            AuditLog.target_id.in_([str(key.id) for key in disabled]),
            AuditLog.new_value.has_key("status"),
        )
        .order_by(AuditLog.created_at.desc())
    )
    for target_id, new_value in status_changes:
        latest_reason.setdefault(target_id, (new_value or {}).get("reason"))
    suspended = [key for key in disabled if latest_reason.get(str(key.id)) == SUSPENSION]
    return _switch_status(session, credentials, actor, suspended, status=AccessKeyStatus.ACTIVE, reason=REACTIVATION)


def _switch_status(
    session: Session,
    credentials: TenantCredentials,
    actor: Actor,
    keys: Sequence[AccessKey],
    *,
    status: AccessKeyStatus,
    reason: str,
) -> int:
    switched = 0
    for key in keys:
        old_status = key.status
        access_key_id = key.access_key_id
        try:
            _set_backend_status(credentials, access_key_id, status)
        except PrimeCloudError as exc:
            logger.warning(
                "access key status not changed in the backend",
                extra={"access_key": str(key.id), "reason": reason, "error": type(exc).__name__},
            )
            continue
        undo_unless_committed(
            session, f"restore status after {reason}", _status_setter(credentials, access_key_id, old_status)
        )
        key.status = status.value
        audit.record(
            session,
            actor,
            "access_key.update",
            account_id=key.account_id,
            target_type=TARGET_TYPE,
            target_id=key.id,
            old={"status": old_status},
            new={"status": status.value, "reason": reason},
            severity="warning" if status == AccessKeyStatus.DISABLED else "info",
        )
        switched += 1
    session.flush()
    return switched
