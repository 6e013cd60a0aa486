"""Seeded, worker-count-independent resampling.

Replicates are cut into fixed-size chunks; chunk *k* gets the *k*-th child of
``numpy.random.SeedSequence(seed).spawn``. The chunking depends only on ``n_boot`` and ``chunk_size``,
never on the number of workers, so a fixed seed gives bit-identical results whether the chunks
run sequentially, on threads, in processes or on a Dask cluster.

The work function has the signature ``fn(rng: numpy.random.Generator, n: int) -> array`` and
returns ``n`` replicates stacked on axis 0 (rows may be NaN for failed replicates; callers count
and report them).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence

import numpy as np

from .errors import InputError
from .schedulers import resolve_scheduler
from .stats._core import check_n_boot, renamed_args

DEFAULT_CHUNK = 100


@renamed_args(B="n_boot")
def replicate_chunks(n_boot: int, seed: int | np.random.SeedSequence | None, chunk_size: int = DEFAULT_CHUNK
                     ) -> list[tuple[int, np.random.SeedSequence]]:
    """Split ``n_boot`` replicates into ``(n_in_chunk, SeedSequence)`` pairs, independent of workers."""
    n_boot = check_n_boot(n_boot)
    if chunk_size < 1:
        raise InputError(f"chunk_size must be >= 1, got {chunk_size}")
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    n_chunks = -(-int(n_boot) // chunk_size)
    children = root.spawn(n_chunks)
    sizes = [chunk_size] * (n_chunks - 1) + [int(n_boot) - chunk_size * (n_chunks - 1)]
    return list(zip(sizes, children))


def _run_chunk(fn: Callable[[np.random.Generator, int], Any], n: int, ss: np.random.SeedSequence) -> np.ndarray:
    return np.asarray(fn(np.random.default_rng(ss), n))


def _call(fn: Callable[[Any], Any], item: Any) -> Any:
    return fn(item)


def _call_run(fn: Callable[[Any], Any], items: list[Any]) -> list[Any]:
    return [fn(item) for item in items]


#: tasks per worker thread when :func:`map_tasks` sends items to a distributed cluster
_TASKS_PER_THREAD = 4


def map_tasks(
    fn: Callable[[Any], Any],
    items: Sequence[Any],
    scheduler: Any = None,
    on_done: Callable[[int], None] | None = None,
) -> list[Any]:
    """Apply ``fn`` to each item on a scheduler; results come back in the order of ``items``.

    ``scheduler`` takes the values of :func:`her2stats.schedulers.resolve_scheduler` (the one
    reader, shared with the feature extraction): None or ``"sync"`` (in process, in order),
    ``"threads"`` (a thread pool over all cores), ``"processes"`` (Dask's local process pool), a
    :class:`~her2stats.schedulers.WorkerPool`, a ``dask.distributed.Client``, a Dask cluster or a
    scheduler address ``"tcp://..."``. Anything
    else is an InputError naming the value, raised before any work. On a distributed cluster
    ``fn`` (with the data in its closure) is shipped to each worker once, not once per item, and
    the items travel in runs of consecutive items, a few runs per worker thread (so they do on a
    WorkerPool, with ``fn`` pickled once per run). ``on_done(i)`` is
    called as item ``i``'s result is collected.
    """
    sched = resolve_scheduler(scheduler)
    items = list(items)
    tick = on_done if on_done is not None else (lambda i: None)
    if sched.kind == "sync":
        out = []
        for i, item in enumerate(items):
            out.append(fn(item))
            tick(i)
        return out
    if sched.kind == "threads":
        with ThreadPoolExecutor(max_workers=sched.local_workers(len(items))) as pool:
            futures = [pool.submit(fn, item) for item in items]
            out = []
            for i, fut in enumerate(futures):
                out.append(fut.result())
                tick(i)
        return out
    if sched.kind == "processes":
        import dask

        tasks = [dask.delayed(_call)(fn, item) for item in items]
        out = list(dask.compute(*tasks, scheduler="processes"))
        for i in range(len(items)):
            tick(i)
        return out
    if sched.kind == "pool":
        return submit_tasks(fn, items, sched.target).result(on_done)
    with sched.client() as client:
        fn_remote = client.scatter(fn, broadcast=True, hash=False)
        # a few tasks per worker thread, each a run of consecutive items: enough to balance the
        # load, few enough that scheduling and result round trips stay a small share of the work
        # (one task per item cost a one-worker bootstrap 5-7% over the in-process run)
        runs = _runs(items, max(1, sum(client.nthreads().values())))
        futures = client.map(_call_run, [fn_remote] * len(runs), runs, pure=False)
        out = []
        for fut in futures:
            for res in fut.result():
                tick(len(out))
                out.append(res)
        return out


class PendingTasks:
    """Tasks of :func:`submit_tasks` running on a :class:`~her2stats.schedulers.WorkerPool`:
    :meth:`result` waits for them (results in the order of the items), :meth:`cancel` drops the
    ones not started."""

    def __init__(self, futures: list[Any]):
        self.futures = futures

    def result(self, on_done: Callable[[int], None] | None = None) -> list[Any]:
        tick = on_done if on_done is not None else (lambda i: None)
        out: list[Any] = []
        for fut in self.futures:
            for res in fut.result():
                tick(len(out))
                out.append(res)
        return out

    def cancel(self) -> None:
        for fut in self.futures:
            fut.cancel()


def submit_tasks(fn: Callable[[Any], Any], items: Sequence[Any], pool: Any) -> PendingTasks:
    """:func:`map_tasks` on a :class:`~her2stats.schedulers.WorkerPool` without waiting: the tasks
    (runs of consecutive items, as map_tasks cuts them) are submitted now and the caller collects
    them later with ``.result()`` (the same list map_tasks returns) or drops them with ``.cancel()``."""
    items = list(items)
    return PendingTasks([pool.submit(_call_run, fn, run) for run in _runs(items, pool.workers)])


def _runs(items: list[Any], slots: int) -> list[list[Any]]:
    """``items`` cut into runs of consecutive items, :data:`_TASKS_PER_THREAD` runs per slot."""
    n_tasks = min(len(items), _TASKS_PER_THREAD * slots)
    bounds = np.linspace(0, len(items), n_tasks + 1).round().astype(int)
    return [items[a:b] for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


class _ChunkRunner:
    """``(n, SeedSequence) -> fn(default_rng(ss), n)`` as a picklable callable for :func:`map_tasks`."""

    def __init__(self, fn: Callable[[np.random.Generator, int], Any]):
        self.fn = fn

    def __call__(self, chunk: tuple[int, np.random.SeedSequence]) -> np.ndarray:
        n, ss = chunk
        return _run_chunk(self.fn, n, ss)


@renamed_args(B="n_boot")
def run_replicates(
    fn: Callable[[np.random.Generator, int], Any],
    n_boot: int,
    seed: int | np.random.SeedSequence | None = 0,
    scheduler: Any = None,
    chunk_size: int = DEFAULT_CHUNK,
    progress: bool = False,
    desc: str = "bootstrap",
) -> np.ndarray:
    """Run ``n_boot`` replicates of ``fn`` in seeded chunks and stack them in chunk order.

    Parameters
    ----------
    fn : callable ``(rng, n) -> array`` of ``n`` replicates on axis 0.
    n_boot : number of replicates.
    seed : int, SeedSequence or None (None draws fresh entropy: not reproducible).
    scheduler : None or ``"sync"`` (in process), ``"threads"`` (all cores; numpy releases the GIL),
        ``"processes"``, a ``dask.distributed.Client``, a Dask cluster or a scheduler address
        ``"tcp://..."`` (:func:`her2stats.schedulers.resolve_scheduler`); never changes the result.
    chunk_size : replicates per task; part of the random stream definition (keep it fixed to
        reproduce a result).
    progress : show a tqdm progress bar over chunks.
    """
    chunks = replicate_chunks(n_boot, seed, chunk_size)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=int(n_boot), desc=desc, leave=False)

    def _tick(i: int) -> None:
        if bar is not None:
            bar.update(chunks[i][0])

    try:
        out = map_tasks(_ChunkRunner(fn), chunks, scheduler=scheduler, on_done=_tick)
    finally:
        if bar is not None:
            bar.close()
    return np.concatenate(out, axis=0)


def bootstrap_indices(rng: np.random.Generator, n: int, strata: Sequence[Any] | np.ndarray | None = None) -> np.ndarray:
    """One bootstrap sample of row indices; with ``strata`` (e.g. the outcome, as pROC's
    ``stratified=TRUE``) each stratum is resampled to its own size."""
    if strata is None:
        return rng.integers(0, n, size=n)
    return stratified_indices(rng, stratum_rows(strata))


def stratum_rows(strata: Sequence[Any] | np.ndarray) -> list[np.ndarray]:
    """The row indices of each stratum, strata in sorted order: what :func:`bootstrap_indices`
    resamples, found once for a loop of many replicates (:func:`stratified_indices`)."""
    strata = np.asarray(strata)
    return [np.flatnonzero(strata == level) for level in np.unique(strata)]


def stratified_indices(rng: np.random.Generator, rows: Sequence[np.ndarray]) -> np.ndarray:
    """One bootstrap sample of row indices, each group of ``rows`` resampled to its own size, in
    order (the draws of ``bootstrap_indices(rng, n, strata)`` when ``rows = stratum_rows(strata)``)."""
    return np.concatenate([ix[rng.integers(0, len(ix), size=len(ix))] for ix in rows])
