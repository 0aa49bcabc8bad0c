"""Where sweep runs execute: local worker processes, or a Dask cluster.

Both executors offer the same small interface to the sweep driver: how many runs may be in
flight, submit, wait for some to finish, and ``abort`` (cancel what has not started and stop
the workers without waiting for the solves in flight, for Ctrl-C).
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from .errors import NnsolveError


class Executor(Protocol):
    """What the sweep driver needs of an executor (a context manager)."""

    description: str

    def capacity(self) -> int:
        """How many runs should be in flight at once (at least 1)."""

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Start ``fn(*args)``; returns a future (``done()``, ``result()``)."""

    def wait(self, futures: Iterable[Any], timeout: float) -> set[Any]:
        """The futures among ``futures`` that have finished, waiting at most ``timeout`` s
        for the first."""

    def abort(self) -> None:
        """Cancel pending runs and stop the workers without waiting for running solves."""

    def __enter__(self) -> Executor: ...

    def __exit__(self, *exc: Any) -> None: ...


def default_jobs() -> int:
    """The number of cores (the default of --jobs)."""
    return os.cpu_count() or 1


def executor_factory(jobs: int | None, dask: str | None) -> Callable[[int], Executor]:
    """From --jobs and --dask: a function that starts an executor for a number of runs (so
    no more workers start than there are runs, and none when there is nothing to do)."""
    if dask is None:
        return lambda runs: LocalProcesses(max(1, min(jobs or default_jobs(), runs)))
    if dask == "local":
        return lambda runs: DaskCluster(None, max(1, min(jobs or default_jobs(), runs)))
    return lambda runs: DaskCluster(dask, None)


def _ignore_sigint() -> None:
    """Worker processes leave Ctrl-C to the driver, which stops them."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _init_local_worker(driver: int) -> None:
    """Start of a local worker process: leave Ctrl-C to the driver, and exit as soon as the
    driver is gone (say, kill -9) instead of finishing a solve that nobody will write."""
    _ignore_sigint()
    threading.Thread(target=_exit_without, args=(driver,), name="driver-watch",
                     daemon=True).start()


def _exit_without(driver: int) -> None:
    while os.getppid() == driver:
        time.sleep(0.5)
    os._exit(1)


def _prepare_dask_worker() -> int:
    """Run on each worker of a LocalCluster: ignore Ctrl-C (the driver stops the workers);
    returns the worker's process id, to stop it at once on Ctrl-C."""
    _ignore_sigint()
    return os.getpid()


class LocalProcesses:
    """Runs on local worker processes (a ProcessPoolExecutor, started with spawn)."""

    def __init__(self, jobs: int):
        self.jobs = jobs
        self.description = f"{jobs} local process{'es' if jobs != 1 else ''}"
        self._pool = cf.ProcessPoolExecutor(
            max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_local_worker, initargs=(os.getpid(),))
        self._aborted = False

    def capacity(self) -> int:
        return self.jobs

    def submit(self, fn: Callable[..., Any], *args: Any) -> cf.Future:
        return self._pool.submit(fn, *args)

    def wait(self, futures: Iterable[Any], timeout: float) -> set[Any]:
        return set(cf.wait(list(futures), timeout, cf.FIRST_COMPLETED).done)

    def abort(self) -> None:
        self._aborted = True
        # The worker processes (ProcessPoolExecutor has no public way to stop them before
        # Python 3.14's terminate_workers).
        processes = list((getattr(self._pool, "_processes", None) or {}).values())
        self._pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join(timeout=5)

    def __enter__(self) -> LocalProcesses:
        return self

    def __exit__(self, *exc: Any) -> None:
        if not self._aborted:
            self._pool.shutdown(wait=True)


