"""A Dask LocalCluster set up for CPU feature extraction: :func:`her2stats.schedulers.local_cluster`
(kept under ``her2stats.features`` where it was first documented)."""
from __future__ import annotations

from ..schedulers import local_cluster

__all__ = ["local_cluster"]
