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


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict) and "t" in value:
        return datetime.fromisoformat(value["t"])
    if isinstance(value, dict) and "u" in value:
        return UUID(value["u"])
    return value


def encode_cursor(values: Sequence[Any]) -> str:
    raw = json.dumps([_encode_value(value) for value in values], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(values, list) or len(values) != arity:
            raise ValueError("wrong arity")
        return [_decode_value(value) for value in values]
    except (ValueError, TypeError, KeyError) as exc:
        raise Invalid(
            "query.cursor: not a cursor this API issued",
            errors=[{"field": "query.cursor", "message": "not a cursor this API issued", "type": "cursor"}],
        ) from exc


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
        after = decode_cursor(cursor, len(keys))
        key_tuple = tuple_(*keys)
        statement = statement.where(key_tuple < tuple_(*after) if descending else key_tuple > tuple_(*after))
    order = [key.desc() if descending else key.asc() for key in keys]
    ordered = statement.order_by(*order).limit(limit + 1)
    found: list[Any] = list(session.execute(ordered).all() if rows else session.scalars(ordered))
    has_more = len(found) > limit
    found = found[:limit]
    next_cursor = encode_cursor([getattr(found[-1], key.key) for key in keys]) if has_more and found else None
    return Page[ItemT](items=[to_item(row) for row in found], next_cursor=next_cursor)
