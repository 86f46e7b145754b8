"""docs/benchmarks.md and docs/benchmarks.png from .benchmarks/results.json."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from datetime import UTC, datetime
from typing import Any

from bench.harness import RESULTS, ROOT

DOC = ROOT / "docs" / "benchmarks.md"
CHART = ROOT / "docs" / "benchmarks.png"
CHANGES = ROOT / "bench" / "CHANGES.md"  # hand-written: what was changed to meet each budget


def _machine() -> str:
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in open("/proc/cpuinfo", encoding="utf-8")  # noqa: SIM115
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        cpu = platform.processor() or "unknown CPU"
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT, check=False
    ).stdout
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, commit {commit.strip()}"


def _chart(rows: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [f"{row['group']}: {row['name']}" for row in rows]
    ratios = [row["ratio"] for row in rows]
    # green: within budget; red: over it; grey: a floor (what the stack costs before any code of ours)
    colors = [
        "#8d99ae"
        if str(row["name"]).startswith("floor")
        else "#2a9d8f"
        if row["meets_budget"] in (True, None)
        else "#e76f51"
        for row in rows
    ]
    figure, axis = plt.subplots(figsize=(10, max(3.0, 0.28 * len(rows))))
    axis.barh(names, ratios, color=colors)
    for index, row in enumerate(rows):
        if row["budget"] is not None:
            axis.plot([row["budget"], row["budget"]], [index - 0.4, index + 0.4], color="black", linewidth=1)
    axis.set_xscale("log")
    axis.set_xlabel("ratio to its baseline, same run, log scale (black tick: budget; grey: floor)")
    axis.invert_yaxis()
    axis.tick_params(axis="y", labelsize=7)
    figure.tight_layout()
    figure.savefig(CHART, dpi=110)
    plt.close(figure)


def write() -> None:
    rows = json.loads(RESULTS.read_text())
    _chart(rows)
    lines = [
        "# Benchmarks",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {_machine()}.",
        "Every figure is a ratio against a baseline measured in the same run (these machines are noisy).",
        "Regenerate with `make bench`; CI runs `python -m bench --quick` as a smoke test (no timing assertions).",
        "",
        "![ratios](benchmarks.png)",
        "",
        "| group | figure | value | baseline | ratio | budget | meets | notes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        unit = row["unit"]
        scale, shown = (1000, "ms") if unit == "s" else (1, unit)
        budget = "" if row["budget"] is None else f"{'≥' if row['higher_is_better'] else '≤'} {row['budget']}x"
        meets = {True: "yes", False: "**no**", None: ""}[row["meets_budget"]]
        notes = ", ".join(
            f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}"
            for key, value in row["notes"].items()
        )
        lines.append(
            f"| {row['group']} | {row['name']} | {row['value'] * scale:.2f} {shown} | "
            f"{row['baseline_name']} {row['baseline'] * scale:.2f} {shown} | {row['ratio']:.2f}x | {budget} | {meets} | {notes} |"
        )
    lines += _cold_start_summary(rows)
    if CHANGES.exists():
        lines += ["", CHANGES.read_text().strip()]
    DOC.write_text("\n".join(lines) + "\n")


def _cold_start_summary(rows: list[dict[str, Any]]) -> list[str]:
    """The worst handler of each kind, and the one that sits furthest above its kind's floor."""
    cold = [row for row in rows if row["group"] == "cold_start"]
    handlers = [row for row in cold if row["notes"].get("kind") != "floor"]
    floors = [row for row in cold if row["notes"].get("kind") == "floor"]
    worst = _worst_by_kind(handlers, "ratio")
    if not worst:
        return []
    lines = [
        "",
        "Worst cold start: " + "; ".join(f"{kind} {name} {value:.2f}x" for kind, (name, value) in worst.items()) + ".",
    ]
    if floors:
        above = _worst_by_kind(handlers, "over_floor")
        lines.append(
            "Floors (the stack under each kind, before any handler code): "
            + "; ".join(f"{row['notes']['floor_of']} {row['ratio']:.2f}x" for row in floors)
            + ". Worst above its floor: "
            + "; ".join(f"{kind} {name} {value:.2f}x" for kind, (name, value) in above.items())
            + "."
        )
    return lines


def _worst_by_kind(handlers: list[dict[str, Any]], key: str) -> dict[str, tuple[str, float]]:
    """Per kind, the handler with the highest ``key`` (the ratio, or a note such as over_floor)."""
    worst: dict[str, tuple[str, float]] = {}
    for row in handlers:
        kind = str(row["notes"].get("kind"))
        value = row[key] if key in row else row["notes"].get(key)
        if value is not None and (kind not in worst or value > worst[kind][1]):
            worst[kind] = (str(row["name"]), float(value))
    return worst
