"""GET /v1/accounts/{account_id}/usage through the gateway: hand-computed time-weighted storage
averages and traffic sums per hour, day and month, validation, and who may see it."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from primecloud import clock
from primecloud.models.iam import Account
from primecloud.services.metering import UsageRow, insert_usage
from tests.conftest import ApiClient, assert_problem, count_statements
from tests.factories import Tenant, make_api_key, make_bucket, make_tenant

DAY = datetime(2026, 11, 18, tzinfo=UTC)  # a past day: the session tokens stay valid
HOUR = timedelta(hours=1)


@pytest.fixture
def acme(db: sa.Engine) -> Tenant:
    return make_tenant(db, "Acme")


@pytest.fixture
def now_is(monkeypatch: pytest.MonkeyPatch) -> Any:
    def set_now(moment: datetime) -> None:
        monkeypatch.setattr(clock, "now", lambda: moment)

    set_now(DAY + timedelta(days=2))
    return set_now


def store(
    engine: sa.Engine, account_id: uuid.UUID, bucket_id: uuid.UUID | None, metric: str, values: dict[int, int]
) -> None:
    """Hourly records: {hour offset from DAY: quantity}."""
    rows = [
        UsageRow(account_id, bucket_id, metric, Decimal(value), DAY + offset * HOUR, DAY + (offset + 1) * HOUR, "test")
        for offset, value in values.items()
    ]
    with Session(engine) as session, session.begin():
        insert_usage(session, rows)


def usage(api: ApiClient, tenant: Tenant, role: str = "viewer", **params: str) -> Any:
    return api.get(f"/v1/accounts/{tenant.account_id}/usage", token=tenant.token(role), params=params)


@pytest.fixture
def day_of_usage(db: sa.Engine, acme: Tenant) -> dict[str, uuid.UUID]:
    """One day of samples, worked out by hand in the test below.

    Bucket A: 1000 bytes for hours 0-5, then 2000 from hour 6 with hours 10-12 missing (carried).
    Bucket B: created at noon, 4800 bytes for hours 12-23.
    Bucket C: 240 bytes for hours 0-17, deleted at 18:00.
    Traffic: egress 100 (A, hour 3) + 50 (A, hour 20) + 7 (B, hour 13); 1000 more the next day.
    """
    bucket_a = make_bucket(db, acme.account_id)
    bucket_b = make_bucket(db, acme.account_id)
    bucket_c = make_bucket(db, acme.account_id, deleted_at=DAY + 18 * HOUR, status="deleting")
    store(
        db,
        acme.account_id,
        bucket_a,
        "storage_bytes",
        {h: 1000 if h < 6 else 2000 for h in range(24) if h not in (10, 11, 12)},
    )
    store(db, acme.account_id, bucket_b, "storage_bytes", {h: 4800 for h in range(12, 24)})
    store(db, acme.account_id, bucket_c, "storage_bytes", {h: 240 for h in range(18)})
    store(db, acme.account_id, bucket_a, "egress_bytes", {3: 100, 20: 50, 25: 1000})
    store(db, acme.account_id, bucket_b, "egress_bytes", {13: 7})
    return {"a": bucket_a, "b": bucket_b, "c": bucket_c}


def test_a_day_of_storage_is_time_weighted_and_traffic_summed(
    api: ApiClient, acme: Tenant, day_of_usage: dict[str, uuid.UUID], now_is: Any
) -> None:
    r = usage(
        api,
        acme,
        **{"from": DAY.isoformat(), "to": (DAY + timedelta(days=1)).isoformat()},
        granularity="day",
        metric="storage_bytes,egress_bytes",
    )

    assert r.status == 200, r
    body = r.json
    assert body["granularity"] == "day" and body["metrics"] == ["storage_bytes", "egress_bytes"]
    items = {item["metric"]: item for item in body["items"]}
    assert set(items) == {"storage_bytes", "egress_bytes"}
    storage = items["storage_bytes"]
    # A: (1000 x 6h + 2000 x 18h) / 24h = 1750; B: 4800 x 12h / 24h = 2400; C: 240 x 18h / 24h = 180
    assert Decimal(storage["quantity"]) == Decimal(4330)
    assert storage["aggregation"] == "time_weighted_average" and storage["unit"] == "bytes"
    # at the end of the day A holds 2000 and B 4800; C is gone
    assert Decimal(storage["last_value"]) == Decimal(6800)
    assert storage["samples"] == 21 + 12 + 18
    assert (storage["period_start"], storage["period_end"]) == ("2026-11-18T00:00:00Z", "2026-11-19T00:00:00Z")
    egress = items["egress_bytes"]
    assert (Decimal(egress["quantity"]), egress["aggregation"], egress["last_value"]) == (Decimal(157), "sum", None)
    assert isinstance(egress["quantity"], str) and egress["samples"] == 3


def test_hours_show_each_sample_and_the_carried_gap(
    api: ApiClient, acme: Tenant, day_of_usage: dict[str, uuid.UUID], now_is: Any
) -> None:
    r = usage(
        api,
        acme,
        **{"from": (DAY + 9 * HOUR).isoformat(), "to": (DAY + 14 * HOUR).isoformat()},
        granularity="hour",
        metric="storage_bytes",
    )

    assert r.status == 200, r
    by_hour = {item["period_start"][11:13]: item for item in r.json["items"]}
    assert sorted(by_hour) == ["09", "10", "11", "12", "13"]
    # 9-11: A 2000 + C 240; 12-13: + B 4800
    assert [Decimal(by_hour[h]["quantity"]) for h in sorted(by_hour)] == [2240, 2240, 2240, 7040, 7040]
    # the gap is carried: hours 10 and 11 have C's sample only, hour 12 C's and B's
    assert [by_hour[h]["samples"] for h in sorted(by_hour)] == [2, 1, 1, 2, 3]


def test_months_and_the_running_period_use_the_elapsed_time(
    api: ApiClient, acme: Tenant, db: sa.Engine, now_is: Any
) -> None:
    bucket = make_bucket(db, acme.account_id)
    # October: 3000 bytes from Oct 31 12:00 (12 samples); November: 3000 until Nov 18 06:00, 6000 after
    store(db, acme.account_id, bucket, "storage_bytes", {h: 3000 for h in range(-12 - 17 * 24, -17 * 24)})
    store(db, acme.account_id, bucket, "storage_bytes", {6: 6000})
    store(db, acme.account_id, bucket, "api_requests", {-17 * 24 - 2: 40, 2: 2})
    now_is(DAY + 12 * HOUR)  # Nov 18, 12:00

    r = usage(
        api,
        acme,
        **{"from": "2026-10-01T00:00:00Z", "to": "2026-12-01T00:00:00Z"},
        granularity="month",
    )

    assert r.status == 200, r
    items = {(item["period_start"][:7], item["metric"]): item for item in r.json["items"]}
    assert set(items) == {
        ("2026-10", "storage_bytes"),
        ("2026-10", "api_requests"),
        ("2026-11", "storage_bytes"),
        ("2026-11", "api_requests"),
    }
    # October: 3000 x 12h over its 744 hours
    october = items["2026-10", "storage_bytes"]
    assert Decimal(october["quantity"]) == (Decimal(3000 * 12) / 744).quantize(Decimal("0.000001"))
    # November so far (17.5 days = 420h elapsed): 3000 held 414h (carried from Oct 31), 6000 held 6h
    november = items["2026-11", "storage_bytes"]
    assert Decimal(november["quantity"]) == ((Decimal(3000 * 414) + 6000 * 6) / 420).quantize(Decimal("0.000001"))
    assert Decimal(november["last_value"]) == 6000 and november["samples"] == 1
    assert november["period_end"].startswith("2026-12-01")
    assert Decimal(items["2026-10", "api_requests"]["quantity"]) == 40
    assert Decimal(items["2026-11", "api_requests"]["quantity"]) == 2
    assert items["2026-11", "api_requests"]["unit"] == "requests"


def test_the_default_range_is_this_month_by_day(api: ApiClient, acme: Tenant, db: sa.Engine, now_is: Any) -> None:
    bucket = make_bucket(db, acme.account_id)
    store(db, acme.account_id, bucket, "object_count", {0: 5, 1: 5})
    now_is(DAY + 90 * timedelta(minutes=1))  # 01:30

    r = usage(api, acme)

    assert r.status == 200, r
    assert r.json["start"].startswith("2026-11-01T00:00:00") and r.json["end"].startswith("2026-11-18T02:00:00")
    assert r.json["granularity"] == "day" and len(r.json["metrics"]) == 6
    (item,) = r.json["items"]
    assert item["metric"] == "object_count" and item["unit"] == "objects"
    assert Decimal(item["quantity"]) == 5 and Decimal(item["last_value"]) == 5


def test_another_accounts_usage_is_not_counted(api: ApiClient, acme: Tenant, db: sa.Engine, now_is: Any) -> None:
    globex = make_tenant(db, "Globex")
    store(db, globex.account_id, make_bucket(db, globex.account_id), "egress_bytes", {1: 99})
    r = usage(api, acme, **{"from": DAY.isoformat(), "to": (DAY + timedelta(days=1)).isoformat()})
    assert r.status == 200 and r.json["items"] == []


# --- validation ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "field", "needle"),
    [
        ({"from": "2026-11-10T00:00:00Z", "to": "2026-11-10T00:00:00Z"}, "query.from", "before"),
        ({"from": "2026-11-10T00:00:00Z", "to": "2026-11-09T00:00:00Z"}, "query.from", "before"),
        ({"metric": "storage_bytes,disk_iops"}, "query.metric", "disk_iops"),
        (
            {"from": "2026-10-01T00:00:00Z", "to": "2026-11-02T00:00:00Z", "granularity": "hour"},
            "query.from",
            "31 days",
        ),
        ({"granularity": "week"}, "query.granularity", ""),
        ({"from": "yesterday"}, "query.from", ""),
    ],
)
def test_bad_parameters_are_422_naming_the_problem(
    api: ApiClient, acme: Tenant, now_is: Any, *, params: dict[str, str], field: str, needle: str
) -> None:
    r = usage(api, acme, **params)
    body = assert_problem(r, 422, "validation-error")
    assert field in [error["field"] for error in body["errors"]], body
    assert needle in body["detail"]


def test_31_days_of_hours_is_the_limit(api: ApiClient, acme: Tenant, now_is: Any) -> None:
    r = usage(api, acme, **{"from": "2026-10-01T00:00:00Z", "to": "2026-11-01T00:00:00Z"}, granularity="hour")
    assert r.status == 200, r


# --- access ----------------------------------------------------------------------------------------


def test_every_member_sees_usage_but_other_tenants_do_not(
    api: ApiClient, acme: Tenant, db: sa.Engine, now_is: Any
) -> None:
    globex = make_tenant(db, "Globex")
    for role in ("owner", "admin", "member", "viewer"):
        assert usage(api, acme, role).status == 200
    r = api.get(f"/v1/accounts/{acme.account_id}/usage", token=globex.token("owner"))
    assert_problem(r, 404, "not-found")
    assert api.get(f"/v1/accounts/{acme.account_id}/usage").status == 401


def test_api_keys_need_the_usage_scope(api: ApiClient, acme: Tenant, db: sa.Engine, now_is: Any) -> None:
    with Session(db) as session, session.begin():
        account = session.get_one(Account, acme.account_id)
        with_scope, _ = make_api_key(session, account, acme.members["owner"].user_id, ["usage:read"])
        without, _ = make_api_key(session, account, acme.members["owner"].user_id, ["buckets:read"])
    path = f"/v1/accounts/{acme.account_id}/usage"
    assert api.get(path, token=with_scope).status == 200
    assert_problem(api.get(path, token=without), 403, "forbidden")


def test_one_statement_beyond_the_tenant_check(
    api: ApiClient, acme: Tenant, day_of_usage: dict[str, uuid.UUID], now_is: Any
) -> None:
    """Invoked directly: through the gateway, the authorizer's own query would land on the same engine."""
    from localrun.gateway.events import authorized_event
    from localrun.invoke import invoke

    query = {"from": DAY.isoformat(), "to": (DAY + timedelta(days=2)).isoformat(), "granularity": "hour"}
    event = authorized_event(
        "GET",
        "/v1/accounts/{account_id}/usage",
        {"account_id": str(acme.account_id)},
        str(acme.members["viewer"].user_id),
        query=query,
    )
    invoke("GetUsageFunction", copy.deepcopy(event))  # warm: imports and connection
    with count_statements() as statements:
        result = invoke("GetUsageFunction", event)
    assert result["statusCode"] == 200, result
    assert len(json.loads(result["body"])["items"]) > 24
    assert len(statements) <= 3, statements.statements


