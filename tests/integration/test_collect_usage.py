"""collect_usage: the hourly dispatcher and its SQS worker against real PostgreSQL, moto (S3, SQS,
CloudWatch) and the SftpGo stub. Rows are idempotent per (account, bucket, metric, hour), one
failing account never blocks the others, and every batch lands in the run's job_runs row."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from localrun.invoke import LocalLambda
from localrun.services.sftpgo_stub import SftpGoStub, StubError
from localrun.template import load_template
from primecloud import clock
from primecloud.adapters import registry
from primecloud.adapters.sftpgo import LocalHome, SftpGoClient
from primecloud.adapters.storage import BucketMetrics, Capability
from primecloud.config import get_settings
from primecloud.db import system_scope_throughout, unit_of_work
from primecloud.errors import Unavailable
from primecloud.models.billing import UsageRecord
from primecloud.models.iam import Account
from primecloud.models.storage import SftpUser
from primecloud.models.system import JobRun
from primecloud.services import metering
from tests.conftest import drain_queue
from tests.e2e.sftp_support import pointed_stub
from tests.factories import make_bucket, make_tenant

ROOT = Path(__file__).resolve().parents[2]
SFTPGO_API_KEY = "metering-sftpgo-key"
HOUR = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
WORKER = "CollectUsageWorkerFunction"
DISPATCHER = "CollectUsageFunction"


@pytest.fixture(scope="module")
def runtime(database_url: str, aws_server: dict[str, str]) -> LocalLambda:
    return LocalLambda(load_template(ROOT / "template.yaml"))


def _reset_app_config() -> None:
    get_settings.cache_clear()
    registry.reset()


@pytest.fixture
def stub(aws_server: dict[str, str]) -> Iterator[SftpGoStub]:
    """A fresh SftpGo stub the layer's registry.sftpgo() points at."""
    with pointed_stub(SFTPGO_API_KEY) as sftpgo:
        yield sftpgo


@pytest.fixture
def at_hour(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """The clock stands 5 minutes into HOUR (the dispatcher runs on the hour)."""
    monkeypatch.setattr(clock, "now", lambda: HOUR + timedelta(minutes=5))
    return HOUR


def s3() -> Any:
    return boto3.client("s3")


def upload(bucket: str, sizes: list[int]) -> None:
    for index, size in enumerate(sizes):
        s3().put_object(Bucket=bucket, Key=f"data/{index}.bin", Body=b"x" * size)


def message(account_ids: list[uuid.UUID], run_id: uuid.UUID | None = None, hour: datetime = HOUR) -> dict[str, Any]:
    return {
        "account_ids": [str(account_id) for account_id in account_ids],
        "period_start": hour.isoformat(),
        "run_id": str(run_id) if run_id else None,
    }


def sqs_event(bodies: Sequence[dict[str, Any] | str], receive_count: int = 1) -> dict[str, Any]:
    records = []
    for body in bodies:
        raw = body if isinstance(body, str) else json.dumps(body)
        records.append(
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": "handle",
                "body": raw,
                "attributes": {
                    "ApproximateReceiveCount": str(receive_count),
                    "SentTimestamp": "1793527201000",
                    "SenderId": "test",
                    "ApproximateFirstReceiveTimestamp": "1793527202000",
                },
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:usage",
                "awsRegion": "us-east-1",
            }
        )
    return {"Records": records}


@dataclass
class Row:
    account_id: uuid.UUID
    bucket_id: uuid.UUID | None
    metric: str
    quantity: Decimal
    period_start: datetime
    period_end: datetime
    source: str


def usage_rows(engine: sa.Engine, account_id: uuid.UUID | None = None) -> list[Row]:
    with Session(engine) as session:
        query = sa.select(UsageRecord).order_by(UsageRecord.account_id, UsageRecord.bucket_id, UsageRecord.metric)
        if account_id is not None:
            query = query.where(UsageRecord.account_id == account_id)
        return [
            Row(r.account_id, r.bucket_id, r.metric, r.quantity, r.period_start, r.period_end, r.source)
            for r in session.scalars(query)
        ]


