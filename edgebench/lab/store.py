"""One results store for a lab run: every line from every board, keyed by run, board and cell.

SQLite (WAL: readers never block the board threads that write) in the run folder by default; PostgreSQL
(``--store postgresql://...``) for a lab several hosts or people share. Both hold the same three tables
and are spoken to in the same SQL; only the placeholder differs. A cell's state is one of ``pending``
(planned, not yet reported), ``done`` (its result line is stored), ``device-lost`` (its board dropped
before sending it) or ``failed`` (the board's edgebench ended without it); the reason says why.
"""
from __future__ import annotations

import json
import sqlite3
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from edgebench.errors import ConfigError

SQLITE_FILE = "lab.sqlite"
STATES = ("pending", "done", "device-lost", "failed")
_TABLES = (
    "CREATE TABLE IF NOT EXISTS lab_runs (run_id TEXT PRIMARY KEY, created TEXT NOT NULL, meta TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS lab_cells (run_id TEXT NOT NULL, board TEXT NOT NULL, key TEXT NOT NULL, "
    "state TEXT NOT NULL, reason TEXT NOT NULL, updated TEXT NOT NULL, PRIMARY KEY (run_id, board, key))",
    "CREATE TABLE IF NOT EXISTS lab_results (run_id TEXT NOT NULL, board TEXT NOT NULL, key TEXT NOT NULL, "
    "record TEXT NOT NULL, received TEXT NOT NULL, PRIMARY KEY (run_id, board, key))",
)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def is_database_url(location: str) -> bool:
    return location.startswith(("postgresql://", "postgres://"))


def redacted(url: str) -> str:
    """A store URL without its password, as it is written into lab.json and shown."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}@{netloc}" if user else netloc))


class LabStore:
    """A lab run's results in a database. Thread-safe: the board threads share one connection under a lock."""

    placeholder = "?"

    def __init__(self, connection: Any, where: str, make_tables: bool = True) -> None:
        self.connection, self.where = connection, where
        self.lock = threading.Lock()
        for statement in _TABLES if make_tables else ():
            self._execute(statement)

    def _execute(self, sql: str, params: Iterable[Any] = ()) -> list[tuple]:
        return self._run(sql, params)[0]

    def _run(self, sql: str, params: Iterable[Any] = ()) -> tuple[list[tuple], int]:
        """One statement in its own transaction: (the rows it returned, the rows it changed)."""
        with self.lock:
            cursor = self.connection.cursor()
            try:
                cursor.execute(sql.replace("?", self.placeholder), tuple(params))
                rows = cursor.fetchall() if cursor.description else []
            except Exception:
                self.connection.rollback()  # PostgreSQL refuses every later statement of a failed transaction
                raise
            self.connection.commit()
            return rows, cursor.rowcount

    def add_run(self, run_id: str, meta: dict[str, Any]) -> None:
        self._execute("INSERT INTO lab_runs (run_id, created, meta) VALUES (?, ?, ?) ON CONFLICT (run_id) DO NOTHING",
                      (run_id, _now(), json.dumps(meta, default=str)))

    def run_meta(self, run_id: str) -> dict[str, Any] | None:
        rows = self._execute("SELECT meta FROM lab_runs WHERE run_id = ?", (run_id,))
        return json.loads(rows[0][0]) if rows else None

    def plan(self, run_id: str, board: str, keys: Iterable[str]) -> None:
        """The cells a board is to measure, pending until its lines arrive (cells already planned keep their state)."""
        for key in keys:
            self._execute("INSERT INTO lab_cells (run_id, board, key, state, reason, updated) VALUES (?, ?, ?, ?, ?, ?) "
                          "ON CONFLICT (run_id, board, key) DO NOTHING", (run_id, board, key, "pending", "", _now()))

    def mark(self, run_id: str, board: str, state: str, reason: str, keys: Iterable[str] | None = None) -> int:
        """Set the state of a board's unfinished cells (all of them, or ``keys``); returns how many changed."""
        if state not in STATES or state == "done":
            raise ValueError(state)
        only = None if keys is None else set(keys)
        unfinished = [k for k, s, _ in self.cells(run_id, board) if s != "done" and (only is None or k in only)]
        for key in unfinished:
            self._execute("UPDATE lab_cells SET state = ?, reason = ?, updated = ? "
                          "WHERE run_id = ? AND board = ? AND key = ? AND state <> 'done'",
                          (state, reason, _now(), run_id, board, key))
        return len(unfinished)

    def add_result(self, run_id: str, board: str, record: dict[str, Any]) -> bool:
        """Store a board's result line (a line sent again, after a resume, is kept once); True if it was new."""
        _, new = self._run("INSERT INTO lab_results (run_id, board, key, record, received) VALUES (?, ?, ?, ?, ?) "
                           "ON CONFLICT (run_id, board, key) DO NOTHING",
                           (run_id, board, record["key"], json.dumps(record, default=str), _now()))
        self._execute("INSERT INTO lab_cells (run_id, board, key, state, reason, updated) VALUES (?, ?, ?, 'done', '', ?) "
                      "ON CONFLICT (run_id, board, key) DO UPDATE SET state = 'done', reason = '', updated = excluded.updated",
                      (run_id, board, record["key"], _now()))
        return new == 1

    def cells(self, run_id: str, board: str | None = None) -> list[tuple[str, str, str]]:
        """(key, state, reason) of a board's cells, or (board, key, state, reason) of every board's."""
        if board is not None:
            return self._execute("SELECT key, state, reason FROM lab_cells WHERE run_id = ? AND board = ? ORDER BY key",
                                 (run_id, board))
        return self._execute("SELECT board, key, state, reason FROM lab_cells WHERE run_id = ? ORDER BY board, key",
                             (run_id,))

    def results(self, run_id: str) -> list[dict[str, Any]]:
        rows = self._execute("SELECT record FROM lab_results WHERE run_id = ? ORDER BY board, received, key", (run_id,))
        return [json.loads(row[0]) for row in rows]

    def close(self) -> None:
        self.connection.close()


class PostgresStore(LabStore):
    placeholder = "%s"


def open_store(location: str | Path, create: bool = True, read_only: bool = False) -> LabStore:
    """The store at ``location``: a PostgreSQL URL, or an SQLite file (made, in WAL mode, if new and ``create``).
    ``read_only`` (a report): nothing is made or written, so a copied run folder on a read-only disk reads too."""
    location = str(location)
    fix = ("check its address; the password comes from PGPASSWORD or ~/.pgpass" if is_database_url(location)
           else "restore the file, or give --store a writable file or a PostgreSQL URL")
    if is_database_url(location):
        try:
            import psycopg
        except ImportError:
            raise ConfigError('a PostgreSQL store needs psycopg: pip install "edgebench[lab]"') from None
        try:
            connection = psycopg.connect(location, connect_timeout=10)
        except psycopg.Error as exc:
            message = " ".join(str(exc).split())
            raise ConfigError(f"cannot open the store {redacted(location)}: {message}; {fix}") from None
        return PostgresStore(connection, redacted(location), make_tables=not read_only)
    path = Path(location.removeprefix("sqlite:///"))
    if not create and not path.is_file():
        raise ConfigError(f"the store {path} is missing; {fix}")
    try:
        if read_only:
            connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
        else:
            connection = sqlite3.connect(path, timeout=30, check_same_thread=False)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=FULL")  # a line the host acknowledged survives a host crash
    except sqlite3.Error as exc:
        raise ConfigError(f"cannot open the store {path}: {exc}; {fix}") from None
    return LabStore(connection, str(path), make_tables=not read_only)
