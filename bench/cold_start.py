"""Cold start: import each handler in a fresh interpreter, as Lambda's init does, against `import boto3`."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys

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