def new_run(engine: sa.Engine) -> uuid.UUID:
    with Session(engine) as session, session.begin():
        run = JobRun(job="collect_usage", trigger="schedule", status="succeeded", stats={"counts": {"messages": 1}})
        session.add(run)
        session.flush()
        return run.id


def job_run(engine: sa.Engine, run_id: uuid.UUID) -> JobRun:
    with Session(engine, expire_on_commit=False) as session:
        return session.get_one(JobRun, run_id)


def add_sftp_user(
    engine: sa.Engine, stub: SftpGoStub, account_id: uuid.UUID, login: str, used: int, **home: Any
) -> None:
    """An SFTP user with a local home, as SftpGo and the database know it, with ``used`` bytes counted."""
    SftpGoClient(stub.url, SFTPGO_API_KEY).create_user(login, home=LocalHome(), password="a-long-enough-password-1234")
    stub.users[login]["used_quota_size"] = used
    with Session(engine) as session, session.begin():
        session.add(SftpUser(account_id=account_id, username=login, **home))


# --- storage by listing ---------------------------------------------------------------------------


def test_a_bucket_with_objects_gives_its_bytes_and_object_count(
    runtime: LocalLambda, db: sa.Engine, at_hour: datetime
) -> None:
    # given a bucket holding three objects (moto's CloudWatch has no S3 storage metrics: listing counts)
    acme = make_tenant(db, "Acme")
    bucket_id = make_bucket(db, acme.account_id)
    empty_id = make_bucket(db, acme.account_id)
    with Session(db) as session:
        from primecloud.models.storage import Bucket

        name = session.get_one(Bucket, bucket_id).name
    upload(name, [100, 250, 1000])
    run_id = new_run(db)

    # when the worker collects the hour
    result = runtime.invoke(WORKER, sqs_event([message([acme.account_id], run_id)]))

    # then each bucket has a storage and an object-count sample for the hour
    assert result == {"batchItemFailures": []}
    rows = {(row.bucket_id, row.metric): row for row in usage_rows(db)}
    assert set(rows) == {
        (bucket_id, "storage_bytes"),
        (bucket_id, "object_count"),
        (empty_id, "storage_bytes"),
        (empty_id, "object_count"),
    }
    assert rows[bucket_id, "storage_bytes"].quantity == Decimal(1350)
    assert rows[bucket_id, "object_count"].quantity == Decimal(3)
    assert rows[empty_id, "storage_bytes"].quantity == 0 and rows[empty_id, "object_count"].quantity == 0
    sample = rows[bucket_id, "storage_bytes"]
    assert (sample.period_start, sample.period_end, sample.source) == (HOUR, HOUR + timedelta(hours=1), "listing")
    # and the run counts them
    run = job_run(db, run_id)
    assert run.status == "succeeded"
    collection = run.stats["collection"]
    assert collection["accounts_collected"] == 1 and collection["rows_inserted"] == 4
    assert collection["rows_skipped"] == 0 and collection["failures"] == [] and collection["messages"] == 1
    assert run.stats["counts"] == {"messages": 1}  # the dispatcher's own figures are kept


def test_deleted_buckets_and_closed_accounts_are_not_metered(
    runtime: LocalLambda, db: sa.Engine, at_hour: datetime
) -> None:
    acme = make_tenant(db, "Acme")
    closed = make_tenant(db, "Closed")
    live = make_bucket(db, acme.account_id)
    make_bucket(db, acme.account_id, deleted_at=HOUR - timedelta(days=1), status="deleting")
    make_bucket(db, closed.account_id)
    with Session(db) as session, session.begin():
        session.get_one(Account, closed.account_id).status = "closed"

    result = runtime.invoke(WORKER, sqs_event([message([acme.account_id, closed.account_id])]))

    assert result == {"batchItemFailures": []}
    assert {(row.bucket_id, row.metric) for row in usage_rows(db)} == {(live, "storage_bytes"), (live, "object_count")}
    # a message without a run gets a job_runs row of its own
    with Session(db) as session:
        (run,) = session.scalars(sa.select(JobRun)).all()
        assert run.job == "collect_usage" and run.status == "succeeded" and run.finished_at is not None
        assert run.stats["collection"]["accounts_collected"] == 1
        assert run.stats["collection"]["accounts_skipped"] == 1


