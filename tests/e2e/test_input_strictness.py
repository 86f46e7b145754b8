"""Inputs the API documents one way are not accepted another (found by fuzzing, tests/e2e/test_fuzz_api.py)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from primecloud.models.iam import Account
from tests.conftest import ApiClient, assert_problem
from tests.factories import Tenant, make_tenant
from tests.invoicing_factories import make_staff_token


@pytest.fixture
def acme(db: sa.Engine) -> Tenant:
    return make_tenant(db, "Acme")


@pytest.mark.parametrize("value", ["12", "0.5", "-3", "1e9"])
@pytest.mark.parametrize("path", ["/v1/accounts/{account_id}/audit-logs", "/v1/accounts/{account_id}/usage"])
def test_numbers_are_not_date_times(api: ApiClient, acme: Tenant, path: str, value: str) -> None:
    r = api.get(path.format(account_id=acme.account_id), token=acme.token("owner"), params={"from": value})
    problem = assert_problem(r, 422, "validation-error")
    assert [error["field"] for error in problem["errors"]] == ["query.from"]


def test_an_iso_date_time_is_still_fine(api: ApiClient, acme: Tenant) -> None:
    r = api.get(
        f"/v1/accounts/{acme.account_id}/audit-logs",
        token=acme.token("owner"),
        params={"from": "2026-10-01T00:00:00Z", "to": "2026-11-01T00:00:00+01:00"},
    )
    assert r.status == 200, r


def test_admin_audit_log_refuses_numbers_too(api: ApiClient, db: sa.Engine) -> None:
    token = make_staff_token(db)[1]
    assert_problem(api.get("/v1/admin/audit-logs", token=token, params={"to": "1700000000"}), 422, "validation-error")


@pytest.mark.parametrize("body", ["[null, null]", "[1]", "null"])
def test_suspending_takes_an_object_or_no_body(api: ApiClient, db: sa.Engine, acme: Tenant, body: str) -> None:
    token = make_staff_token(db)[1]
    url = f"/v1/admin/accounts/{acme.account_id}/suspend"
    r = api.post(url, token=token, data=body, headers={"Content-Type": "application/json"})
    if body == "null":  # JSON null is "no body": the reason is optional
        assert r.status == 200, r
    else:
        assert_problem(r, 422, "validation-error")
        with Session(db) as session:
            assert session.get_one(Account, acme.account_id).status == "active"
