"""``make dev``: embedded PostgreSQL, moto server, migrations, demo data, the local gateway.

Ctrl-C stops everything this started. PostgreSQL's data persists under .local/ between starts;
moto's state (buckets, IAM users, KMS) lives in memory and is rebuilt from the database on start
(buckets empty, access keys under their own ids; the local KMS key is kept in .local/ so stored
secrets still open). While it runs, .local/dev.env holds its environment for `localrun invoke`.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LOCAL_DIR = ROOT / ".local"
KMS_KEY_FILE = LOCAL_DIR / "moto-kms-key.json"
HOST = "127.0.0.1"


class PortBusy(Exception):
    """A port the stack needs is taken; the message is the one line to print."""


def _exit_with(message: str) -> int:
    print(message, file=sys.stderr)
    return 2


def _claim_port(port: int, variable: str, option: str) -> None:
    """Fail fast, before anything starts, when ``port`` is taken (0 means any free port: never busy)."""
    if port == 0:
        return
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind: TIME_WAIT is no conflict
        probe.bind((HOST, port))
    except OSError as error:
        if error.errno != errno.EADDRINUSE:
            raise
        raise PortBusy(
            f"make dev: port {port} is already in use; choose another with {variable}=<port> make dev"
            f" (or python -m localrun dev {option} <port>)"
        ) from None
    finally:
        probe.close()


def _stop_on_signal(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _banner(
    *,
    seconds: float,
    base: str,
    moto_url: str,
    sftpgo_url: str,
    polled: str,
    postgres_url: str,
    demo: Any,
    lost_secrets: list[str],
) -> str:
    from localrun.dev_env import DEV_ENV_FILE
    from localrun.seed import DEMO_PASSWORD, DEMO_USERS, PLATFORM_ADMIN

    owner = DEMO_USERS["owner"]
    return f"""
PrimeCloud local stack is ready in {seconds:.1f}s
  API         {base}
  moto (AWS)  {moto_url}
  SftpGo      {sftpgo_url} (a stub of its REST API; its users live in memory)
  SQS polled  {polled}
  PostgreSQL  {postgres_url} (owner; the API connects as primecloud_api)
  Mail        not delivered: curl {base}/__local/mail lists what was sent, newest first
              (invitation and password-reset tokens are there)
  Environment {DEV_ENV_FILE.relative_to(ROOT)} (localrun invoke/fire in another terminal use it)
{_lost_secrets_note(lost_secrets)}
Demo users (password: {DEMO_PASSWORD}):
  {owner} (owner), {DEMO_USERS["admin"]} (admin),
  {DEMO_USERS["member"]} (member), {DEMO_USERS["viewer"]} (viewer), {PLATFORM_ADMIN} (platform admin)
Demo account: {demo.account_id}
Owner access token (valid 12 h): {demo.tokens[owner]}

Try:
  curl {base}/health/ready
  curl -H "Authorization: Bearer {demo.tokens[owner]}" {base}/v1/accounts/{demo.account_id}
  .venv/bin/python -m localrun routes

