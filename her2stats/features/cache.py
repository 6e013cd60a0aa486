"""Content-addressed on-disk cache of feature arrays.

Key
    ``sha256`` of the canonical JSON (sorted keys, no whitespace, floats in ``repr``) of a dict
    holding the image bytes' sha256, the mask bytes' sha256, every preprocessing parameter, the
    backbone, the weights digest and the extractor version (see :func:`cache_key`). Changing any
    input byte or parameter therefore changes the key; nothing is ever invalidated by time.

Layout
    ``<cache_dir>/<key[:2]>/<key>.npy`` (the array) and ``<key>.json`` (metadata: the npy file's
    sha256 and size, shape, dtype, the key's inputs, creation time). The metadata file is written
    last and is the commit marker: an entry without it does not exist.

Safety
    Both files are written to a unique temporary name in the same folder, flushed and fsync'ed,
    then moved into place with :func:`os.replace` (atomic on POSIX and Windows). Concurrent
    writers of the same key write identical content, so whichever rename lands last is correct.
    A read recomputes the sha256 of the array file and compares it with the metadata: a truncated
    or corrupt entry is counted in ``stats["corrupt"]``, deleted and reported as a miss, so the
    caller recomputes it. An interrupted run leaves only complete entries (and stray ``.tmp``
    files, ignored and removable with :meth:`FeatureCache.clean`), so re-running resumes.

What the cache never does
    It never makes a run fail or lose computed features because of the disk: a cache that cannot
    be written (read-only folder or file system, disk full, quota exceeded, a folder standing
    where an entry file should be) is still read; entries that cannot be written are counted in
    ``stats["not_cached"]`` with the reason in :attr:`FeatureCache.not_cached`, and one
    ``RuntimeWarning`` per reason says how many entries were not cached (the
    :class:`~her2stats.features.DeepFeatureExtractor` gathers its workers' counts and warns once
    per run). It never deletes anything it did not write: a folder in the way is reported, not
    removed.
"""
from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import threading
import time
import uuid
import warnings
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..errors import CacheError, find_stack_level

#: ``stats`` keys of a :class:`FeatureCache` (and of ``DeepFeatureExtractor.cache_stats_``)
STAT_KEYS = ("hits", "misses", "corrupt", "writes", "not_cached")

_READ_ONLY = "the cache is read-only"
_DISK_FULL = "the disk is full"
_QUOTA = "the disk quota is exceeded"


def canonical_json(obj: Any) -> str:
    """Deterministic JSON: sorted keys, tuples as lists, numpy scalars as Python numbers."""

    def default(o: Any) -> Any:
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        if isinstance(o, (set, frozenset)):
            return sorted(o)
        if isinstance(o, os.PathLike):
            return os.fspath(o)
        raise TypeError(f"cannot put {type(o).__name__} into a cache key")

    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=default, allow_nan=True)


def cache_key(parts: Mapping[str, Any]) -> str:
    """sha256 hex digest of :func:`canonical_json` of ``parts``."""
    return hashlib.sha256(canonical_json(dict(parts)).encode()).hexdigest()


