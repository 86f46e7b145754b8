"""One run of the retention purge: its transactions, its backends, and the order of the kinds it purges."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from primecloud.actor import Actor
from primecloud.services.retention import accounts, buckets, dry_run, rows
from primecloud.services.retention.rules import ENTITY_KINDS, ROW_RULES, cutoffs

if TYPE_CHECKING:
    from primecloud.adapters.sftpgo import SftpGoClient
    from primecloud.adapters.storage import ObjectStorage, TenantCredentials
    from primecloud.config import Settings
    from primecloud.db import Sessions
    from primecloud.jobs import JobStats

JOB = "purge_retention"


@dataclass(frozen=True)
class Backends:
    """Where purged things live outside the database; each built on first use."""

    storage: Callable[[], ObjectStorage]
    credentials: Callable[[], TenantCredentials]
    sftpgo: Callable[[], SftpGoClient]


@dataclass
class TransactionClock:
    """Measures every transaction the purge opens: how many, and the longest.

    Each is a session from ``sessions``; its first statement carries the BEGIN, so the system
    scope (``system_scope_throughout``) and ``as_purge_role`` still travel with it.
    """

    count: int = 0
    longest: float = 0.0
    _seen: list[float] = field(default_factory=list, repr=False)

    @contextmanager
    def transaction(self, sessions: Sessions) -> Iterator[Connection]:
        started = time.perf_counter()
        try:
            with sessions() as session:
                yield session.connection()
        finally:
            elapsed = time.perf_counter() - started
            self.count += 1
            self.longest = max(self.longest, elapsed)

    @contextmanager
    def session(self, sessions: Sessions) -> Iterator[Session]:
        started = time.perf_counter()
        try:
            with sessions() as session:
                yield session
        finally:
            elapsed = time.perf_counter() - started
            self.count += 1
            self.longest = max(self.longest, elapsed)


@dataclass
class Purge:
    """One run of the purge at ``now``, a transaction from ``sessions`` each step; ``stats`` gets a count per kind."""

    sessions: Sessions
    backends: Backends
    stats: JobStats
    now: datetime
    settings: Settings
    dry_run: bool = False
    clock: TransactionClock = field(default_factory=TransactionClock)
    actor: Actor = field(default_factory=lambda: Actor.system(JOB))

    def __post_init__(self) -> None:
        self.cut = cutoffs(self.now, self.settings)

    def run(self) -> None:
        self.stats.details["dry_run"] = self.dry_run
        self.stats.details["cutoffs"] = {name: moment.isoformat() for name, moment in self.cut.items()}
        for rule in ROW_RULES:
            self.stats.add(rule.kind, rows.count_rows(self, rule) if self.dry_run else rows.delete_rows(self, rule))
        for kind in ENTITY_KINDS:  # reported even when nothing was due
            self.stats.add(kind, 0)
        if self.dry_run:
            dry_run.count_accounts_buckets_and_rows(self)
        else:
            accounts.purge_accounts(self)
            buckets.purge_buckets(self)
            self.stats.add("bucket_rows", buckets.sweep_bucket_rows(self))
        self.stats.details["transactions"] = self.clock.count
        self.stats.details["longest_transaction_ms"] = round(self.clock.longest * 1000, 1)

    def parameters_for(self, names: set[str]) -> dict[str, Any]:
        return {name: self.cut[name] for name in names}


def run(
    sessions: Sessions, backends: Backends, stats: JobStats, *, now: datetime, settings: Settings, dry_run: bool
) -> None:
    Purge(sessions, backends, stats, now, settings, dry_run=dry_run).run()
