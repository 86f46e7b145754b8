"""Every function in template.yaml answers its sample event from events/ without crashing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import sqlalchemy as sa

from localrun.gateway.events import SAMPLE_ACCOUNT_ID, SAMPLE_SESSION_ID, SAMPLE_USER_ID
from localrun.invoke import LocalLambda
from localrun.template import load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_template(ROOT / "template.yaml")
FUNCTIONS = sorted(TEMPLATE.functions)


@pytest.fixture(scope="module")
def runtime(database_url: str, aws_server: dict[str, str]) -> LocalLambda:
    return LocalLambda(TEMPLATE)


def event_for(function_id: str) -> dict[str, Any]:
    code_uri = TEMPLATE.function(function_id).code_uri.resolve()
    area_op = code_uri.relative_to((ROOT / "functions").resolve())
    return json.loads((ROOT / "events" / area_op.with_suffix(".json")).read_text())  # type: ignore[no-any-return]


@pytest.fixture
def sample_tenant(db: sa.Engine) -> None:
    """The user, account and session the sample events name, so they reach real code paths."""
    from sqlalchemy.orm import Session

    from primecloud.models.iam import Account, AccountMember, User
    from tests.factories import make_session_token

    with Session(db) as session, session.begin():
        user = User(id=UUID(SAMPLE_USER_ID), email="sample@example.test", name="Sample", password_hash=None)
        session.add(user)
        session.flush()
        session.add(Account(id=UUID(SAMPLE_ACCOUNT_ID), name="Sample", slug="sample", owner_user_id=user.id))
        session.flush()
        session.add(AccountMember(account_id=UUID(SAMPLE_ACCOUNT_ID), user_id=user.id, role="owner"))
        _, user_session = make_session_token(session, user.id)
        user_session.id = UUID(SAMPLE_SESSION_ID)


@pytest.mark.parametrize("function_id", FUNCTIONS)
def test_function_answers_its_sample_event(
    runtime: LocalLambda, db: sa.Engine, sample_tenant: None, function_id: str
) -> None:
    event = event_for(function_id)
    if function_id == TEMPLATE.authorizer_function_id:
        # the sample token is not a live one: the authorizer refuses it the way API Gateway expects
        with pytest.raises(Exception, match=r"^Unauthorized$"):
            runtime.invoke(function_id, event)
        return
    result = runtime.invoke(function_id, event)
    assert isinstance(result, dict), result
    if "statusCode" in result:  # an HTTP API function: any answer but a server error
        assert result["statusCode"] < 500, result
        if result["statusCode"] >= 400:
            assert result["headers"]["Content-Type"] == "application/problem+json", result
    elif "batchItemFailures" in result:  # an SQS worker: the sample batch is well-formed
        assert result["batchItemFailures"] == [], result
    elif function_id == "MigrateFunction":  # the test database is already at head
        assert result["action"] == "upgrade" and result["to"] == result["from"], result
    else:  # a job: it ran and recorded its run
        assert result["status"] in {"succeeded", "partial"}, result
        with db.connect() as connection:
            status = connection.execute(sa.text("SELECT status FROM job_runs WHERE id = :id"), {"id": result["run_id"]})
            assert status.scalar_one() == result["status"]
