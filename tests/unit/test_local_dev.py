"""`make dev` and the commands beside it, as a new user meets them: a busy port, invoke in another terminal."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from localrun import dev_env
from localrun.__main__ import main as localrun_main
from localrun.dev import main as dev_main


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield int(taken.getsockname()[1])


@pytest.mark.parametrize(("option", "variable"), [("--port", "PORT"), ("--moto-port", "MOTO_PORT")])
def test_a_busy_port_is_one_line_naming_the_port_and_its_variable(
    busy_port: int, option: str, variable: str, capsys: pytest.CaptureFixture[str]
) -> None:
    other = "--moto-port" if option == "--port" else "--port"
    assert dev_main([option, str(busy_port), other, "0"]) == 2  # nothing was started: no PostgreSQL, no moto
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"port {busy_port} is already in use" in err
    assert f"{variable}=<port> make dev" in err


@pytest.fixture
def stack_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "dev.env"
    monkeypatch.setattr(dev_env, "DEV_ENV_FILE", path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    return path


def test_invoke_without_a_database_or_a_running_stack_says_what_to_do_in_one_line(
    stack_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert localrun_main(["invoke", "GetAccountFunction"]) == 2
    assert localrun_main(["fire", "RunBillingFunction"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and "Traceback" not in "".join(err)
    assert err[0].startswith("localrun invoke: DATABASE_URL is not set and no `make dev` is running")
    assert "start `make dev` in another terminal, or set DATABASE_URL" in err[0]


def test_invoke_takes_the_running_stacks_environment(stack_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-1")  # what the caller set wins
    monkeypatch.delenv("USAGE_QUEUE_URL", raising=False)
    dev_env.write(
        {"DATABASE_URL": "postgresql+pg8000://app@/primecloud", "AWS_REGION": "us-east-1", "USAGE_QUEUE_URL": "q"}
    )
    assert stack_file.stat().st_mode & 0o077 == 0  # it holds local secrets
    environ: dict[str, str] = {"AWS_REGION": "eu-west-1"}
    dev_env.apply(environ)
    assert environ == {
        "DATABASE_URL": "postgresql+pg8000://app@/primecloud",
        "AWS_REGION": "eu-west-1",
        "USAGE_QUEUE_URL": "q",
    }


def test_a_stack_that_died_without_cleaning_up_is_not_used(stack_file: Path) -> None:
    gone = os.getpid()
    while True:  # a pid no process has
        gone += 1000
        try:
            os.kill(gone, 0)
        except ProcessLookupError:
            break
        except PermissionError:
            continue
    dev_env.write({"DATABASE_URL": "postgresql+pg8000://app@/primecloud"}, pid=gone)
    assert dev_env.read() is None
    with pytest.raises(dev_env.NoStackEnvironment):
        dev_env.apply({})
