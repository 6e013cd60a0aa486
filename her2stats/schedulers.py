"""Where work runs: the one reader of every ``scheduler`` argument.

Resampling (:func:`her2stats.resampling.map_tasks`, hence every bootstrap, the pipeline
bootstrap/CV and the internal-external cross-validation), the MICE chains and the image feature
extraction (:class:`her2stats.features.DeepFeatureExtractor`) all call :func:`resolve_scheduler`,
so they accept the same values and refuse the same ones with the same message:

=====================================  ==========================================================
value                                  runs
=====================================  ==========================================================
``None`` or ``"sync"``                 in this process, in order (``"sequential"`` and
                                       ``"synchronous"`` are accepted spellings of ``"sync"``)
``"threads"``                          a thread pool over this machine's cores
``"processes"``                        a pool of local processes (Dask's multiprocessing scheduler)
a ``dask.distributed.Client``          that client's cluster (left open)
a Dask cluster (``LocalCluster``,      a client to it, opened for the call and closed after
``SLURMCluster``...)
an address ``"tcp://host:8786"``       a client to that scheduler, opened for the call and closed
                                       after (any ``scheme://`` Dask understands: ``tls://``,
                                       ``inproc://``...)
a :class:`WorkerPool`                  its warm local worker processes (left open); a study run
                                       starts one for its zoo and whole-pipeline refits
=====================================  ==========================================================

The scheduler is never part of a result: work is cut and seeded independently of it (seeded
chunks, :mod:`her2stats.resampling`; fixed-shape batches, :mod:`her2stats.features.extractor`),
so a fixed seed gives bit-identical numbers on every scheduler. The study config's
``scheduler:`` key and ``her2stats report --scheduler`` take the string forms.
"""
from __future__ import annotations

import multiprocessing.context
import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, Literal

from .errors import InputError

#: the string values a scheduler may take besides an address (canonical names first)
SCHEDULER_NAMES = ("sync", "threads", "processes")
#: other accepted spellings of the canonical names
SCHEDULER_ALIASES = {"sequential": "sync", "synchronous": "sync"}

_LOCAL = "None or 'sync' (in process), 'threads' (a thread pool), 'processes' (local processes), "
_ADDRESS = "a scheduler address such as 'tcp://host:8786'"
#: what a ``scheduler`` argument accepts, as the error messages say it
ACCEPTED = _LOCAL + "a dask.distributed Client or Dask cluster, or " + _ADDRESS


@dataclass(frozen=True)
class Scheduler:
    """A resolved scheduler: ``kind`` is ``"sync"``, ``"threads"``, ``"processes"``,
    ``"distributed"`` (``target``: the Client, cluster or address) or ``"pool"`` (``target``: the
    :class:`WorkerPool`)."""

    kind: Literal["sync", "threads", "processes", "distributed", "pool"]
    target: Any = None

    def local_workers(self, n_items: int | None = None) -> int:
        """Parallel slots of a local kind (the machine's cores; 1 for ``sync``; a pool's workers), at
        most ``n_items``."""
        n = 1 if self.kind == "sync" else self.target.workers if self.kind == "pool" else (os.cpu_count() or 1)
        return max(1, min(n, n_items)) if n_items is not None else n

    @contextmanager
    def client(self) -> Iterator[Any]:
        """The ``dask.distributed.Client`` of a distributed scheduler; one this call opens (from a
        cluster or an address) is closed on exit, a Client passed in is left open."""
        if self.kind != "distributed":
            raise InputError(f"scheduler {self.kind!r} has no Dask client")
        from dask.distributed import Client

        if isinstance(self.target, Client):
            yield self.target
            return
        try:
            # not the default client: only the calls given this scheduler send work to the cluster
            client = Client(self.target, set_as_default=False)  # a cluster object or an address
        except OSError as exc:  # nothing answers at the address (distributed.comm.timeouts.connect)
            raise InputError(f"scheduler {self.target!r}: no Dask scheduler answered ({exc}); start one "
                             "(dask scheduler, or a cluster's scheduler_address) or give another scheduler") from None
        try:
            yield client
        finally:
            client.close()


def _distributed_types() -> tuple[type, ...]:
    try:
        from distributed import Client
        from distributed.deploy.cluster import Cluster
    except ImportError:  # pragma: no cover - dask[distributed] is a dependency
        return ()
    return (Client, Cluster)


def resolve_scheduler(scheduler: Any) -> Scheduler:
    """Read a ``scheduler`` argument (see the module docstring for the accepted values).

    Raises
    ------
    InputError
        naming the value and the accepted ones (with the closest name for a misspelt string).
    """
    if scheduler is None:
        return Scheduler("sync")
    if isinstance(scheduler, str):
        name = SCHEDULER_ALIASES.get(scheduler, scheduler)
        if name in SCHEDULER_NAMES:
            return Scheduler(name)  # type: ignore[arg-type]
        if "://" in scheduler and scheduler.split("://", 1)[1].strip():
            return Scheduler("distributed", scheduler)
        raise InputError(scheduler_error(scheduler))
    if isinstance(scheduler, WorkerPool):
        return Scheduler("pool", scheduler)
    if isinstance(scheduler, _distributed_types()):
        return Scheduler("distributed", scheduler)
    raise InputError(scheduler_error(scheduler))


