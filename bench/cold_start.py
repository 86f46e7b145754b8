"""Cold start: import each handler in a fresh interpreter, as Lambda's init does, against `import boto3`.

Every figure is paired: its samples alternate with `import boto3` samples, and its ratio is against
the median of those, so a machine that slows down or speeds up during the run moves both sides.
The floors are what every handler of a kind imports before any code of its own (the libraries the
design card prescribes), measured the same way: a budget below its floor cannot be met by the code.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from bench.harness import ROOT, Figure, progress

# As Lambda's runtime does: /opt/python (the layer) and /var/task (CodeUri) on sys.path, then
# `import app` (registered in sys.modules, which pydantic's generic models rely on).
HANDLER_IMPORT = """
import sys, time, importlib
sys.path.insert(0, {layer!r}); sys.path.insert(0, {code!r})
started = time.perf_counter()
module = importlib.import_module({module_name!r})
module.lambda_handler
print(time.perf_counter() - started)
"""
FLOOR_IMPORT = """
import sys, time
sys.path.insert(0, {layer!r})
started = time.perf_counter()
{imports}
print(time.perf_counter() - started)
"""
BOTO3_IMPORT = "import time; started = time.perf_counter(); import boto3; print(time.perf_counter() - started)"
JOB_PREFIX = "functions/jobs/"

# (kind, what, imports): the stack under each kind of handler, without the handler's own models,
# schemas and services. API handlers load the database driver and settings on their first request,
# not at import, so neither is in their floor.
FLOORS: tuple[tuple[str, str, str], ...] = (
    ("resolver", "Powertools resolver with validation (primecloud.api)", "import primecloud.api"),
    (
        "api",
        "resolver + SQLAlchemy ORM + PostgreSQL dialect",
        "import primecloud.api, sqlalchemy.orm, sqlalchemy.dialects.postgresql",
    ),
    (
        "authorizer",
        "Powertools data classes + SQLAlchemy ORM + PostgreSQL dialect + settings",
        "import aws_lambda_powertools.utilities.data_classes, sqlalchemy.orm, sqlalchemy.dialects.postgresql,"
        " pydantic_settings",
    ),
    (
        "job",
        "SQLAlchemy Core + PostgreSQL dialect + Powertools Logger and Metrics",
        "import sqlalchemy.dialects.postgresql\nfrom aws_lambda_powertools import Logger, Metrics",
    ),
)


def _fresh(code: str) -> float:
    env = {"PATH": os.environ.get("PATH", ""), "AWS_DEFAULT_REGION": "us-east-1"}
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return float(output.stdout.strip().splitlines()[-1])


def _paired(fresh: Callable[[str], float], code: str, baseline_code: str, repeats: int) -> tuple[float, float]:
    """Medians of ``code`` and of the baseline, their samples taken alternately."""
    samples: list[float] = []
    baseline_samples: list[float] = []
    for _ in range(repeats):
        baseline_samples.append(fresh(baseline_code))
        samples.append(fresh(code))
    return statistics.median(samples), statistics.median(baseline_samples)


def _floor_figures(
    group: str, fresh: Callable[[str], float], baseline_name: str, layer: str, repeats: int
) -> dict[str, Figure]:
    floors: dict[str, Figure] = {}
    for kind, what, imports in FLOORS:
        value, baseline = _paired(fresh, FLOOR_IMPORT.format(layer=layer, imports=imports), BOTO3_IMPORT, repeats)
        floors[kind] = Figure(
            group=group,
            name=f"floor ({kind}): {what}",
            value=value,
            baseline_name=baseline_name,
            baseline=baseline,
            notes={"kind": "floor", "floor_of": kind},
        )
        progress(f"  floor ({kind}): {value * 1000:.0f} ms ({floors[kind].ratio:.2f}x)")
    return floors


def _kind(logical_id: str, relative_path: str) -> str:
    # The authorizer runs before every API request: it gets the API budget, reported on its own.
    if logical_id == "AuthorizerFunction":
        return "authorizer"
    return "job" if relative_path.startswith(JOB_PREFIX) or logical_id == "MigrateFunction" else "api"


def _over_floor(figure: Figure, floors: dict[str, Figure]) -> None:
    """How far above the stack a handler is (its own models, schemas and services): value over floor,
    each against its own paired baseline so run-time drift cancels."""
    kind = str(figure.notes["kind"])
    floor = floors.get(kind)
    if floor is not None and floor.ratio:
        figure.notes["over_floor"] = round(figure.ratio / floor.ratio, 2)


def run(repeats: int, only: list[str] | None = None) -> list[Figure]:
    from localrun.template import load_template

    template = load_template(ROOT / "template.yaml")
    layer = str(ROOT / "layers" / "common")
    progress(f"cold start: floors, each paired with `import boto3`, x{repeats}")
    floors = _floor_figures("cold_start", _fresh, "import boto3", layer, repeats)
    figures = list(floors.values())
    functions = sorted(template.functions.values(), key=lambda spec: str(spec.code_uri))
    if only:
        functions = [spec for spec in functions if spec.logical_id in only]
    for index, spec in enumerate(functions, 1):
        code_dir = spec.code_uri.resolve()
        code = HANDLER_IMPORT.format(layer=layer, code=str(code_dir), module_name=spec.handler.rsplit(".", 1)[0])
        value, baseline = _paired(_fresh, code, BOTO3_IMPORT, repeats)
        relative = str(code_dir.relative_to(ROOT.resolve()))
        kind = _kind(spec.logical_id, relative)
        figure = Figure(
            group="cold_start",
            name=spec.logical_id,
            value=value,
            baseline_name="import boto3",
            baseline=baseline,
            budget=1.5 if kind == "job" else 1.0,
            notes={"kind": kind, "path": relative},
        )
        _over_floor(figure, floors)
        figures.append(figure)
        progress(f"  [{index}/{len(functions)}] {spec.logical_id}: {figure.value * 1000:.0f} ms ({figure.ratio:.2f}x)")
    return figures


# --------------------------------------------------------------------------- as deployed

BUILD_DIR = ROOT / ".aws-sam" / "build"
BUILT_SAMPLE = ["GetAccountFunction", "ListBucketsFunction", "CreateBucketFunction", "AuthorizerFunction"]
BUILT_JOBS = ["RunBillingFunction", "CollectUsageWorkerFunction"]


def _lambda_python() -> str | None:
    """The functions' runtime (python3.12), or None when this machine has no such interpreter."""
    import shutil

    python = shutil.which("python3.12")
    if python is None:
        return None
    # The interpreter itself, not a launcher (pyenv's shim costs time and needs its environment).
    probe = subprocess.run(
        [python, "-c", "import sys; print(sys.version_info[:2] == (3, 12), sys.executable)"],
        check=False,
        capture_output=True,
        text=True,
    )
    matches, _, executable = probe.stdout.strip().partition(" ")
    return executable if probe.returncode == 0 and matches == "True" else None