# --- idempotency ----------------------------------------------------------------------------------


def test_a_redelivered_batch_adds_no_rows(runtime: LocalLambda, db: sa.Engine, at_hour: datetime) -> None:
    acme = make_tenant(db, "Acme")
    globex = make_tenant(db, "Globex")
    acme_bucket = f"acme-{uuid.uuid4().hex[:12]}"
    make_bucket(db, acme.account_id, acme_bucket)
    make_bucket(db, globex.account_id)
    run_id = new_run(db)
    bodies = [message([acme.account_id], run_id), message([globex.account_id], run_id)]

    assert runtime.invoke(WORKER, sqs_event(bodies)) == {"batchItemFailures": []}
    first = usage_rows(db)
    # SQS delivers the same batch again, after the bucket changed: the hour's first sample stays
    upload(acme_bucket, [5])
    redelivered = sqs_event(bodies, receive_count=2)
    assert runtime.invoke(WORKER, redelivered) == {"batchItemFailures": []}

    assert len(first) == 4
    assert usage_rows(db) == first
    collection = job_run(db, run_id).stats["collection"]
    assert collection["messages"] == 4 and collection["rows_inserted"] == 4 and collection["rows_skipped"] == 4


# --- failures -------------------------------------------------------------------------------------


def test_an_account_whose_sftpgo_fails_is_reported_and_retried_and_the_others_are_collected(
    runtime: LocalLambda, db: sa.Engine, stub: SftpGoStub, at_hour: datetime
) -> None:
    acme = make_tenant(db, "Acme")
    globex = make_tenant(db, "Globex")
    acme_bucket = make_bucket(db, acme.account_id)
    make_bucket(db, globex.account_id)
    add_sftp_user(db, stub, globex.account_id, "globex.backup", 4096, home_dir="backup")
    run_id = new_run(db)

    def broken(path: dict[str, str], query: dict[str, Any], body: Any) -> Any:
        raise StubError(500, "database is locked")

    stub.handlers["get", "/users/{username}"] = broken
    event = sqs_event([message([acme.account_id], run_id), message([globex.account_id], run_id)])

    result = runtime.invoke(WORKER, event)

    # SftpGo being down may pass: Globex's message comes back later, Acme's is done
    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][1]["messageId"]}]}
    # Acme is collected; Globex left nothing half-written
    assert {row.account_id for row in usage_rows(db)} == {acme.account_id}
    assert {row.bucket_id for row in usage_rows(db)} == {acme_bucket}
    run = job_run(db, run_id)
    assert run.status == "partial"
    (failure,) = run.stats["collection"]["failures"]
    assert failure["subject"] == str(globex.account_id) and failure["retryable"] is True
    assert "SftpGo" in failure["error"] and failure["attempt"] == 1
    assert run.stats["collection"]["accounts_collected"] == 1 and run.stats["collection"]["accounts_failed"] == 1

    # when SftpGo is back, the redelivery collects Globex and adds nothing for Acme
    stub.handlers["get", "/users/{username}"] = stub._get_user
    redelivered = sqs_event([message([globex.account_id], run_id)], receive_count=2)
    assert runtime.invoke(WORKER, redelivered) == {"batchItemFailures": []}
    globex_rows = {row.metric: row for row in usage_rows(db, globex.account_id)}
    assert globex_rows["sftp_storage_bytes"].quantity == 4096 and globex_rows["sftp_storage_bytes"].bucket_id is None
    assert globex_rows["sftp_storage_bytes"].source == "sftpgo"
    collection = job_run(db, run_id).stats["collection"]
    assert collection["accounts_collected"] == 2 and collection["rows_inserted"] == 5
    assert job_run(db, run_id).status == "partial"  # the failure stays on record