Ctrl-C stops everything.
"""


def _lost_secrets_note(lost_secrets: list[str]) -> str:
    if not lost_secrets:
        return ""
    keys = ", ".join(lost_secrets)
    return f"\nAccess keys whose secret was lost in a restart (create new ones for S3 clients): {keys}\n"


def _demo_data() -> Any:
    """Demo users, account, prices and plans (once) and fresh tokens."""
    from localrun.seed import seed
    from primecloud.db import unit_of_work

    with unit_of_work() as session:
        return seed(session)


def _restore_backend() -> list[str]:
    """moto's side of what the database says exists: buckets (empty), IAM users of access keys.

    Returns the access key ids whose secret could not be restored.
    """
    from localrun.seed import restore_backend_access_keys, restore_backend_buckets
    from primecloud.db import system_scope, unit_of_work

    with unit_of_work() as session:
        system_scope(session, "make dev: rebuild moto's buckets and IAM users from the database")
        buckets = restore_backend_buckets(session)
        lost_secrets = restore_backend_access_keys(session)
    if buckets:
        logging.getLogger("localrun.dev").info(
            "recreated %d buckets in moto (empty: object bytes are not kept)", buckets
        )
    for access_key_id in lost_secrets:
        logging.getLogger("localrun.dev").warning(
            "access key %s was restored with a new secret (its old one is lost): create a new key for S3 clients",
            access_key_id,
        )
    return lost_secrets


def _prepare_database_and_aws(postgres_url: str, moto_url: str, sftpgo: Any, port: int) -> dict[str, str]:
    """Point this process at the stack, create the AWS resources, migrate; returns the stack's environment.

    The environment returned (and left in ``os.environ``) is what the gateway's functions see:
    ``DATABASE_URL`` is the API's own login, not the owner's.
    """
    from localrun.services.moto import bootstrap_aws
    from localrun.services.postgres import ensure_app_login, run_alembic

    stack_environment = {
        "DATABASE_URL": postgres_url,
        "ENVIRONMENT": "local",
        "POWERTOOLS_METRICS_NAMESPACE": "PrimeCloudLocal",
        "POWERTOOLS_SERVICE_NAME": "primecloud",
        "PUBLIC_BASE_URL": f"http://{HOST}:{port}",
        "SFTPGO_URL": sftpgo.url,
        "SFTPGO_API_KEY": sftpgo.api_key,
    }
    os.environ.update(stack_environment)
    stack_environment.update(bootstrap_aws(moto_url))
    os.environ.update(stack_environment)
    run_alembic(postgres_url, "upgrade", "head")  # as the owner; the API as the application role:
    stack_environment["DATABASE_URL"] = ensure_app_login(postgres_url)  # row-level security applies, as in AWS
    os.environ["DATABASE_URL"] = stack_environment["DATABASE_URL"]
    return stack_environment


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m localrun dev")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3000")), help="the API (env PORT)")
    parser.add_argument(
        "--moto-port", type=int, default=int(os.environ.get("MOTO_PORT", "4566")), help="moto's AWS (env MOTO_PORT)"
    )
    return parser.parse_args(list(argv or []))


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    try:  # one line naming the port and its variable, before anything starts (not a traceback later)
        _claim_port(args.port, "PORT", "--port")
        _claim_port(args.moto_port, "MOTO_PORT", "--moto-port")
    except PortBusy as busy:
        return _exit_with(str(busy))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    signal.signal(signal.SIGTERM, _stop_on_signal)  # `kill` stops the stack as cleanly as Ctrl-C
    started = time.monotonic()

    from localrun import dev_env
    from localrun.gateway import make_server
    from localrun.services.moto import keep_kms_key, start_moto
    from localrun.services.postgres import from_env_or_embedded

    LOCAL_DIR.mkdir(exist_ok=True)
    postgres = from_env_or_embedded("DATABASE_URL", LOCAL_DIR / "pgdata", "primecloud")
    moto = None
    server = None
    sftpgo = None
    poller = None
    try:
        moto = start_moto(port=args.moto_port, host=HOST)
        keep_kms_key(KMS_KEY_FILE)  # before bootstrap_aws looks for the key's alias
        from localrun.services.sftpgo_stub import SftpGoStub

        # SftpGo's REST API can't run here: a stub that enforces its documented shapes stands in.
        sftpgo = SftpGoStub(api_key=os.environ.get("SFTPGO_API_KEY", "local-sftpgo-admin-key"))
        sftpgo.start()
        stack_environment = _prepare_database_and_aws(postgres.url, moto.url, sftpgo, args.port)

        demo = _demo_data()
        lost_secrets = _restore_backend()

        server = make_server(ROOT / "template.yaml", HOST, args.port)
        base = server.base_url
        from localrun.sqs_poller import QueuePoller

        # What Lambda's SQS event source does in AWS: collect_usage's batches reach its worker.
        poller = QueuePoller(server.gateway.template, server.gateway.runtime)
        polled = ", ".join(f"{c.queue_id} -> {c.function_id}" for c in poller.start()) or "none"
        dev_env.write(stack_environment)
        print(
            _banner(
                seconds=time.monotonic() - started,
                base=base,
                moto_url=moto.url,
                sftpgo_url=sftpgo.url,
                polled=polled,
                postgres_url=postgres.url,
                demo=demo,
                lost_secrets=lost_secrets,
            ),
            flush=True,
        )
        server.serve_forever()
    except KeyboardInterrupt:
        print("\nstopping…", flush=True)
    finally:
        dev_env.remove()
        if poller is not None:
            poller.stop()
        if server is not None:
            server.server_close()
        if sftpgo is not None:
            sftpgo.stop()
        if moto is not None:
            moto.stop()
        postgres.stop()
    return 0
