"""Purge: purge_retention's batched delete of expired rows against one bare DELETE of the same rows.

Full size: 1,000,000 read notifications past retention (plus 100,000 that stay: unread), generated
with generate_series; each method starts from a freshly loaded, vacuumed table. The purge's figure
is its wall time; its notes hold the longest single transaction (the budget: under 1 s) and how
many transactions it took.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

from bench.harness import ROOT, Figure, Stats, progress

NOW = datetime.now(UTC)
BARE_DELETE = "DELETE FROM notifications WHERE read_at IS NOT NULL AND created_at < :notifications"


def _load(engine: object, total: int) -> None:
    """``total`` notifications: every 11th unread (stays), the rest read 100 days ago (past retention)."""
    from sqlalchemy import Engine, text

    assert isinstance(engine, Engine)
    with engine.begin() as connection:
        connection.execute(text("TRUNCATE notifications"))
        user_id = connection.execute(text("SELECT id FROM users LIMIT 1")).scalar_one()
        connection.execute(
            text(
                "INSERT INTO notifications (user_id, type, title, body, created_at, read_at)"
                " SELECT :u, 'invoice.issued', 'Invoice ' || g, 'Your invoice is ready.',"
                "  now() - interval '120 days' + g * interval '1 second',"
                "  CASE WHEN mod(g, 11) = 0 THEN NULL ELSE now() - interval '100 days' END"
                " FROM generate_series(1, :n) g"
            ),
            {"u": user_id, "n": total},
        )
    raw = engine.raw_connection()  # VACUUM runs outside a transaction block
    try:
        raw.rollback()  # the pool's connect hook left a transaction open
        raw.driver_connection.autocommit = True  # type: ignore[union-attr]
        cursor = raw.cursor()
        cursor.execute("VACUUM (ANALYZE) notifications")
        cursor.execute("CHECKPOINT")  # the load's WAL is flushed before the timed delete, not during it
        cursor.close()
        raw.driver_connection.autocommit = False  # type: ignore[union-attr]
    finally:
        raw.close()


def run(rows: int = 1_000_000, repeats: int = 5) -> list[Figure]:
    import time

    from sqlalchemy import text

    from localrun.services.postgres import run_alembic, start_embedded
    from primecloud import db
    from primecloud.config import get_settings
    from primecloud.jobs import JobStats
    from primecloud.services.retention.purge import Backends, Purge
    from primecloud.services.retention.rows import delete_rows
    from primecloud.services.retention.rules import ROW_RULES, cutoffs

    progress("purge: starting PostgreSQL")
    postgres = start_embedded(ROOT / ".local" / "pgbench-purge", "primecloud_bench_purge")
    try:
        # The load and the bare DELETE run far longer than an API statement may (pg8000's timeout is a socket timeout).
        os.environ.update(
            {
                "DATABASE_URL": postgres.url,
                "DATABASE_CONNECT_TIMEOUT": "600",
                "DATABASE_STATEMENT_TIMEOUT_MS": "600000",
                "POWERTOOLS_LOG_LEVEL": "WARNING",
            }
        )
        get_settings.cache_clear()
        db.reset_engine()
        run_alembic(postgres.url, "downgrade", "base")
        run_alembic(postgres.url, "upgrade", "head")
        engine = db.get_engine()
        settings = get_settings()
        cut = cutoffs(NOW, settings)
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO users (email, name) VALUES ('bench-purge@example.test', 'Bench')"))
        rule = next(rule for rule in ROW_RULES if rule.table == "notifications")
        # Loading, VACUUM and CHECKPOINT need the owner; the timed deletes run as the job does in AWS:
        # the application role, row-level security applying (not narrowed).
        from sqlalchemy import make_url
        from sqlalchemy.orm import sessionmaker

        from localrun.services.postgres import ensure_app_login

        app_engine = db.build_engine(settings, url=make_url(ensure_app_login(postgres.url)))
        app_sessions = sessionmaker(app_engine, expire_on_commit=False).begin  # the job's unit_of_work, on app_engine

        def unavailable() -> object:
            raise RuntimeError("the row-kind purge needs no backend")

        backends = Backends(storage=unavailable, credentials=unavailable, sftpgo=unavailable)  # type: ignore[arg-type]
        # 1.1 x rows loaded, of which rows are expired (~91 %): a table the purge catches up on.
        total = rows + rows // 10
        expired = total - total // 11
        bare_samples: list[float] = []
        purge_samples: list[float] = []
        longest: list[float] = []
        transactions: list[int] = []
        # As the job runs (jobs.run_job): under the system scope; without it, row-level security shows no rows.
        with db.system_scope_throughout("bench: purge as purge_retention runs"):
            for repeat in range(repeats):
                for method in ("bare", "purge") if repeat % 2 == 0 else ("purge", "bare"):
                    progress(f"  repeat {repeat + 1}/{repeats}: loading {total:,} rows for {method}")
                    _load(engine, total)
                    started = time.perf_counter()
                    if method == "bare":
                        with app_engine.begin() as connection:
                            deleted = connection.execute(
                                text(BARE_DELETE), {"notifications": cut["notifications"]}
                            ).rowcount
                        bare_samples.append(time.perf_counter() - started)
                    else:
                        run = Purge(app_sessions, backends, JobStats(), NOW, settings)
                        deleted = delete_rows(run, rule)
                        purge_samples.append(time.perf_counter() - started)
                        longest.append(run.clock.longest)
                        transactions.append(run.clock.count)
                    assert deleted == expired, (method, deleted, expired)
                    progress(f"  {method}: {deleted:,} rows in {(time.perf_counter() - started):.2f} s")
        purge_stats, bare_stats = Stats(purge_samples), Stats(bare_samples)
        figure = Figure(
            group="purge",
            name=f"purge_retention: {rows:,} expired notifications",
            value=purge_stats.median,
            baseline_name="one bare DELETE",
            baseline=bare_stats.median,
            budget=2.0,  # at least 50 % of the bare DELETE's speed
            spread=purge_stats.spread,
            notes={
                "rows_deleted": expired,
                "rows_kept": total - expired,
                "longest_transaction_s": max(longest),
                "transactions": transactions[-1],
                "bare_delete_transaction_s": bare_stats.median,
                "speed_vs_bare": bare_stats.median / purge_stats.median if purge_stats.median else None,
            },
        )
        progress(
            f"  purge p50 {purge_stats.median:.2f} s vs bare DELETE {bare_stats.median:.2f} s ({figure.ratio:.2f}x);"
            f" longest transaction {max(longest) * 1000:.0f} ms over {transactions[-1]} transactions"
        )
        return [figure]
    finally:
        db.reset_engine()
        postgres.stop()