def _is_cancel_race(record: logging.LogRecord) -> bool:
    """A Ctrl-C that lands while Dask's client waits makes it schedule a ``cancel`` of a
    future it has not created yet; tornado then logs that NameError with its traceback.
    The interrupt itself is handled here, so this one record is noise."""
    exc = record.exc_info
    if not exc or not isinstance(exc[1], NameError):
        return False
    tb = exc[2]
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    code = tb.tb_frame.f_code if tb is not None else None
    return code is not None and code.co_name == "cancel" and \
        code.co_filename.replace(os.sep, "/").endswith("distributed/utils.py")


class _DropCancelRace(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not _is_cancel_race(record)


class DaskCluster:
    """Runs on a Dask cluster: the scheduler at ``address``, or (address None) a LocalCluster
    of ``jobs`` single-threaded worker processes started here and closed at the end."""

    def __init__(self, address: str | None, jobs: int | None):
        try:
            import distributed
        except ImportError:
            raise NnsolveError("--dask needs Dask's distributed scheduler: "
                               "pip install 'nnsolve[dask]'") from None
        self._distributed = distributed
        # Kept for the life of the process: the callback may run after the cluster closed.
        tornado_log = logging.getLogger("tornado.application")
        if not any(isinstance(f, _DropCancelRace) for f in tornado_log.filters):
            tornado_log.addFilter(_DropCancelRace())
        self._cluster = None
        self._worker_pids: list[int] = []
        if address is None:
            self._cluster = distributed.LocalCluster(
                n_workers=jobs, threads_per_worker=1, processes=True,
                dashboard_address=None, silence_logs=logging.ERROR,
                # No dashboard, and its bare HTTP server on any free port (not a warning
                # that 8787 is taken when another cluster runs).
                scheduler_kwargs={"dashboard_address": "127.0.0.1:0"})
            try:
                self._client = distributed.Client(self._cluster)
                self._worker_pids = list(self._client.run(_prepare_dask_worker).values())
            except BaseException:
                self._cluster.close()
                raise
            self.description = f"a local Dask cluster of {jobs} worker process" + \
                ("es" if jobs != 1 else "")
        else:
            try:
                self._client = distributed.Client(address, timeout="20s")
            except (OSError, TimeoutError, ValueError) as exc:
                raise NnsolveError(f"--dask {address}: cannot connect to the Dask "
                                   f"scheduler: {exc}") from None
            self.description = f"the Dask cluster at {address}"
        self._futures: list[Any] = []

    def capacity(self) -> int:
        return max(1, sum(self._client.nthreads().values()))

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        future = self._client.submit(fn, *args, pure=False)
        self._futures.append(future)
        return future

    def addresses(self) -> list[str]:
        """The cluster's worker addresses, sorted."""
        return sorted(self._client.scheduler_info()["workers"])

    def submit_to(self, address: str, fn: Callable[..., Any], *args: Any) -> Any:
        """``submit`` on the worker at ``address`` only (its state is the task's)."""
        future = self._client.submit(fn, *args, pure=False, workers=[address],
                                     allow_other_workers=False)
        self._futures.append(future)
        return future

    def wait(self, futures: Iterable[Any], timeout: float) -> set[Any]:
        futures = list(futures)
        with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
            self._distributed.wait(futures, timeout=timeout, return_when="FIRST_COMPLETED")
        # Only pending runs are kept here (for abort): a finished one's result may leave
        # the cluster once the driver has written it.
        self._futures = [f for f in self._futures if not f.done()]
        return {f for f in futures if f.done()}

    def abort(self) -> None:
        # Pending runs are cancelled. The workers of a LocalCluster are stopped at once (a
        # graceful close would wait for their solves); those of a remote cluster finish
        # their current run and drop the result.
        # Killing workers makes the scheduler and nanny log lost connections with
        # tracebacks; after a Ctrl-C those are expected, so they are not shown.
        for name in ("distributed", "tornado"):
            logging.getLogger(name).setLevel(logging.CRITICAL + 1)
        pending = [f for f in self._futures if not f.done()]
        if pending:
            self._client.cancel(pending, force=True)
        for pid in self._worker_pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.__exit__(None, None, None)

    def __enter__(self) -> DaskCluster:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None
