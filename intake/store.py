"""The raw store: original bytes on disk, content-addressed, written durably.

A blob is written to a temporary file in its final folder, fsynced, renamed
into place and the folder fsynced, so a crash leaves either no file or the
whole file, never a partial one. The same bytes always map to the same path,
which makes every write idempotent.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from intake.errors import StorageError


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class RawStore:
    """Content-addressed blobs under one folder: ``ab/cd/<sha256>``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def put(self, data: bytes) -> tuple[str, str]:
        """Stores ``data`` durably; returns its sha256 and its path relative to the store."""
        digest = sha256_hex(data)
        blob = f"{digest[:2]}/{digest[2:4]}/{digest}"
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


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
