"""What a sweep is doing now and how long it has left, live in a terminal, as heartbeat lines in a file.

A sweep runs for minutes to hours. In a terminal a bar at the bottom shows the cells done, the time
elapsed, an estimate of the time left and what runs now; lines that matter (a cell's result, a warning)
print above it and stay. Written to a file or a pipe (``edgebench run > log.txt 2>&1``, CI) there are no
carriage returns and no escape codes: lines are written as they are, and the status becomes at most one
heartbeat line every 30 s, so a long cell shows life without flooding the file::

    with SweepProgress(total=len(cells), done=len(finished)) as progress:
        progress.add_work(sum(expected_s.values()))  # optional: makes the estimate weighted
        for cell in cells:
            progress.status(f"{cell.model} b{cell.batch} · round 4 · {cell.runtime} {cell.precision}")
            record = measure(cell)
            progress.log(result_line(record))
            progress.advance(weight=expected_s[cell.key])

rich is imported only when a live display starts, so ``import edgebench`` stays light.
"""
from __future__ import annotations

import os
import sys
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any, Callable, TextIO

if TYPE_CHECKING:
    from rich.console import Console

HEARTBEAT_S = 30.0  # the fewest seconds between two status lines in a file
_LIVE_REFRESH_S = 0.25  # the fewest seconds between two redraws forced by status()


