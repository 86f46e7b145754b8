"""A real OpenSSH sshd on a loopback port, with a throwaway host key and client key, for SFTP."""

from __future__ import annotations

import getpass
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

logger = logging.getLogger("localrun.sshd")

SSHD_CANDIDATES = (Path("/usr/sbin/sshd"), Path("/usr/local/sbin/sshd"))
PRIVILEGE_SEPARATION_DIR = Path("/run/sshd")
START_ATTEMPTS = 3


def find_sshd() -> Path | None:
    """sshd must be started by absolute path (it re-executes itself)."""
    for candidate in SSHD_CANDIDATES:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("sshd")
    return Path(found).resolve() if found else None


def ensure_openssh() -> Path:
    """Install openssh-server/-client with apt-get when sshd or ssh-keygen is missing (needs root)."""
    sshd = find_sshd()
    if sshd is not None and shutil.which("ssh-keygen"):
        return sshd
    install = ["apt-get", "install", "-y", "--no-install-recommends", "openssh-server", "openssh-client"]
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(install, env=environment, check=False).returncode != 0:
        subprocess.run(["apt-get", "update"], env=environment, check=True)
        subprocess.run(install, env=environment, check=True)
    sshd = find_sshd()
    if sshd is None:
        raise RuntimeError("openssh-server was installed but no sshd binary was found")
    return sshd


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


@dataclass
class SshServer:
    """A running sshd; ``root`` is the SFTP start directory (relative paths land there)."""

    host: str
    port: int
    username: str
    private_key_path: Path
    host_public_key_path: Path
    root: Path
    workdir: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _owns_workdir: bool = field(default=True, repr=False)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
        if self._owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> SshServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _keygen(path: Path, comment: str) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def _config(workdir: Path, root: Path, port: int, username: str) -> str:
    return "\n".join(
        [
            "ListenAddress 127.0.0.1",
            f"Port {port}",
            f"HostKey {workdir / 'ssh_host_ed25519_key'}",
            f"PidFile {workdir / 'sshd.pid'}",
            f"AuthorizedKeysFile {workdir / 'authorized_keys'}",
            "AuthenticationMethods publickey",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password",
            "UsePAM no",
            "StrictModes no",
            "UseDNS no",
            "PrintMotd no",
            "MaxStartups 64",
            f"AllowUsers {username}",
            f"Subsystem sftp internal-sftp -d {root}",
            "",
        ]
    )


def start_sshd(workdir: Path | None = None, timeout: float = 10.0) -> SshServer:
    """Start sshd on a free loopback port and return once it answers with its SSH banner."""
    sshd = find_sshd()
    if sshd is None:
        raise FileNotFoundError("sshd is not installed: run `python -m localrun ensure-openssh`")
    if os.geteuid() == 0:
        PRIVILEGE_SEPARATION_DIR.mkdir(mode=0o755, exist_ok=True)
    owns_workdir = workdir is None
    base = Path(tempfile.mkdtemp(prefix="localrun-sshd-")) if workdir is None else workdir
    base.mkdir(parents=True, exist_ok=True)
    root = base / "files"
    root.mkdir(exist_ok=True)
    _keygen(base / "ssh_host_ed25519_key", "localrun-host")
    _keygen(base / "client_ed25519", "localrun-client")
    (base / "authorized_keys").write_text((base / "client_ed25519.pub").read_text())
    username = getpass.getuser()

    last_error = ""
    for _ in range(START_ATTEMPTS):  # a free port can be taken between probing and binding
        port = free_port()
        config = base / "sshd_config"
        config.write_text(_config(base, root, port, username))
        log_path = base / "sshd.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen([str(sshd), "-D", "-e", "-f", str(config)], stdout=log, stderr=log)
        if _wait_for_banner(process, port, timeout):
            return SshServer(
                host="127.0.0.1",
                port=port,
                username=username,
                private_key_path=base / "client_ed25519",
                host_public_key_path=base / "ssh_host_ed25519_key.pub",
                root=root,
                workdir=base,
                process=process,
                _owns_workdir=owns_workdir,
            )
        process.kill()
        process.wait()
        last_error = log_path.read_text(errors="replace")[-2000:]
        logger.warning("sshd did not come up on port %d: %s", port, last_error.strip())
    if owns_workdir:
        shutil.rmtree(base, ignore_errors=True)
    raise RuntimeError(f"sshd did not start: {last_error}")


def _wait_for_banner(process: subprocess.Popen[bytes], port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
                if connection.recv(64).startswith(b"SSH-"):
                    return True
        except OSError:
            time.sleep(0.02)
    return False
