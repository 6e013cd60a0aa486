"""Atomic output folders and files, and the lock that keeps two runs apart.

A study run (``her2stats report``, ``her2stats demo``, :func:`~her2stats.reporting.run_study`)
never writes into its output folder. It writes into a temporary sibling and swaps it in only
when everything is there::

    out/
      .demo.lock                      lock file (fcntl.flock), kept; it holds the owner's pid
      .demo.tmp-<pid>-<random>/       the run in progress (manifest.json says complete: false)
      demo/                           the last complete report (manifest.json says complete: true)

* **Lock.** :class:`FileLock` takes an exclusive ``fcntl.flock`` on ``.<name>.lock`` beside the
  output folder for the whole run. The kernel drops it when the process ends, however it ends
  (exception, Ctrl-C, SIGKILL, power loss), so a lock is never stale. A second run into the same
  folder waits up to ``wait`` seconds, then stops with an :class:`~her2stats.errors.OutputError`
  naming the folder, the other run's pid and start time. The lock file itself is never removed
  (removing it would let two runs lock two different files).
* **Staging.** The run writes into ``.<name>.tmp-<pid>-<random>``, whose ``manifest.json`` says
  ``"complete": false`` from the start: a folder left by a killed run never looks complete and
  never has the output folder's name. The next run into the same folder (holding the lock, so
  no live run owns such a folder) deletes these leftovers.
* **Swap.** On success, ``manifest.json`` is completed (``complete: true``, config hash, package
  version, start and end times, every file with its size and sha256) and the folders are
  swapped: the old output is renamed to ``.<name>.old-<pid>-<random>``, the staging folder to
  the output's name, and the old one is deleted. Between the two renames (two system calls,
  microseconds) the output name does not exist; a crash exactly there leaves the previous report
  in the ``.old-`` folder, and the next run puts it back before doing anything else. If the
  second rename fails, the old output is renamed back at once. On any error or interrupt before
  the swap, the staging folder is deleted and the previous output is untouched, byte for byte.
* **Safety.** An existing output folder is replaced only when it is empty, a previous her2stats
  output (its manifest lists every file in it), or a report folder written before manifests
  existed; a folder holding anything else is refused, so ``--out ~/Documents`` cannot wipe a
  folder that her2stats did not write.
"""
from __future__ import annotations

import datetime as _dt
import errno
import hashlib
import json
import os
import shutil
import socket
import time
import uuid
import warnings
from pathlib import Path
from typing import Any, Mapping

from .errors import OutputError, find_stack_level

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["FileLock", "AtomicOutput", "atomic_output", "atomic_write", "read_manifest", "is_complete",
           "MANIFEST"]

MANIFEST = "manifest.json"
#: files a report folder written before manifests existed always has (one of them suffices)
_LEGACY_MARKERS = ("study_results.pkl", "numbers.json")


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).astimezone().isoformat(timespec="seconds")


def _token() -> str:
    return f"{os.getpid()}-{uuid.uuid4().hex[:12]}"


def atomic_write(path: str | os.PathLike, data: bytes | str, encoding: str = "utf-8") -> Path:
    """Write ``data`` to ``path`` through a unique temporary sibling (pid + random), flushed,
    fsync'ed and renamed over ``path``: readers see the old file or the new one, never a part."""
    path = Path(path)
    payload = data.encode(encoding) if isinstance(data, str) else bytes(data)
    tmp = path.with_name(f".{path.name}.{_token()}.tmp")
    try:
        with open(tmp, "xb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
    return path


class FileLock:
    """An exclusive ``fcntl.flock`` on ``path`` (created if missing; never deleted).

    Parameters
    ----------
    path : the lock file.
    what : what the lock protects, for the error message ("the output folder out/demo").
    wait : seconds to wait for another holder before raising :class:`OutputError` (0: at once).
    hint : the advice appended to the error message.
    """

    def __init__(self, path: str | os.PathLike, what: str = "", wait: float = 0.0, hint: str = ""):
        self.path = Path(path)
        self.what = what or str(self.path)
        self.wait = float(wait)
        self.hint = hint
        self._fd: int | None = None

    def _holder(self) -> str:
        try:
            info = json.loads(self.path.read_text(encoding="utf-8") or "{}")
        except (OSError, ValueError):
            info = {}
        if not info:
            return "another her2stats run"
        return (f"another her2stats run (pid {info.get('pid', '?')} on {info.get('host', '?')}, "
                f"started {info.get('started', '?')})")

    def acquire(self) -> "FileLock":
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise OutputError(f"cannot create the lock file {self.path} for {self.what}: "
                              f"{exc.strerror or exc}") from None
        deadline = time.monotonic() + max(0.0, self.wait)
        while True:
            try:
                if fcntl is not None:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                else:  # pragma: no cover - Windows
                    import msvcrt

                    msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
                break
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES, errno.EDEADLK):
                    os.close(fd)
                    raise OutputError(f"cannot lock {self.path} for {self.what}: {exc.strerror or exc}") from None
                if time.monotonic() >= deadline:
                    holder = self._holder()
                    os.close(fd)
                    waited = f" after waiting {self.wait:g} s" if self.wait > 0 else ""
                    raise OutputError(f"{self.what} is locked by {holder}{waited}"
                                      + (f"; {self.hint}" if self.hint else "") + f" (lock file {self.path})") from None
                time.sleep(min(0.2, max(0.0, deadline - time.monotonic())) or 0.01)
        self._fd = fd
        info = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": _now(), "what": self.what})
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, info.encode(), 0)
        except OSError:
            pass  # the lock holds without its label
        return self

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)
        except OSError:
            pass
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> "FileLock":
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


