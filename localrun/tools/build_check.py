"""Check what `sam build` produced before it is deployed (`make build` runs this after the build).

- Every module of the shared layer has bytecode for the functions' Python: /opt is read-only in
  Lambda, so a module without it is compiled from source on every cold start.
- The layer and each function together stay within Lambda's 250 MB unzipped limit.
- Every handler imports from the built artifacts alone, under the functions' Python (a wheel
  for the wrong platform, or a module the layer lacks, fails here and not in AWS).
- Every data file of the primecloud package (the invoice PDF's fonts) is in the layer, whole: it is
  read only when used, so no import would show it missing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from localrun.template import Template

# Lambda's quota: a function and all its layers, unzipped (262,144,000 bytes).
UNZIPPED_LIMIT_BYTES = 262_144_000
LAYER_ID = "CommonLayer"
LAYER_PACKAGE = Path(__file__).resolve().parents[2] / "layers" / "common" / "primecloud"

# Imports every handler directory given on argv the way Lambda would (its dir, then the layer, first
# on sys.path; "app" as the module name), each after the previous one is forgotten.
_IMPORT_ALL = """
import importlib, json, sys
failures = []
for directory in sys.argv[1:]:
    sys.path.insert(0, directory)
    sys.modules.pop("app", None)
    try:
        importlib.import_module("app")
    except Exception as error:
        failures.append([directory, f"{type(error).__name__}: {error}"])
    finally:
        sys.path.remove(directory)
print(json.dumps(failures))
"""


@dataclass
class BuildReport:
    problems: list[str] = field(default_factory=list)
    modules: int = 0
    layer_bytes: int = 0
    largest_total_bytes: int = 0


def _tree_bytes(root: Path) -> int:
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file() and not path.is_symlink())


def _missing_bytecode(layer_python: Path, tag: str) -> tuple[int, list[Path]]:
    modules = 0
    missing = []
    for source in layer_python.rglob("*.py"):
        modules += 1
        if not (source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc").is_file():
            missing.append(source.relative_to(layer_python))
    return modules, missing


def _missing_data_files(package: Path, layer_python: Path) -> list[Path]:
    """The package's non-Python files that the build lacks or holds with another size."""
    missing = []
    for source in sorted(package.rglob("*")):
        if not source.is_file() or source.suffix in (".py", ".pyc") or "__pycache__" in source.parts:
            continue
        relative = source.relative_to(package.parent)
        built = layer_python / relative
        if not built.is_file() or built.stat().st_size != source.stat().st_size:
            missing.append(relative)
    return missing


def check_build(build_dir: Path, template: Template, python: str, package: Path | None = None) -> BuildReport:
    """``package``: the layer's package source, whose data files the build must hold (main passes it)."""
    report = BuildReport()
    build_dir = build_dir.resolve()
    layer_python = build_dir / LAYER_ID / "python"
    if not layer_python.is_dir():
        report.problems.append(f"{layer_python} is missing: run sam build first")
        return report

    tag = subprocess.run(
        [python, "-c", "import sys; print(sys.implementation.cache_tag)"], check=True, capture_output=True, text=True
    ).stdout.strip()
    report.modules, missing = _missing_bytecode(layer_python, tag)
    if missing:
        shown = ", ".join(str(path) for path in missing[:5])
        report.problems.append(f"{len(missing)} of {report.modules} layer modules have no {tag} bytecode: {shown}")
    if package is not None and (lacking := _missing_data_files(package, layer_python)):
        shown = ", ".join(str(path) for path in lacking[:5])
        report.problems.append(f"{len(lacking)} data files of the layer are missing or differ: {shown}")

    report.layer_bytes = _tree_bytes(build_dir / LAYER_ID)
    handler_dirs = []
    for function_id in sorted(template.functions):
        function_dir = build_dir / function_id
        if not function_dir.is_dir():
            report.problems.append(f"{function_id} was not built")
            continue
        handler_dirs.append(str(function_dir))
        total = report.layer_bytes + _tree_bytes(function_dir)
        report.largest_total_bytes = max(report.largest_total_bytes, total)
        if total > UNZIPPED_LIMIT_BYTES:
            report.problems.append(f"{function_id} with its layer is {total:,} bytes unzipped (Lambda allows 250 MB)")

    # Bytecode is present: the interpreter must not write any (it would hide a missing pyc next time).
    env = {**os.environ, "PYTHONPATH": str(layer_python), "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1"}
    result = subprocess.run(
        [python, "-s", "-c", _IMPORT_ALL, *handler_dirs],
        capture_output=True,
        text=True,
        env=env,
        cwd=build_dir,
        check=False,
    )
    if result.returncode != 0:
        report.problems.append(f"importing the handlers failed: {result.stderr.strip()[-2000:]}")
    else:
        for directory, error in json.loads(result.stdout.strip().splitlines()[-1]):
            report.problems.append(f"{Path(directory).name} does not import from the build: {error}")
    return report


def main(build_dir: Path, template: Template, python: str) -> int:
    report = check_build(build_dir, template, python, package=LAYER_PACKAGE)
    print(
        f"build check: {report.modules} layer modules with bytecode, layer {report.layer_bytes / 1e6:.1f} MB, "
        f"largest function with layer {report.largest_total_bytes / 1e6:.1f} MB unzipped "
        f"(limit {UNZIPPED_LIMIT_BYTES / 1e6:.0f} MB), {len(template.functions)} handlers imported with {python}"
    )
    for problem in report.problems:
        print(f"  problem: {problem}", file=sys.stderr)
    return 1 if report.problems else 0
