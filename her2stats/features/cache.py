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
"""
from __future__ import annotations

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

from ..errors import CacheError


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


class FeatureCache:
    """Directory of feature arrays addressed by :func:`cache_key`.

    ``stats`` counts ``hits``, ``misses``, ``corrupt`` (detected and removed) and ``writes`` in
    this process; ``corrupt_keys`` lists the corrupt entries found.
    """

    def __init__(self, cache_dir: str | os.PathLike):
        self.root = Path(cache_dir).expanduser()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CacheError(f"cannot create cache_dir {self.root}: {exc}") from exc
        if not os.access(self.root, os.W_OK):
            raise CacheError(f"cache_dir {self.root} is not writable; choose another cache_dir")
        self._lock = threading.Lock()
        self.stats = {"hits": 0, "misses": 0, "corrupt": 0, "writes": 0}
        self.corrupt_keys: list[str] = []

    def __getstate__(self) -> dict[str, Any]:  # picklable for process/Dask workers
        return {"root": str(self.root)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["root"])

    def _paths(self, key: str) -> tuple[Path, Path]:
        if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
            raise CacheError(f"invalid cache key {key!r}")
        folder = self.root / key[:2]
        return folder / f"{key}.npy", folder / f"{key}.json"

    def _count(self, what: str) -> None:
        with self._lock:
            self.stats[what] += 1

    def __contains__(self, key: str) -> bool:
        return self._paths(key)[1].is_file()

    def get(self, key: str, with_info: bool = False) -> Any:
        """The cached array, or None on a miss or a corrupt entry (which is removed and counted).

        With ``with_info=True`` returns ``(array, metadata)`` (``(None, None)`` on a miss)."""
        arr, meta = self._get(key)
        return (arr, meta) if with_info else arr

    def _get(self, key: str) -> tuple[np.ndarray | None, dict[str, Any] | None]:
        npy, meta_path = self._paths(key)
        try:
            meta = json.loads(meta_path.read_text())
        except FileNotFoundError:
            self._count("misses")
            return None, None
        except (OSError, ValueError) as exc:
            return self._corrupt(key, f"unreadable metadata ({exc})")
        try:
            data = npy.read_bytes()
        except FileNotFoundError:
            return self._corrupt(key, "array file missing")
        if len(data) != meta.get("nbytes") or hashlib.sha256(data).hexdigest() != meta.get("sha256"):
            return self._corrupt(key, f"checksum mismatch ({len(data)} bytes on disk, {meta.get('nbytes')} expected)")
        try:
            arr = np.load(io.BytesIO(data), allow_pickle=False)
        except ValueError as exc:
            return self._corrupt(key, f"undecodable array ({exc})")
        self._count("hits")
        return arr, meta

    def _corrupt(self, key: str, why: str) -> tuple[None, None]:
        with self._lock:
            self.stats["corrupt"] += 1
            self.stats["misses"] += 1
            self.corrupt_keys.append(key)
        warnings.warn(f"feature cache entry {key[:12]}… in {self.root} is corrupt ({why}); it will be recomputed",
                      RuntimeWarning, stacklevel=3)
        self.delete(key)
        return None, None

    def put(self, key: str, array: np.ndarray, info: Mapping[str, Any] | None = None) -> None:
        """Store ``array`` under ``key`` atomically (data first, metadata last)."""
        npy, meta_path = self._paths(key)
        npy.parent.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
        data = buf.getvalue()
        meta = {"key": key, "sha256": hashlib.sha256(data).hexdigest(), "nbytes": len(data),
                "shape": list(np.shape(array)), "dtype": str(np.asarray(array).dtype), "created": time.time(),
                "info": dict(info or {})}
        self._atomic_write(npy, data)
        self._atomic_write(meta_path, canonical_json(meta).encode())
        self._count("writes")

    @staticmethod
    def _atomic_write(path: Path, data: bytes) -> None:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            try:
                tmp.unlink()
            except OSError:
                pass
            raise CacheError(f"cannot write cache entry {path}: {exc}") from exc

    def delete(self, key: str) -> None:
        for p in self._paths(key)[::-1]:  # metadata first: the entry stops existing at once
            try:
                p.unlink()
            except FileNotFoundError:
                pass

    def info(self, key: str) -> dict[str, Any] | None:
        try:
            return json.loads(self._paths(key)[1].read_text())
        except (OSError, ValueError):
            return None

    def keys(self) -> list[str]:
        return sorted(p.stem for p in self.root.glob("??/*.json"))

    def clean(self, older_than_s: float = 3600.0) -> int:
        """Remove temporary files left by interrupted writers (older than ``older_than_s``)."""
        now, n = time.time(), 0
        for p in self.root.glob("??/.*.tmp"):
            try:
                if now - p.stat().st_mtime > older_than_s:
                    p.unlink()
                    n += 1
            except FileNotFoundError:
                pass
        return n

    def __repr__(self) -> str:
        return f"FeatureCache({str(self.root)!r}, {self.stats})"