def read_manifest(folder: str | os.PathLike) -> dict | None:
    """The folder's ``manifest.json`` as a dict, or None (missing or unreadable)."""
    try:
        data = json.loads((Path(folder) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_complete(folder: str | os.PathLike) -> bool:
    """True when ``folder`` holds a her2stats output whose manifest says it is complete."""
    m = read_manifest(folder)
    return bool(m and m.get("producer") == "her2stats" and m.get("complete") is True)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _rmtree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


class AtomicOutput:
    """An output folder written atomically; use :func:`atomic_output`.

    Attributes
    ----------
    final : the output folder (absolute).
    path : the staging folder to write into (inside the ``with`` block).
    meta : extra manifest fields (config hash, command...); callers add to it before the end.
    """

    def __init__(self, outdir: str | os.PathLike, wait: float = 0.0, meta: Mapping[str, Any] | None = None):
        final = Path(outdir).expanduser()
        self.final = (final.parent.resolve() / final.name) if final.name else final.resolve()
        if not self.final.name or self.final == self.final.parent:
            raise OutputError(f"{outdir} cannot be an output folder (it has no name)")
        self.parent = self.final.parent
        self.name = self.final.name
        self.wait = wait
        self.meta: dict[str, Any] = dict(meta or {})
        self.path: Path | None = None
        self.started: str | None = None
        self._t0 = 0.0
        self._lock = FileLock(self.parent / f".{self.name}.lock", what=f"the output folder {self.final}", wait=wait,
                              hint="wait for it to finish or choose another output folder (--out)")

    # ------------------------------------------------------------------ enter
    def __enter__(self) -> "AtomicOutput":
        if self.final.exists() and not self.final.is_dir():
            raise OutputError(f"the output folder {self.final} is a file; choose another output folder (--out)")
        try:
            self.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create {self.parent} for the output folder {self.final}: "
                              f"{exc.strerror or exc}") from None
        self._lock.acquire()
        try:
            self._recover()
            self._check_replaceable()
            self.path = self.parent / f".{self.name}.tmp-{_token()}"
            try:
                self.path.mkdir()
            except OSError as exc:
                raise OutputError(f"cannot write in {self.parent}: {exc.strerror or exc}") from None
            self.started, self._t0 = _now(), time.time()
            atomic_write(self.path / MANIFEST, json.dumps(
                {"producer": "her2stats", "complete": False, "status": "running: not a finished output",
                 "outdir": str(self.final), "pid": os.getpid(), "host": socket.gethostname(),
                 "started": self.started}, indent=1))
        except BaseException:
            if self.path is not None:
                _rmtree(self.path)
            self._lock.release()
            raise
        return self

    def _recover(self) -> None:
        """Under the lock no live run owns a staging or backup folder of this output: delete
        staging leftovers; put back a previous output stranded by a crash mid-swap."""
        for p in self.parent.glob(f".{self.name}.tmp-*"):
            if p.is_dir():
                _rmtree(p)
        backups = sorted((p for p in self.parent.glob(f".{self.name}.old-*") if p.is_dir()),
                         key=lambda p: p.stat().st_mtime, reverse=True)
        if backups and not self.final.exists():
            os.rename(backups[0], self.final)
            warnings.warn(f"{self.final} was restored from {backups[0].name}, the previous output that an interrupted "
                          f"run had moved aside", RuntimeWarning, stacklevel=find_stack_level())
            backups = backups[1:]
        for p in backups:
            _rmtree(p)

    def _check_replaceable(self) -> None:
        if not self.final.exists():
            return
        entries = [p for p in self.final.rglob("*") if p.is_file() or p.is_symlink()]
        if not entries:
            return
        m = read_manifest(self.final)
        if m is not None and m.get("producer") == "her2stats":
            listed = set((m.get("files") or {}).keys()) | {MANIFEST}
            # hidden files and office lock files (.DS_Store, ~$table1.docx) are not worth a refusal,
            # nor a report rendered later into the folder (quarto render ... -P outdir:<folder>)
            extra = sorted(rel for rel in (p.relative_to(self.final).as_posix() for p in entries)
                           if rel not in listed and not Path(rel).name.startswith((".", "~$"))
                           and not rel.startswith(("report.", "report_files/")) and not rel.endswith(".qmd"))
            if extra and m.get("complete") is True:
                shown = ", ".join(extra[:3]) + (f" (+{len(extra) - 3} more)" if len(extra) > 3 else "")
                raise OutputError(f"the output folder {self.final} holds files the previous run did not write ({shown}); "
                                  f"a new run replaces the whole folder: move them, or choose another output folder (--out)")
            return
        if any((self.final / marker).is_file() for marker in _LEGACY_MARKERS):
            return  # a report written before manifests existed
        raise OutputError(f"the output folder {self.final} exists and is not a her2stats output (no {MANIFEST}); "
                          f"a run replaces the whole folder, so it refuses: choose a new or empty folder (--out)")

    # ------------------------------------------------------------------ exit
    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if exc_type is None:
                self.commit()
            elif self.path is not None:
                _rmtree(self.path)
        finally:
            self._lock.release()
        return False

    def commit(self) -> Path:
        """Complete the manifest and swap the staging folder in (called by ``with``)."""
        staging = self.path
        if staging is None or not staging.is_dir():
            raise OutputError(f"the staging folder of {self.final} is gone; nothing was replaced")
        try:
            files = {}
            for p in sorted(staging.rglob("*")):
                if p.is_file() and p.name != MANIFEST:
                    files[p.relative_to(staging).as_posix()] = {"bytes": p.stat().st_size, "sha256": _sha256(p)}
            from . import __version__

            manifest = {"producer": "her2stats", "complete": True, "her2stats_version": __version__, **self.meta,
                        "outdir": str(self.final), "started": self.started, "finished": _now(),
                        "duration_s": round(time.time() - self._t0, 3), "host": socket.gethostname(),
                        "pid": os.getpid(), "files": files}
            atomic_write(staging / MANIFEST, json.dumps(manifest, indent=1, default=str))
            self._swap(staging)
        except BaseException:
            if staging.exists():
                _rmtree(staging)
            raise
        self.path = self.final
        return self.final

    def _swap(self, staging: Path) -> None:
        backup = None
        if self.final.exists():
            backup = self.parent / f".{self.name}.old-{_token()}"
            try:
                os.rename(self.final, backup)
            except OSError as exc:
                raise OutputError(f"cannot move the previous output {self.final} aside: {exc.strerror or exc}; "
                                  f"it is unchanged") from None
        # the output name does not exist between these two renames (see the module docstring)
        try:
            os.rename(staging, self.final)
        except BaseException as exc:
            if backup is not None:
                os.rename(backup, self.final)
            if isinstance(exc, OSError):
                raise OutputError(f"cannot move the new output into {self.final}: {exc.strerror or exc}; the previous "
                                  f"output is unchanged") from None
            raise
        if backup is not None:
            shutil.rmtree(backup, ignore_errors=True)
            if backup.exists():
                warnings.warn(f"could not delete the previous output, moved to {backup}; delete it by hand",
                              RuntimeWarning, stacklevel=find_stack_level())


def atomic_output(outdir: str | os.PathLike, wait: float = 0.0, meta: Mapping[str, Any] | None = None) -> AtomicOutput:
    """Context manager: lock ``outdir``, give a staging folder, swap it in on success.

    >>> with atomic_output("out/demo", meta={"config_hash": "..."}) as out:   # doctest: +SKIP
    ...     (out.path / "numbers.json").write_text("{}")
    ... # out/demo now holds numbers.json and a complete manifest.json

    An exception or interrupt inside the block deletes the staging folder and leaves the previous
    ``outdir`` untouched. See the module docstring for the lock, the swap and what is refused.
    """
    return AtomicOutput(outdir, wait=wait, meta=meta)
