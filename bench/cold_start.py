"""Cold start: import each handler in a fresh interpreter, as Lambda's init does, against `import boto3`."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
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
BOTO3_IMPORT = "import time; started = time.perf_counter(); import boto3; print(time.perf_counter() - started)"
JOB_PREFIX = "functions/jobs/"


def _fresh(code: str) -> float:
    env = {"PATH": os.environ.get("PATH", ""), "POWERTOOLS_TRACE_DISABLED": "true", "AWS_DEFAULT_REGION": "us-east-1"}
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return float(output.stdout.strip().splitlines()[-1])


def run(repeats: int, only: list[str] | None = None) -> list[Figure]:
    from localrun.template import load_template

    template = load_template(ROOT / "template.yaml")
    layer = str(ROOT / "layers" / "common")
    progress(f"cold start: baseline `import boto3` x{repeats}")
    baseline_samples = [_fresh(BOTO3_IMPORT) for _ in range(repeats)]
    baseline = statistics.median(baseline_samples)
    figures = []
    functions = sorted(template.functions.values(), key=lambda spec: str(spec.code_uri))
    if only:
        functions = [spec for spec in functions if spec.logical_id in only]
    for index, spec in enumerate(functions, 1):
        code_dir = spec.code_uri.resolve()
        code = HANDLER_IMPORT.format(layer=layer, code=str(code_dir), module_name=spec.handler.rsplit(".", 1)[0])
        samples = [_fresh(code) for _ in range(repeats)]
        relative = str(code_dir.relative_to(ROOT.resolve()))
        # The authorizer runs before every API request: it gets the API budget, reported on its own.
        kind = "job" if relative.startswith(JOB_PREFIX) or spec.logical_id == "MigrateFunction" else "api"
        if spec.logical_id == "AuthorizerFunction":
            kind = "authorizer"
        figure = Figure(
            group="cold_start",
            name=spec.logical_id,
            value=statistics.median(samples),
            baseline_name="import boto3",
            baseline=baseline,
            budget=1.5 if kind == "job" else 1.0,
            notes={"kind": kind, "path": relative},
        )
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
        "POWERTOOLS_TRACE_DISABLED": "true",
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
    progress(f"cold start (built, {python}): baseline `import boto3` from the built layer x{repeats}")
    baseline = statistics.median(_fresh_built(python, BOTO3_IMPORT, layer) for _ in range(repeats))
    figures = []
    with tempfile.TemporaryDirectory(prefix="layer-no-bytecode-") as scratch:
        bare = Path(scratch) / "python"
        shutil.copytree(layer, bare, ignore=shutil.ignore_patterns("__pycache__"))
        for name in names:
            code_dir = BUILD_DIR / name
            if not code_dir.is_dir():
                continue
            code = HANDLER_IMPORT.format(layer=str(layer), code=str(code_dir), module_name="app")
            with_bytecode = statistics.median(_fresh_built(python, code, layer) for _ in range(repeats))
            bare_code = HANDLER_IMPORT.format(layer=str(bare), code=str(code_dir), module_name="app")
            without = statistics.median(_fresh_built(python, bare_code, bare) for _ in range(repeats))
            is_job = name in BUILT_JOBS
            figure = Figure(
                group="cold_start_built",
                name=name,
                value=with_bytecode,
                baseline_name="import boto3 (built layer)",
                baseline=baseline,
                budget=1.5 if is_job else 1.0,
                notes={
                    "kind": "job" if is_job else ("authorizer" if name == "AuthorizerFunction" else "api"),
                    "python": "3.12",
                    "without_bytecode_s": round(without, 4),
                    "bytecode_speedup": round(without / with_bytecode, 2),
                },
            )
            figures.append(figure)
            progress(
                f"  {name}: {with_bytecode * 1000:.0f} ms with bytecode ({figure.ratio:.2f}x), "
                f"{without * 1000:.0f} ms without"
            )
    return figures
