"""The local stack as `make dev` runs it: sent mail is readable, a restart rebuilds what moto forgot.

moto keeps everything in memory while PostgreSQL keeps its data under .local/: without the rebuild,
an "every bucket" access key made before the restart has no IAM user, and creating a bucket (which
adds it to that key's policy) fails.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import boto3
import pytest
import sqlalchemy as sa
from botocore.exceptions import ClientError

from tests.conftest import ApiClient
from tests.factories import Tenant, make_tenant


def aws(service: str) -> Any:
    return boto3.client(service, endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1")


def forget_like_a_moto_restart(access_key_id: str, bucket_name: str) -> None:
    """What a new moto process no longer has: the key's IAM user (policies, key) and the bucket."""
    iam = aws("iam")
    user = iam.get_access_key_last_used(AccessKeyId=access_key_id)["UserName"]
    for policy in iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]:
        iam.detach_user_policy(UserName=user, PolicyArn=policy["PolicyArn"])
        iam.delete_policy(PolicyArn=policy["PolicyArn"])
    iam.delete_access_key(UserName=user, AccessKeyId=access_key_id)
    iam.delete_user(UserName=user)
    aws("s3").delete_bucket(Bucket=bucket_name)


def moto_secret(access_key_id: str) -> str:
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.iam.models import iam_backends

    return str(iam_backends[DEFAULT_ACCOUNT_ID]["aws"].access_keys[access_key_id].secret_access_key)


def policy_buckets(access_key_id: str) -> set[str]:
    from primecloud.adapters.tenant_aws import names_in_document

    iam = aws("iam")
    user = iam.get_access_key_last_used(AccessKeyId=access_key_id)["UserName"]
    names: set[str] = set()
    for policy in iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]:
        version = iam.get_policy(PolicyArn=policy["PolicyArn"])["Policy"]["DefaultVersionId"]
        document = iam.get_policy_version(PolicyArn=policy["PolicyArn"], VersionId=version)["PolicyVersion"]
        names |= names_in_document(document["Document"])
    return names


@pytest.fixture
def acme(db: sa.Engine) -> Tenant:
    return make_tenant(db, "Acme")


def test_a_restart_rebuilds_buckets_and_the_iam_users_of_access_keys(api: ApiClient, acme: Tenant) -> None:
    from localrun.dev import _restore_backend

    token = acme.token("admin")
    first = f"restart-{uuid.uuid4().hex[:12]}"
    assert api.post(f"/v1/accounts/{acme.account_id}/buckets", token=token, json={"name": first}).status == 201
    created = api.post(f"/v1/accounts/{acme.account_id}/access-keys", token=token, json={"name": "every bucket"})
    assert created.status == 201, created
    access_key_id, secret = created.json["access_key_id"], created.json["secret_access_key"]

    forget_like_a_moto_restart(access_key_id, first)
    with pytest.raises(ClientError):
        aws("s3").head_bucket(Bucket=first)

    assert _restore_backend() == []  # every secret could be restored

    aws("s3").head_bucket(Bucket=first)  # back, empty
    assert moto_secret(access_key_id) == secret  # the key works for S3 clients as before
    assert policy_buckets(access_key_id) == {first}
    second = f"restart-{uuid.uuid4().hex[:12]}"
    made = api.post(f"/v1/accounts/{acme.account_id}/buckets", token=token, json={"name": second})
    assert made.status == 201, made  # the every-bucket key's policy takes it in
    assert policy_buckets(access_key_id) == {first, second}
    assert _restore_backend() == []  # nothing to do the second time


def test_sent_mail_is_listed_by_the_local_gateway_newest_first(api: ApiClient, acme: Tenant) -> None:
    invitations = f"/v1/accounts/{acme.account_id}/invitations"
    for email in ("first@example.com", "second@example.com"):
        sent = api.post(invitations, token=acme.token("admin"), json={"email": email, "role": "member"})
        assert sent.status == 201, sent

    mail = api.get("/__local/mail")
    assert mail.status == 200
    newest, before = mail.json["mail"][:2]
    assert newest["to"] == ["second@example.com"] and before["to"] == ["first@example.com"]
    assert "invited" in newest["subject"]
    assert "pci_" in newest["text"]  # the invitation token a new user needs
    assert newest["sent_at"] >= before["sent_at"]
