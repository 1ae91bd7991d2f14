"""Attachment extraction: text of PDF, Word and the cheap formats, containers unpacked, form answers read.

The pipeline builds one Extractor with ``make_extractor(settings.extract)`` and calls
``extract_many`` with an attachment list; ``read_form`` reads a case's form questions
from an extraction's text.
"""

from __future__ import annotations

from intake.config import ExtractSettings
from intake.extract.base import CHECKED, UNCHECKED, Extraction, Extractor, FileInput
from intake.extract.form import read_form
from intake.extract.limits import Limits
from intake.extract.pool import InProcessExtractor, PoolExtractor
from intake.extract.reader import extract_one, kind_of


def make_extractor(settings: ExtractSettings) -> Extractor:
    """A pool of ``settings.workers`` processes, or in-process extraction when ``workers`` is 0."""
    limits = Limits.from_settings(settings)
    if settings.workers == 0:
        return InProcessExtractor(limits)
    return PoolExtractor(settings.workers, limits)


__all__ = [
    "CHECKED",
    "UNCHECKED",
    "Extraction",
    "Extractor",
    "FileInput",
    "InProcessExtractor",
    "Limits",
    "PoolExtractor",
    "extract_one",
    "kind_of",
    "make_extractor",
    "read_form",
]
