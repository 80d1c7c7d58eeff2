"""Executors: run pure per-tile jobs serially, on local processes, or on Dask.

Every executor yields ``(tile, result)`` pairs as tiles finish; the driver
records each in the manifest, so results never depend on the executor or on
completion order.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from galmix.errors import GalmixValueError

__all__ = ["run_jobs"]

log = logging.getLogger(__name__)


def _serial(fn: Callable, jobs: Sequence[Any], **_: Any) -> Iterator[tuple[Any, Any]]:
    for job in jobs:
        yield job, fn(job)


def _processes(fn: Callable, jobs: Sequence[Any], workers: int = 2, **_: Any):
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # "spawn": no inherited numba/thread state, same behaviour on every OS
    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(max_workers=max(1, int(workers)), mp_context=ctx) as pool:
        futures = {pool.submit(fn, job): job for job in jobs}
        for fut in as_completed(futures):
            yield futures[fut], fut.result()


def _dask(
    fn: Callable, jobs: Sequence[Any], workers: int = 2, scheduler: str | None = None, **_: Any
):
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError as exc:  # pragma: no cover - optional dependency
        raise GalmixValueError(
            "executor.kind 'dask' needs dask.distributed (pip install 'galmix[dask]')"
        ) from exc
    cluster = None
    if scheduler:
        client = Client(scheduler)
    else:
        cluster = LocalCluster(
            n_workers=max(1, int(workers)),
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.WARNING,
        )
        client = Client(cluster)
    try:
        futures = {}
        for i, job in enumerate(jobs):
            key = f"galmix-tile-{i}-{getattr(job, 'name', i)}"
            futures[client.submit(fn, job, key=key, pure=False)] = job
        for fut in as_completed(list(futures)):
            yield futures[fut], fut.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


_EXECUTORS: dict[str, Callable[..., Iterator[tuple[Any, Any]]]] = {
    "serial": _serial,
    "processes": _processes,
    "dask": _dask,
}


def run_jobs(
    fn: Callable[[Any], Any],
    jobs: Sequence[Any],
    kind: str = "serial",
    workers: int = 2,
    scheduler: str | None = None,
) -> Iterator[tuple[Any, Any]]:
    """Run ``fn(job)`` for every job; yield ``(job, result)`` as they complete.

    Parameters
    ----------
    fn : callable
        A picklable (module-level) pure function.
    jobs : sequence
        Picklable job descriptions.
    kind : {"serial", "processes", "dask"}
    workers : int
        Processes (``processes``) or Dask workers of a ``LocalCluster``.
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``); default a
        ``LocalCluster``. Workers must see the output directory (shared disk).

    Examples
    --------
    >>> sorted(r for _, r in run_jobs(abs, [-2, 1, -3]))
    [1, 2, 3]
    """
    if kind not in _EXECUTORS:
        raise GalmixValueError(f"kind must be one of {sorted(_EXECUTORS)}, got {kind!r}")
    if not jobs:
        return iter(())
    return _EXECUTORS[kind](fn, list(jobs), workers=workers, scheduler=scheduler)
