"""``.local/dev.env``: the running ``make dev`` stack's environment, for ``localrun invoke`` and ``fire``.

``make dev`` writes it once the stack is up (database URL as the application role, moto endpoint,
queue URLs, KMS key, ...) and removes it on stop; a command run in another terminal reads it, so
a function invoked there talks to the same database and AWS as the gateway does.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from pathlib import Path

DEV_ENV_FILE = Path(__file__).resolve().parents[1] / ".local" / "dev.env"
_PID_LINE = "# pid "


class NoStackEnvironment(Exception):
    """Neither the environment nor a running ``make dev`` says where the database is."""


def write(values: Mapping[str, str], path: Path | None = None, pid: int | None = None) -> Path:
    """``NAME=value`` lines (readable by ``set -a; . .local/dev.env``), owner-only: it holds local secrets."""
    path = path or DEV_ENV_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{_PID_LINE}{os.getpid() if pid is None else pid} (make dev; removed when it stops)"]
    lines += [f"{name}={value}" for name, value in sorted(values.items())]
    path.touch(mode=0o600)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def remove(path: Path | None = None) -> None:
    path = path or DEV_ENV_FILE
    path.unlink(missing_ok=True)


def read(path: Path | None = None) -> dict[str, str] | None:
    """The stack's variables, or None when there is no file or the process that wrote it is gone."""
    path = path or DEV_ENV_FILE
    if not path.is_file():
        return None
    values: dict[str, str] = {}
    pid: int | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith(_PID_LINE):
            pid = int(line[len(_PID_LINE) :].split()[0])
        elif "=" in line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name] = value
    if pid is not None and not _alive(pid):
        return None  # a stack killed without cleaning up: its URLs point at nothing
    return values


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def apply(environ: MutableMapping[str, str] | None = None, path: Path | None = None) -> None:
    """Without ``DATABASE_URL`` set, take the running stack's variables (those already set win).

    Raises ``NoStackEnvironment`` (a one-line reason) when neither says where the database is.
    """
    environ = os.environ if environ is None else environ
    if environ.get("DATABASE_URL"):
        return
    values = read(path)
    if values is None:
        raise NoStackEnvironment(
            "DATABASE_URL is not set and no `make dev` is running (it writes .local/dev.env):"
            " start `make dev` in another terminal, or set DATABASE_URL (and AWS_ENDPOINT_URL for AWS calls)"
        )
    for name, value in values.items():
        environ.setdefault(name, value)
