"""Reaching a board: OpenSSH with keys only, the board's host key checked against a known_hosts file.

Nothing but sshd runs on a board for us between runs. Every command is a list of words quoted for the
board's shell; what comes back is read as data (``edgebench.lab.lines``), never run here.
"""
from __future__ import annotations

import shlex
import subprocess
import tarfile
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
        words = ["ssh", "-T", "-p", str(board.port)]
        for name, value in options.items():
            words += ["-o", f"{name}={value}"]
        if self.key is not None:
            words += ["-i", str(self.key)]
        return words + [board.target, "--"]


def remote(words: list[str]) -> str:
    """A command for the board's shell: each word quoted."""
    return " ".join(shlex.quote(w) for w in words)


def ssh(board: Board, options: SshOptions, command: str, **popen) -> subprocess.Popen:
    return subprocess.Popen([*options.words(board), command], **popen)


def probe(board: Board, options: SshOptions, timeout_s: float = 20) -> str | None:
    """None when the board answers over SSH; else the reason, in SSH's words."""
    try:
        done = subprocess.run([*options.words(board), "true"], capture_output=True, text=True, timeout=timeout_s,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return f"no answer within {timeout_s:.0f} s"
    if done.returncode == 0:
        return None
    return last_line(done.stderr) or f"ssh exit status {done.returncode}"


def ship(board: Board, options: SshOptions, folder: Path, remote_dir: str, timeout_s: float = 1800,
         started: Callable[[subprocess.Popen], None] | None = None) -> str | None:
    """Copy ``folder``'s contents into ``remote_dir`` on the board (a tar stream over SSH: the board needs
    only tar); None when done, else the reason. ``started`` is told the SSH process (to stop it on Ctrl-C)."""
    command = f"mkdir -p {shlex.quote(remote_dir)} && tar -x -f - -C {shlex.quote(remote_dir)}"
    process = ssh(board, options, command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
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
    process.stdin = None  # closed: communicate() only waits and reads ssh's messages
    try:
        _, err = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        return f"copying the artifacts took over {timeout_s:.0f} s"
    if process.returncode == 0:
        return None
    return last_line(err.decode(errors="replace")) or f"ssh exit status {process.returncode}"


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""
