"""Keyset pagination: ``?limit=&cursor=`` -> ``{items, next_cursor}`` in one query."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from sqlalchemy import Select, tuple_
from sqlalchemy.orm import InstrumentedAttribute, Session

from primecloud.errors import Invalid
from primecloud.schemas.common import Page

ItemT = TypeVar("ItemT")


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"t": value.isoformat()}
    if isinstance(value, UUID):
        return {"u": str(value)}
    return value


# A cursor is the client's input: each value is checked against its key's type before it reaches SQL
# (a text where a timestamp belongs would otherwise fail in the database: a 500 logging the statement).
_MAX_CURSOR_CHARS = 1024
_MAX_CURSOR_TEXT = 512
_BIGINT = 2**63

# What a cursor value may be: a type, or a tuple of types (``(str, type(None))``).
CursorType = type | tuple[type, ...]


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) != 1:
            raise ValueError("not a tagged value")
        ((tag, text),) = value.items()
        if not isinstance(text, str) or len(text) > 64:
            raise ValueError("not a tagged value")
        if tag == "t":
            moment = datetime.fromisoformat(text)
            if moment.tzinfo is None:
                raise ValueError("a timestamp without a time zone")
            return moment
        if tag == "u":
            return UUID(text)
        raise ValueError("unknown tag")
    if isinstance(value, str) and (len(value) > _MAX_CURSOR_TEXT or "\x00" in value):
        raise ValueError("text too long or with a NUL")
    if isinstance(value, int) and not isinstance(value, bool) and not -_BIGINT <= value < _BIGINT:
        raise ValueError("integer out of range")
    return value


def _is_a(value: Any, expected: CursorType) -> bool:
    allowed = expected if isinstance(expected, tuple) else (expected,)
    if isinstance(value, bool) and bool not in allowed:
        return False  # bool is an int to isinstance
    return isinstance(value, allowed)


def encode_cursor(values: Sequence[Any]) -> str:
    raw = json.dumps([_encode_value(value) for value in values], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, types: Sequence[CursorType]) -> list[Any]:
    """The values of a cursor ``encode_cursor`` made, one per entry of ``types`` and each of that type;
    anything else (tampered, truncated, another list's cursor) is 422 naming ``query.cursor``."""
    try:
        if len(cursor) > _MAX_CURSOR_CHARS:
            raise ValueError("too long")
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(values, list) or len(values) != len(types):
            raise ValueError("wrong arity")
        decoded = [_decode_value(value) for value in values]
        if not all(_is_a(value, expected) for value, expected in zip(decoded, types, strict=True)):
            raise ValueError("wrong types")
        return decoded
    except (ValueError, TypeError, RecursionError):
        raise Invalid(
            "query.cursor: not a cursor this API issued",
            errors=[{"field": "query.cursor", "message": "not a cursor this API issued", "type": "cursor"}],
        ) from None


def _key_type(key: InstrumentedAttribute[Any]) -> type:
    python_type: type = key.type.python_type  # datetime, UUID, str, int for the keys lists use
    return python_type


def paginate(
    session: Session,
    statement: Select[*tuple[Any, ...]],
    *,
    keys: Sequence[InstrumentedAttribute[Any]],
    limit: int,
    cursor: str | None,
    to_item: Callable[[Any], ItemT],
    descending: bool = True,
    rows: bool = False,
) -> Page[ItemT]:
    """Run ``statement`` ordered by ``keys`` (unique together, e.g. created_at + id).

    ``to_item`` gets the first entity of each row, or with ``rows=True`` the whole row (a
    statement of plain columns, which must include the keys by name: no ORM objects to build,
    the cheaper choice for a page of 100).
    """
    if cursor:
        after = decode_cursor(cursor, [_key_type(key) for key in keys])
        key_tuple = tuple_(*keys)
        statement = statement.where(key_tuple < tuple_(*after) if descending else key_tuple > tuple_(*after))
    order = [key.desc() if descending else key.asc() for key in keys]
    ordered = statement.order_by(*order).limit(limit + 1)
    found: list[Any] = list(session.execute(ordered).all() if rows else session.scalars(ordered))
    has_more = len(found) > limit
    found = found[:limit]
    next_cursor = encode_cursor([getattr(found[-1], key.key) for key in keys]) if has_more and found else None
    return Page[ItemT](items=[to_item(row) for row in found], next_cursor=next_cursor)
