"""A progress bar for long CLI solves, on stderr: elapsed time against the time limit,
with the incumbent, the bound and the gap as the solver reports them."""

from __future__ import annotations

import sys
import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING, TextIO

from designsvc.core.types import JsonDict

if TYPE_CHECKING:
    from rich.progress import TaskID

__all__ = ["SolveProgress", "TrainProgress"]


class SolveProgress:
    """Context manager; feed it pipeline events with :meth:`on_event`. It draws on
    ``stream`` (default stderr); disabled, it does nothing (not a terminal)."""

    def __init__(self, time_limit_s: float, *, stream: TextIO | None = None, enabled: bool = True) -> None:
        self.time_limit_s = time_limit_s
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self._progress: object | None = None
        self._task: TaskID | None = None
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._start = time.monotonic()

    def __enter__(self) -> SolveProgress:
        if not self.enabled:
            return self
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        progress = Progress(
            TextColumn("{task.fields[stage]:<9}"),
            BarColumn(),
            TimeElapsedColumn(),
            TextColumn("incumbent {task.fields[incumbent]}  bound {task.fields[bound]}  gap {task.fields[gap]}"),
            console=Console(file=self.stream),
            transient=False,
        )
        progress.start()
        self._task = progress.add_task(
            "solve", total=self.time_limit_s, stage="start", incumbent="-", bound="-", gap="-"
        )
        self._progress = progress
        self._start = time.monotonic()
        self._ticker = threading.Thread(target=self._tick, name="solve-progress", daemon=True)
        self._ticker.start()
        return self

    def _tick(self) -> None:
        from rich.progress import Progress

        while not self._stop.wait(0.25):
            if isinstance(self._progress, Progress) and self._task is not None:
                elapsed = time.monotonic() - self._start
                self._progress.update(self._task, completed=min(elapsed, self.time_limit_s))

    def on_event(self, event: JsonDict) -> None:
        if self._progress is None or self._task is None:
            return
        from rich.progress import Progress

        assert isinstance(self._progress, Progress)
        if event.get("type") == "stage":
            self._progress.update(self._task, stage=event["stage"])
        elif event.get("type") == "progress":
            gap = event.get("gap")
            self._progress.update(
                self._task,
                incumbent=_fmt(event.get("incumbent")),
                bound=_fmt(event.get("bound")),
                gap="-" if gap is None else f"{100 * gap:.2f}%",
            )

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        from rich.progress import Progress

        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        if isinstance(self._progress, Progress):
            if self._task is not None and exc_type is None:
                self._progress.update(self._task, completed=self.time_limit_s, stage="done")
            self._progress.stop()


def _fmt(value: object) -> str:
    return "-" if value is None else f"{value:.6g}" if isinstance(value, float) else str(value)


class TrainProgress:
    """A progress bar for CLI training runs, on stderr: iterations done of the total (the
    trainer's progress events say both), with the latest mean episode return and feasible
    rate. Disabled, it does nothing."""

    def __init__(self, iterations: int | None = None, *, stream: TextIO | None = None, enabled: bool = True) -> None:
        self.iterations = iterations
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self._progress: object | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> TrainProgress:
        if not self.enabled:
            return self
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        progress = Progress(
            TextColumn("train"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("return {task.fields[ret]}  feasible {task.fields[feasible]}"),
            console=Console(file=self.stream),
        )
        progress.start()
        self._task = progress.add_task("train", total=self.iterations, ret="-", feasible="-")
        self._progress = progress
        return self

    def on_event(self, event: JsonDict) -> None:
        from rich.progress import Progress

        if not isinstance(self._progress, Progress) or self._task is None or event.get("type") != "progress":
            return
        rate = event.get("feasible_rate")
        total = event.get("iterations")
        self._progress.update(
            self._task,
            total=float(total) if isinstance(total, int | float) else None,
            completed=int(event.get("iteration", 0)),
            ret=_fmt(event.get("mean_return")),
            feasible="-" if rate is None else f"{100 * float(rate):.0f}%",  # type: ignore[arg-type]
        )

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        from rich.progress import Progress

        if isinstance(self._progress, Progress):
            self._progress.stop()
