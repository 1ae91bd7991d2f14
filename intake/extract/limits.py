"""The bounds every extraction runs within, and the zip-bomb check for zip-based formats."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from dataclasses import dataclass

from intake.config import ExtractSettings
from intake.errors import ExtractionFailed
from intake.extract.base import Extraction

MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Per-file bounds: time and memory (kept by the pool), pages, zip size and ratio, nesting, text.

    And per message: how many attachments are read and how long all of them together may take.
    """

    timeout_seconds: float = 60.0
    memory_mb: int = 1024
    max_pages: int = 500
    max_uncompressed_mb: int = 200
    max_compression_ratio: int = 100
    max_depth: int = 5
    max_text_chars: int = 1_000_000
    max_attachments: int = 50
    message_budget_seconds: float = 120.0
    # Workers one message may hold at once; 0: all but one (one stays free for the next message).
    workers_per_message: int = 0

    @classmethod
    def from_settings(cls, settings: ExtractSettings) -> Limits:
        return cls(
            timeout_seconds=settings.timeout_seconds,
            memory_mb=settings.memory_mb,
            max_pages=settings.max_pages,
            max_uncompressed_mb=settings.max_uncompressed_mb,
            max_compression_ratio=settings.max_compression_ratio,
            max_depth=settings.max_depth,
            max_text_chars=settings.max_text_chars,
            max_attachments=settings.max_attachments,
            message_budget_seconds=settings.message_budget_seconds,
            workers_per_message=settings.workers_per_message,
        )


def open_zip(data: bytes, limits: Limits) -> zipfile.ZipFile:
    """Opens a zip after checking its declared sizes; raises ExtractionFailed for a zip bomb or a broken zip.

    The sizes in the central directory are what the archive claims; zipfile refuses to
    return more than the declared size of a member, so checking the claims is enough.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        raise ExtractionFailed(f"broken zip: {err}") from err
    infos = archive.infolist()
    total = sum(info.file_size for info in infos)
    packed = max(1, sum(info.compress_size for info in infos))
    if total > limits.max_uncompressed_mb * MIB:
        archive.close()
        raise ExtractionFailed(
            f"zip bomb: {total // MIB} MiB uncompressed > {limits.max_uncompressed_mb} MiB"
        )
    # A ratio check on small archives would refuse ordinary, very compressible XML.
    ratio = total // packed
    if total > MIB and ratio > limits.max_compression_ratio:
        archive.close()
        raise ExtractionFailed(f"zip bomb: ratio {ratio} > {limits.max_compression_ratio}")
    try:
        _inflate_within(data, infos, limits)
    except ExtractionFailed:
        archive.close()
        raise
    return archive


def _inflate_within(data: bytes, infos: list[zipfile.ZipInfo], limits: Limits) -> None:
    """Inflates every deflated member piece by piece, counting, and refuses one that grows past its declared size.

    The directory's sizes are what the archive claims: a member that claims 1 KB may inflate
    to gigabytes, all at once when a reader asks zipfile for it whole. Counting the bytes
    while inflating in 1 MiB pieces costs one pass and at most a piece of memory.
    """
    cap = limits.max_uncompressed_mb * MIB
    produced_total = 0
    for info in infos:
        if info.compress_type != zipfile.ZIP_DEFLATED:
            continue
        header = data[info.header_offset : info.header_offset + 30]
        if len(header) < 30 or header[:4] != b"PK\x03\x04":
            raise ExtractionFailed(f"broken zip: no local header for {info.filename!r}")
        name_length, extra_length = struct.unpack("<HH", header[26:30])
        start = info.header_offset + 30 + name_length + extra_length
        pending = data[start : start + info.compress_size]
        inflater = zlib.decompressobj(-15)
        produced = 0
        while pending:
            try:
                piece = inflater.decompress(pending, MIB)
            except zlib.error as err:
                raise ExtractionFailed(f"broken zip: {info.filename!r}: {err}") from err
            produced += len(piece)
            if produced > info.file_size or produced_total + produced > cap:
                raise ExtractionFailed(f"zip bomb: {info.filename!r} inflates past its declared size")
            pending = inflater.unconsumed_tail
            if not piece and not pending:
                break
        produced_total += produced


def cap_text(extraction: Extraction, limit: int) -> Extraction:
    """The extraction with its text cut at ``limit`` characters, failed with the reason when it was cut."""
    if extraction.text is None or len(extraction.text) <= limit:
        return extraction
    extraction.text = extraction.text[:limit]
    extraction.status = "failed"
    extraction.error = extraction.error or f"text over {limit:,} characters: the rest is not read".replace(",", " ")
    return extraction
