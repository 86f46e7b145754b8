"""Pricing over HTTP: the public price list, staff adding versions (never edits), the history."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from primecloud.models.billing import PricingConfig, PricingHistory
from primecloud.models.system import AuditLog
from tests.conftest import ApiClient, assert_problem
from tests.factories import Tenant, make_session_token, make_tenant, make_user


@pytest.fixture
def staff(db: sa.Engine) -> tuple[uuid.UUID, str]:
    with Session(db) as session, session.begin():
        user = make_user(session, platform_admin=True)
        token, _ = make_session_token(session, user.id)
        return user.id, token


@pytest.fixture
def acme(db: sa.Engine) -> Tenant:
    return make_tenant(db, "Acme")


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


EGRESS = {
    "unit_price": "0.07",
    "included_quantity": "100",
    "tiers": [{"up_to": "1000", "unit_price": "0.09"}, {"up_to": None, "unit_price": "0.07"}],
}


def put_price(api: ApiClient, token: str, metric: str, body: dict[str, Any]) -> Any:
    return api.put(f"/v1/admin/pricing/{metric}", token=token, json=body)


def test_staff_add_versions_and_everyone_sees_the_prices_in_force(
    api: ApiClient, db: sa.Engine, staff: tuple[uuid.UUID, str]
) -> None:
    staff_id, token = staff
    # nothing priced yet: every billed metric is listed as unpriced (its usage is not billed)
    r = api.get("/v1/pricing")
    assert r.status == 200, r
    assert r.json == {
        "items": [],
        "unpriced_metrics": ["storage_bytes", "sftp_storage_bytes", "egress_bytes", "ingress_bytes", "api_requests"],
    }

    r = put_price(api, token, "egress_bytes", EGRESS)
    assert r.status == 201, r
    first = r.json
    assert first["metric"] == "egress_bytes" and first["unit"] == "GiB" and first["unit_size"] == str(2**30)
    assert first["unit_price"] == "0.07" and first["included_quantity"] == "100" and first["currency"] == "EUR"
    assert first["tiers"] == [{"up_to": "1000", "unit_price": "0.09"}, {"up_to": None, "unit_price": "0.07"}]
    now = datetime.now(UTC)
    assert abs(datetime.fromisoformat(first["effective_from"]) - now) < timedelta(minutes=1)  # default: now

    # a version scheduled for next month does not change today's price; it shows as upcoming
    next_month = (now + timedelta(days=40)).replace(microsecond=0)
    r = put_price(api, token, "egress_bytes", {**EGRESS, "unit_price": "0.06", "effective_from": iso(next_month)})
    assert r.status == 201, r
    scheduled = r.json

    r = api.get("/v1/pricing")  # public: no token
    assert r.status == 200, r
    [egress] = r.json["items"]
    assert egress["id"] == first["id"] and egress["unit_price"] == "0.07"
    assert [(v["id"], v["unit_price"]) for v in egress["upcoming"]] == [(scheduled["id"], "0.06")]
    assert "egress_bytes" not in r.json["unpriced_metrics"]
    assert api.get("/v1/pricing", params={"currency": "USD"}).json["items"] == []

    # nothing was edited in place: two versions, two history rows, two audit entries
    with Session(db) as session:
        versions = session.scalars(sa.select(PricingConfig).order_by(PricingConfig.effective_from)).all()
        assert [(v.unit_price, v.created_by) for v in versions] == [
            (Decimal("0.07"), staff_id),
            (Decimal("0.06"), staff_id),
        ]
        history = session.scalars(sa.select(PricingHistory).order_by(PricingHistory.changed_at)).all()
        assert [(h.action, h.metric, h.changed_by) for h in history] == [
            ("created", "egress_bytes", staff_id),
            ("created", "egress_bytes", staff_id),
        ]
        assert (
            history[0].new_value is not None and history[1].old_value is not None and history[1].new_value is not None
        )
        assert history[0].old_value is None and history[0].new_value["unit_price"] == "0.07"
        assert history[1].old_value["id"] == first["id"] and history[1].new_value["unit_price"] == "0.06"
        audits = session.scalars(sa.select(AuditLog).where(AuditLog.action == "pricing.update")).all()
        assert len(audits) == 2 and all(
            a.actor_user_id == staff_id and a.target_type == "pricing_config" for a in audits
        )
        assert {a.target_id for a in audits} == {first["id"], scheduled["id"]}


def test_a_version_never_goes_before_the_latest_or_into_the_past(
    api: ApiClient, db: sa.Engine, staff: tuple[uuid.UUID, str]
) -> None:
    _, token = staff
    later = datetime.now(UTC) + timedelta(days=10)
    assert put_price(api, token, "storage_bytes", {"unit_price": "0.02", "effective_from": iso(later)}).status == 201
    # before the scheduled version (also "now", the default): a conflict, nothing written
    for body in (
        {"unit_price": "0.03", "effective_from": iso(later - timedelta(days=1))},
        {"unit_price": "0.03"},
        {"unit_price": "0.03", "effective_from": iso(later)},
    ):
        assert_problem(put_price(api, token, "storage_bytes", body), 409, "conflict")
    # retroactive prices are refused
    past = datetime.now(UTC) - timedelta(days=1)
    problem = assert_problem(
        put_price(api, token, "sftp_storage_bytes", {"unit_price": "0.03", "effective_from": iso(past)}),
        422,
        "validation-error",
    )
    assert problem["errors"][0]["field"] == "body.effective_from"
    # another currency has its own versions
    assert put_price(api, token, "storage_bytes", {"unit_price": "0.03", "currency": "USD"}).status == 201
    with Session(db) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(PricingConfig)) == 2
        assert session.scalar(sa.select(sa.func.count()).select_from(PricingHistory)) == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"unit_price": 0.023}, "body.unit_price"),  # a JSON float: money travels as strings
        ({"unit_price": "-1"}, "body.unit_price"),
        ({"unit_price": "NaN"}, "body.unit_price"),
        ({"unit_price": "0.123456789"}, "body.unit_price"),  # more than 8 places
        ({"unit_price": "1", "included_quantity": "-5"}, "body.included_quantity"),
        ({"unit_price": "1", "unit_size": "0"}, "body.unit_size"),
        ({"unit_price": "1", "currency": "euro"}, "body.currency"),
        (
            {"unit_price": "1", "tiers": [{"up_to": "10", "unit_price": "1"}, {"up_to": "5", "unit_price": "1"}]},
            "body.tiers",
        ),
        (
            {"unit_price": "1", "tiers": [{"up_to": None, "unit_price": "1"}, {"up_to": "5", "unit_price": "1"}]},
            "body.tiers",
        ),
        ({"unit_price": "1", "tiers": [{"up_to": "10", "unit_price": "-0.01"}]}, "body.tiers.0.unit_price"),
        ({"unit_price": "1", "effective_from": "2030-01-01T00:00:00"}, "body.effective_from"),  # no time zone
        ({"unit_price": "1", "price": "2"}, "body.price"),
    ],
)
def test_invalid_versions_are_refused(
    api: ApiClient, db: sa.Engine, staff: tuple[uuid.UUID, str], body: dict[str, Any], field: str
) -> None:
    problem = assert_problem(put_price(api, staff[1], "egress_bytes", body), 422, "validation-error")
    assert any(error["field"].startswith(field) for error in problem["errors"]), problem
    with Session(db) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(PricingConfig)) == 0


def test_unknown_and_informational_metrics(api: ApiClient, staff: tuple[uuid.UUID, str]) -> None:
    assert_problem(put_price(api, staff[1], "gpu_hours", {"unit_price": "1"}), 404, "not-found")
    assert_problem(put_price(api, staff[1], "object_count", {"unit_price": "1"}), 422, "validation-error")


def test_only_platform_staff_change_prices_or_read_the_history(api: ApiClient, acme: Tenant) -> None:
    for role in ("owner", "admin"):
        assert_problem(put_price(api, acme.token(role), "egress_bytes", {"unit_price": "1"}), 403, "forbidden")
        assert_problem(api.get("/v1/admin/pricing/history", token=acme.token(role)), 403, "forbidden")
    assert api.put("/v1/admin/pricing/egress_bytes", json={"unit_price": "1"}).status == 401


def test_history_is_paginated_newest_first_and_filtered_by_metric(api: ApiClient, staff: tuple[uuid.UUID, str]) -> None:
    _, token = staff
    start = datetime.now(UTC) + timedelta(days=1)
    for day in range(3):
        body = {"unit_price": f"0.0{day + 1}", "effective_from": iso(start + timedelta(days=day))}
        assert put_price(api, token, "egress_bytes", body).status == 201
    assert put_price(api, token, "api_requests", {"unit_price": "0.004"}).status == 201

    r = api.get("/v1/admin/pricing/history", token=token, params={"limit": 2, "metric": "egress_bytes"})
    assert r.status == 200, r
    first_page = r.json
    assert [item["new_value"]["unit_price"] for item in first_page["items"]] == ["0.03", "0.02"]
    r = api.get(
        "/v1/admin/pricing/history",
        token=token,
        params={"limit": 2, "metric": "egress_bytes", "cursor": first_page["next_cursor"]},
    )
    assert [item["new_value"]["unit_price"] for item in r.json["items"]] == ["0.01"]
    assert r.json["next_cursor"] is None
    everything = api.get("/v1/admin/pricing/history", token=token).json["items"]
    assert everything[0]["metric"] == "api_requests" and len(everything) == 4
    assert_problem(
        api.get("/v1/admin/pricing/history", token=token, params={"cursor": "nonsense"}), 422, "validation-error"
    )


def test_the_demo_seed_prices_every_billed_metric_once(api: ApiClient, db: sa.Engine) -> None:
    from localrun.seed import seed_prices

    for _ in range(2):  # idempotent: a second start adds nothing
        with Session(db) as session, session.begin():
            seed_prices(session)
    body = api.get("/v1/pricing").json
    assert body["unpriced_metrics"] == []
    prices = {item["metric"]: item for item in body["items"]}
    assert set(prices) == {"storage_bytes", "sftp_storage_bytes", "egress_bytes", "ingress_bytes", "api_requests"}
    assert (prices["storage_bytes"]["unit"], prices["storage_bytes"]["unit_price"]) == ("GiB-month", "0.023")
    assert prices["egress_bytes"]["tiers"][0] == {"up_to": "10240", "unit_price": "0.09"}
    assert prices["api_requests"]["unit_size"] == "1000"
