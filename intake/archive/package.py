"""A package folder put in place whole: written under a hidden name, made durable, then renamed.

An import agent watching the drop folder sees either no package or a whole one:
the files are written into ``.intake-incoming/<name>-<token>/`` (a hidden folder of
the drop folder, so on the same file system and out of the agent's sight), each
file and the folder are fsynced, and the folder is renamed to its final name in
one step. A process killed on the way leaves only a hidden folder, which the next
export of the same submission removes.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
from pathlib import Path

from lxml import etree

from intake.archive.arkivmelding import NS

INCOMING = ".intake-incoming"
MANIFEST = "arkivmelding.xml"


class PackageError(OSError):
    """The drop folder cannot take the package (full, read-only, missing, or the name is taken)."""


class PackageFolder:
    """The hidden folder a package is written in, until ``place`` renames it to ``name``."""

    def __init__(self, destination: Path, name: str) -> None:
        self.destination = destination
        self.name = name
        self.final = destination / name
        self.path = destination / INCOMING / f"{name}-{secrets.token_hex(4)}"

    def __enter__(self) -> PackageFolder:
        sweep(self.destination, self.name)
        self.path.mkdir(parents=True)
        return self

    def __exit__(self, *exc: object) -> None:
        # Whatever was not placed is removed, whether it failed or was interrupted.
        if self.path.exists():
            shutil.rmtree(self.path, ignore_errors=True)

    def place(self) -> str:
        """Makes every file durable and renames the folder into place; returns the package's sha256."""
        digest = package_digest(self.path)
        for entry in self.path.iterdir():
            _fsync(entry)
        _fsync(self.path)
        if self.final.exists():
            raise PackageError(f"{self.final} finnes allerede")
        # rename() of a folder onto an existing empty folder would succeed; the check above and the
        # submission's lock (held by the caller) keep anyone else from creating it meanwhile.
        os.rename(self.path, self.final)
        _fsync(self.destination)
        return digest


def sweep(destination: Path, name: str) -> None:
    """Removes what an interrupted export of the package ``name`` left in the hidden folder."""
    incoming = destination / INCOMING
    if incoming.is_dir():
        for leftover in incoming.glob(f"{name}-*"):
            if leftover.name.rsplit("-", 1)[0] == name:
                shutil.rmtree(leftover, ignore_errors=True)


def package_digest(folder: Path) -> str:
    """The sha256 of a package: of its sorted ``sha256  name`` lines, as ``sha256sum`` prints them."""
    lines = []
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        digest = hashlib.sha256()
        with entry.open("rb") as handle:
            while chunk := handle.read(1024 * 1024):
                digest.update(chunk)
        lines.append(f"{digest.hexdigest()}  {entry.name}\n")
    return hashlib.sha256("".join(lines).encode("utf-8")).hexdigest()


def melding_id_of(folder: Path) -> str | None:
    """The meldingId of the package in ``folder``, or None when there is no readable one."""
    try:
        tree = etree.parse(str(folder / MANIFEST), etree.XMLParser(resolve_entities=False, no_network=True))
    except (OSError, etree.XMLSyntaxError):
        return None
    found = tree.getroot().find(f"{{{NS}}}meldingId")
    return found.text if found is not None else None


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)
