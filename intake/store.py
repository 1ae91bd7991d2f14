"""The raw store: original bytes on disk, content-addressed, written durably.

A blob is written to a temporary file in its final folder, fsynced, renamed
into place and the folder fsynced, so a crash leaves either no file or the
whole file, never a partial one. The same bytes always map to the same path,
which makes every write idempotent.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from intake.errors import StorageError


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def blob_name(digest: str) -> str:
    """Where a blob lives: one level of 256 folders, so that after the first few
    hundred messages storing one never has to create a folder. (Each row keeps
    its blob path, so blobs stored under an older layout are still found.)"""
    return f"{digest[:2]}/{digest}"


class RawStore:
    """Content-addressed blobs under one folder: ``ab/<sha256>``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def put(self, data: bytes) -> tuple[str, str]:
        """Stores ``data`` durably; returns its sha256 and its path relative to the store."""
        digest = sha256_hex(data)
        blob = blob_name(digest)
        target = self.root / blob
        if target.is_file() and target.stat().st_size == len(data):
            return digest, blob
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            _fsync_dir(target.parent)
        except OSError as err:
            raise StorageError(f"cannot store blob {digest[:12]}: {err.strerror or err}") from err
        return digest, blob

    def put_many(self, datas: Sequence[bytes]) -> list[tuple[str, str]]:
        """Stores several blobs as durably as ``put``, with two file-system syncs in all.

        Every new blob is written to its temporary file; one ``syncfs`` makes all
        their bytes durable; then they are renamed into place and a second
        ``syncfs`` makes the names durable. A crash leaves whole files or none,
        as with ``put``. Where ``syncfs`` is missing (not Linux) it is ``put`` per blob.
        """
        if _SYNCFS is None:
            return [self.put(data) for data in datas]
        results: list[tuple[str, str]] = []
        pending: list[tuple[str, Path]] = []
        try:
            for data in datas:
                digest = sha256_hex(data)
                blob = blob_name(digest)
                results.append((digest, blob))
                target = self.root / blob
                if target.is_file() and target.stat().st_size == len(data):
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
                pending.append((tmp, target))
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
            if pending:
                _syncfs(self.root)
                for tmp, target in pending:
                    os.replace(tmp, target)
                pending = []
                _syncfs(self.root)
        except OSError as err:
            for tmp, _ in pending:
                Path(tmp).unlink(missing_ok=True)
            raise StorageError(f"cannot store {len(datas)} blobs: {err.strerror or err}") from err
        return results

    def path_of(self, blob: str) -> Path:
        path = (self.root / blob).resolve()
        if self.root.resolve() not in path.parents:
            raise StorageError(f"blob path outside the store: {blob!r}")
        return path

    def read(self, blob: str) -> bytes:
        try:
            return self.path_of(blob).read_bytes()
        except OSError as err:
            raise StorageError(f"cannot read blob {blob}: {err.strerror or err}") from err


def _load_syncfs() -> Any:
    # syncfs(2) flushes one file system: Linux only, reached through the C library.
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.syncfs
    except (OSError, AttributeError):
        return None


_SYNCFS = _load_syncfs()


def _syncfs(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        if _SYNCFS(fd) != 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code))
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
