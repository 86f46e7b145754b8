"""Billing: run_billing's usage aggregation (time-weighted storage with LEAD, summed counters, all
accounts in one statement) over a month of hourly usage, against a bare GROUP BY over the same rows.

Full size: 1,000 accounts x 744 hourly samples x 3 metrics (storage_bytes, egress_bytes,
api_requests) = 2,232,000 usage rows, generated in SQL with generate_series.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta

from bench.harness import ROOT, Figure, Stats, measure, progress

PERIOD_START = datetime(2026, 10, 1, tzinfo=UTC)
PERIOD_END = datetime(2026, 11, 1, tzinfo=UTC)
METRICS = ("storage_bytes", "egress_bytes", "api_requests")

BARE_GROUP_BY = """
SELECT account_id, metric, SUM(quantity), COUNT(*)
FROM usage_records
WHERE period_start >= :period_start AND period_start < :period_end
GROUP BY account_id, metric
"""


def _load(session: object, accounts: int, hours: int) -> int:
    """Accounts, one bucket each, and ``hours`` hourly rows per metric, all in SQL."""
    from sqlalchemy import text
    from sqlalchemy.orm import Session

    assert isinstance(session, Session)
    session.execute(text("INSERT INTO users (email, name) VALUES ('bench-billing@example.test', 'Bench') RETURNING id"))
    session.execute(
        text(
            """
            INSERT INTO accounts (name, slug, owner_user_id, tax_rate)
            SELECT 'Bench ' || n, 'bench-billing-' || n, (SELECT id FROM users LIMIT 1), 0.19
            FROM generate_series(1, :accounts) n
            """
        ),
        {"accounts": accounts},
    )
    session.execute(
        text("INSERT INTO buckets (account_id, name, region) SELECT id, 'bb-' || slug, 'us-east-1' FROM accounts")
    )
    # Storage changes size now and then (every 100 hours), traffic and requests vary by the hour.
    result = session.execute(
        text(
            """
            INSERT INTO usage_records (account_id, bucket_id, metric, quantity, period_start, period_end, source)
            SELECT b.account_id, b.id, m.metric,
                   CASE m.metric
                       WHEN 'storage_bytes' THEN (1 + (h / 100)) * 1073741824::numeric * (1 + mod(abs(hashtext(b.name)), 500))
                       WHEN 'egress_bytes' THEN (mod(h, 24) + 1) * 104857600::numeric
                       ELSE (mod(h, 60) + 1) * 1000
                   END,
                   CAST(:period_start AS timestamptz) + h * interval '1 hour',
                   CAST(:period_start AS timestamptz) + (h + 1) * interval '1 hour', 'bench'
            FROM buckets b
            CROSS JOIN unnest(CAST(:metrics AS text[])) AS m(metric)
            CROSS JOIN generate_series(0, :hours - 1) AS h
            ORDER BY b.account_id, m.metric, h
            """
        ),
        {"period_start": PERIOD_START, "metrics": list(METRICS), "hours": hours},
    )
    session.execute(
        text(
            """
            INSERT INTO pricing_configs (metric, unit, unit_size, unit_price, currency, included_quantity, tiers,
                                         effective_from)
            VALUES ('storage_bytes', 'GiB-month', 1073741824, 0.023, 'EUR', 10, '[]', '2026-01-01'),
                   ('egress_bytes', 'GiB', 1073741824, 0.07, 'EUR', 100,
                    '[{"up_to": "1000", "unit_price": "0.09"}, {"up_to": null, "unit_price": "0.07"}]', '2026-01-01'),
                   ('api_requests', '1,000 requests', 1000, 0.004, 'EUR', 0, '[]', '2026-01-01')
            """
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def run(*, accounts: int = 1000, hours: int = 744, repeats: int = 7) -> list[Figure]:
    from sqlalchemy import text
    from sqlalchemy.orm import Session

    from localrun.services.postgres import run_alembic, start_embedded
    from primecloud import db
    from primecloud.config import get_settings
    from primecloud.services.billing.aggregation import aggregate_usage
    from primecloud.services.billing.monthly_run import aggregate_period

    progress(f"billing: starting PostgreSQL; {accounts} accounts x {hours} hours x {len(METRICS)} metrics")
    postgres = start_embedded(ROOT / ".local" / "pgbench-billing", "primecloud_bench_billing")
    saved = {
        name: os.environ.get(name)
        for name in ("DATABASE_URL", "DATABASE_CONNECT_TIMEOUT", "DATABASE_STATEMENT_TIMEOUT_MS")
    }
    try:
        os.environ.update(
            {
                "DATABASE_URL": postgres.url,
                "POWERTOOLS_LOG_LEVEL": "WARNING",
                # Loading 2.2M rows takes longer than an API request may; the measured queries do not.
                "DATABASE_CONNECT_TIMEOUT": "600",
                "DATABASE_STATEMENT_TIMEOUT_MS": "600000",
            }
        )
        get_settings.cache_clear()
        db.reset_engine()
        run_alembic(postgres.url, "downgrade", "base")
        run_alembic(postgres.url, "upgrade", "head")
        engine = db.get_engine()
        with Session(engine) as session, session.begin():
            rows = _load(session, accounts, hours)
        with engine.begin() as connection:
            connection.execute(text("ANALYZE"))
        progress(f"  {rows:,} usage rows loaded")
        # Measured as the job runs in AWS: the application role, row-level security applying (not narrowed).
        from localrun.services.postgres import ensure_app_login

        os.environ["DATABASE_URL"] = ensure_app_login(postgres.url)
        db.reset_engine()
        engine = db.get_engine()
        # As the job runs (jobs.run_job): under the system scope; without it, row-level security shows no rows.
        with db.system_scope_throughout("bench: billing aggregation as run_billing runs"):
            period_end = PERIOD_START + timedelta(hours=hours) if hours < 744 else PERIOD_END

            def bare() -> object:
                with Session(engine) as session, session.begin():
                    return session.execute(
                        text(BARE_GROUP_BY), {"period_start": PERIOD_START, "period_end": PERIOD_END}
                    ).all()

            def aggregation() -> object:
                with Session(engine) as session, session.begin():
                    return aggregate_period(session, PERIOD_START, PERIOD_END)

            def upcoming_query() -> object:  # the per-account path the upcoming invoice takes
                with Session(engine) as session, session.begin():
                    account = session.scalars(text("SELECT id FROM accounts LIMIT 1")).one()
                    return aggregate_usage(session, PERIOD_START, PERIOD_END, as_of=period_end, account_id=account)

            # Alternated, so a burst of load from another process hits both sides alike.
            bare_stats, aggregation_stats = Stats([]), Stats([])
            bare(), aggregation()  # warm-up: caches, plans
            for _ in range(repeats):
                for action, stats in ((bare, bare_stats), (aggregation, aggregation_stats)):
                    started = time.perf_counter()
                    action()
                    stats.samples.append(time.perf_counter() - started)
            progress(f"  bare GROUP BY: median {bare_stats.median * 1000:.0f} ms")
            progress(f"  run_billing aggregation: median {aggregation_stats.median * 1000:.0f} ms")
            one_account = measure(upcoming_query, repeats=repeats, warmups=1)
            with Session(engine) as session, session.begin():
                result = aggregate_period(session, PERIOD_START, PERIOD_END)
                groups = sum(len(metrics) for metrics in result.values())
            assert groups > 0, "the aggregation saw no usage: the measurement would time an empty query"
            figure = Figure(
                group="billing",
                name=f"run_billing aggregation ({accounts} accounts x {hours} h x {len(METRICS)} metrics)",
                value=aggregation_stats.median,
                baseline_name="bare SQL GROUP BY (account, metric) over the same rows",
                baseline=bare_stats.median,
                budget=2.0,
                spread=aggregation_stats.spread,
                notes={
                    "rows": rows,
                    "groups": groups,
                    "bare_ms": round(bare_stats.median * 1000, 1),
                    "aggregation_ms": round(aggregation_stats.median * 1000, 1),
                    "one_account_ms": round(one_account.median * 1000, 2),
                },
            )
            progress(
                f"  ratio {figure.ratio:.2f}x (budget 2x); one account's aggregation {one_account.median * 1000:.1f} ms"
            )
            return [figure]
    finally:
        db.reset_engine()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        get_settings.cache_clear()
        postgres.stop()