def scheduler_error(value: Any, objects: bool = True) -> str:
    """The one message for a value that is not a scheduler (with a did-you-mean for strings);
    ``objects=False`` leaves out the Client and cluster objects (the study config's message)."""
    hint = ""
    if isinstance(value, str):
        import difflib

        names = list(SCHEDULER_NAMES) + list(SCHEDULER_ALIASES)
        guess = difflib.get_close_matches(value.strip().lower(), names, n=1, cutoff=0.6)
        if guess:
            hint = f"; did you mean {SCHEDULER_ALIASES.get(guess[0], guess[0])!r}?"
        elif ":" in value or "/" in value:
            hint = "; a scheduler address needs its protocol, e.g. 'tcp://host:8786'"
    shown = repr(value) if isinstance(value, (str, int, float, bool)) else f"a {type(value).__name__}"
    accepted = ACCEPTED if objects else _LOCAL + "or " + _ADDRESS
    return f"scheduler {shown} is not a scheduler; accepted: {accepted}{hint}"


def check_scheduler(scheduler: Any) -> Any:
    """``scheduler`` unchanged when :func:`resolve_scheduler` accepts it, else its InputError."""
    resolve_scheduler(scheduler)
    return scheduler


def task_scheduler(state: Any) -> Any:
    """Where a study stage sends its many independent fits: the run's worker pool
    (``state.workers``), else the run's scheduler (``state.scheduler``)."""
    workers = getattr(state, "workers", None)
    return workers if workers is not None else state.scheduler


@contextmanager
def connected(scheduler: Any) -> Iterator[Any]:
    """``scheduler`` ready for several calls: an address or a cluster becomes one
    ``dask.distributed.Client`` held for the block (closed on exit), so a study run connects once
    rather than once per bootstrap; every other value (checked) is yielded unchanged."""
    sched = resolve_scheduler(scheduler)
    if sched.kind != "distributed":
        yield scheduler
        return
    with sched.client() as client:
        yield client


def local_cluster(n_workers: int = 2, threads_per_worker: int = 1, **kwargs: Any):
    """``dask.distributed.LocalCluster`` of worker processes for her2stats work (feature
    extraction, bootstraps, whole-pipeline refits), one thread per worker.

    Dask's nanny exports ``MALLOC_TRIM_THRESHOLD_=65536`` to worker processes (config
    ``distributed.nanny.pre-spawn-environ``) so that pandas-heavy workers return memory to the OS.
    Setting it also switches off glibc's dynamic mmap threshold, so every large temporary buffer
    (a forward pass, a bootstrap's index matrix) is mapped and unmapped and re-faulted each time:
    on the development machine an extraction ran 1.3-2.7x slower in a fresh process started with
    that variable than without it. These workers start without it.

    Parameters are LocalCluster's; ``processes=True`` and ``dashboard_address=None`` unless
    given. Use as ``with local_cluster(2) as cluster, Client(cluster) as client: ...``.
    """
    import dask
    from dask.distributed import LocalCluster

    kwargs.setdefault("processes", True)
    kwargs.setdefault("dashboard_address", None)
    # None drops the variable from the nanny's pre-spawn environment (distributed skips None
    # values); a different value the user exported in the shell still wins
    key = "MALLOC_TRIM_THRESHOLD_"
    dask_default = dask.config.get(f"distributed.nanny.pre-spawn-environ.{key}", None)
    # an earlier Dask cluster in this process copies its pre-spawn variables into os.environ
    # (distributed's Nanny does os.environ.update); that leaked value is held back while the
    # workers spawn, then restored
    leaked = os.environ.get(key) if dask_default is not None and os.environ.get(key) == str(dask_default) else None
    if leaked is not None:
        del os.environ[key]
    try:
        with dask.config.set({f"distributed.nanny.pre-spawn-environ.{key}": None}):
            return LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker, **kwargs)
    finally:
        if leaked is not None:
            os.environ[key] = leaked


def _warm_up(modules: tuple[str, ...], start_r: bool) -> int:
    """Worker task run once per worker when a :class:`WorkerPool` opens: import ``modules`` and
    start embedded R, so the first real task finds them loaded. Returns the worker's process id."""
    import importlib

    for name in modules:
        importlib.import_module(name)
    if start_r:
        from . import r_bridge

        r_bridge.ensure_started()
    return os.getpid()


@contextmanager
def _bare_main() -> Iterator[None]:
    """``sys.modules["__main__"]`` replaced by an empty module for the block (processes spawned in
    it do not import the caller's main script)."""
    import sys
    import types

    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is None:
            del sys.modules["__main__"]
        else:
            sys.modules["__main__"] = main


