"""``make dev``: embedded PostgreSQL, moto server, migrations, demo data, the local gateway.

Ctrl-C stops everything this started. Data persists under .local/ between starts.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LOCAL_DIR = ROOT / ".local"


def _stop_on_signal(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _banner(
    *, seconds: float, base: str, moto_url: str, sftpgo_url: str, polled: str, postgres_url: str, demo: Any
) -> str:
    from localrun.seed import DEMO_PASSWORD, DEMO_USERS, PLATFORM_ADMIN

    owner = DEMO_USERS["owner"]
    return f"""
PrimeCloud local stack is ready in {seconds:.1f}s
  API         {base}
  moto (AWS)  {moto_url}
  SftpGo      {sftpgo_url} (a stub of its REST API; its users live in memory)
  SQS polled  {polled}
  PostgreSQL  {postgres_url} (owner; the API connects as primecloud_api)

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


def _demo_data() -> Any:
    """Demo users, account, prices and plans (once), fresh tokens, and the backend side of live buckets."""
    from localrun.seed import restore_backend_buckets, seed
    from primecloud.db import unit_of_work

    with unit_of_work() as session:
        demo = seed(session)
        restore_backend_buckets(session)
    return demo


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localrun dev")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3000")))
    parser.add_argument("--moto-port", type=int, default=int(os.environ.get("MOTO_PORT", "4566")))
    args = parser.parse_args(list(argv or []))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    signal.signal(signal.SIGTERM, _stop_on_signal)  # `kill` stops the stack as cleanly as Ctrl-C
    started = time.monotonic()

    from localrun.gateway import make_server
    from localrun.services.moto import bootstrap_aws, start_moto
    from localrun.services.postgres import from_env_or_embedded, run_alembic

    LOCAL_DIR.mkdir(exist_ok=True)
    postgres = from_env_or_embedded("DATABASE_URL", LOCAL_DIR / "pgdata", "primecloud")
    moto = None
    server = None
    sftpgo = None
    poller = None
    try:
        moto = start_moto(port=args.moto_port)
        from localrun.services.sftpgo_stub import SftpGoStub

        # SftpGo's REST API can't run here: a stub that enforces its documented shapes stands in.
        sftpgo = SftpGoStub(api_key=os.environ.get("SFTPGO_API_KEY", "local-sftpgo-admin-key"))
        sftpgo_url = sftpgo.start()
        os.environ.update(
            {
                "DATABASE_URL": postgres.url,
                "ENVIRONMENT": "local",
                "POWERTOOLS_TRACE_DISABLED": "true",
                "POWERTOOLS_METRICS_NAMESPACE": "PrimeCloudLocal",
                "POWERTOOLS_SERVICE_NAME": "primecloud",
                "PUBLIC_BASE_URL": f"http://127.0.0.1:{args.port}",
                "SFTPGO_URL": sftpgo_url,
                "SFTPGO_API_KEY": sftpgo.api_key,
            }
        )
        os.environ.update(bootstrap_aws(moto.url))
        run_alembic(postgres.url, "upgrade", "head")  # as the owner; the API as the application role:
        from localrun.services.postgres import ensure_app_login

        os.environ["DATABASE_URL"] = ensure_app_login(postgres.url)  # row-level security applies, as in AWS

        demo = _demo_data()

        server = make_server(ROOT / "template.yaml", "127.0.0.1", args.port)
        base = server.base_url
        from localrun.sqs_poller import QueuePoller

        # What Lambda's SQS event source does in AWS: collect_usage's batches reach its worker.
        poller = QueuePoller(server.gateway.template, server.gateway.runtime)
        polled = ", ".join(f"{c.queue_id} -> {c.function_id}" for c in poller.start()) or "none"
        print(
            _banner(
                seconds=time.monotonic() - started,
                base=base,
                moto_url=moto.url,
                sftpgo_url=sftpgo_url,
                polled=polled,
                postgres_url=postgres.url,
                demo=demo,
            ),
            flush=True,
        )
        server.serve_forever()
    except KeyboardInterrupt:
        print("\nstopping…", flush=True)
    finally:
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
