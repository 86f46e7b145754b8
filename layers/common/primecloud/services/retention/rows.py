"""Rows that expire on their own (``ROW_RULES``): deleted in ranges of table pages, or counted in a dry run."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from sqlalchemy import text

from primecloud.db import as_purge_role
from primecloud.services.retention.rules import RowRule

if TYPE_CHECKING:
    from primecloud.services.retention.purge import Purge


TARGET_BATCH_SECONDS = 0.25
FIRST_BATCH_PAGES = 256  # ~10,000 small rows: well under the target on any table
MAX_BATCH_PAGES = 1 << 20
MAX_PAGE = (1 << 32) - 1  # the highest block number a tid can hold

# The application role only inserts and reads audit entries; the purge deletes and unlinks them as
# primecloud_purge (SET LOCAL ROLE for that transaction, migration 0003).
_PURGE_ROLE_TABLES = frozenset({"audit_logs"})


def count_rows(purge: Purge, rule: RowRule) -> int:
    with purge.clock.transaction(purge.sessions) as connection:
        return int(
            connection.execute(
                text(f"SELECT count(*) FROM {rule.table} WHERE {rule.condition}"),  # noqa: S608 - constants
                purge.parameters_for(rule.parameters),
            ).scalar_one()
        )


def delete_rows(purge: Purge, rule: RowRule) -> int:
    """Delete in ranges of the table's pages, each range one transaction sized to the target time."""
    with purge.clock.transaction(purge.sessions) as connection:
        pages = int(
            connection.execute(
                text("SELECT pg_relation_size(CAST(:table AS regclass)) / current_setting('block_size')::int"),
                {"table": rule.table},
            ).scalar_one()
        )
    statement = text(
        f"DELETE FROM {rule.table} WHERE ctid >= CAST(:low AS tid) AND ctid < CAST(:high AS tid)"  # noqa: S608
        f" AND ({rule.condition})"
    )
    params = purge.parameters_for(rule.parameters)
    deleted, first, step = 0, 0, FIRST_BATCH_PAGES
    while first < pages:
        # The last range is open-ended: it also takes rows that landed on pages added meanwhile.
        last = first + step if first + step < pages else MAX_PAGE
        started = time.perf_counter()
        with purge.clock.transaction(purge.sessions) as connection:
            if rule.table in _PURGE_ROLE_TABLES:
                as_purge_role(connection)
            deleted += connection.execute(statement, {**params, "low": f"({first},0)", "high": f"({last},0)"}).rowcount
        elapsed = time.perf_counter() - started
        first = last
        # Size the next range for the target time, changing it at most twofold per batch.
        scale = min(2.0, max(0.5, TARGET_BATCH_SECONDS / max(elapsed, 0.001)))
        step = min(max(int(step * scale), 1), MAX_BATCH_PAGES)
    return deleted
