"""Splits an mbox file into messages, at real envelope lines only.

An envelope line is ``From <sender> <asctime date>`` (``From MAILER-DAEMON Fri Jul  8
12:08:34 2011``). A body line that merely begins with ``From `` ("From our side, …"),
which many writers leave unescaped, does not start a message, so it no longer cuts the
message it belongs to in two.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

_ENVELOPE = re.compile(
    rb"From \S+ +(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) +(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +\d{1,2} +"
    rb"\d{1,2}:\d\d(?::\d\d)?(?: +[A-Z]{1,5})? +\d{4}(?: +[+-]\d{4})?\s*$"
)


def is_envelope(line: bytes) -> bool:
    """Whether a line is an mbox envelope line (``From sender date``)."""
    return line.startswith(b"From ") and _ENVELOPE.match(line) is not None


def is_mbox(path: Path) -> bool:
    """Whether the file starts as an mbox does; its first line opens a message whatever its date looks like."""
    with path.open("rb") as handle:
        return handle.read(5) == b"From "


def messages(path: Path) -> Iterator[bytes]:
    """Each message of the mbox, without its envelope line, read line by line."""
    current: list[bytes] | None = None
    with path.open("rb") as handle:
        for number, line in enumerate(handle):
            if number == 0 or is_envelope(line):
                if current is not None:
                    yield _message(current)
                current = []
            elif current is not None:
                current.append(line)
    if current is not None:
        yield _message(current)


def count(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for number, line in enumerate(handle) if number == 0 or is_envelope(line))


def _message(lines: list[bytes]) -> bytes:
    # The blank line that separates a message from the next envelope belongs to neither.
    if lines and lines[-1].strip() == b"":
        lines = lines[:-1]
    return b"".join(lines)