def test_a_permanent_backend_failure_is_recorded_but_not_retried(
    runtime: LocalLambda, db: sa.Engine, at_hour: datetime
) -> None:
    # given a live bucket row whose bucket the backend does not have
    acme = make_tenant(db, "Acme")
    globex = make_tenant(db, "Globex")
    make_bucket(db, acme.account_id)
    with Session(db) as session, session.begin():
        from primecloud.models.storage import Bucket

        session.add(Bucket(account_id=globex.account_id, name=f"gone-{uuid.uuid4().hex[:12]}", region="us-east-1"))
    run_id = new_run(db)

    result = runtime.invoke(WORKER, sqs_event([message([acme.account_id, globex.account_id], run_id)]))

    assert result == {"batchItemFailures": []}  # retrying would fail the same way
    assert {row.account_id for row in usage_rows(db)} == {acme.account_id}
    run = job_run(db, run_id)
    assert run.status == "partial"
    (failure,) = run.stats["collection"]["failures"]
    assert failure["subject"] == str(globex.account_id) and failure["retryable"] is False
    assert "BucketNotFound" in failure["error"]


class FlakyCredentials:
    """The real adapter, except that the metrics of one bucket cannot be read (its backend is down)."""

    def __init__(self, broken_bucket: str) -> None:
        self.real = registry.tenant_credentials()
        self.broken_bucket = broken_bucket
        self.capabilities = self.real.capabilities

    def bucket_metrics_many(self, buckets: list[str], start: datetime, end: datetime) -> dict[str, BucketMetrics]:
        if self.broken_bucket in buckets:
            raise Unavailable("CloudWatch failed GetMetricData (ServiceUnavailable).")
        return self.real.bucket_metrics_many(buckets, start, end)


def test_an_account_whose_metrics_backend_fails_does_not_block_the_others(
    runtime: LocalLambda, db: sa.Engine, at_hour: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    acme = make_tenant(db, "Acme")
    globex = make_tenant(db, "Globex")
    acme_bucket = make_bucket(db, acme.account_id)
    broken_name = f"broken-{uuid.uuid4().hex[:12]}"
    make_bucket(db, globex.account_id, broken_name)
    run_id = new_run(db)
    flaky = FlakyCredentials(broken_name)
    monkeypatch.setattr(registry, "tenant_credentials", lambda: flaky)

    event = sqs_event([message([acme.account_id], run_id), message([globex.account_id], run_id)])

    result = runtime.invoke(WORKER, event)

    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][1]["messageId"]}]}
    assert {row.bucket_id for row in usage_rows(db)} == {acme_bucket}
    (failure,) = job_run(db, run_id).stats["collection"]["failures"]
    assert failure["subject"] == str(globex.account_id) and "GetMetricData" in failure["error"]


def test_a_malformed_message_fails_alone(runtime: LocalLambda, db: sa.Engine, at_hour: datetime) -> None:
    acme = make_tenant(db, "Acme")
    make_bucket(db, acme.account_id)
    event = sqs_event(["{not json", message([acme.account_id])])

    result = runtime.invoke(WORKER, event)

    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert len(usage_rows(db, acme.account_id)) == 2


# --- SFTP -----------------------------------------------------------------------------------------