def _fresh_built(python: str, code: str, layer: Path) -> float:
    # The artifacts are read-only in Lambda: nothing is written back, so every run sees what was shipped.
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_DEFAULT_REGION": "us-east-1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPATH": str(layer),
    }
    output = subprocess.run([python, "-s", "-c", code], capture_output=True, text=True, env=env, check=True)
    return float(output.stdout.strip().splitlines()[-1])


def run_built(repeats: int, only: list[str] | None = None) -> list[Figure]:
    """Cold start from `sam build`'s output under python3.12, as Lambda imports it: each handler from
    its built CodeUri and the built layer, with the layer's bytecode and without it (what the
    python3.12 builder shipped before layers/common/Makefile compiled it). Baseline: `import boto3`
    from the same built layer."""
    import shutil
    import tempfile

    layer = BUILD_DIR / "CommonLayer" / "python"
    python = _lambda_python()
    if not layer.is_dir() or python is None:
        progress("cold start (built): skipped, needs `make build` output and python3.12")
        return []
    names = only or BUILT_SAMPLE + BUILT_JOBS
    progress(f"cold start (built, {python}): floors, each paired with `import boto3` from the built layer, x{repeats}")

    def fresh(code: str) -> float:
        return _fresh_built(python, code, layer)

    floors = _floor_figures("cold_start_built", fresh, "import boto3 (built layer)", str(layer), repeats)
    figures = list(floors.values())
    with tempfile.TemporaryDirectory(prefix="layer-no-bytecode-") as scratch:
        bare = Path(scratch) / "python"
        shutil.copytree(layer, bare, ignore=shutil.ignore_patterns("__pycache__"))
        for name in names:
            code_dir = BUILD_DIR / name
            if not code_dir.is_dir():
                continue
            code = HANDLER_IMPORT.format(layer=str(layer), code=str(code_dir), module_name="app")
            with_bytecode, baseline = _paired(fresh, code, BOTO3_IMPORT, repeats)
            bare_code = HANDLER_IMPORT.format(layer=str(bare), code=str(code_dir), module_name="app")
            without = statistics.median(_fresh_built(python, bare_code, bare) for _ in range(repeats))
            kind = "job" if name in BUILT_JOBS else ("authorizer" if name == "AuthorizerFunction" else "api")
            figure = Figure(
                group="cold_start_built",
                name=name,
                value=with_bytecode,
                baseline_name="import boto3 (built layer)",
                baseline=baseline,
                budget=1.5 if kind == "job" else 1.0,
                notes={
                    "kind": kind,
                    "python": "3.12",
                    "without_bytecode_s": round(without, 4),
                    "bytecode_speedup": round(without / with_bytecode, 2),
                },
            )
            _over_floor(figure, floors)
            figures.append(figure)
            progress(
                f"  {name}: {with_bytecode * 1000:.0f} ms with bytecode ({figure.ratio:.2f}x), "
                f"{without * 1000:.0f} ms without"
            )
    return figures