#: the thread-count variables of the numerical libraries (OpenBLAS, OpenMP: torch, MKL, Accelerate, numexpr)
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
                    "NUMEXPR_NUM_THREADS")


@contextmanager
def _worker_threads(n: int) -> Iterator[None]:
    """Processes spawned in the block run their numerical libraries on ``n`` threads (the cores
    shared among the workers, as Dask and joblib do: more threads than cores only spin), unless
    the caller set a variable of :data:`THREAD_VARIABLES` itself."""
    added = [v for v in THREAD_VARIABLES if v not in os.environ]
    for v in added:
        os.environ[v] = str(n)
    try:
        yield
    finally:
        for v in added:
            os.environ.pop(v, None)


#: whether this process is a pool worker whose loop ended because its pool closed
_POOL_CLOSED = {"worker": False}


def _exit_now() -> None:
    """``atexit`` handler of a pool worker (registered when the worker starts, so it runs after
    every handler its tasks registered: torch's, numba's, ``weakref.finalize``'s temporary
    directories...). After the pool's shutdown it ends the process at once (streams and logging
    flushed): the interpreter's own tear-down of a worker that loaded R, torch and scikit-learn
    (a full garbage collection, every module's and library's finalisation) costs 1-2 s of CPU for
    memory that the system takes back whole, and the pool's close waits for it."""
    if not _POOL_CLOSED["worker"]:
        return  # the worker failed or was stopped: the usual exit, with its status
    import logging

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    os._exit(0)


class _PoolProcess(multiprocessing.context.SpawnProcess):
    """A spawned worker process of :class:`WorkerPool` that ends quickly when its pool closes."""

    def run(self) -> None:
        import atexit

        atexit.register(_exit_now)
        super().run()  # the executor's worker loop: returns when the pool shuts down
        r_bridge = sys.modules.get("her2stats.r_bridge")
        if r_bridge is not None:
            r_bridge.end_for_exit()  # R's exit finalizers and temporary directory, not its final collection
        _POOL_CLOSED["worker"] = True  # (not set when the line above raised: the usual exit then)


class _PoolContext(multiprocessing.context.SpawnContext):
    Process = _PoolProcess


class WorkerPool:
    """A pool of ``workers`` local worker processes, started now and kept warm for many calls.

    Dask's ``"processes"`` scheduler starts fresh processes for every call; a study's zoo grid
    searches and whole-pipeline refits are many short calls whose workers each need numpy,
    pandas, scikit-learn, her2stats and (R engine) embedded R loaded -- seconds per process. The
    pool's processes are spawned (never forked: a parent with R or torch started is not safe to
    fork) when it opens, and each imports ``modules`` and, with ``start_r``, starts R right away,
    while the caller goes on with its own work. The workers share the cores: each runs its
    numerical libraries on ``cores // workers`` threads (:func:`_worker_threads`).

    Pass the pool as the ``scheduler`` of :func:`her2stats.resampling.map_tasks` (hence of every
    bootstrap), :func:`her2stats.models.fit_zoo` or the feature extraction. Work is cut and
    seeded as on every other scheduler, so the numbers do not depend on the pool or its size.
    Use as ``with WorkerPool(2) as pool: ...`` (the processes end on exit). A worker whose pool
    closes ends without the interpreter's tear-down (R's final garbage collection, the
    finalisation of torch, scikit-learn and every other module: 1-2 s of CPU per worker), after
    the exit handlers and R's clean-up (:func:`her2stats.r_bridge.end_for_exit`), so nothing is
    left behind and the close does not wait on it.
    """

    def __init__(self, workers: int | None = None, modules: tuple[str, ...] = (), start_r: bool = False):
        from concurrent.futures import ProcessPoolExecutor

        n = (os.cpu_count() or 1) if workers is None else workers
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise InputError(f"workers must be an integer >= 1, got {workers!r}")
        self.workers = n
        self.executor = ProcessPoolExecutor(max_workers=n, mp_context=_PoolContext())
        # a spawn-context pool starts a process per submitted task while none is idle: one warm-up
        # task per worker starts them all now. A spawned process first runs the parent's main
        # script again (as __mp_main__), which re-runs a script that starts a study without an
        # `if __name__ == "__main__":` guard; the tasks need nothing from it, so the processes
        # start from an empty main module
        with _bare_main(), _worker_threads(max(1, (os.cpu_count() or 1) // n)):
            self._warming = [self.executor.submit(_warm_up, tuple(modules), bool(start_r)) for _ in range(n)]

    def submit(self, fn: Any, *args: Any) -> Any:
        """``fn(*args)`` in a worker: a ``concurrent.futures.Future``."""
        return self.executor.submit(fn, *args)

    def close(self) -> None:
        """End the worker processes (tasks not started are cancelled)."""
        self.executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> "WorkerPool":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"WorkerPool(workers={self.workers})"
