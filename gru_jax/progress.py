"""A progress bar for long runs (rich): seed-epochs done, rate, ETA."""
from __future__ import annotations

import contextlib

from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task,
                           TextColumn, TimeElapsedColumn, TimeRemainingColumn)
from rich.text import Text


class _RateColumn(ProgressColumn):
    """Seed-epochs per second (blank until rich has measured a rate)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.0f} seed-epochs/s")


@contextlib.contextmanager
def progress_bar(total: int, completed: int = 0, enabled: bool = True,
                 description: str = "training"):
    """Yields ``advance(n, description=None)``; shows the description, seed-epochs done/total,
    rate, elapsed time and ETA."""
    if not enabled:
        yield lambda n, description=None: None
        return
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               _RateColumn(), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn())
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task(description, total=total, completed=completed)
        yield lambda n, description=None: bar.update(task, advance=n, description=description)
