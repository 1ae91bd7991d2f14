"""What goes into and comes out of extraction, and the seam the pipeline calls through."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Protocol

if TYPE_CHECKING:
    from intake.extract.limits import Limits

CHECKED = "☒"
UNCHECKED = "☐"


@dataclass(frozen=True)
class FileInput:
    """One attachment as the MIME parser found it.

    A large one is handed over by ``path`` (its file in the raw store) with empty
    ``data``, so that its bytes are not copied through the pipe to a worker.
    """

    filename: str
    content_type: str
    data: bytes
    path: str | None = None

    def loaded(self) -> FileInput:
        """This file with its bytes in ``data``, read from ``path`` if they are there."""
        if self.path is None or self.data:
            return self
        return FileInput(self.filename, self.content_type, Path(self.path).read_bytes())


@dataclass(frozen=True)
class WorkerTask(FileInput):
    """Work on a file other than reading its text, done by an extraction worker under the same bounds.

    An Extractor given a task among its files runs ``run`` in the worker instead of
    reading the file, so the task is held to the per-file time and memory limits like
    any hostile file (the archive's PDF/A renditions use this). ``run`` answers with an
    Extraction: ``ok``, ``skipped`` or ``failed`` with the reason; it may raise, and is
    then failed like a broken file. ``seconds``, when set, is a shorter time limit than the
    per-file timeout, for a task someone waits for (the outline of a document a page shows).
    """

    seconds: ClassVar[float | None] = None

    def run(self, limits: Limits) -> Extraction:
        raise NotImplementedError


@dataclass
class Extraction:
    """The outcome of reading one file.

    ``status`` is ``ok``, ``failed`` (``error`` says why in a few words) or ``skipped``
    (not a type we read: stored and listed only). ``text`` is plain text with paragraphs
    separated by one blank line and checkboxes as ☒ (checked) / ☐ (unchecked). A failed
    extraction may still carry the text read before the limit was hit. ``children`` are
    the inner files of containers (TNEF, .msg, message/rfc822), each extracted too.
    """

    status: str
    text: str | None = None
    pages: int | None = None
    error: str | None = None
    children: list[tuple[FileInput, Extraction]] = field(default_factory=list)

    @classmethod
    def failed(cls, reason: str, text: str | None = None, pages: int | None = None) -> Extraction:
        return cls(status="failed", text=text, pages=pages, error=reason)

    @classmethod
    def skipped(cls) -> Extraction:
        return cls(status="skipped")


class Extractor(Protocol):
    """Reads many files, in order, never raising for a bad file (the reason goes into its Extraction).

    Safe to call from several threads at once; ``close`` ends any worker processes;
    ``interrupt`` stops the files under way at once (callers get ExtractionInterrupted).
    """

    def extract_many(self, files: Sequence[FileInput]) -> list[Extraction]: ...

    def interrupt(self) -> None: ...

    def close(self) -> None: ...
