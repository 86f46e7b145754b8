"""localrun.tools.build_check: what `make build` verifies in sam build's output before a deploy."""

from __future__ import annotations

import compileall
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from localrun.template import Template
from localrun.tools import build_check


def _template(*function_ids: str) -> Template:
    return cast(Template, SimpleNamespace(functions=dict.fromkeys(function_ids)))


def _build(tmp_path: Path, handler_source: str = "import shared_mod\nlambda_handler = shared_mod.handle\n") -> Path:
    layer = tmp_path / "CommonLayer" / "python"
    layer.mkdir(parents=True)
    (layer / "shared_mod.py").write_text("def handle(event, context):\n    return event\n")
    compileall.compile_dir(layer, quiet=1)
    function = tmp_path / "GetThingFunction"
    function.mkdir()
    (function / "app.py").write_text(handler_source)
    return tmp_path


def test_a_complete_build_passes(tmp_path: Path) -> None:
    report = build_check.check_build(_build(tmp_path), _template("GetThingFunction"), sys.executable)

    assert report.problems == []
    assert report.modules == 1
    assert report.layer_bytes > 0
    assert report.largest_total_bytes > report.layer_bytes  # the function's own code counts too


def test_a_layer_module_without_bytecode_is_named(tmp_path: Path) -> None:
    build = _build(tmp_path)
    (build / "CommonLayer" / "python" / "late_mod.py").write_text("X = 1\n")

    report = build_check.check_build(build, _template("GetThingFunction"), sys.executable)

    assert len(report.problems) == 1
    assert "1 of 2 layer modules have no" in report.problems[0]
    assert "late_mod.py" in report.problems[0]


def test_a_handler_that_does_not_import_from_the_build_is_named(tmp_path: Path) -> None:
    build = _build(tmp_path, handler_source="import not_in_the_layer\n")

    report = build_check.check_build(build, _template("GetThingFunction"), sys.executable)

    assert report.problems == [
        "GetThingFunction does not import from the build: ModuleNotFoundError: No module named 'not_in_the_layer'"
    ]


def test_a_function_missing_from_the_build_is_named(tmp_path: Path) -> None:
    report = build_check.check_build(_build(tmp_path), _template("GetThingFunction", "Other"), sys.executable)

    assert report.problems == ["Other was not built"]


def test_a_function_over_the_unzipped_limit_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build_check, "UNZIPPED_LIMIT_BYTES", 10)

    report = build_check.check_build(_build(tmp_path), _template("GetThingFunction"), sys.executable)

    assert len(report.problems) == 1
    assert report.problems[0].startswith("GetThingFunction with its layer is ")


def test_no_build_at_all_says_so(tmp_path: Path) -> None:
    report = build_check.check_build(tmp_path, _template("GetThingFunction"), sys.executable)

    assert report.problems == [f"{tmp_path / 'CommonLayer' / 'python'} is missing: run sam build first"]


def test_the_command_fails_on_a_problem(tmp_path: Path, capsys: Any) -> None:
    build = _build(tmp_path, handler_source="raise RuntimeError('boom')\n")

    assert build_check.main(build, _template("GetThingFunction"), sys.executable) == 1
    assert "RuntimeError: boom" in capsys.readouterr().err


def _package(tmp_path: Path) -> Path:
    package = tmp_path / "src" / "shared_pkg"
    (package / "fonts").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "fonts" / "Font.ttf").write_bytes(b"\x00\x01" * 100)
    return package


def test_a_data_file_missing_from_the_layer_is_named(tmp_path: Path) -> None:
    package = _package(tmp_path)
    build = _build(tmp_path / "out")

    report = build_check.check_build(build, _template("GetThingFunction"), sys.executable, package=package)

    assert report.problems == ["1 data files of the layer are missing or differ: shared_pkg/fonts/Font.ttf"]


def test_a_layer_holding_the_data_files_passes(tmp_path: Path) -> None:
    package = _package(tmp_path)
    build = _build(tmp_path / "out")
    built_fonts = build / "CommonLayer" / "python" / "shared_pkg" / "fonts"
    built_fonts.mkdir(parents=True)
    (built_fonts / "Font.ttf").write_bytes(b"\x00\x01" * 100)

    assert build_check.check_build(build, _template("GetThingFunction"), sys.executable, package=package).problems == []

    (built_fonts / "Font.ttf").write_bytes(b"\x00\x01" * 50)  # cut short
    report = build_check.check_build(build, _template("GetThingFunction"), sys.executable, package=package)
    assert report.problems == ["1 data files of the layer are missing or differ: shared_pkg/fonts/Font.ttf"]