def test_sftp_storage_counts_local_homes_once_per_account(
    runtime: LocalLambda, db: sa.Engine, stub: SftpGoStub, at_hour: datetime
) -> None:
    acme = make_tenant(db, "Acme")
    bucket_name = f"sftp-{uuid.uuid4().hex[:12]}"
    bucket_id = make_bucket(db, acme.account_id, bucket_name)
    add_sftp_user(db, stub, acme.account_id, "acme.web", 1000, home_dir="web")
    add_sftp_user(db, stub, acme.account_id, "acme.logs", 24, home_dir="logs")
    # files of a bucket-homed user are in the bucket: its storage_bytes counts them, not SFTP
    # (not even asked for: SftpGo does not know this one, which would fail the account)
    with Session(db) as session, session.begin():
        session.add(SftpUser(account_id=acme.account_id, username="acme.drop", bucket_id=bucket_id))

    assert runtime.invoke(WORKER, sqs_event([message([acme.account_id])])) == {"batchItemFailures": []}

    (sftp,) = [row for row in usage_rows(db) if row.metric == "sftp_storage_bytes"]
    assert (sftp.bucket_id, sftp.quantity, sftp.period_start) == (None, Decimal(1024), HOUR)


# --- cumulative counters (MinIO) ------------------------------------------------------------------


class CountingBackend:
    """A MinIO-like backend: storage from its usage API, traffic as cumulative counters."""

    capabilities: frozenset[Capability] = frozenset()

    def __init__(self) -> None:
        self.counters: dict[str, tuple[int, int, int]] = {}

    def bucket_metrics_many(self, buckets: list[str], start: datetime, end: datetime) -> dict[str, BucketMetrics]:
        return {
            name: BucketMetrics(
                bucket=name,
                storage_bytes=777,
                object_count=7,
                storage_measured_at=end,
                egress_bytes=self.counters[name][0],
                ingress_bytes=self.counters[name][1],
                requests=self.counters[name][2],
                traffic_mode="cumulative",
            )
            for name in buckets
        }


def test_cumulative_counters_become_hourly_amounts(db: sa.Engine, aws_server: dict[str, str]) -> None:
    acme = make_tenant(db, "Acme")
    name = f"minio-{uuid.uuid4().hex[:12]}"
    bucket_id = make_bucket(db, acme.account_id, name)
    backend = CountingBackend()

    def collect(hour: datetime) -> metering.CollectionReport:
        with system_scope_throughout("test: the collect_usage worker's work"):  # as its handler runs it
            return metering.collect_usage(
                [acme.account_id],
                hour,
                credentials=backend,  # type: ignore[arg-type]
                storage=registry.storage(),
                sftpgo=registry.sftpgo,
                sessions=unit_of_work,
            )

    def traffic(hour: datetime) -> dict[str, tuple[Decimal, str]]:
        return {
            row.metric: (row.quantity, row.source)
            for row in usage_rows(db)
            if row.period_start == hour and row.metric in metering.COUNTERS
        }

    backend.counters[name] = (1000, 50, 10)
    collect(HOUR)  # the first sample is a baseline for the hour before
    assert traffic(HOUR - timedelta(hours=1)) == {
        "egress_bytes": (0, "backend:counter=1000"),
        "ingress_bytes": (0, "backend:counter=50"),
        "api_requests": (0, "backend:counter=10"),
    }
    storage = [r for r in usage_rows(db) if r.metric == "storage_bytes"]
    assert [(r.bucket_id, r.quantity, r.source) for r in storage] == [(bucket_id, 777, "backend")]

    backend.counters[name] = (1500, 80, 25)
    collect(HOUR + timedelta(hours=1))  # [10:00, 11:00): the difference
    assert traffic(HOUR) == {
        "egress_bytes": (500, "backend:counter=1500"),
        "ingress_bytes": (30, "backend:counter=80"),
        "api_requests": (15, "backend:counter=25"),
    }

    backend.counters[name] = (200, 80, 3)  # the servers restarted: egress and requests counters reset
    report = collect(HOUR + timedelta(hours=3))  # an hour was missed: the row holds both
    assert traffic(HOUR + timedelta(hours=2)) == {
        "egress_bytes": (200, "backend:counter=200"),
        "ingress_bytes": (0, "backend:counter=80"),
        "api_requests": (3, "backend:counter=3"),
    }
    assert report.rows_inserted == 5

    # a late redelivery of the missed hour adds no traffic: the later row counted it already
    backend.counters[name] = (260, 90, 9)
    late = collect(HOUR + timedelta(hours=2))
    assert traffic(HOUR + timedelta(hours=1)) == {} and late.rows_inserted == 2  # its storage samples only


