"""Reaching a board: OpenSSH with keys only, the board's host key checked against a known_hosts file.

Nothing but sshd runs on a board for us between runs. Every command is a list of words quoted for the
board's shell; what comes back is read as data (``edgebench.lab.lines``), never run here.
"""
from __future__ import annotations

import re
import shlex
import subprocess
import tarfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from edgebench.errors import ConfigError

SSH_LOST = 255  # OpenSSH's exit status when the connection failed or dropped (a command's own status otherwise)


@dataclass(frozen=True, kw_only=True)
class Board:
    """A place of the lab and the board's SSH address (the NetworkService its place matches)."""
    name: str
    address: str
    username: str
    port: int = 22
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def target(self) -> str:
        return f"{self.username}@{self.address}"


# What a board's address may be: the exporter's YAML is not trusted to keep an ssh option (-oProxyCommand=...)
# out of a user or host name, since the coordinator takes resources from any exporter that reaches it.
_USER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
_HOST = re.compile(r"^(?:[A-Za-z0-9][A-Za-z0-9.-]{0,252}|\[?[0-9A-Fa-f:.]+\]?)$")


def board_from(name: str, params: dict, tags: dict[str, str]) -> tuple[Board | None, str]:
    """A board from a NetworkService's parameters, or None and why they cannot be used."""
    address, user, port = params.get("address"), params.get("username"), params.get("port") or 22
    if not isinstance(address, str) or not _HOST.match(address):
        return None, f"its NetworkService address {str(address)[:40]!r} is not a host name or IP address"
    if not isinstance(user, str) or not _USER.match(user):
        return None, f"its NetworkService username {str(user)[:40]!r} is not a plain user name"
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        return None, f"its NetworkService port {str(port)[:20]!r} is not a port number"
    return Board(name=name, address=address.strip("[]"), username=user, port=port, tags=tags), ""


@dataclass(frozen=True, kw_only=True)
class SshOptions:
    """How the host logs in. Keys only (no password prompt can hang a run); host keys checked against
    ``known_hosts`` (a board whose key is unknown or changed is refused) unless ``accept_new`` says to
    trust a board seen for the first time (OpenSSH's accept-new: a changed key is still refused)."""
    key: Path | None = None
    known_hosts: Path | None = None
    accept_new: bool = False
    keepalive_s: int = 5  # a board that answers no keepalive for 3 intervals is lost (ServerAliveCountMax 3)
    connect_timeout_s: int = 10

    def __post_init__(self) -> None:
        if self.key is not None and not Path(self.key).is_file():
            raise ConfigError(f"no SSH key at {self.key}; give --ssh-key a private key file (ssh-keygen -t ed25519)")
        if self.known_hosts is not None and not self.accept_new and not Path(self.known_hosts).is_file():
            raise ConfigError(f"no known_hosts file at {self.known_hosts}; add the boards' host keys to it "
                              "(ssh-keyscan -p PORT HOST >> FILE, checked by hand) or pass --accept-new-host-keys")

    def words(self, board: Board) -> list[str]:
        options = {
            "BatchMode": "yes", "PasswordAuthentication": "no", "KbdInteractiveAuthentication": "no",
            "StrictHostKeyChecking": "accept-new" if self.accept_new else "yes",
            "ServerAliveInterval": str(self.keepalive_s), "ServerAliveCountMax": "3",
            "ConnectTimeout": str(self.connect_timeout_s), "LogLevel": "ERROR",
        }
        if self.known_hosts is not None:
            options["UserKnownHostsFile"] = str(self.known_hosts)
        if self.key is not None:
            options["IdentitiesOnly"] = "yes"
        words = ["ssh", "-T", "-p", str(board.port), "-l", board.username]
        for name, value in options.items():
            words += ["-o", f"{name}={value}"]
        if self.key is not None:
            words += ["-i", str(self.key)]
        return words + ["--", board.address]  # after --, nothing a board's entry holds is read as an option


def remote(words: list[str]) -> str:
    """A command for the board's shell: each word quoted."""
    return " ".join(shlex.quote(w) for w in words)


def ssh(board: Board, options: SshOptions, command: str, **popen) -> subprocess.Popen:
    """An SSH process in a session of its own: a Ctrl-C in the terminal reaches edgebench, which stops it (a
    board is never read as lost because its SSH process got the Ctrl-C first)."""
    return subprocess.Popen([*options.words(board), command], start_new_session=True, **popen)


class Tail:
    """The last ``limit`` bytes a stream wrote, read in a thread (a board's messages never fill memory, and
    a pipe nobody reads never stalls the process writing it)."""

    def __init__(self, stream, limit: int = 16384) -> None:
        self.data, self.limit = b"", limit
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream) -> None:
        for chunk in iter(lambda: stream.read(4096), b""):
            self.data = (self.data + chunk)[-self.limit:]

    def text(self, timeout: float = 5) -> str:
        self.thread.join(timeout)
        return printable(self.data.decode(errors="replace"))


def printable(text: str) -> str:
    """A board's text as it may be shown and stored: no control characters (terminal escapes, NUL)."""
    return "".join(c if c.isprintable() or c == "\n" else " " for c in text)


def probe(board: Board, options: SshOptions, timeout_s: float = 20) -> str | None:
    """None when the board answers over SSH; else the reason, in SSH's words."""
    try:
        done = subprocess.run([*options.words(board), "true"], capture_output=True, text=True, timeout=timeout_s,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return f"no answer within {timeout_s:.0f} s"
    if done.returncode == 0:
        return None
    return last_line(printable(done.stderr[-4000:])) or f"ssh exit status {done.returncode}"


def ship(board: Board, options: SshOptions, folder: Path, remote_dir: str, timeout_s: float = 1800,
         started: Callable[[subprocess.Popen], None] | None = None) -> str | None:
    """Copy ``folder``'s contents into ``remote_dir`` on the board (a tar stream over SSH: the board needs
    only tar); None when done, else the reason. ``started`` is told the SSH process (to stop it on Ctrl-C)."""
    command = f"mkdir -p {shlex.quote(remote_dir)} && tar -x -f - -C {shlex.quote(remote_dir)}"
    process = ssh(board, options, command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    errors = Tail(process.stderr)
    if started:
        started(process)
    try:
        with tarfile.open(fileobj=process.stdin, mode="w|") as archive:
            for item in sorted(Path(folder).iterdir()):
                archive.add(item, arcname=item.name)
    except (BrokenPipeError, OSError):
        pass  # the board went away; ssh's status and message say why
    try:
        process.stdin.close()
    except OSError:
        pass
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        return f"copying the artifacts took over {timeout_s:.0f} s"
    if process.returncode == 0:
        return None
    return last_line(errors.text()) or f"ssh exit status {process.returncode}"


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""
