"""The statement budget, route by route: at most 3 SQL statements per API request (docs/benchmarks.md).

Every operation of the isolation matrix (every route with an id in its path: all of
/v1/accounts/{account_id}/..., the /v1/me, /v1/admin and public routes with ids) is played once by
the caller who succeeds there (Acme's owner with a session, staff, or anyone), with the resources
its case builds, invoked directly so the authorizer's own lookup is not counted as the route's. The
request must succeed as the matrix expects; its statements are counted (BEGIN and COMMIT are not).

Reads meet the budget, all of them. Changes do not yet: a change is the tenant check, the row
looked up (often locked), the change itself and its audit entry, so 4 at the least; some do more
(a lock, related rows, notifications, an issued invoice). MUTATION_STATEMENTS records what each one
takes now, as a ratchet: a route may not take more than its entry, and one that takes fewer must
have its entry lowered (or removed once within the budget), so the table stays the truth.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from localrun.gateway.events import authorized_event
from localrun.invoke import invoke
from localrun.template import load_template
from tests.conftest import ROOT, count_statements
from tests.e2e import test_tenant_isolation_matrix as matrix
from tests.e2e.sftp_support import sftpgo_stub  # noqa: F401 - a fixture some cases ask for by name
from tests.factories import make_user
from tests.isolation_support import Operation, World

CASES = matrix.CASES
world = matrix.world  # the matrix's two tenants and staff, as a fixture here too

BUDGET = 3

A = "/v1/accounts/{account_id}"
B = A + "/buckets/{bucket_id}"

# Changes over the budget today, with the statements they take (see the module's docstring).
MUTATION_STATEMENTS: dict[Operation, int] = {
    ("PATCH", A): 4,
    ("POST", A + "/access-keys"): 5,
    ("DELETE", A + "/access-keys/{key_id}"): 4,
    ("PATCH", A + "/access-keys/{key_id}"): 4,
    ("DELETE", A + "/api-keys/{key_id}"): 4,
    ("DELETE", B): 7,
    ("PATCH", B): 4,
    ("DELETE", B + "/objects"): 5,
    ("DELETE", B + "/permissions/{user_id}"): 4,
    ("PUT", B + "/permissions/{user_id}"): 5,
    ("DELETE", B + "/shares/{share_id}"): 4,
    ("DELETE", B + "/tags"): 4,
    ("PUT", B + "/tags"): 6,
    ("POST", A + "/invitations"): 7,
    ("DELETE", A + "/invitations/{invitation_id}"): 4,
    # the member's grants, API keys and share links go with the membership (one statement each)
    ("DELETE", A + "/members/{user_id}"): 7,
    ("PATCH", A + "/members/{user_id}"): 5,
    ("POST", A + "/orders"): 17,
    # the account's first SFTP user claims its login prefix (SAVEPOINT, UPDATE, RELEASE: the unique
    # column decides); later users take 4
    ("POST", A + "/sftp-users"): 7,
    ("DELETE", A + "/sftp-users/{sftp_user_id}"): 4,
    ("POST", A + "/subscriptions/{subscription_id}/cancel"): 4,
    ("POST", A + "/transfer-ownership"): 8,
    ("POST", "/v1/admin/accounts/{account_id}/reactivate"): 7,
    ("POST", "/v1/admin/accounts/{account_id}/suspend"): 7,
    ("POST", "/v1/admin/invoices/{invoice_id}/payments"): 7,
    ("POST", "/v1/admin/invoices/{invoice_id}/void"): 4,
    ("PUT", "/v1/admin/pricing/{metric}"): 5,
}

_ROUTES = {(route.method, route.path): route.function_id for route in load_template(ROOT / "template.yaml").routes}


def _staff_user_id(engine: sa.Engine) -> str:
    with Session(engine, expire_on_commit=False) as session, session.begin():
        return str(make_user(session, platform_admin=True).id)


def _event(world: World, operation: Operation) -> tuple[dict[str, Any], int]:
    """The request of the caller who succeeds on ``operation``, and the status the matrix expects."""
    method, path = operation
    case = CASES[operation]
    if case.scope == "admin":
        target = case.build(world, world.acme, "staff")
        event = authorized_event(
            method, path, target.params, _staff_user_id(world.engine), query=target.query, body=target.body
        )
        event["requestContext"]["authorizer"]["lambda"]["is_platform_admin"] = True
        return event, case.expect["staff"]
    if case.scope == "public":
        target = case.build(world, world.acme, "anonymous")
        return authorized_event(method, path, target.params, "", query=target.query, body=target.body), case.expect[
            "anonymous"
        ]
    party = world.new_party("Acme") if case.fresh == "tenant" else world.acme
    target = case.build(world, party, "owner")
    event = authorized_event(method, path, target.params, party.user_id("owner"), query=target.query, body=target.body)
    return event, case.expected("owner", "session")


def test_every_case_has_a_function() -> None:
    assert not [operation for operation in CASES if operation not in _ROUTES]


def test_only_changes_are_over_the_budget() -> None:
    assert not MUTATION_STATEMENTS.keys() - CASES.keys()
    assert not [operation for operation in MUTATION_STATEMENTS if operation[0] == "GET"]


@pytest.mark.parametrize("operation", sorted(CASES), ids=lambda op: f"{op[0]} {op[1]}")
def test_statements_per_request(operation: Operation, world: World, request: pytest.FixtureRequest) -> None:
    case = CASES[operation]
    for name in case.fixtures:
        request.getfixturevalue(name)
    event, expected_status = _event(world, operation)
    function_id = _ROUTES[operation]
    # The same call once more would change what it answers (a second create, a second delete):
    # warm the function (imports, connection) with a request that fails before any statement.
    warm = copy.deepcopy(event)
    warm["requestContext"]["authorizer"]["lambda"]["user_id"] = ""
    invoke(function_id, warm)

    with count_statements() as counted:
        result = invoke(function_id, event)

    assert result["statusCode"] == expected_status, result
    recorded = MUTATION_STATEMENTS.get(operation)
    statements = [" ".join(sql.split())[:110] for sql in counted.statements]
    if recorded is None:
        assert len(counted) <= BUDGET, (len(counted), statements)
    else:
        assert len(counted) == recorded, (
            f"{len(counted)} statements, MUTATION_STATEMENTS says {recorded}: lower the entry when fewer",
            statements,
        )


def test_a_route_over_the_budget_is_caught(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check can fail: two statements more in a route's service are counted, one by one."""
    from primecloud.services import accounts

    details = accounts.details

    def chatty(session: Session, *args: Any) -> Any:
        session.execute(sa.text("SELECT 1"))
        session.execute(sa.text("SELECT 2"))
        return details(session, *args)

    operation = ("GET", "/v1/accounts/{account_id}")
    event, _ = _event(world, operation)
    with count_statements() as quiet:
        invoke(_ROUTES[operation], copy.deepcopy(event))
    monkeypatch.setattr(accounts, "details", chatty)
    with count_statements() as counted:
        result = invoke(_ROUTES[operation], event)
    assert result["statusCode"] == 200, result
    assert (len(quiet), len(counted)) == (2, 4)
    assert len(counted) > BUDGET
