"""Warm API latency: in-process invocations (event in, response out, real PostgreSQL) against a
raw pg8000 `SELECT 1` round trip; SQL statements per request at two list sizes."""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Callable
from typing import Any

from bench.harness import ROOT, Figure, measure, measure_paired, progress


def _event(
    method: str, route: str, path_values: dict[str, str], user_id: uuid.UUID, body: Any = None
) -> dict[str, Any]:
    from localrun.gateway.events import authorized_event

    return authorized_event(method, route, path_values, str(user_id), body=body)


def _seed_rows(session: Any, account_id: uuid.UUID, count: int) -> None:
    """``count`` buckets (rows only: listing reads the database) and issued invoices of one account."""
    from datetime import UTC, datetime
    from decimal import Decimal

    from primecloud.models.billing import Invoice
    from primecloud.models.storage import Bucket

    for index in range(count):
        session.add(Bucket(account_id=account_id, name=f"bench-{account_id.hex[:8]}-{index}", region="us-east-1"))
        start = datetime(2020 + index // 12, index % 12 + 1, 1, tzinfo=UTC)
        session.add(
            Invoice(
                account_id=account_id,
                number=f"INV-BENCH-{account_id.hex[:8]}-{index:06d}",
                kind="usage",
                period_start=start,
                period_end=start.replace(day=28),
                status="open",
                currency="EUR",
                subtotal=Decimal("10.00"),
                total=Decimal("10.00"),
                issued_at=start,
                due_at=start,
            )
        )


class _StatementCounter:
    """SQL statements (SQLAlchemy's cursor executes; BEGIN and COMMIT are not statements) and network
    round trips to PostgreSQL (every flush of the wire), per action."""

    def __init__(self) -> None:
        from sqlalchemy import event

        from primecloud.db import get_engine
        from tests.db_support import RoundTripCounter

        self.count = 0
        engine = get_engine()
        event.listen(engine, "before_cursor_execute", self._seen)
        self._wire = RoundTripCounter(engine)

    def _seen(self, *_args: Any) -> None:
        self.count += 1

    @property
    def round_trips(self) -> int:
        return self._wire.round_trips

    def during(self, action: Callable[[], object]) -> int:
        self.count = 0
        self._wire.round_trips = 0
        action()
        return self.count


def _floors(runtime: Any, select_one: Callable[[], object], repeats: int, counter: _StatementCounter) -> list[Figure]:
    """What any route pays before its own work, against the same baseline (no budget: context for the
    read budget). The resolver alone (GET /health/live: event in, Powertools routing, validation and
    logging, response out, no database), and one transaction through the ORM session a request uses
    (BEGIN, SELECT 1, COMMIT; the round trips they take are in its notes)."""
    from sqlalchemy import text

    from localrun.gateway.events import authorized_event
    from primecloud import db

    live_event = authorized_event("GET", "/health/live", {}, str(uuid.uuid4()))
    resolver, resolver_baseline = measure_paired(
        lambda: runtime.invoke("HealthLiveFunction", live_event), select_one, repeats=repeats, warmups=5
    )

    def transaction() -> None:
        with db.new_session() as session:
            session.execute(text("SELECT 1"))
            session.commit()

    session_floor, session_baseline = measure_paired(transaction, select_one, repeats=repeats, warmups=5)
    counter.during(transaction)
    transaction_round_trips = counter.round_trips
    figures = [
        Figure(
            group="warm_api",
            name="floor: resolver only (GET /health/live, no database)",
            value=resolver.median,
            baseline_name="pg8000 SELECT 1",
            baseline=resolver_baseline.median,
            spread=resolver.spread,
            notes={"p99_s": resolver.percentile(0.99)},
        ),
        Figure(
            group="warm_api",
            name="floor: one ORM transaction (BEGIN, SELECT 1, COMMIT)",
            value=session_floor.median,
            baseline_name="pg8000 SELECT 1",
            baseline=session_baseline.median,
            spread=session_floor.spread,
            notes={"p99_s": session_floor.percentile(0.99), "round_trips": transaction_round_trips},
        ),
    ]
    for figure in figures:
        progress(f"  {figure.name}: p50 {figure.value * 1e6:.0f} µs ({figure.ratio:.1f}x)")
    return figures


def run(repeats: int, list_size: int) -> list[Figure]:
    import pg8000.native
    from sqlalchemy import make_url
    from sqlalchemy.orm import Session

    from localrun.invoke import LocalLambda
    from localrun.services.moto import bootstrap_aws, start_moto
    from localrun.services.postgres import run_alembic, start_embedded
    from localrun.template import load_template
    from primecloud import db
    from primecloud.config import get_settings
    from tests.factories import add_member, make_account, make_user

    progress("warm API: starting PostgreSQL and moto")
    postgres = start_embedded(ROOT / ".local" / "pgbench", "primecloud_bench")
    moto = start_moto(port=0)
    try:
        os.environ.update(bootstrap_aws(moto.url))
        os.environ.update(
            {"DATABASE_URL": postgres.url, "POWERTOOLS_METRICS_DISABLED": "true", "POWERTOOLS_LOG_LEVEL": "WARNING"}
        )
        get_settings.cache_clear()
        db.reset_engine()
        run_alembic(postgres.url, "downgrade", "base")
        run_alembic(postgres.url, "upgrade", "head")
        from localrun.services.postgres import ensure_app_login

        os.environ["DATABASE_URL"] = ensure_app_login(postgres.url)  # as in AWS: row-level security applies
        db.reset_engine()

        with Session(db.get_engine(), expire_on_commit=False) as session, session.begin():
            owner = make_user(session)
            account = make_account(session, owner, name="Bench")
            small = make_account(session, owner, name="Bench small")
            for _ in range(list_size - 1):
                add_member(session, account, "member")
            for _ in range(9):
                add_member(session, small, "member")
            _seed_rows(session, account.id, list_size)
            _seed_rows(session, small.id, 10)
        runtime = LocalLambda(load_template(ROOT / "template.yaml"))
        counter = _StatementCounter()

        url = make_url(postgres.url)
        raw = pg8000.native.Connection(user="postgres", database=url.database, unix_sock=url.query["unix_sock"])

        def select_one() -> object:
            return raw.run("SELECT 1")

        # Every figure's baseline is sampled alternately with it (measure_paired); this one is for the log.
        progress(f"  baseline SELECT 1: p50 {measure(select_one, repeats=repeats, warmups=20).median * 1e6:.0f} µs")
        figures = _floors(runtime, select_one, repeats, counter)
        account_path = {"account_id": str(account.id)}
        small_path = {"account_id": str(small.id)}
        cases: list[tuple[str, str, str, dict[str, str], dict[str, str] | None]] = [
            ("GetAccountFunction", "GET", "/v1/accounts/{account_id}", account_path, None),
            ("GetMeFunction", "GET", "/v1/me", {}, None),
            ("ListMembersFunction", "GET", "/v1/accounts/{account_id}/members", account_path, small_path),
            ("ListBucketsFunction", "GET", "/v1/accounts/{account_id}/buckets", account_path, small_path),
            ("ListInvoicesFunction", "GET", "/v1/accounts/{account_id}/invoices", account_path, small_path),
            ("GetUpcomingInvoiceFunction", "GET", "/v1/accounts/{account_id}/invoices/upcoming", account_path, None),
            ("CreateBucketFunction", "POST", "/v1/accounts/{account_id}/buckets", account_path, None),
        ]
        for function_id, method, route, path_values, small_values in cases:
            if function_id not in runtime.template.functions:
                continue
            big_event = _event(method, route, path_values, owner.id)
            if method == "GET":
                big_event["queryStringParameters"] = {"limit": "100"}
                big_event["rawQueryString"] = "limit=100"

            def call(event: dict[str, Any] = big_event, fid: str = function_id, post_to: str | None = None) -> object:
                if post_to is not None:  # a new bucket name per call: creating is what is measured
                    body = {"name": f"bw-{uuid.uuid4().hex[:20]}"}
                    event = _event("POST", post_to, account_path, owner.id, body=body)
                result = runtime.invoke(fid, event)
                assert result["statusCode"] < 400, result
                return result

            if method == "POST":
                call = functools.partial(call, post_to=route)
            stats, baseline = measure_paired(call, select_one, repeats=repeats, warmups=3)
            statements = counter.during(call)
            notes: dict[str, object] = {
                "p99_s": stats.percentile(0.99),
                "statements": statements,
                "round_trips": counter.round_trips,
            }
            if small_values is not None:
                small_event = _event(method, route, small_values, owner.id)
                notes["statements_at_10"] = counter.during(functools.partial(runtime.invoke, function_id, small_event))
                notes["statements_at_list_size"] = statements
            figure = Figure(
                group="warm_api",
                name=f"{method} {route}",
                value=stats.median,
                baseline_name="pg8000 SELECT 1",
                baseline=baseline.median,
                budget=4.0 if method == "GET" else None,
                spread=stats.spread,
                notes=notes,
            )
            figures.append(figure)
            progress(
                f"  {figure.name}: p50 {stats.median * 1000:.2f} ms p99 {stats.percentile(0.99) * 1000:.2f} ms "
                f"({figure.ratio:.1f}x), {statements} statements, {counter.round_trips} round trips"
            )
        raw.close()
        return figures
    finally:
        db.reset_engine()
        moto.stop()
        postgres.stop()
