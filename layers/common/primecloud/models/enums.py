"""The value sets as stored: each table guards its String column with a named CHECK."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import CheckConstraint

from primecloud.enums import *  # noqa: F403 - the models name the value sets from here
from primecloud.enums import __all__ as _value_sets


def one_of(column: str, values: type[StrEnum]) -> CheckConstraint:
    """``CHECK (column IN (...))``, named ``ck_<table>_<column>`` by the naming convention."""
    allowed = ", ".join(f"'{value}'" for value in values)
    return CheckConstraint(f"{column} IN ({allowed})", name=column)


__all__ = [*_value_sets, "one_of"]  # noqa: PLE0604
