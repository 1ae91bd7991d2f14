"""Writes a minimal Compound File (the container of Outlook .msg files), for tests only.

Every stream is padded to at least 4096 bytes so that none lives in the mini stream:
a valid, if wasteful, file that needs no mini FAT.
"""

from __future__ import annotations

import struct

SECTOR = 512
END, FREE, FATSECT, NOSTREAM = 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFD, 0xFFFFFFFF
MIN_STREAM = 4096


def _entry(name: str, kind: int, child: int, right: int, start: int, size: int) -> bytes:
    encoded = (name + "\0").encode("utf-16-le") if name else b""
    return (
        encoded.ljust(64, b"\0")
        + struct.pack("<HBB", len(encoded), kind, 1)
        + struct.pack("<III", NOSTREAM, right, child)
        + b"\0" * 16 + b"\0" * 4 + b"\0" * 16
        + struct.pack("<IQ", start, size)
    )


def make_cfb(tree: dict[str, dict[str, bytes] | bytes]) -> bytes:
    """A compound file from ``{stream name: bytes}`` and ``{storage name: {stream name: bytes}}`` at the root."""
    # Directory entries in order: the root, then each storage followed by its own entries.
    entries: list[dict[str, object]] = [{"name": "Root Entry", "kind": 5, "kids": [], "data": None}]

    def add(container: int, items: dict[str, dict[str, bytes] | bytes]) -> None:
        for name, value in items.items():
            index = len(entries)
            entries[container]["kids"].append(index)  # type: ignore[attr-defined]
            if isinstance(value, bytes):
                entries.append({"name": name, "kind": 2, "kids": [], "data": value.ljust(MIN_STREAM, b"\0")})
            else:
                entries.append({"name": name, "kind": 1, "kids": [], "data": None})
                add(index, value)  # type: ignore[arg-type]

    add(0, tree)
    sectors: list[bytes] = []
    starts: dict[int, tuple[int, int]] = {}
    chains: list[list[int]] = []
    for index, entry in enumerate(entries):
        data = entry["data"]
        if isinstance(data, bytes):
            first = len(sectors)
            padded = data.ljust(-(-len(data) // SECTOR) * SECTOR, b"\0")
            sectors.extend(padded[i : i + SECTOR] for i in range(0, len(padded), SECTOR))
            starts[index] = (first, len(data))
            chains.append(list(range(first, len(sectors))))
    directory = bytearray()
    for entry in entries:
        kids: list[int] = entry["kids"]  # type: ignore[assignment]
        # Siblings as a right-leaning chain: valid for readers, if not balanced.
        for position, kid in enumerate(kids):
            entries[kid]["right"] = kids[position + 1] if position + 1 < len(kids) else NOSTREAM
    for index, entry in enumerate(entries):
        kids = entry["kids"]  # type: ignore[assignment]
        start, size = starts.get(index, (END, 0))
        directory += _entry(str(entry["name"]), int(entry["kind"]), kids[0] if kids else NOSTREAM,  # type: ignore[call-overload]
                            int(entry.get("right", NOSTREAM)), start, size)  # type: ignore[call-overload]
    while len(directory) % SECTOR:
        directory += _entry("", 0, NOSTREAM, NOSTREAM, 0, 0)
    first_dir = len(sectors)
    sectors.extend(bytes(directory[i : i + SECTOR]) for i in range(0, len(directory), SECTOR))
    chains.append(list(range(first_dir, len(sectors))))
    fat_count = 1
    while len(sectors) + fat_count > fat_count * (SECTOR // 4):
        fat_count += 1
    fat_sectors = list(range(len(sectors), len(sectors) + fat_count))
    fat = [FREE] * (fat_count * SECTOR // 4)
    for chain in chains:
        for here, following in zip(chain, [*chain[1:], END], strict=True):
            fat[here] = following
    for sector in fat_sectors:
        fat[sector] = FATSECT
    fat_bytes = struct.pack(f"<{len(fat)}I", *fat)
    sectors.extend(fat_bytes[i : i + SECTOR] for i in range(0, len(fat_bytes), SECTOR))
    difat = fat_sectors + [FREE] * (109 - len(fat_sectors))
    header = (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 16
        + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6) + b"\0" * 6
        + struct.pack("<IIIIIIIII", 0, fat_count, first_dir, 0, MIN_STREAM, END, 0, END, 0)
        + struct.pack("<109I", *difat)
    )
    return header + b"".join(sectors)
