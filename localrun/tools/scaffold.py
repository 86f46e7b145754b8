"""``python -m localrun add-function``: put an API function into template.yaml and events/.

Adding an operation is: write ``functions/<area>/<op>/app.py``, then run this once. It edits
template.yaml under a file lock (several people may add functions at once) and writes the
function's sample event.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import re
from collections.abc import Sequence
from pathlib import Path

from localrun.gateway.events import http_event, write_event

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
ANCHOR = "  # ---------------------------------------------------------------- scheduled jobs"


def function_block(logical_id: str, code_uri: str, method: str, path: str, *, public: bool, policies: list[str]) -> str:
    auth = ", Auth: {Authorizer: NONE}" if public else ""
    lines = [
        f"  {logical_id}:",
        "    Type: AWS::Serverless::Function",
        "    Properties:",
        f"      CodeUri: {code_uri.rstrip('/')}/",
        "      Handler: app.lambda_handler",
        "      Events:",
        "        Api:",
        "          Type: HttpApi",
        f'          Properties: {{ApiId: !Ref HttpApi, Method: {method}, Path: "{path}"{auth}}}',
        "      Policies:",
        "        - AWSSecretsManagerGetSecretValuePolicy: {SecretArn: !Ref DatabaseSecretArn}",
        *[f"        - {policy}" for policy in policies],
        "",
    ]
    return "\n".join(lines) + "\n"


def add_function(
    logical_id: str,
    code_uri: str,
    method: str,
    path: str,
    *,
    public: bool = False,
    policies: Sequence[str] = (),
    body: object = None,
) -> None:
    if not re.fullmatch(r"[A-Z][A-Za-z0-9]+Function", logical_id):
        raise SystemExit(f"logical id {logical_id!r} must be PascalCase ending in 'Function'")
    if not (ROOT / code_uri / "app.py").is_file():
        raise SystemExit(f"{code_uri}/app.py does not exist: write the handler first")
    method = method.upper()
    with TEMPLATE.open("r+", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        text = handle.read()
        if re.search(rf"^  {logical_id}:$", text, re.MULTILINE):
            raise SystemExit(f"{logical_id} is already in template.yaml")
        if f"CodeUri: {code_uri.rstrip('/')}/\n" in text:
            raise SystemExit(f"{code_uri} is already deployed by another function")
        if ANCHOR not in text:
            raise SystemExit("template.yaml lost its scheduled-jobs section marker")
        block = function_block(logical_id, code_uri, method, path, public=public, policies=list(policies))
        handle.seek(0)
        handle.write(text.replace(ANCHOR, block + ANCHOR, 1))
        handle.truncate()
    area_op = Path(code_uri).relative_to("functions")
    write_event(ROOT / "events" / area_op.with_suffix(".json"), http_event(method, path, body=body, public=public))
    print(f"added {logical_id}: {method} {path} -> {code_uri} (+ events/{area_op}.json)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localrun add-function", description=__doc__)
    parser.add_argument("logical_id", help="e.g. ListSessionsFunction")
    parser.add_argument("method", help="GET, POST, PATCH, PUT, DELETE")
    parser.add_argument("path", help="e.g. /v1/me/sessions/{session_id}")
    parser.add_argument("code_uri", help="e.g. functions/me/list_sessions")
    parser.add_argument("--public", action="store_true", help="no authorizer (signup, login, ...)")
    parser.add_argument("--policy", action="append", default=[], help="an extra SAM policy line, repeatable")
    parser.add_argument("--body", help="a JSON sample body for the event")
    args = parser.parse_args(list(argv) if argv is not None else None)
    add_function(
        args.logical_id,
        args.code_uri,
        args.method,
        args.path,
        public=args.public,
        policies=args.policy,
        body=json.loads(args.body) if args.body else None,
    )
    return 0
