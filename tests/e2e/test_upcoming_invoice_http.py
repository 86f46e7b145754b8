"""The upcoming invoice over HTTP: the month so far and its month-end projection, computed like run_billing.

Clock: 2026-10-11T00:00Z = hour 240 of October, in the month of tests/fixtures/billing_month.py
(whose comments give the full-month arithmetic). Prices: those in force at the end of October
(storage v2: 0.025, 10 GiB-months included; it takes effect on Oct 15 but applies to the month).

SO FAR (samples before hour 240; each holds until the next one or hour 240)
  storage: X 100 GiB x 240 h = 24000, Z 10 GiB x 108 h (until its deletion) = 1080, Y not yet
           25080 / 744 = 33.709677 GiB-months; 23.709677 x 0.025 = 0.592741925 -> 0.59
  sftp:    20 GiB x 240 h = 4800 / 744 = 6.451613 x 0.05 = 0.32258065 -> 0.32
  egress:  240 x 1.5 GiB = 360 GiB; 100 included; 260 x 0.09 = 23.40
  api:     240 x 1337 = 320880 requests = 320.88 x 0.004 = 1.28352 -> 1.28
  vps:     its order paid it to Oct 5; Oct 5 to Nov 1 = 27/31 month x 12.99 = 11.313871 -> 11.31
  subtotal 0.59 + 0.32 + 23.40 + 1.28 + 11.31 = 36.90; tax 19 % 7.011 -> 7.01; total 43.91

PROJECTION (storage: the last sample carried to the month end; counters x 744 / 240)
  storage: X 100 GiB x 744 = 74400, Z still 1080 -> 75480 / 744 = 101.451613; 91.451613 x 0.025
           = 2.286290325 -> 2.29
  sftp:    20 x 744 / 744 = 20 x 0.05 = 1.00
  egress:  360 x 744 / 240 = 1116 GiB -> 1000 x 0.09 + 16 x 0.07 = 91.12
  api:     320880 x 3.1 = 994728 = 994.728 x 0.004 -> 3.98
  vps:     11.31 (the same charge: the whole month's part, known in advance)
  subtotal 2.29 + 1.00 + 91.12 + 3.98 + 11.31 = 109.70; tax 20.843 -> 20.84; total 130.54
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from primecloud import clock
from primecloud.models.billing import Invoice, UsageRecord
from primecloud.models.iam import Account
from tests.conftest import ApiClient, assert_problem
from tests.factories import add_member, make_api_key, make_tenant
from tests.fixtures.billing_month import BillingMonth, make_billing_month

AS_OF = datetime(2026, 10, 11, tzinfo=UTC)


@pytest.fixture
def month(db: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> BillingMonth:
    monkeypatch.setattr(clock, "now", lambda: AS_OF)
    return make_billing_month(db)


@pytest.fixture
def tokens(db: sa.Engine, month: BillingMonth) -> dict[str, str]:
    with Session(db, expire_on_commit=False) as session, session.begin():
        account = session.get_one(Account, month.account_id)
        return {role: add_member(session, account, role).token for role in ("owner", "admin", "member", "viewer")}


def url(month: BillingMonth) -> str:
    return f"/v1/accounts/{month.account_id}/invoices/upcoming"


def lines(draft: dict[str, object]) -> list[tuple[object, str, str]]:
    return [(line["metric"], line["quantity"], line["amount"]) for line in draft["lines"]]  # type: ignore[attr-defined]


def test_this_month_so_far_and_projected(
    api: ApiClient, db: sa.Engine, month: BillingMonth, tokens: dict[str, str]
) -> None:
    r = api.get(url(month), token=tokens["admin"])
    assert r.status == 200, r
    body = r.json
    assert body["account_id"] == str(month.account_id) and body["currency"] == "EUR" and body["tax_rate"] == "0.1900"
    assert [datetime.fromisoformat(body[key]) for key in ("period_start", "period_end", "as_of")] == [
        datetime(2026, 10, 1, tzinfo=UTC),
        datetime(2026, 11, 1, tzinfo=UTC),
        AS_OF,
    ]
    assert lines(body["so_far"]) == [
        ("storage_bytes", "33.709677", "0.59"),
        ("sftp_storage_bytes", "6.451613", "0.32"),
        ("egress_bytes", "360.000000", "23.40"),
        ("api_requests", "320.880000", "1.28"),
        (None, "0.870968", "11.31"),
    ]
    assert (body["so_far"]["subtotal"], body["so_far"]["tax"], body["so_far"]["total"]) == ("36.90", "7.01", "43.91")
    assert lines(body["projection"]) == [
        ("storage_bytes", "101.451613", "2.29"),
        ("sftp_storage_bytes", "20.000000", "1.00"),
        ("egress_bytes", "1116.000000", "91.12"),
        ("api_requests", "994.728000", "3.98"),
        (None, "0.870968", "11.31"),
    ]
    projection = body["projection"]
    assert (projection["subtotal"], projection["tax"], projection["total"]) == ("109.70", "20.84", "130.54")
    assert "the last carried to the end of the month" in projection["lines"][0]["description"]
    assert "over 240 of 744 h, extrapolated to the month" in projection["lines"][2]["description"]
    assert "time-weighted average of 343 hourly samples" in body["so_far"]["lines"][0]["description"]
    assert body["unpriced_metrics"] == ["ingress_bytes"]
    # nothing is written
    with Session(db) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Invoice)) == 0
        assert session.scalar(sa.select(sa.func.count()).where(UsageRecord.invoice_id.is_not(None))) == 0
    # the owner may look too
    assert api.get(url(month), token=tokens["owner"]).json == body


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_members_and_viewers_may_not(api: ApiClient, month: BillingMonth, tokens: dict[str, str], role: str) -> None:
    assert_problem(api.get(url(month), token=tokens[role]), 403, "forbidden")


def test_another_tenant_gets_404_and_keys_need_billing_read(api: ApiClient, db: sa.Engine, month: BillingMonth) -> None:
    other = make_tenant(db, "Other")
    assert_problem(api.get(url(month), token=other.token("owner")), 404, "not-found")
    with Session(db, expire_on_commit=False) as session, session.begin():
        account = session.get_one(Account, month.account_id)
        with_scope, _ = make_api_key(session, account, month.owner_id, ["billing:read"])
        without, _ = make_api_key(session, account, month.owner_id, ["buckets:read"])
    assert api.get(url(month), token=with_scope).status == 200
    assert_problem(api.get(url(month), token=without), 403, "forbidden")


def test_the_statement_count_does_not_grow_with_usage(
    api: ApiClient, db: sa.Engine, month: BillingMonth, tokens: dict[str, str]
) -> None:
    from tests.conftest import count_statements

    small = make_tenant(db, "Small")
    with count_statements() as few:
        assert api.get(f"/v1/accounts/{small.account_id}/invoices/upcoming", token=small.token("owner")).status == 200
    with count_statements() as many:  # 3 buckets, 4,000 usage rows, 2 subscriptions
        assert api.get(url(month), token=tokens["owner"]).status == 200
    # the local authorizer's session lookup, then the request's budget of 3: the tenant check, the
    # aggregation (one statement for every metric and bucket) joined to the prices in force, the subscriptions
    assert len(few) == len(many) == 4, many.statements
