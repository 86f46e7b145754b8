"""MigrateFunction: direct invokes and the CloudFormation custom-resource protocol."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from localrun.invoke import LocalLambda, make_context
from localrun.template import load_template

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def migrate(database_url: str) -> tuple[LocalLambda, ModuleType]:
    runtime = LocalLambda(load_template(ROOT / "template.yaml"))
    return runtime, runtime.module("MigrateFunction")


@pytest.fixture
def cloudformation(monkeypatch: pytest.MonkeyPatch, migrate: tuple[LocalLambda, ModuleType]) -> list[dict[str, Any]]:
    """What the function PUTs to the ResponseURL (a presigned S3 URL in AWS)."""
    answers: list[dict[str, Any]] = []

    class _Answered:
        def __enter__(self) -> _Answered:
            return self

        def __exit__(self, *args: object) -> None:
            return None

    def fake_urlopen(request: Any, timeout: float) -> _Answered:
        assert request.get_method() == "PUT" and request.full_url.startswith("https://")
        answers.append(json.loads(request.data))
        return _Answered()

    monkeypatch.setattr(migrate[1].urllib.request, "urlopen", fake_urlopen)
    return answers


def stack_event(request_type: str) -> dict[str, Any]:
    return {
        "RequestType": request_type,
        "ResponseURL": "https://cloudformation-custom-resource-response.example/abc?X-Amz-Signature=x",
        "StackId": "arn:aws:cloudformation:eu-central-1:123456789012:stack/primecloud-dev/1",
        "RequestId": "req-1",
        "LogicalResourceId": "DatabaseMigration",
        "ResourceType": "Custom::Migration",
        "ResourceProperties": {"ServiceToken": "arn", "FunctionVersion": "7"},
    }


def test_direct_invokes_report_the_revision(migrate: tuple[LocalLambda, ModuleType]) -> None:
    runtime, _ = migrate
    current = runtime.invoke("MigrateFunction", {"action": "current"})
    assert current["current"] == current["head"] and current["head"]
    assert runtime.invoke("MigrateFunction", {"action": "upgrade"})["to"] == current["head"]
    with pytest.raises(ValueError, match="Unknown action"):
        runtime.invoke("MigrateFunction", {"action": "downgrade"})


@pytest.mark.parametrize("request_type", ["Create", "Update"])
def test_create_and_update_migrate_and_answer_success(
    migrate: tuple[LocalLambda, ModuleType], cloudformation: list[dict[str, Any]], request_type: str
) -> None:
    runtime, _ = migrate
    result = runtime.invoke("MigrateFunction", stack_event(request_type))
    [answer] = cloudformation
    assert answer["Status"] == "SUCCESS" and answer["LogicalResourceId"] == "DatabaseMigration"
    assert answer["Data"]["Revision"] == ",".join(result["to"])


def test_delete_never_touches_the_schema(
    migrate: tuple[LocalLambda, ModuleType], cloudformation: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime, module = migrate
    monkeypatch.setattr(module, "upgrade", lambda: pytest.fail("Delete must not migrate"))
    assert runtime.invoke("MigrateFunction", stack_event("Delete")) == {"action": "none"}
    assert cloudformation[0]["Status"] == "SUCCESS"


def test_a_failing_migration_answers_failed(
    migrate: tuple[LocalLambda, ModuleType], cloudformation: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime, module = migrate

    def broken() -> dict[str, list[str]]:
        raise RuntimeError("relation already exists")

    monkeypatch.setattr(module, "upgrade", broken)
    spec = runtime.template.function("MigrateFunction")
    with pytest.raises(RuntimeError):
        runtime.handler(spec)(stack_event("Update"), make_context(spec))
    [answer] = cloudformation
    assert answer["Status"] == "FAILED" and "relation already exists" in answer["Reason"]
