"""Worker processes, or a Dask cluster, for the network search's independent solves.

A search sends each task to one *lane*: a local worker process or one worker of a Dask
cluster, which keeps what earlier tasks of the same search solved (its caches), so a search
that sends related tasks to the same lane solves shared problems once. Every task's answer
is a pure function of its arguments, and the search merges answers by their keys, so a
solve returns the same schedule with one lane or many. The lanes start only once the
search has spent ``START_AFTER_S`` seconds solving in its own process: small solves never
pay for starting processes.
"""

from __future__ import annotations

import os
import time as _time
from collections.abc import Callable, Iterable
from typing import Any

from ..executors import DaskCluster, LocalProcesses

#: Seconds of solving in the search's own process before it starts its lanes (starting a
#: worker process and importing the package takes about half a second).
START_AFTER_S = 1.0


class LanesFailed(Exception):
    """A task failed on its lane, or the lane died (say, a script without the
    ``if __name__ == "__main__":`` guard that starting processes needs)."""


def default_workers() -> int:
    """The worker count of ``solver.workers: 0``: one per core."""
    return os.cpu_count() or 1


class Workers:
    """Where a search's independent solves run: ``count`` local processes, or the Dask
    cluster at ``dask`` (``"local"``: a LocalCluster of ``count`` workers started here).
    One worker and no cluster: the search's own process only. A context manager; the lanes
    stop at its end (at once after Ctrl-C or a task cut by its deadline)."""

    def __init__(self, count: int, dask: str | None = None) -> None:
        self.count = max(1, count)
        self.dask = dask
        self.busy = 0.0               # seconds the search spent solving in its own process
        self.tasks = 0                # tasks the lanes answered
        self._locals: list[LocalProcesses] = []
        self._cluster: DaskCluster | None = None
        self._addresses: list[str] = []
        self._stale = False           # a task outlived its wait: stop without waiting
        self.description = ""         # where the lanes ran, once started

    @property
    def parallel(self) -> bool:
        """Whether tasks may go to other processes at all."""
        return self.count > 1 or self.dask is not None

    @property
    def ready(self) -> bool:
        """Whether the search should send its tasks to the lanes now."""
        return self.parallel and (self.started or self.busy >= START_AFTER_S)

    @property
    def started(self) -> bool:
        return bool(self._locals) or self._cluster is not None

    def lanes(self) -> int:
        """How many lanes there are (starting them if need be)."""
        self._start()
        return len(self._addresses) if self._cluster is not None else len(self._locals)


    def submit(self, lane: int, fn: Callable[..., Any], *args: Any) -> Any:
        """Start ``fn(*args)`` on ``lane``; returns its future."""
        self._start()
        if self._cluster is not None:
            return self._cluster.submit_to(self._addresses[lane], fn, *args)
        return self._locals[lane].submit(fn, *args)

    def wait(self, futures: Iterable[Any], deadline: float = float("inf")) -> set[Any]:
        """The futures among ``futures`` that have finished, waiting until the first does
        or ``deadline`` (perf_counter time) passes. Ctrl-C stops the lanes and propagates."""
        futures = list(futures)
        waiter = self._cluster if self._cluster is not None else self._locals[0]
        try:
            while True:
                done = {f for f in futures if f.done()}
                left = deadline - _time.perf_counter()
                if done or left <= 0:
                    return done
                waiter.wait(futures, min(left, 1.0))
        except KeyboardInterrupt:
            self.abort()
            raise

    def result(self, future: Any) -> Any:
        """The answer of a finished task; LanesFailed when it raised or its lane died (the
        search then goes on in its own process, where a real error raises again)."""
        try:
            answer = future.result()
        except Exception as exc:      # the search redoes the task itself
            raise LanesFailed(f"{type(exc).__name__}: {exc}" if str(exc)
                              else type(exc).__name__) from exc
        self.tasks += 1
        return answer

    def disable(self) -> None:
        """No more lanes for this search (after LanesFailed)."""
        self.abort()
        self.count, self.dask = 1, None

    def forget(self, futures: Iterable[Any]) -> None:
        """Tasks whose answers are not wanted: cancelled, or the lanes stop at the end."""
        for future in futures:
            if not future.done() and not future.cancel():
                self._stale = True

    def _start(self) -> None:
        if self.started:
            return
        if self.dask is None:
            self._locals = [LocalProcesses(1) for _ in range(self.count)]
            self.description = f"{self.count} local worker processes"
            return
        local = self.dask == "local"
        self._cluster = DaskCluster(None if local else self.dask,
                                    self.count if local else None)
        self._addresses = self._cluster.addresses()
        self.description = f"{len(self._addresses)} workers of {self._cluster.description}"

    def abort(self) -> None:
        """Stop the lanes at once."""
        for lane in self._locals:
            lane.abort()
        if self._cluster is not None:
            self._cluster.abort()
        self._locals, self._cluster = [], None

    def close(self) -> None:
        if self._stale:
            self.abort()
            return
        for lane in self._locals:
            lane.__exit__(None, None, None)
        if self._cluster is not None:
            self._cluster.__exit__(None, None, None)
        self._locals, self._cluster = [], None

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: Any) -> None:
        if exc and exc[0] is not None:
            self.abort()
        else:
            self.close()
