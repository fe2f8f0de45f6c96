"""The live display of edgebench.progress: a rich bar with the counts and times, and the status below.

Imported only when a live display starts (it imports rich at once).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Iterable

from rich.console import Console, RenderableType
from rich.progress import BarColumn, Progress, ProgressColumn, Task
from rich.text import Text

from edgebench.progress import format_duration, format_eta

if TYPE_CHECKING:
    from edgebench.progress import SweepProgress


class _TimesColumn(ProgressColumn):
    """"12/84 cells · 6 min elapsed · about 9 min left", from SweepProgress's own weighted estimate
    (rich's would count every cell alike)."""

    def __init__(self, owner: SweepProgress) -> None:
        super().__init__()
        self._owner = owner

    def render(self, task: Task) -> Text:
        owner = self._owner
        parts = [f"{owner.done}/{owner.total} cells", f"{format_duration(owner.elapsed_s())} elapsed"]
        eta = owner.eta_s()
        if eta is not None and owner.done < owner.total:
            parts.append(f"{format_eta(eta)} left")
        return Text(" · ".join(parts))


class _SweepBar(Progress):
    """A Progress whose display is the bar line and, under it, what runs now."""

    def __init__(self, owner: SweepProgress, console: Console, clock: Callable[[], float]) -> None:
        self._owner = owner  # before Progress.__init__, which renders once
        super().__init__(BarColumn(bar_width=30), _TimesColumn(owner), console=console, get_time=clock,
                         refresh_per_second=4)

    def get_renderables(self) -> Iterable[RenderableType]:
        yield self.make_tasks_table(self.tasks)
        status = self._owner.status_text
        if status:
            yield Text(status, style="dim", no_wrap=True, overflow="ellipsis")


def make_live_progress(owner: SweepProgress, console: Console,
                       clock: Callable[[], float]) -> tuple[Progress, int]:
    """A started-to-be Progress for ``owner`` and the id of its one task."""
    progress = _SweepBar(owner, console, clock)
    task = progress.add_task("cells", total=max(owner.total, 1), completed=owner.done)
    return progress, task