def _write_file(path: Path, data: bytes) -> None:
    """Write, flush and fsync ``data`` to a new file ``path`` (the one place the cache writes bytes)."""
    with open(path, "xb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _write_problem(exc: OSError) -> tuple[str, bool]:
    """(reason, whole cache affected) for an OSError raised while writing an entry."""
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return _READ_ONLY, True
    if exc.errno == errno.ENOSPC:
        return _DISK_FULL, True
    if exc.errno == getattr(errno, "EDQUOT", -1):
        return _QUOTA, True
    if exc.errno in (errno.EISDIR, errno.ENOTDIR, errno.ENOTEMPTY, errno.EEXIST):
        return "a folder or file stands where a cache entry should be (remove it)", False
    return f"{exc.strerror or type(exc).__name__}", False


class FeatureCache:
    """Directory of feature arrays addressed by :func:`cache_key`.

    Parameters
    ----------
    cache_dir : the folder (created if missing; a file at that path is a :class:`CacheError`).
    warn : emit one ``RuntimeWarning`` per reason when entries cannot be written or are blocked
        (``False`` in the extractor's workers: the extractor warns once per run instead).

    Attributes
    ----------
    stats : counts of ``hits``, ``misses``, ``corrupt`` (detected and removed), ``writes`` and
        ``not_cached`` (entries that could not be written) in this process.
    corrupt_keys : the corrupt entries found.
    not_cached : reason -> number of entries not written for that reason.
    read_only : True when the folder cannot be written (found when opening the cache, or after a
        write was refused); reads still work, writes are skipped.
    """

    def __init__(self, cache_dir: str | os.PathLike, warn: bool = True):
        self.root = Path(cache_dir).expanduser()
        self.warn = bool(warn)
        if self.root.exists() and not self.root.is_dir():
            raise CacheError(f"cache_dir {self.root} is a file, not a folder; choose another cache_dir")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CacheError(f"cannot create cache_dir {self.root}: {exc.strerror or exc}; choose another cache_dir "
                             f"(or cache_dir=None for no cache)") from exc
        self._lock = threading.Lock()
        self.stats = {k: 0 for k in STAT_KEYS}
        self.corrupt_keys: list[str] = []
        self.not_cached: dict[str, int] = {}
        self._disabled: str | None = None  # reason every further write is skipped
        self._warned: set[str] = set()
        self.read_only = False
        self._probe()

    def _probe(self) -> None:
        """Find out once whether the folder takes files (os.access is wrong for root and ACLs)."""
        probe = self.root / f".probe.{os.getpid()}.{uuid.uuid4().hex}.tmp"
        try:
            _write_file(probe, b"")
        except OSError as exc:
            reason, whole = _write_problem(exc)
            if whole:
                self._disabled = reason
                self.read_only = reason == _READ_ONLY
            return
        try:
            probe.unlink()
        except OSError:
            pass

    def __getstate__(self) -> dict[str, Any]:  # picklable for process/Dask workers
        return {"root": str(self.root), "warn": self.warn}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["root"], warn=state.get("warn", True))

    def _paths(self, key: str) -> tuple[Path, Path]:
        if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
            raise CacheError(f"invalid cache key {key!r}")
        folder = self.root / key[:2]
        return folder / f"{key}.npy", folder / f"{key}.json"

    def _count(self, what: str) -> None:
        with self._lock:
            self.stats[what] += 1

    def _skip(self, reason: str, where: Path | None = None) -> None:
        """Count one entry not cached for ``reason`` and warn the first time (when ``warn``)."""
        with self._lock:
            self.stats["not_cached"] += 1
            self.not_cached[reason] = self.not_cached.get(reason, 0) + 1
            first = reason not in self._warned
            self._warned.add(reason)
        if first and self.warn:
            at = f" (first at {where})" if where is not None else ""
            warnings.warn(f"feature cache {self.root}: {reason}{at}; entries are computed but not cached "
                          f"(count in FeatureCache.not_cached)", RuntimeWarning, stacklevel=find_stack_level())

    def __contains__(self, key: str) -> bool:
        return self._paths(key)[1].is_file()

    def get(self, key: str, with_info: bool = False) -> Any:
        """The cached array, or None on a miss or a corrupt entry (which is removed and counted).

        With ``with_info=True`` returns ``(array, metadata)`` (``(None, None)`` on a miss)."""
        arr, meta = self._get(key)
        return (arr, meta) if with_info else arr

    def _blocked(self, key: str) -> Path | None:
        """The path of a folder (or file) standing where an entry (or its folder) should be."""
        npy, meta_path = self._paths(key)
        if npy.parent.exists() and not npy.parent.is_dir():
            return npy.parent
        for p in (meta_path, npy):
            if p.is_dir():
                return p
        return None

    def _get(self, key: str) -> tuple[np.ndarray | None, dict[str, Any] | None]:
        npy, meta_path = self._paths(key)
        try:
            meta = json.loads(meta_path.read_text())
        except FileNotFoundError:
            self._count("misses")
            return None, None
        except (IsADirectoryError, NotADirectoryError):
            return self._in_the_way(key)
        except (OSError, ValueError) as exc:
            return self._corrupt(key, f"unreadable metadata ({exc})")
        if not isinstance(meta, dict):
            return self._corrupt(key, "metadata is not a JSON object")
        try:
            data = npy.read_bytes()
        except FileNotFoundError:
            return self._corrupt(key, "array file missing")
        except (IsADirectoryError, NotADirectoryError):
            return self._in_the_way(key)
        except OSError as exc:
            return self._corrupt(key, f"unreadable array file ({exc.strerror or exc})")
        if len(data) != meta.get("nbytes") or hashlib.sha256(data).hexdigest() != meta.get("sha256"):
            return self._corrupt(key, f"checksum mismatch ({len(data)} bytes on disk, {meta.get('nbytes')} expected)")
        try:
            arr = np.load(io.BytesIO(data), allow_pickle=False)
        except ValueError as exc:
            return self._corrupt(key, f"undecodable array ({exc})")
        self._count("hits")
        return arr, meta

    def _in_the_way(self, key: str) -> tuple[None, None]:
        """A folder where an entry file should be: a miss; reported (by the write that follows), never deleted."""
        self._count("misses")
        return None, None

    def _corrupt(self, key: str, why: str) -> tuple[None, None]:
        with self._lock:
            self.stats["corrupt"] += 1
            self.stats["misses"] += 1
            self.corrupt_keys.append(key)
        warnings.warn(f"feature cache entry {key[:12]}… in {self.root} is corrupt ({why}); it will be recomputed",
                      RuntimeWarning, stacklevel=find_stack_level())
        self.delete(key)
        return None, None

    def put(self, key: str, array: np.ndarray, info: Mapping[str, Any] | None = None) -> bool:
        """Store ``array`` under ``key`` atomically (data first, metadata last).

        Returns True when the entry was written. A cache that cannot be written (read-only, disk
        full, a folder in the way) returns False and counts the entry in ``stats["not_cached"]``
        and :attr:`not_cached`; nothing is raised, since the features themselves are fine."""
        npy, meta_path = self._paths(key)
        if self._disabled is not None:
            self._skip(self._disabled)
            return False
        blocked = self._blocked(key)
        if blocked is not None:
            self._skip("a folder or file stands where a cache entry should be (remove it)", blocked)
            return False
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
        data = buf.getvalue()
        meta = {"key": key, "sha256": hashlib.sha256(data).hexdigest(), "nbytes": len(data),
                "shape": list(np.shape(array)), "dtype": str(np.asarray(array).dtype), "created": time.time(),
                "info": dict(info or {})}
        try:
            npy.parent.mkdir(parents=True, exist_ok=True)
            self._atomic_write(npy, data)
            self._atomic_write(meta_path, canonical_json(meta).encode())
        except OSError as exc:
            reason, whole = _write_problem(exc)
            if whole:
                with self._lock:
                    self._disabled = reason
                    self.read_only = self.read_only or reason == _READ_ONLY
            self._skip(reason, None if whole else Path(exc.filename or npy))
            return False
        self._count("writes")
        return True

    @staticmethod
    def _atomic_write(path: Path, data: bytes) -> None:
        """Write to a unique temporary sibling, then rename over ``path`` (raises OSError)."""
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
        try:
            _write_file(tmp, data)
            if path.is_dir():
                raise IsADirectoryError(errno.EISDIR, "a folder is where the entry file should be", str(path))
            os.replace(tmp, path)
        except OSError:
            try:
                tmp.unlink()
            except OSError:
                pass
            raise

    def delete(self, key: str) -> None:
        """Remove an entry's files (metadata first: the entry stops existing at once). Folders in
        the way and files that cannot be removed (read-only cache) are left alone."""
        for p in self._paths(key)[::-1]:
            try:
                if not p.is_dir():
                    p.unlink()
            except OSError:
                pass

    def info(self, key: str) -> dict[str, Any] | None:
        try:
            return json.loads(self._paths(key)[1].read_text())
        except (OSError, ValueError):
            return None

    def keys(self) -> list[str]:
        return sorted(p.stem for p in self.root.glob("??/*.json") if p.is_file())

    def clean(self, older_than_s: float = 3600.0) -> int:
        """Remove temporary files left by interrupted writers (older than ``older_than_s``)."""
        now, n = time.time(), 0
        for p in list(self.root.glob("??/.*.tmp")) + list(self.root.glob(".probe.*.tmp")):
            try:
                if p.is_file() and now - p.stat().st_mtime > older_than_s:
                    p.unlink()
                    n += 1
            except OSError:
                pass
        return n

    def __repr__(self) -> str:
        ro = ", read-only" if self.read_only else ""
        return f"FeatureCache({str(self.root)!r}{ro}, {self.stats})"


def not_cached_message(root: str | os.PathLike, reasons: Mapping[str, int]) -> str:
    """One line for a run: how many entries were not cached, and why."""
    total = sum(reasons.values())
    why = "; ".join(f"{n} because {r}" for r, n in sorted(reasons.items(), key=lambda kv: -kv[1]))
    return (f"feature cache {root}: {total} entr{'y was' if total == 1 else 'ies were'} not cached ({why}). "
            f"Their features were computed and are returned; a re-run computes them again until the cache can be "
            f"written.")
