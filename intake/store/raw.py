"""The raw store: original bytes on disk, content-addressed, written durably.

A blob is written to a temporary file in ``incoming/``, fsynced, renamed
into place and the folder fsynced, so a crash leaves either no file or the
whole file, never a partial one. The same bytes always map to the same path,
which makes every write idempotent.

Mail fetched in a batch is appended to a pack file instead (``put_batch``,
``Pack``): a message's reference names its pack and its byte range, and its
row keeps its sha256. Attachments, large messages (read back through a memory
map) and mail that arrives one at a time get a file each.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import re
import secrets
import socket
import tempfile
import threading
import weakref
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from intake.errors import StorageError
from intake.mail.large import MAPPED_MESSAGE, Mapped, open_mapped


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def blob_name(digest: str) -> str:
    """Where a blob lives: one level of 256 folders, so that after the first few
    hundred messages storing one never has to create a folder. (Each row keeps
    its blob path, so blobs stored under an older layout are still found.)"""
    return f"{digest[:2]}/{digest}"


class Spooled(Mapped):
    """A message written to the store's ``incoming/`` folder as it arrived, hashed on the way and made
    durable, and read through a memory map: ``RawStore.spool`` makes one, ``put_batch`` moves it into
    place. A spooled message that is never stored is deleted when its map goes."""

    digest: str
    spool_path: Path
    _finalizer: weakref.finalize[Any, Any]


class RawStore:
    """Blobs under one folder: content-addressed files ``ab/<sha256>``, and packs under ``packs/``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._pack: Pack | None = None
        self._lock = threading.Lock()

    def put(self, data: bytes) -> tuple[str, str]:
        """Stores ``data`` durably; returns its sha256 and its path relative to the store."""
        return self._put_file(sha256_hex(data), data)

    def _put_file(self, digest: str, data: bytes) -> tuple[str, str]:
        blob = blob_name(digest)
        target = self.root / blob
        if target.is_file() and target.stat().st_size == len(data):
            return digest, blob
        _, blob, _ = self.put_chunks([data])
        return digest, blob

    def put_chunks(self, chunks: Iterable[bytes]) -> tuple[str, str, int]:
        """Stores bytes that come in pieces, as durably as ``put``; returns sha256, path and size.

        The pieces go to a temporary file while they are hashed, so the whole is
        never in memory; the file is then renamed to its content's name.
        """
        size = 0
        try:
            tmp, digest, size = self._written(chunks, ".tmp-")
            try:
                blob = blob_name(digest)
                target = self.root / blob
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp, target)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            _fsync_dir(target.parent)
        except OSError as err:
            raise StorageError(f"cannot store a file of {size} bytes: {err.strerror or err}") from err
        return digest, blob, size

    def spool(self, chunks: Iterable[bytes]) -> bytes:
        """Writes a message that arrives in pieces to ``incoming/``, durably; returns it as a ``Spooled`` map.

        For a large message read off a connection: it is never whole in memory, and
        ``put_batch`` later only renames the file into place.
        """
        try:
            tmp, digest, _ = self._written(chunks, ".spool-")
            try:
                with open(tmp, "rb") as handle:
                    spooled = Spooled(handle.fileno(), 0, access=mmap.ACCESS_READ)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
        except OSError as err:
            raise StorageError(f"cannot spool a message: {err.strerror or err}") from err
        spooled.digest, spooled.spool_path = digest, tmp
        spooled._finalizer = weakref.finalize(spooled, tmp.unlink, missing_ok=True)
        return cast(bytes, spooled)

    def _written(self, chunks: Iterable[bytes], prefix: str) -> tuple[Path, str, int]:
        """The pieces written to a new file in ``incoming/`` and flushed to disk: its path, sha256 and size."""
        digest = hashlib.sha256()
        size = 0
        folder = self.root / "incoming"
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=folder, prefix=prefix)
        try:
            with os.fdopen(fd, "wb") as handle:
                for chunk in chunks:
                    digest.update(chunk)
                    handle.write(chunk)
                    size += len(chunk)
                handle.flush()
                os.fsync(handle.fileno())
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise
        return Path(name), digest.hexdigest(), size

    def _adopt(self, spooled: Spooled) -> str:
        """Moves a spooled message into place under its content's name; returns its path in the store."""
        blob = blob_name(spooled.digest)
        target = self.root / blob
        if target.is_file() and target.stat().st_size == len(spooled):
            spooled._finalizer()
            return blob
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(spooled.spool_path, target)
        # Moved: its old name is no longer ours to delete (a later spool may be given it).
        spooled._finalizer.detach()
        _fsync_dir(target.parent)
        return blob

    def put_batch(self, datas: Sequence[bytes]) -> list[tuple[str, str]]:
        """Stores several blobs durably with one sync; returns a sha256 and a reference per blob.

        The blobs are appended to this process's pack (see ``Pack``) and made
        durable together; each reference names the pack and the blob's byte
        range: ``packs/<month>/<name>.pack#<offset>+<length>``. The same bytes
        twice in one call are written once.

        A large message (``MAPPED_MESSAGE`` or more) gets a file of its own instead, as
        ``put`` writes it, so that it can be read back through a memory map
        (``read_for_parsing``) rather than whole into memory; the poller fetches such a
        message in a batch of its own, so the extra sync is paid once per large message.
        """
        # A spooled message was hashed as it was written; hashing it again would read all of it.
        digests = [data.digest if isinstance(data, Spooled) else sha256_hex(data) for data in datas]
        spans: dict[str, tuple[int, int]] = {}
        own: dict[str, str] = {}
        parts: list[bytes] = []
        size = 0
        for digest, data in zip(digests, datas, strict=True):
            if isinstance(data, Spooled):
                if digest not in own:
                    try:
                        own[digest] = self._adopt(data)
                    except OSError as err:
                        raise StorageError(f"cannot store a spooled message: {err.strerror or err}") from err
            elif len(data) >= MAPPED_MESSAGE:
                if digest not in own:
                    own[digest] = self._put_file(digest, data)[1]
            elif digest not in spans:
                spans[digest] = (size, len(data))
                parts.append(data)
                size += len(data)
        name, start = "", 0
        if parts:
            with self._lock:
                try:
                    if self._pack is None or self._pack.full():
                        if self._pack is not None:
                            self._pack.close()
                        self._pack = Pack.create(self.root)
                    name, start = self._pack.name, self._pack.append(parts)
                except OSError as err:
                    raise StorageError(f"cannot store {len(parts)} blobs: {err.strerror or err}") from err
        return [
            (digest, own[digest] if digest in own else f"{name}#{start + spans[digest][0]}+{spans[digest][1]}")
            for digest in digests
        ]

    def close(self) -> None:
        with self._lock:
            if self._pack is not None:
                self._pack.close()
                self._pack = None

    def path_of(self, blob: str) -> Path:
        """The file holding a blob (for a blob in a pack, the pack)."""
        path = (self.root / blob.split("#", 1)[0]).resolve()
        if self.root.resolve() not in path.parents:
            raise StorageError(f"blob path outside the store: {blob!r}")
        return path

    def read_for_parsing(self, blob: str) -> bytes:
        """The blob's bytes; a large message in a file of its own as a read-only memory map.

        The map (``intake.mail.large.Mapped``) offers what the MIME parser reads of bytes, and
        gives back its pages as the large bodies are decoded: the message is never whole in memory.
        """
        if "#" in blob:
            return self.read(blob)
        try:
            path = self.path_of(blob)
            if path.stat().st_size < MAPPED_MESSAGE:
                return path.read_bytes()
            return cast(bytes, open_mapped(path))
        except OSError as err:
            raise StorageError(f"cannot read blob {blob}: {err.strerror or err}") from err

    def read_head(self, blob: str, limit: int = 65536) -> bytes:
        """The first ``limit`` bytes of a blob (enough for a message's header), without reading the rest."""
        try:
            path = self.path_of(blob)
            offset, length = _span(blob) if "#" in blob else (0, limit)
            with path.open("rb") as handle:
                handle.seek(offset)
                return handle.read(min(length, limit))
        except OSError as err:
            raise StorageError(f"cannot read blob {blob}: {err.strerror or err}") from err

    def read(self, blob: str) -> bytes:
        try:
            path = self.path_of(blob)
            if "#" not in blob:
                return path.read_bytes()
            offset, length = _span(blob)
            with path.open("rb") as handle:
                handle.seek(offset)
                data = handle.read(length)
        except OSError as err:
            raise StorageError(f"cannot read blob {blob}: {err.strerror or err}") from err
        if len(data) != length:
            raise StorageError(f"cannot read blob {blob}: the pack is shorter than the reference")
        return data


