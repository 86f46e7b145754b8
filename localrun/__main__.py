"""``python -m localrun <command>``: gateway, invoke, fire, routes, openapi, check-build, ensure-openssh, dev."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from localrun.template import DEFAULT_TEMPLATE


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


def _read_event(source: str | None) -> Any:
    if source is None:
        return {}
    text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    return json.loads(text) if text.strip() else {}


def _cmd_gateway(args: argparse.Namespace) -> int:
    from localrun.gateway import run

    run(args.template, args.host, args.port, authorizer_cache=args.authorizer_cache)
    return 0


def _stack_environment(template: Path) -> str | None:
    """Take the running ``make dev``'s settings (``.local/dev.env``) unless DATABASE_URL is set.

    Every function of this project's template needs the database: without either, the one-line
    reason (instead of a handler's traceback). Another template's functions may need neither.
    """
    from localrun import dev_env

    try:
        dev_env.apply()
    except dev_env.NoStackEnvironment as missing:
        return str(missing) if template.resolve() == DEFAULT_TEMPLATE.resolve() else None
    return None


def _cmd_invoke(args: argparse.Namespace) -> int:
    from localrun.invoke import invoke

    missing = _stack_environment(args.template)
    if missing:
        print(f"localrun invoke: {missing}", file=sys.stderr)
        return 2
    event = _read_event(args.event)
    with contextlib.redirect_stdout(sys.stderr):  # the function's own logs; stdout carries only the result
        result = invoke(args.function, event, args.template)
    _print_json(result)
    return 0


def _cmd_fire(args: argparse.Namespace) -> int:
    from localrun.invoke import fire

    missing = _stack_environment(args.template)
    if missing:
        print(f"localrun fire: {missing}", file=sys.stderr)
        return 2
    detail = json.loads(args.detail) if args.detail else None
    with contextlib.redirect_stdout(sys.stderr):
        result = fire(args.function, detail, args.template)
    _print_json(result)
    return 0


def _cmd_routes(args: argparse.Namespace) -> int:
    from localrun.gateway import RouteTable
    from localrun.template import load_template

    template = load_template(args.template)
    ordered = RouteTable(template.routes)  # listed in the order the gateway tries them
    rows = [(r.method, r.path, r.function_id, r.authorizer.name if r.authorizer else "public") for r in ordered]
    widths = [max([len(row[i]) for row in rows] + [6]) for i in range(4)]
    for row in [("METHOD", "PATH", "FUNCTION", "AUTH"), *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    if template.schedules:
        print()
        for schedule in template.schedules:
            state = "" if schedule.enabled else " (disabled)"
            print(f"{schedule.kind:<10}  {schedule.expression:<24}  {schedule.function_id}{state}")
    return 0


def _cmd_openapi(args: argparse.Namespace) -> int:
    import time

    from localrun.tools import openapi

    started = time.perf_counter()
    try:
        with contextlib.redirect_stdout(sys.stderr):  # what a handler module prints at import stays off stdout
            if args.check:
                problems = openapi.check(args.template, args.output)
            else:
                target = openapi.write(args.template, args.output)
    except openapi.OpenAPIError as error:
        print(f"cannot generate openapi.json: {error}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - started
    if not args.check:
        print(f"wrote {target} ({elapsed:.1f}s)")
        return 0
    if problems:
        print("openapi.json is out of date:", file=sys.stderr)
        for line in problems:
            print(line, file=sys.stderr)
        return 1
    print(f"openapi.json is up to date with the handlers and template.yaml ({elapsed:.1f}s)")
    return 0


def _cmd_ensure_openssh(_: argparse.Namespace) -> int:
    from localrun.services.sshd import ensure_openssh

    print(ensure_openssh())
    return 0


def run_dev(argv: Sequence[str]) -> int:
    """Hand the arguments as they are to ``localrun.dev:main`` (imported only now: it is heavy)."""
    from localrun.dev import main as dev_main

    return int(dev_main(list(argv)) or 0)


def _cmd_check_build(args: argparse.Namespace) -> int:
    from localrun.template import load_template
    from localrun.tools.build_check import main as check_build

    return check_build(args.build_dir, load_template(args.template), args.python)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m localrun", description="Run the template's Lambda functions locally, without Docker."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help_text: str, template: bool = True) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        if template:
            sub.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE, help="SAM template")
        return sub

    gateway = command("gateway", "serve every HttpApi route of the template on localhost")
    gateway.add_argument("--host", default="127.0.0.1")
    gateway.add_argument("--port", type=int, default=3000)
    gateway.add_argument(
        "--authorizer-cache",
        action="store_true",
        help="cache authorizer decisions for the template's ReauthorizeEvery (off: revocations bite at once)",
    )
    gateway.set_defaults(run=_cmd_gateway)

    invoke = command("invoke", "invoke one function with an event file and print its JSON result")
    invoke.add_argument("function", help="logical id (CreateBucketFunction) or code path (functions/x/y)")
    invoke.add_argument("-e", "--event", help="event JSON file, or - for stdin (default: {})")
    invoke.set_defaults(run=_cmd_invoke)

    fire = command("fire", "run a scheduled function now with an EventBridge Scheduled Event")
    fire.add_argument("function", help="logical id of a function with a Schedule event")
    fire.add_argument("--detail", help="JSON merged into the event's detail, e.g. '{\"dry_run\": true}'")
    fire.set_defaults(run=_cmd_fire)

    command("routes", "list the template's routes (in match order) and schedules").set_defaults(run=_cmd_routes)
    openapi = command("openapi", "write openapi.json from the handlers' routes and models (--check: verify it)")
    openapi.add_argument("--check", action="store_true", help="exit 1 when openapi.json is stale or off the template")
    openapi.add_argument("--output", type=Path, help="the document (default: openapi.json next to the template)")
    openapi.set_defaults(run=_cmd_openapi)
    check_build = command("check-build", "check sam build's output: layer bytecode, sizes, handlers import")
    check_build.add_argument("--build-dir", type=Path, default=Path(".aws-sam/build"))
    check_build.add_argument("--python", default="python3.12", help="the functions' Python (default: python3.12)")
    check_build.set_defaults(run=_cmd_check_build)
    command("ensure-openssh", "install OpenSSH's sshd when missing", template=False).set_defaults(
        run=_cmd_ensure_openssh
    )
    # Listed for --help only: main() passes `dev ...` straight to localrun.dev, which parses its own options.
    command("dev", "the whole local stack: PostgreSQL, moto, migrations, demo data, gateway", template=False)
    command("add-function", "add an API function to template.yaml and write its sample event", template=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["dev"]:
        return run_dev(arguments[1:])
    if arguments[:1] == ["add-function"]:
        from localrun.tools.scaffold import main as add_function_main

        return add_function_main(arguments[1:])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(arguments)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
