"""SftpClient (paramiko) against a real OpenSSH sshd on loopback (the session's ``sshd`` fixture)."""

from __future__ import annotations

import io
import os
import socket
import uuid
from pathlib import Path

import paramiko
import pytest

from localrun.services.sshd import SshServer
from primecloud.adapters.sftp import SftpClient, SftpTarget
from primecloud.errors import Invalid, NotFound, Unavailable

pytestmark = pytest.mark.sftp


def _target(sshd: SshServer, **overrides: object) -> SftpTarget:
    values: dict[str, object] = {
        "host": sshd.host,
        "port": sshd.port,
        "username": sshd.username,
        "host_key": sshd.host_public_key_path.read_text(),
        "private_key_path": str(sshd.private_key_path),
    }
    values.update(overrides)
    return SftpTarget(**values)  # type: ignore[arg-type]


@pytest.fixture
def home(sshd: SshServer) -> str:
    """A fresh directory under the SFTP start directory, filled over SFTP itself."""
    name = f"usage-{uuid.uuid4().hex[:8]}"
    transport = paramiko.Transport((sshd.host, sshd.port))
    transport.connect(username=sshd.username, pkey=paramiko.PKey.from_path(sshd.private_key_path))
    sftp = paramiko.SFTPClient.from_transport(transport)
    assert sftp is not None
    try:
        for directory in (name, f"{name}/sub", f"{name}/sub/deeper", f"{name}/empty-dir"):
            sftp.mkdir(directory)
        sftp.putfo(io.BytesIO(b"a" * 1000), f"{name}/a.bin")
        sftp.putfo(io.BytesIO(b"b" * 2345), f"{name}/sub/b.bin")
        sftp.putfo(io.BytesIO(b""), f"{name}/sub/deeper/empty.txt")
    finally:
        sftp.close()
        transport.close()
    # a link to a big file outside: listed, never followed or counted
    outside = sshd.workdir / f"outside-{name}.bin"
    outside.write_bytes(b"x" * 50_000)
    os.symlink(outside, sshd.root / name / "sub" / "link-out")
    return name


def test_measure_usage_counts_every_file_byte_under_the_path(sshd: SshServer, home: str) -> None:
    usage = SftpClient(_target(sshd)).measure_usage(home)
    assert (usage.bytes, usage.files, usage.directories) == (1000 + 2345 + 0, 3, 3)


def test_list_files_walks_recursively_and_reports_links_without_following(sshd: SshServer, home: str) -> None:
    entries = SftpClient(_target(sshd)).list_files(home)
    kinds = {entry.path: (entry.kind, entry.size) for entry in entries}
    assert kinds == {
        "a.bin": ("file", 1000),
        "empty-dir": ("dir", 0),
        "sub": ("dir", 0),
        "sub/b.bin": ("file", 2345),
        "sub/deeper": ("dir", 0),
        "sub/deeper/empty.txt": ("file", 0),
        "sub/link-out": ("link", 0),
    }
    assert all(entry.modified is not None and entry.modified.tzinfo is not None for entry in entries)
    assert len(SftpClient(_target(sshd)).list_files(home, limit=2)) == 2


def test_a_private_key_given_as_text_works_too(sshd: SshServer, home: str) -> None:
    target = _target(sshd, private_key_path=None, private_key=Path(sshd.private_key_path).read_text())
    assert SftpClient(target).measure_usage(f"{home}/sub").bytes == 2345


def test_a_missing_path_is_not_found(sshd: SshServer) -> None:
    with pytest.raises(NotFound):
        SftpClient(_target(sshd)).measure_usage("no-such-directory")


def test_an_unexpected_host_key_is_refused(sshd: SshServer) -> None:
    impostor = paramiko.Ed25519Key.from_private_key(io.StringIO(_new_ed25519_private_key()))
    wrong = f"{impostor.get_name()} {impostor.get_base64()}"
    with pytest.raises(Unavailable) as raised:
        SftpClient(_target(sshd, host_key=wrong)).measure_usage(".")
    assert raised.value.detail == "The SFTP server presented an unexpected host key."


def test_a_key_the_server_does_not_know_is_refused(sshd: SshServer, tmp_path: Path) -> None:
    stranger = tmp_path / "stranger"
    stranger.write_text(_new_ed25519_private_key())
    with pytest.raises(Unavailable) as raised:
        SftpClient(_target(sshd, private_key_path=str(stranger))).measure_usage(".")
    assert raised.value.detail == "The SFTP server refused the login."


def test_a_password_login_the_server_refuses_is_unavailable(sshd: SshServer) -> None:
    target = _target(sshd, private_key_path=None, password="not-accepted-here")
    with pytest.raises(Unavailable) as raised:
        SftpClient(target).measure_usage(".")
    assert "not-accepted-here" not in raised.value.detail and "not-accepted-here" not in repr(target)


def test_connection_refused_is_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    target = SftpTarget(host="127.0.0.1", port=port, username="nobody", host_key="ssh-ed25519 AAAA", password="pw")
    with pytest.raises(Invalid):  # the pinned key must at least be a key
        SftpClient(target, timeout_seconds=2).measure_usage(".")
    key = paramiko.Ed25519Key.from_private_key(io.StringIO(_new_ed25519_private_key()))
    target = SftpTarget(
        host="127.0.0.1", port=port, username="nobody", host_key=f"ssh-ed25519 {key.get_base64()}", password="pw"
    )
    with pytest.raises(Unavailable) as raised:
        SftpClient(target, timeout_seconds=2).measure_usage(".")
    assert raised.value.detail == "The SFTP server is unreachable."


def test_a_login_needs_a_password_or_a_readable_key(sshd: SshServer, tmp_path: Path) -> None:
    with pytest.raises(Invalid):
        SftpClient(_target(sshd, private_key_path=None))
    with pytest.raises(Invalid):
        SftpClient(_target(sshd, private_key_path=str(tmp_path / "missing"))).measure_usage(".")
    with pytest.raises(Invalid):
        SftpClient(_target(sshd, private_key_path=None, private_key="not a key")).measure_usage(".")


def _new_ed25519_private_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return (
        Ed25519PrivateKey.generate()
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption())
        .decode()
    )
