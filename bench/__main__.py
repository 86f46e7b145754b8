"""`python -m bench [--quick] [cold_start warm_api ...]`: run benchmarks, write docs/benchmarks.md."""

from __future__ import annotations

import argparse
import sys

from bench import harness


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "groups", nargs="*", default=["cold_start", "cold_start_built", "warm_api", "billing", "purge", "ingestion"]
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test, figures are not meaningful")
    args = parser.parse_args(argv)
    figures: list[harness.Figure] = []
    if "cold_start" in args.groups:
        from bench import cold_start

        only = ["HealthLiveFunction", "GetAccountFunction", "RunBillingFunction"] if args.quick else None
        figures += cold_start.run(repeats=1 if args.quick else 5, only=only)
    if "cold_start_built" in args.groups:
        from bench import cold_start

        figures += cold_start.run_built(
            repeats=1 if args.quick else 5, only=["GetAccountFunction", "RunBillingFunction"] if args.quick else None
        )
    if "warm_api" in args.groups:
        from bench import warm_api

        figures += warm_api.run(repeats=5 if args.quick else 200, list_size=20 if args.quick else 100)
    if "billing" in args.groups:
        from bench import billing

        figures += billing.run(**({"accounts": 20, "hours": 48, "repeats": 1} if args.quick else {}))
    if "purge" in args.groups:
        from bench import purge

        figures += purge.run(**({"rows": 5_000, "repeats": 1} if args.quick else {}))
    if "ingestion" in args.groups:
        from bench import ingestion

        figures += ingestion.run(**({"buckets": 5, "hours": 10, "repeats": 1} if args.quick else {}))
    harness.save(figures)
    if not args.quick:
        from bench import report

        report.write()
    harness.progress(f"{len(figures)} figures measured")
    return 0


if __name__ == "__main__":
    sys.exit(main())
