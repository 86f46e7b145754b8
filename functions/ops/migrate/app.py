"""Apply the Alembic migrations shipped beside this module (migrations/ -> the repo's migrations/).

Two ways in:
- CloudFormation custom resource ``DatabaseMigration``: Create/Update run ``upgrade head`` and
  answer through the ResponseURL; Delete answers SUCCESS and leaves the schema alone (it never
  downgrades, also not when a failed deploy rolls back).
- Direct invoke: ``{"action": "upgrade"}`` or ``{"action": "current"}``.

env.py runs all pending revisions in one transaction, so a run that fails, or that Lambda
stops at its timeout, leaves the schema where it was.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from primecloud.observability import logger

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# CloudFormation hears FAILED this long before Lambda would stop the invocation silently.
TIMEOUT_MARGIN_SECONDS = 15


def alembic_config() -> Config:
    from alembic.config import Config

    from primecloud.config import get_settings
    from primecloud.db import database_url

    config = Config()  # no alembic.ini: its logging setup would replace the function's
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    config.attributes["database_url"] = database_url(get_settings())
    return config


def revisions(config: Config) -> dict[str, list[str]]:
    """The database's current revision(s) and the head(s) of the shipped migrations."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from primecloud.db import get_engine

    with get_engine().connect() as connection:
        current = MigrationContext.configure(connection).get_current_heads()
    return {"current": sorted(current), "head": sorted(ScriptDirectory.from_config(config).get_heads())}


def upgrade() -> dict[str, list[str]]:
    from alembic import command

    config = alembic_config()
    before = revisions(config)["current"]
    command.upgrade(config, "head")
    after = revisions(config)["current"]
    logger.info("database migrated", extra={"from_revision": before, "to_revision": after})
    return {"from": before, "to": after}


def run_action(event: dict[str, Any]) -> dict[str, Any]:
    action = event.get("action")
    if action == "upgrade":
        return {"action": action, **upgrade()}
    if action == "current":
        return {"action": action, **revisions(alembic_config())}
    raise ValueError(f"Unknown action {action!r}: use 'upgrade' or 'current'.")


class StackResponse:
    """The one answer CloudFormation gets for a custom-resource event (later ones are dropped)."""

    def __init__(self, event: dict[str, Any], log_stream: str) -> None:
        self.event = event
        self.log_stream = log_stream
        self.physical_id = event.get("PhysicalResourceId") or f"{event['StackId']}/{event['LogicalResourceId']}"
        self._unsent = threading.Lock()

    def send(self, status: str, reason: str = "", data: dict[str, str] | None = None) -> None:
        if not self._unsent.acquire(blocking=False):
            return
        url = self.event["ResponseURL"]
        if not url.startswith("https://"):
            raise ValueError("ResponseURL must be https")
        body = json.dumps(
            {
                "Status": status,
                "Reason": f"{reason} (log stream {self.log_stream})"[:1000],
                "PhysicalResourceId": self.physical_id,
                "StackId": self.event["StackId"],
                "RequestId": self.event["RequestId"],
                "LogicalResourceId": self.event["LogicalResourceId"],
                "Data": data or {},
            }
        ).encode()
        # A presigned S3 URL (https, checked above) that signs an empty Content-Type.
        request = urllib.request.Request(url, data=body, method="PUT", headers={"Content-Type": ""})  # noqa: S310
        for pause in (1, 2, 0):
            try:
                with urllib.request.urlopen(request, timeout=10):  # noqa: S310
                    logger.info("answered CloudFormation", extra={"status": status})
                    return
            except OSError:
                logger.exception("CloudFormation answer failed")
                time.sleep(pause)


def on_stack_event(event: dict[str, Any], context: Any) -> dict[str, Any]:
    response = StackResponse(event, context.log_stream_name)
    if event["RequestType"] == "Delete":
        response.send("SUCCESS", "Delete leaves the database schema as it is.")
        return {"action": "none"}
    deadline = threading.Timer(
        context.get_remaining_time_in_millis() / 1000 - TIMEOUT_MARGIN_SECONDS,
        response.send,
        args=("FAILED", "Migration still running at the Lambda timeout; it will be rolled back."),
    )
    deadline.daemon = True
    deadline.start()
    try:
        result = upgrade()
    except Exception as exc:
        logger.exception("migration failed")
        response.send("FAILED", f"{type(exc).__name__}: {exc}")
        raise  # counts as an invocation error (MigrateErrorsAlarm); no retry is configured
    finally:
        deadline.cancel()
    response.send("SUCCESS", "Migrated.", {"Revision": ",".join(result["to"]) or "base"})
    return {"action": "upgrade", **result}


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if "ResponseURL" in event and "RequestType" in event:
        logger.append_keys(request_type=event["RequestType"], stack_id=event.get("StackId"))
        return on_stack_event(event, context)
    return run_action(event)
