"""A real lab on this machine: OpenSSH servers as boards (each pinned to a CPU), a labgrid coordinator and
exporter on localhost, and PostgreSQL in a temporary folder. Used by the lab tests and by
``scripts/local_lab.py`` (the evidence runs); every part is the real program from the system or PyPI."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

BIN = Path(sys.executable).parent
SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def missing() -> str | None:
    """Why a local lab cannot be made here (None: it can)."""
    if not Path(SSHD).exists():
        return "no sshd (openssh-server; scripts/install-system.sh installs it)"
    if not (BIN / "labgrid-coordinator").exists():
        return 'no labgrid (pip install "edgebench[lab]")'
    if not shutil.which("taskset"):
        return "no taskset (util-linux)"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, timeout: float = 20) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on port {port}")


def keypair(folder: Path, name: str = "id_ed25519") -> Path:
    key = folder / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key


def kill_tree(pid: int, sig: int = signal.SIGKILL) -> None:
    import psutil

    try:
        parent = psutil.Process(pid)
    except psutil.Error:
        return
    for process in [*parent.children(recursive=True), parent]:
        try:
            process.send_signal(sig)
        except psutil.Error:
            pass


@dataclass
class Board:
    """An OpenSSH server on a local port, pinned to ``cpu``: a board as the lab sees one."""
    name: str
    folder: Path
    cpu: int
    client_key: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    def start(self) -> "Board":
        self.folder.mkdir(parents=True, exist_ok=True)
        host_key = self.folder / "host_ed25519"
        if not host_key.exists():
            keypair(self.folder, "host_ed25519")
        shutil.copy(f"{self.client_key}.pub", self.folder / "authorized_keys")
        config = self.folder / "sshd_config"
        config.write_text("\n".join([
            f"Port {self.port}", "ListenAddress 127.0.0.1", f"HostKey {host_key}", f"PidFile {self.folder / 'sshd.pid'}",
            f"AuthorizedKeysFile {self.folder / 'authorized_keys'}", "PasswordAuthentication no",
            "KbdInteractiveAuthentication no", "PubkeyAuthentication yes", "PermitRootLogin prohibit-password",
            "UsePAM no", "StrictModes no", "LogLevel ERROR", ""]))
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege-separation folder
        log = open(self.folder / "sshd.log", "ab")
        self.process = subprocess.Popen(["taskset", "-c", str(self.cpu), SSHD, "-D", "-e", "-f", str(config)],
                                        stdout=log, stderr=log, start_new_session=True)
        wait_port(self.port)
        return self

    def known_host(self) -> str:
        key = (self.folder / "host_ed25519.pub").read_text().split()
        return f"[127.0.0.1]:{self.port} {key[0]} {key[1]}"

    def kill(self) -> None:
        """Pull the plug: the server and every session and process under it, at once."""
        if self.process:
            kill_tree(self.process.pid)
            self.process.wait(10)
            self.process = None


class Coordinator:
    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        folder.mkdir(parents=True, exist_ok=True)
        # the coordinator keeps its places in the working folder (places.yaml)
        self.process = subprocess.Popen([str(BIN / "labgrid-coordinator"), "-l", self.address], cwd=folder,
                                        stdout=open(folder / "coordinator.log", "ab"), stderr=subprocess.STDOUT,
                                        start_new_session=True)
        wait_port(self.port)

    def stop(self) -> None:
        kill_tree(self.process.pid, signal.SIGTERM)
        self.process.wait(10)


class Exporter:
    def __init__(self, coordinator: Coordinator, config: Path, name: str) -> None:
        self.process = subprocess.Popen([str(BIN / "labgrid-exporter"), "-c", coordinator.address, "-n", name, str(config)],
                                        stdout=open(config.with_suffix(".log"), "ab"), stderr=subprocess.STDOUT,
                                        start_new_session=True)

    def stop(self) -> None:
        kill_tree(self.process.pid, signal.SIGTERM)
        self.process.wait(10)


class Postgres:
    """A PostgreSQL server in a temporary folder (initdb, pg_ctl), on a local port; as the postgres user when root."""

    def __init__(self) -> None:
        import tempfile

        # A folder of its own under the system's temporary folder: pytest's are private to their user (0700),
        # and the server runs as the postgres user when this is root (initdb refuses root).
        self.folder, self.port = Path(tempfile.mkdtemp(prefix="edgebench-pg-")), free_port()
        folder = self.folder
        self.data = folder / "data"
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(folder, "postgres", "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        bindir = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip() \
            if shutil.which("pg_config") else ""
        self.bin = Path(bindir) if bindir else Path(shutil.which("initdb") or "initdb").parent
        self._run("initdb", "-D", str(self.data), "-U", "edgebench", "--auth=trust", "-E", "UTF8")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(folder / "postgres.log"), "-w", "-o",
                  f"-p {self.port} -k {folder} -c listen_addresses=127.0.0.1", "start")
        self.url = f"postgresql://edgebench@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run([*self.as_user, str(self.bin / tool), *args], check=True, capture_output=True, cwd="/")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)


def postgres_missing() -> str | None:
    if not (shutil.which("initdb") or shutil.which("pg_config")):
        return "no PostgreSQL server (postgresql; scripts/install-system.sh installs it)"
    if os.geteuid() == 0 and not shutil.which("runuser"):
        return "initdb refuses root and there is no runuser"
    return None


class Lab:
    """Boards, a coordinator and an exporter that offers each board's SSH address, with a place per board."""

    def __init__(self, folder: Path, names: list[str], cpus: list[int], tags: dict[str, str]) -> None:
        from edgebench.lab.coordinator import LabClient

        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.key = keypair(folder)
        self.boards = {name: Board(name, folder / name, cpu, self.key).start() for name, cpu in zip(names, cpus)}
        self.known_hosts = folder / "known_hosts"
        self.known_hosts.write_text("".join(b.known_host() + "\n" for b in self.boards.values()))
        self.coordinator = Coordinator(folder / "coordinator")
        user = os.environ.get("USER") or subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
        self.exporter_config = folder / "exporter.yaml"
        self.exporter_config.write_text("".join(
            f"{n}:\n  NetworkService:\n    address: 127.0.0.1\n    username: {user}\n    port: {b.port}\n"
            for n, b in self.boards.items()))
        self.exporter = Exporter(self.coordinator, self.exporter_config, "lab")
        client = LabClient(self.coordinator.address)
        try:
            for name in self.boards:
                client.add_place(name, f"lab/{name}/NetworkService", {**tags, "cpu": str(self.boards[name].cpu)})
            end = time.monotonic() + 30
            while len(client.boards(tags)[0]) < len(self.boards) and time.monotonic() < end:
                time.sleep(0.2)  # until the exporter has offered every board
        finally:
            client.close()

    def ssh_args(self) -> list[str]:
        return ["--coordinator", self.coordinator.address, "--ssh-key", str(self.key),
                "--known-hosts", str(self.known_hosts), "--board-edgebench", str(BIN / "edgebench")]

    def stop(self) -> None:
        for board in self.boards.values():
            board.kill()
        self.exporter.stop()
        self.coordinator.stop()
        home = Path.home() / "edgebench-lab"
        for name in self.boards:
            shutil.rmtree(home / name, ignore_errors=True)
