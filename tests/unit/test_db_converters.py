"""The fast timestamptz parser gives exactly what pg8000's own gives, for every shape PostgreSQL sends."""

from __future__ import annotations

import pytest
from pg8000.converters import timestamptz_in as pg8000_timestamptz_in

from primecloud.db import timestamptz_in


@pytest.mark.parametrize(
    "text_value",
    [
        "2026-11-22 01:44:52.123456+00",
        "2026-11-22 01:44:52+00",
        "2026-11-22 01:44:52.5+05:30",
        "1999-12-31 23:59:59.999999-08",
        "0001-01-01 00:00:00+00",
        "2026-03-29 02:30:00+01:00",
        "infinity",
        "-infinity",
    ],
)
def test_same_result_as_pg8000(text_value: str) -> None:
    ours, theirs = timestamptz_in(text_value), pg8000_timestamptz_in(text_value)
    assert ours == theirs
    assert str(ours) == str(theirs)  # the same offset too, not only the same instant


def test_out_of_range_years_stay_text_like_pg8000() -> None:
    assert timestamptz_in("10000-01-01 00:00:00+00") == pg8000_timestamptz_in("10000-01-01 00:00:00+00")


@pytest.mark.parametrize(
    "query",
    [
        "SELECT users.id FROM users WHERE users.email = %s AND users.status = %s",
        "SELECT 'it''s 100%% %s' AS text, %s",
        'SELECT "odd%s name" FROM t WHERE a = %s -- a comment with %s\\nAND b = %s',
        "SELECT $$ %s $$, %s",
        "SELECT E'\\\\' %s', %s",
    ],
)
def test_cached_paramstyle_conversion_matches_pg8000(query: str) -> None:
    import pg8000.dbapi
    import pg8000.legacy

    from primecloud.db import cache_paramstyle_conversion

    cache_paramstyle_conversion()
    args = ("a", "b", "c", "d")[: query.count("%s")]
    assert pg8000.legacy.convert_paramstyle("format", query, args) == pg8000.dbapi.convert_paramstyle(
        "format", query, args
    )
    # a second call (from the cache) gives the same again, with the new call's arguments
    other_args = tuple(f"x{index}" for index in range(len(args)))
    assert pg8000.legacy.convert_paramstyle("format", query, other_args)[1] == other_args