_IOV_MAX = os.sysconf("SC_IOV_MAX") if hasattr(os, "sysconf") else 1024


class Pack:
    """A file that blobs are appended to, one process writing it, until it reaches ``LIMIT``.

    Creating a file costs far more than appending to one on a file system that
    is being synced as often as ours (every batch of mail, every database
    commit), so a batch of mail fetched together is appended to the pack in
    hand and made durable with one ``fdatasync``. Each process has packs of its
    own, named by time, host and process, so writers never share a file. A
    crash in the middle of an append leaves bytes that no row refers to at the
    end of the pack, and the next pack is a new file; nothing already
    referred to is ever rewritten.
    """

    LIMIT = 64 * 2**20

    def __init__(self, name: str, fd: int) -> None:
        self.name, self.fd = name, fd
        self.size = 0  # as of the last append; only to tell when the pack is full

    @classmethod
    def create(cls, root: Path) -> Pack:
        now = datetime.now(UTC)
        host = re.sub(r"[^A-Za-z0-9.-]+", "-", socket.gethostname()) or "host"
        name = f"packs/{now:%Y-%m}/{now:%Y%m%dT%H%M%S}-{host}-{os.getpid()}-{secrets.token_hex(3)}.pack"
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o600)
        # The new name must survive a crash before any row refers to it.
        _fsync_dir(path.parent)
        return cls(name, fd)

    def full(self) -> bool:
        return self.size >= self.LIMIT

    def append(self, parts: Sequence[bytes]) -> int:
        """Appends ``parts`` and makes them durable; returns the offset of the first byte."""
        # The end of the file, not a remembered count: after a failed write we append past it.
        start = os.fstat(self.fd).st_size
        # One writev for the batch where the kernel takes it all: each system call lets the
        # fetching thread take the interpreter, and getting it back costs more than the call.
        views = [memoryview(part) for part in parts if part]
        while views:
            written = os.writev(self.fd, views[:_IOV_MAX])
            while views and written >= len(views[0]):
                written -= len(views[0])
                views.pop(0)
            if views and written:
                views[0] = views[0][written:]
        os.fdatasync(self.fd)
        self.size = start + sum(len(part) for part in parts)
        return start

    def close(self) -> None:
        os.close(self.fd)


def _span(blob: str) -> tuple[int, int]:
    try:
        offset, length = blob.split("#", 1)[1].split("+", 1)
        return int(offset), int(length)
    except ValueError:
        raise StorageError(f"not a blob reference: {blob!r}") from None


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
