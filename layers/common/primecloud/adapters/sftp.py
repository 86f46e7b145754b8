"""SFTP access as a tenant's SFTP user (paramiko): list files, measure usage.

The server's host key is pinned: the caller passes the expected public key (an OpenSSH line)
and any other key is refused (``RejectPolicy``; no known_hosts file, no agent, no key files
from the environment). Symbolic links are listed but never followed, so a link loop or a link
out of the home cannot inflate or escape a measurement.
"""

from __future__ import annotations

import base64
import binascii
import stat
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from primecloud.errors import Forbidden, Invalid, NotFound, Unavailable
from primecloud.observability import logger


@dataclass(frozen=True)
class SftpEntry:
    path: str  # relative to the listed directory, '/'-separated
    size: int
    kind: str  # "file", "dir" or "link"
    modified: datetime | None


@dataclass(frozen=True)
class DirectoryUsage:
    bytes: int
    files: int
    directories: int


@dataclass(frozen=True)
class SftpTarget:
    """Where and as whom to connect; a password, a private key (PEM text or file path) or both."""

    host: str
    port: int
    username: str
    host_key: str  # the server's public key, e.g. "ssh-ed25519 AAAA..."
    password: str | None = field(default=None, repr=False)
    private_key: str | None = field(default=None, repr=False)  # PEM/OpenSSH text
    private_key_path: str | None = None


def _host_key(line: str) -> Any:
    import paramiko

    parts = line.strip().split()
    if len(parts) < 2:
        raise Invalid("The SFTP host key is an OpenSSH public key line.")
    try:
        return paramiko.PKey.from_type_string(parts[0], base64.b64decode(parts[1], validate=True))
    except (binascii.Error, ValueError, paramiko.SSHException) as exc:
        raise Invalid("The SFTP host key could not be read.") from exc


def _private_key(target: SftpTarget) -> Any:
    import io

    import paramiko

    if target.private_key_path:
        try:
            return paramiko.PKey.from_path(Path(target.private_key_path))
        except (OSError, ValueError, paramiko.SSHException) as exc:
            raise Invalid("The SFTP private key could not be read.") from exc
    if target.private_key:
        for key_class in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
            try:
                return key_class.from_private_key(io.StringIO(target.private_key))
            except paramiko.SSHException:
                continue
        raise Invalid("The SFTP private key could not be read.")
    return None


class SftpSession:
    """An open SFTP session; use ``SftpClient.session()`` to get one."""

    def __init__(self, sftp: Any) -> None:
        self.sftp = sftp

    def walk(self, path: str = ".") -> Iterator[SftpEntry]:
        """Every entry under ``path``, breadth first; links are reported, not followed."""
        pending: deque[str] = deque([""])
        base = path.rstrip("/") or "/"
        while pending:
            relative = pending.popleft()
            directory = f"{base}/{relative}" if relative else base
            for attributes in self.sftp.listdir_attr(directory):
                name = attributes.filename
                entry_path = f"{relative}/{name}" if relative else name
                mode = attributes.st_mode or 0
                modified = (
                    datetime.fromtimestamp(attributes.st_mtime, tz=UTC) if attributes.st_mtime is not None else None
                )
                if stat.S_ISLNK(mode):
                    yield SftpEntry(entry_path, 0, "link", modified)
                elif stat.S_ISDIR(mode):
                    yield SftpEntry(entry_path, 0, "dir", modified)
                    pending.append(entry_path)
                else:
                    yield SftpEntry(entry_path, int(attributes.st_size or 0), "file", modified)


class SftpClient:
    def __init__(self, target: SftpTarget, *, timeout_seconds: float = 10.0) -> None:
        if not target.password and not target.private_key and not target.private_key_path:
            raise Invalid("An SFTP login needs a password or a private key.")
        self.target = target
        self.timeout_seconds = timeout_seconds

    @contextmanager
    def session(self) -> Iterator[SftpSession]:
        import paramiko

        target = self.target
        client = paramiko.SSHClient()
        known_as = target.host if target.port == 22 else f"[{target.host}]:{target.port}"
        host_key = _host_key(target.host_key)
        client.get_host_keys().add(known_as, host_key.get_name(), host_key)
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        private_key = _private_key(target)
        try:
            try:
                client.connect(
                    target.host,
                    port=target.port,
                    username=target.username,
                    password=target.password,
                    pkey=private_key,
                    timeout=self.timeout_seconds,
                    banner_timeout=self.timeout_seconds,
                    auth_timeout=self.timeout_seconds,
                    channel_timeout=self.timeout_seconds,
                    allow_agent=False,
                    look_for_keys=False,
                )
            except paramiko.BadHostKeyException as exc:
                logger.warning("sftp host key mismatch", extra={"host": target.host, "port": target.port})
                raise Unavailable("The SFTP server presented an unexpected host key.") from exc
            except paramiko.AuthenticationException as exc:
                raise Unavailable("The SFTP server refused the login.") from exc
            except (paramiko.SSHException, OSError) as exc:
                logger.warning("sftp unreachable", extra={"host": target.host, "error": type(exc).__name__})
                raise Unavailable("The SFTP server is unreachable.") from exc
            sftp = client.open_sftp()
            sftp.get_channel().settimeout(self.timeout_seconds)
            try:
                yield SftpSession(sftp)
            except (TimeoutError, paramiko.SSHException, EOFError) as exc:
                raise Unavailable("The SFTP session failed.") from exc
            finally:
                sftp.close()
        finally:
            client.close()

    def list_files(self, path: str = ".", *, limit: int | None = None) -> list[SftpEntry]:
        """Everything under ``path`` (recursively), at most ``limit`` entries."""
        entries: list[SftpEntry] = []
        with self.session() as session:
            for entry in self._guarded(session.walk(path)):
                entries.append(entry)
                if limit is not None and len(entries) >= limit:
                    break
        return entries

    def measure_usage(self, path: str = ".") -> DirectoryUsage:
        """Total bytes and counts of regular files and directories under ``path``."""
        total_bytes = files = directories = 0
        with self.session() as session:
            for entry in self._guarded(session.walk(path)):
                if entry.kind == "file":
                    total_bytes += entry.size
                    files += 1
                elif entry.kind == "dir":
                    directories += 1
        return DirectoryUsage(bytes=total_bytes, files=files, directories=directories)

    @staticmethod
    def _guarded(entries: Iterator[SftpEntry]) -> Iterator[SftpEntry]:
        try:
            yield from entries
        except FileNotFoundError as exc:
            raise NotFound("The SFTP path does not exist.") from exc
        except PermissionError as exc:
            raise Forbidden("The SFTP path is not readable by this user.") from exc
        except OSError as exc:
            raise Unavailable("The SFTP listing failed.") from exc
