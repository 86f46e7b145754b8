"""Usage ingestion: rows per second through collect_usage's write path against COPY into the same table.

The write path is ``primecloud.services.metering.insert_usage``: ``INSERT ... SELECT FROM unnest(arrays)
ON CONFLICT DO NOTHING`` in statements of 5,000 rows, through the layer's SQLAlchemy session, in
one transaction. The baseline is pg8000's ``COPY usage_records (...) FROM STDIN (FORMAT csv)`` of
the same rows. Both start from an emptied, vacuumed table and include turning the rows into what
goes on the wire (arrays / CSV). Full size: 100 buckets x 200 hours x 5 metrics = 100,000 rows.
The notes also give the rate of a re-run (every row already stored, all skipped).
"""

from __future__ import annotations

import csv
import io
import os
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from bench.harness import ROOT, Figure, Stats, progress

START = datetime(2026, 1, 1, tzinfo=UTC)
METRICS = ("storage_bytes", "object_count", "egress_bytes", "ingress_bytes", "api_requests")
COLUMNS = "account_id, bucket_id, metric, quantity, period_start, period_end, source"


def _rows(accounts: list[uuid.UUID], buckets: list[tuple[uuid.UUID, uuid.UUID]], hours: int) -> list[Any]:
    from primecloud.services.metering import UsageRow

    rows = []
    for hour in range(hours):
        period_start = START + timedelta(hours=hour)
        for index, (account_id, bucket_id) in enumerate(buckets):
            for metric in METRICS:
                quantity = Decimal(index * 1_000_003 + hour * 17)
                rows.append(
                    UsageRow(
                        account_id,
                        bucket_id,
                        metric,
                        quantity,
                        period_start,
                        period_start + timedelta(hours=1),
                        "backend",
                    )
                )
    return rows


def _csv(rows: list[Any]) -> io.BytesIO:
    text_buffer = io.StringIO()
    writer = csv.writer(text_buffer)
    for row in rows:
        writer.writerow(
            (
                row.account_id,
                row.bucket_id if row.bucket_id else "",
                row.metric,
                row.quantity,
                row.period_start.isoformat(),
                row.period_end.isoformat(),
                row.source,
            )
        )
    return io.BytesIO(text_buffer.getvalue().encode())


def run(buckets: int = 100, hours: int = 200, repeats: int = 3) -> list[Figure]:
    import pg8000.native
    from sqlalchemy import make_url, text
    from sqlalchemy.orm import Session

    from localrun.services.postgres import run_alembic, start_embedded
    from primecloud import db
    from primecloud.config import get_settings
    from primecloud.services.metering import insert_usage
    from tests.factories import make_account, make_user

    progress("ingestion: starting PostgreSQL")
    postgres = start_embedded(ROOT / ".local" / "pgbench-ingestion", "primecloud_bench_ingestion")
    try:
        os.environ.update({"DATABASE_URL": postgres.url, "POWERTOOLS_LOG_LEVEL": "WARNING"})
        get_settings.cache_clear()
        db.reset_engine()
        run_alembic(postgres.url, "downgrade", "base")
        run_alembic(postgres.url, "upgrade", "head")
        engine = db.get_engine()

        from primecloud.models.storage import Bucket

        with Session(engine, expire_on_commit=False) as session, session.begin():
            owner = make_user(session)
            accounts = [make_account(session, owner, name=f"Ingest {index}").id for index in range(10)]
            pairs = []
            for index in range(buckets):
                bucket = Bucket(account_id=accounts[index % 10], name=f"ingest-{index:05d}", region="us-east-1")
                session.add(bucket)
                session.flush()
                pairs.append((bucket.account_id, bucket.id))
        rows = _rows(accounts, pairs, hours)
        progress(f"  {len(rows):,} rows ({buckets} buckets x {hours} hours x {len(METRICS)} metrics)")

        def empty_table() -> None:
            with engine.begin() as connection:
                connection.execute(text("TRUNCATE usage_records"))
            maintenance.run("VACUUM (ANALYZE) usage_records")  # outside a transaction block

        def write_path() -> int:
            with Session(engine) as session, session.begin():
                return insert_usage(session, rows)

        url = make_url(postgres.url)
        raw = pg8000.native.Connection(user="postgres", database=url.database, unix_sock=url.query["unix_sock"])
        maintenance = pg8000.native.Connection(user="postgres", database=url.database, unix_sock=url.query["unix_sock"])

        def copy() -> int:
            raw.run("BEGIN")
            raw.run(f"COPY usage_records ({COLUMNS}) FROM STDIN WITH (FORMAT csv)", stream=_csv(rows))
            raw.run("COMMIT")
            return len(rows)

        def timed(action: Callable[[], int], label: str, *, fresh: bool = True) -> Stats:
            samples = []
            for attempt in range(repeats):
                if fresh:
                    empty_table()
                started = time.perf_counter()
                stored = action()
                elapsed = time.perf_counter() - started
                samples.append(len(rows) / elapsed)
                progress(f"  {label} {attempt + 1}/{repeats}: {len(rows) / elapsed:,.0f} rows/s ({stored:,} stored)")
            return Stats(samples)

        try:
            write_stats = timed(write_path, "write path")
            rerun_stats = timed(write_path, "re-run (all duplicates)", fresh=False)
            copy_stats = timed(copy, "COPY")
        finally:
            raw.close()
            maintenance.close()
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM usage_records")).scalar_one() == len(rows)

        figure = Figure(
            group="ingestion",
            name="collect_usage write path (insert_usage)",
            value=write_stats.median,
            baseline_name="COPY FROM STDIN",
            baseline=copy_stats.median,
            unit="rows/s",
            budget=0.2,
            higher_is_better=True,
            spread=write_stats.spread,
            notes={"rows": len(rows), "rerun_rows_per_s": round(rerun_stats.median), "batch_rows": 5000},
        )
        progress(
            f"  write path {figure.value:,.0f} rows/s vs COPY {figure.baseline:,.0f} rows/s: {figure.ratio:.2f}x"
            f" (re-run, all skipped: {rerun_stats.median:,.0f} rows/s)"
        )
        return [figure]
    finally:
        db.reset_engine()
        postgres.stop()
