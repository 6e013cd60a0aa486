"""A Dask LocalCluster set up for CPU feature extraction.

Dask's nanny exports ``MALLOC_TRIM_THRESHOLD_=65536`` to worker processes (config
``distributed.nanny.pre-spawn-environ``) so that pandas-heavy workers return memory to the OS.
For convolutional networks on CPU this makes glibc hand back and re-fault the large temporary
buffers of every forward pass; on the development machine the same extraction ran 1.3-2.7x
slower in a fresh process started with that variable than without it. This helper starts
worker processes without it, with one thread per worker (torch uses that many threads).
"""
from __future__ import annotations

from typing import Any


def local_cluster(n_workers: int = 2, threads_per_worker: int = 1, **kwargs: Any):
    """``dask.distributed.LocalCluster`` of worker processes for :class:`DeepFeatureExtractor`.

    Parameters are LocalCluster's; ``processes=True`` and ``dashboard_address=None`` unless
    given. Use as ``with local_cluster(2) as cluster, Client(cluster) as client: ...``.
    """
    import os

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