def test_times_without_an_offset_are_utc(
    api: ApiClient, acme: Tenant, day_of_usage: dict[str, uuid.UUID], now_is: Any
) -> None:
    naive = usage(api, acme, **{"from": "2026-11-18T00:00:00", "to": "2026-11-19T00:00:00"}, metric="egress_bytes")
    shifted = usage(
        api, acme, **{"from": "2026-11-18T01:00:00+01:00", "to": "2026-11-19T01:00:00+01:00"}, metric="egress_bytes"
    )
    assert naive.status == shifted.status == 200
    assert naive.json["start"] == shifted.json["start"] == "2026-11-18T00:00:00Z"
    assert naive.json["items"] == shifted.json["items"] and Decimal(naive.json["items"][0]["quantity"]) == 157


def test_calendar_periods_cross_the_year_end_and_keep_to_the_limit() -> None:
    from primecloud.errors import Invalid
    from primecloud.services.usage import periods_of

    months = periods_of(datetime(2026, 11, 15, 6, tzinfo=UTC), datetime(2027, 2, 1, tzinfo=UTC), "month")
    assert [start.strftime("%Y-%m") for start, _ in months] == ["2026-11", "2026-12", "2027-01"]
    assert months[1] == (datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    assert len(periods_of(datetime(2024, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC), "day")) == 366
    with pytest.raises(Invalid, match="366 days"):
        periods_of(datetime(2024, 1, 1, tzinfo=UTC), datetime(2025, 1, 2, tzinfo=UTC), "day")