# --- dispatcher -> SQS -> worker ------------------------------------------------------------------


def test_dispatcher_to_worker_end_to_end(runtime: LocalLambda, db: sa.Engine, at_hour: datetime) -> None:
    sqs = boto3.client("sqs")
    queue_url = os.environ["USAGE_QUEUE_URL"]
    drain_queue(sqs, queue_url)
    tenants = [make_tenant(db, f"Tenant {index}") for index in range(3)]
    buckets = {tenant.account_id: make_bucket(db, tenant.account_id) for tenant in tenants}

    # the hourly schedule fires the dispatcher
    dispatched = runtime.invoke(DISPATCHER, {"detail-type": "Scheduled Event", "source": "aws.scheduler", "detail": {}})
    assert dispatched["status"] == "succeeded", dispatched
    run_id = uuid.UUID(dispatched["run_id"])
    assert dispatched["stats"]["counts"] == {"accounts": 3, "messages": 1}

    # SQS hands the worker what the dispatcher sent
    received = sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"], WaitTimeSeconds=1
    )["Messages"]
    assert len(received) == 1
    body = json.loads(received[0]["Body"])
    assert body == {
        "account_ids": sorted(str(t.account_id) for t in tenants),
        "period_start": HOUR.isoformat(),
        "run_id": str(run_id),
    }
    event = sqs_event([body])
    event["Records"][0]["messageId"] = received[0]["MessageId"]
    assert runtime.invoke(WORKER, event) == {"batchItemFailures": []}

    rows = usage_rows(db)
    assert {(row.account_id, row.bucket_id) for row in rows} == set(buckets.items())
    assert {row.period_start for row in rows} == {HOUR}
    run = job_run(db, run_id)
    assert run.status == "succeeded" and run.finished_at is not None
    assert run.stats["counts"] == {"accounts": 3, "messages": 1}
    assert run.stats["collection"]["accounts_collected"] == 3 and run.stats["collection"]["rows_inserted"] == 6
    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=received[0]["ReceiptHandle"])

    # a second run in the same hour (a manual re-run) adds nothing
    rerun = runtime.invoke(DISPATCHER, {"trigger": "manual"})
    (again,) = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)["Messages"]
    assert runtime.invoke(WORKER, sqs_event([json.loads(again["Body"])])) == {"batchItemFailures": []}
    assert usage_rows(db) == rows
    collection = job_run(db, uuid.UUID(rerun["run_id"])).stats["collection"]
    assert (collection["rows_inserted"], collection["rows_skipped"]) == (0, 6)
    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=again["ReceiptHandle"])


def test_a_worker_failure_before_the_dispatcher_finishes_keeps_the_run_partial(
    db: sa.Engine, aws_server: dict[str, str]
) -> None:
    from primecloud.jobs import run_job

    acme = make_tenant(db, "Acme")

    def dispatch(stats: Any) -> None:
        # a fast worker records a failure while the dispatcher is still running
        report = metering.CollectionReport(failures=[metering.AccountFailure(acme.account_id, "boom", False)])
        with unit_of_work() as session:
            metering.record_run(session, stats.run_id, report)
        stats.add("messages", 1)

    result = run_job("collect_usage", "manual", dispatch)

    run = job_run(db, result.run_id)
    assert run.status == "partial"
    assert run.stats["counts"] == {"messages": 1} and run.stats["collection"]["accounts_failed"] == 1
