"""Users as they see themselves."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import select
from sqlalchemy.orm import Session

from primecloud.errors import NotFound
from primecloud.models.iam import User
from primecloud.schemas.iam import UserOut


def get_me(session: Session, user_id: UUID) -> UserOut:
    user = session.scalar(select(User).where(User.id == user_id, User.deleted_at.is_(None)))
    if user is None:
        raise NotFound("No such user.")
    return UserOut.model_validate(user)
