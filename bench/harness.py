"""Repeats, warm-ups, medians and spread; results collected for the report."""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / ".benchmarks" / "results.json"


@dataclass
class Stats:
    samples: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.samples)
        index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
        return ordered[index]

    @property
    def spread(self) -> float:
        """Interquartile range relative to the median: how noisy the figure is."""
        if len(self.samples) < 4:
            return 0.0
        return (self.percentile(0.75) - self.percentile(0.25)) / self.median if self.median else 0.0


def measure(action: Callable[[], object], *, repeats: int, warmups: int = 1) -> Stats:
    for _ in range(warmups):
        action()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return Stats(samples)


def measure_paired(
    action: Callable[[], object],
    baseline: Callable[[], object],
    *,
    repeats: int,
    warmups: int = 1,
    blocks: int = 10,
) -> tuple[Stats, Stats]:
    """``action`` and ``baseline`` timed in alternating blocks, so both see the same machine: on a shared
    host the speed drifts within minutes, and a baseline taken once at the start would carry that
    drift into every ratio. Each block is a tight loop of one of them (sample by sample alternation
    would time the baseline with the action's cold caches, flattering every ratio)."""
    for _ in range(warmups):
        baseline()
        action()
    per_block = max(1, repeats // blocks)
    samples: list[float] = []
    baseline_samples: list[float] = []
    while len(samples) < repeats:
        for timed, into in ((baseline, baseline_samples), (action, samples)):
            for _ in range(min(per_block, repeats - len(samples))):
                started = time.perf_counter()
                timed()
                into.append(time.perf_counter() - started)
    return Stats(samples), Stats(baseline_samples)


@dataclass
class Figure:
    """One measured figure against its baseline; ``budget`` is the ratio the code must reach."""

    group: str
    name: str
    value: float
    baseline_name: str
    baseline: float
    unit: str = "s"
    budget: float | None = None
    higher_is_better: bool = False
    spread: float = 0.0
    notes: dict[str, object] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.value / self.baseline if self.baseline else float("inf")

    @property
    def meets_budget(self) -> bool | None:
        if self.budget is None:
            return None
        return self.ratio >= self.budget if self.higher_is_better else self.ratio <= self.budget


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def save(figures: list[Figure], *, merge: bool = True) -> None:
    RESULTS.parent.mkdir(exist_ok=True)
    existing: list[dict[str, object]] = []
    if merge and RESULTS.exists():
        groups = {figure.group for figure in figures}
        existing = [row for row in json.loads(RESULTS.read_text()) if row["group"] not in groups]
    rows = existing + [
        {**asdict(figure), "ratio": figure.ratio, "meets_budget": figure.meets_budget} for figure in figures
    ]
    RESULTS.write_text(json.dumps(rows, indent=2))