def format_duration(seconds: float) -> str:
    """A time span rounded for reading: "40 s", "6 min", "1 h 05 min"."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    hours, rest = divmod(round(seconds / 60), 60)
    return f"{hours} h {rest:02d} min"


def format_eta(seconds: float) -> str:
    """An estimate, rounded as coarsely as it deserves: "about 45 s", "about 9 min", "about 2 h 10 min"."""
    seconds = max(0.0, seconds)
    if seconds < 10:
        return "under 10 s"
    if 5 * round(seconds / 5) < 60:
        return f"about {5 * round(seconds / 5)} s"
    if round(seconds / 60) < 60:
        return f"about {round(seconds / 60)} min"
    if seconds < 10 * 3600:
        hours, rest = divmod(10 * round(seconds / 600), 60)
        return f"about {hours} h" + (f" {rest} min" if rest else "")
    return f"about {round(seconds / 3600)} h"


def _is_terminal(stream: TextIO) -> bool:
    if os.environ.get("TERM", "").lower() == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


class SweepProgress:
    """What the sweep is doing now and an estimated time to the end.

    ``total`` cells, of which ``done`` were finished before (a resumed run). ``live=None`` shows a live
    display when ``stream`` (stderr by default) is a terminal whose TERM is not "dumb", plain lines
    otherwise. ``console`` (a rich Console) replaces the one made on ``stream`` for the live display.
    ``clock`` is injectable for tests; it also drives the live display's elapsed time.
    """

    def __init__(self, total: int, *, done: int = 0, stream: TextIO | None = None, live: bool | None = None,
                 console: Console | None = None, clock: Callable[[], float] = time.monotonic,
                 heartbeat_s: float = HEARTBEAT_S) -> None:
        if total < 0 or done < 0 or done > total:
            raise ValueError(f"SweepProgress needs 0 <= done <= total, got done={done}, total={total}")
        self._stream = stream if stream is not None else (console.file if console is not None else sys.stderr)
        self.live = (console is not None or _is_terminal(self._stream)) if live is None else live
        self._console = console
        self._clock = clock
        self._heartbeat_s = heartbeat_s
        self._started = clock()
        self._total = total
        self._done = done
        self._to_run = total - done  # the cells this session runs, which `add_work` declares the work of
        self._session_cells = 0
        self._work_declared = 0.0
        self._work_done = 0.0
        self._status = ""
        self._last_heartbeat = self._started  # the first heartbeat comes one interval after the start
        self._last_refresh = float("-inf")
        self._progress: Any = None  # the rich Progress while live
        self._task: Any = None

    # --- context --------------------------------------------------------------------------------------
    def __enter__(self) -> SweepProgress:
        self._started = self._last_heartbeat = self._clock()
        if self.live:
            self._start_live()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self._progress is not None:
            self._status = ""  # what ran is over: the last frame keeps only the count and the times
            self._progress.update(self._task, completed=self._done, total=max(self._total, 1))
            self._progress.stop()
            self._progress = None

    # --- what the caller says -------------------------------------------------------------------------
    def log(self, text: str) -> None:
        """A line that stays (a result, a warning, "preparing X...")."""
        if self.live:
            self._live_console().print(text, markup=False, highlight=False)
        else:
            self._write(text)

    def status(self, text: str) -> None:
        """What runs now; replaces the previous status (in a file: at most one heartbeat per interval)."""
        self._status = text
        now = self._clock()
        if self.live:
            if self._progress is not None and now - self._last_refresh >= _LIVE_REFRESH_S:
                self._last_refresh = now
                self._progress.refresh()
            return
        if now - self._last_heartbeat >= self._heartbeat_s:
            self._last_heartbeat = now
            self._write(self.summary() + (f": {text}" if text else ""))

    def add_work(self, units: float, *, cells: int = 0) -> None:
        """Declare more expected work of the cells still to run (e.g. their expected seconds).

        Once work is declared, ``advance(weight=...)`` counts against it and the estimate is weighted.
        ``cells`` adds cells to the total when they are planned after the start.
        """
        if units < 0 or cells < 0:
            raise ValueError(f"add_work takes no negative amounts, got units={units}, cells={cells}")
        self._work_declared += units
        self._total += cells
        self._to_run += cells
        self._sync_live()

    def advance(self, cells: int = 1, *, weight: float | None = None) -> None:
        """``cells`` finished; ``weight`` is their size in the units given to ``add_work`` (default: an
        average cell's)."""
        if cells < 0:
            raise ValueError(f"advance takes no negative cell count, got {cells}")
        self._done += cells
        self._session_cells += cells
        self._work_done += weight if weight is not None else cells * self._mean_cell_work()
        self._sync_live()

    # --- what it tells ---------------------------------------------------------------------------------
    @property
    def total(self) -> int:
        return self._total

    @property
    def done(self) -> int:
        return self._done

    @property
    def status_text(self) -> str:
        """The latest status ("" once the sweep is over)."""
        return self._status

    def elapsed_s(self) -> float:
        return self._clock() - self._started

    def eta_s(self) -> float | None:
        """Seconds to the end, or None before a cell of this session has finished.

        Weighted when work was declared: elapsed per unit of work done × the work left; otherwise
        elapsed per cell × the cells left. Estimates that ran out while cells remain fall back to cells.
        """
        left_cells = self._total - self._done
        if left_cells <= 0:
            return 0.0
        if self._session_cells == 0:
            return None
        elapsed = self.elapsed_s()
        left_work = self._work_declared - self._work_done
        if self._work_declared > 0 and self._work_done > 0 and left_work > 0:
            return elapsed / self._work_done * left_work
        return elapsed / self._session_cells * left_cells

    def summary(self) -> str:
        """"... 12/84 cells, 6 min elapsed, about 9 min left" (the heartbeat without its status)."""
        eta = self.eta_s()
        left = f", {format_eta(eta)} left" if eta is not None and self._done < self._total else ""
        return f"... {self._done}/{self._total} cells, {format_duration(self.elapsed_s())} elapsed{left}"

    # --- internals -------------------------------------------------------------------------------------
    def _mean_cell_work(self) -> float:
        if self._work_declared > 0 and self._to_run > 0:
            return self._work_declared / self._to_run
        return 1.0

    def _write(self, line: str) -> None:
        self._stream.write(line + "\n")
        self._stream.flush()

    def _live_console(self) -> Console:
        if self._console is None:
            from rich.console import Console

            # live=True on a stream that is no terminal (a test, a forced display) still draws
            self._console = Console(file=self._stream, force_terminal=True if self.live else None)
        return self._console

    def _start_live(self) -> None:
        from edgebench.progress_live import make_live_progress

        self._progress, self._task = make_live_progress(self, self._live_console(), self._clock)
        self._progress.start()

    def _sync_live(self) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=self._done, total=max(self._total, 1))
