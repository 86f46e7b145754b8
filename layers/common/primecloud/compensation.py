"""Undo a storage-backend change when the request's transaction does not commit.

A service changes the outside world (a bucket, an IAM user, an SftpGo user) inside a database
transaction; if that transaction then rolls back (a later step failed, the edge answered an
error, the commit itself failed), the backend change is reversed so nothing is left half-made.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from primecloud.observability import logger


class Compensation:
    """Runs ``undo`` once when the session's outermost transaction ends without committing.

    It runs after the session gave its connection back (so ``undo`` may open a session of its
    own) and never raises: a failure is logged for an operator, the original error matters more.
    ``cancel()`` keeps the change; calling the object runs the undo at once.
    """

    def __init__(self, session: Session, what: str, undo: Callable[[], None]) -> None:
        self.what = what
        self.undo = undo
        self.armed = True
        self._root = session.get_transaction()
        event.listen(session, "after_commit", self._committed)
        event.listen(session, "after_transaction_end", self._ended)

    def cancel(self) -> None:
        self.armed = False

    def __call__(self) -> None:
        if not self.armed:
            return
        self.armed = False
        try:
            self.undo()
        except Exception as exc:  # the purge job or an operator finishes what this could not
            logger.error("backend compensation failed", extra={"step": self.what, "error": type(exc).__name__})

    def _committed(self, session: Session) -> None:
        # Releasing a savepoint also fires after_commit: only the outermost commit keeps the change.
        if not session.in_nested_transaction() and session.get_transaction() in (None, self._root):
            self.armed = False

    def _ended(self, _session: Session, transaction: SessionTransaction) -> None:
        if transaction.parent is None:
            self()


def undo_unless_committed(session: Session, what: str, undo: Callable[[], None]) -> Compensation:
    return Compensation(session, what, undo)
