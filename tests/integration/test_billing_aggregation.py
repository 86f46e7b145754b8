"""The set-based usage aggregation against a sample-by-sample reference, on every shape of series:
evenly hourly, with gaps, off the hour, a single sample, cut short (the upcoming invoice), deleted."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from primecloud.models.billing import UsageRecord
from primecloud.models.storage import Bucket
from primecloud.services.billing import aggregation
from tests.factories import make_account, make_user
from tests.fixtures.billing_month import PERIOD_END, PERIOD_START, hour

Series = list[tuple[datetime, Decimal]]


def reference(samples: Series, until: datetime) -> Decimal:
    """Each sample holds until the next one; the last one until ``until``."""
    ordered = sorted(samples)
    total = Decimal(0)
    for index, (start, quantity) in enumerate(ordered):
        end = ordered[index + 1][0] if index + 1 < len(ordered) else until
        total += quantity * Decimal((end - start).total_seconds()).quantize(Decimal("0.000001"))
    return total


SHAPES: dict[str, Series] = {
    "evenly hourly": [(hour(h), Decimal(1000 + h)) for h in range(0, 744)],
    "with gaps": [(hour(h), Decimal(7 * h)) for h in (*range(5, 50), *range(90, 100), 300, 743)],
    "off the hour": [
        (hour(10), Decimal(5)),
        (hour(10) + timedelta(minutes=30), Decimal(50)),
        (hour(12), Decimal("500.5")),
        (hour(13), Decimal(5000)),
    ],
    "single sample": [(hour(700), Decimal(123456789))],
    "uneven but the right count": [
        (hour(0), Decimal(1)),
        (hour(0) + timedelta(minutes=54), Decimal(2)),
        (hour(2), Decimal(4)),
    ],
}


def test_storage_aggregation_matches_the_reference_for_every_shape(db: sa.Engine) -> None:
    with Session(db, expire_on_commit=False) as session, session.begin():
        owner = make_user(session)
        accounts = {}
        for name, samples in SHAPES.items():
            account = make_account(session, owner, name=name)
            bucket = Bucket(account_id=account.id, name=f"b-{uuid.uuid4().hex[:16]}", region="us-east-1")
            session.add(bucket)
            session.flush()
            for start, quantity in samples:
                session.add(
                    UsageRecord(
                        account_id=account.id,
                        bucket_id=bucket.id,
                        metric="storage_bytes",
                        quantity=quantity,
                        period_start=start,
                        period_end=start + timedelta(hours=1),
                        source="test",
                    )
                )
            accounts[name] = account.id

    with Session(db) as session:
        whole = aggregation.aggregate_usage(session, PERIOD_START, PERIOD_END)
        as_of = hour(300) + timedelta(minutes=20)  # mid-month, between two samples of "with gaps"
        cut = aggregation.aggregate_usage(session, PERIOD_START, PERIOD_END, as_of=as_of)

    for name, samples in SHAPES.items():
        usage = whole[accounts[name]]["storage_bytes"]
        assert usage.quantity == reference(samples, PERIOD_END), name
        assert usage.to_period_end == usage.quantity and usage.samples == len(samples), name
        before = [(start, quantity) for start, quantity in samples if start < as_of]
        if not before:
            assert accounts[name] not in cut, name
            continue
        so_far = cut[accounts[name]]["storage_bytes"]
        assert so_far.quantity == reference(before, as_of), name
        assert so_far.to_period_end == reference(before, PERIOD_END), name  # the projection carries the last one
        assert so_far.samples == len(before), name


def test_counters_are_summed_and_other_periods_and_accounts_left_out(db: sa.Engine) -> None:
    with Session(db, expire_on_commit=False) as session, session.begin():
        owner = make_user(session)
        mine, other = make_account(session, owner, name="Mine"), make_account(session, owner, name="Other")
        for account, quantity in ((mine, 10), (other, 99)):
            for h in (-1, 0, 1, 743, 744):
                session.add(
                    UsageRecord(
                        account_id=account.id,
                        metric="api_requests",
                        quantity=Decimal(quantity),
                        period_start=hour(h),
                        period_end=hour(h + 1),
                        source="test",
                    )
                )
    with Session(db) as session:
        usage = aggregation.aggregate_usage(session, PERIOD_START, PERIOD_END, account_id=mine.id)
    assert list(usage) == [mine.id]
    requests = usage[mine.id]["api_requests"]
    assert (requests.quantity, requests.to_period_end, requests.samples) == (Decimal(30), Decimal(30), 3)
