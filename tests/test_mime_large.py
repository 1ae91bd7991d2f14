"""Large bodies cut out before parsing: the same result as the plain parse, in a fraction of the memory."""

from __future__ import annotations

import base64
import hashlib
import tracemalloc
from pathlib import Path

import pytest

from intake.mail import large as mime_large
from intake.mail.mime import parse
from tests.builders import make_email
from tests.test_corpus import corpus_files


def summary(raw: bytes) -> tuple[object, ...]:
    parsed = parse(raw)
    return (
        parsed.headers, parsed.subject, parsed.sender, parsed.message_id, parsed.body_text, parsed.content_type,
        [(p.filename, p.content_type, p.content(), p.inline, p.depth) for p in parsed.attachments],
    )


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.name)
def test_every_corpus_mail_parses_the_same_with_its_bodies_cut_out(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = path.read_bytes()
    plain = summary(raw)
    # Treat everything as large: every leaf body over 64 bytes is cut out and decoded by us.
    monkeypatch.setattr(mime_large, "LARGE_MESSAGE", 0)
    monkeypatch.setattr(mime_large, "LARGE_BODY", 64)
    assert summary(raw) == plain


def test_a_sender_cannot_point_the_marker_at_other_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mime_large, "LARGE_MESSAGE", 0)
    monkeypatch.setattr(mime_large, "LARGE_BODY", 10)
    raw = make_email(attachments=[("a.pdf", "application/pdf", b"%PDF-1.4 " + b"x" * 100)])
    forged = raw.replace(
        b"Content-Type: application/pdf", b"X-Intake-Large-Body: 0000.0\r\nContent-Type: application/pdf"
    )
    [attachment] = parse(forged).attachments
    assert attachment.content() == b"%PDF-1.4 " + b"x" * 100


def test_a_50_mb_attachment_is_parsed_without_being_decoded_and_then_decoded_in_pieces() -> None:
    data = bytes(range(256)) * (50 * 2**20 // 256)
    raw = make_email(attachments=[("stort.pdf", "application/pdf", data)])
    tracemalloc.start()
    try:
        parsed = parse(raw)
        _, peak = tracemalloc.get_traced_memory()
        [attachment] = parsed.attachments
        assert attachment.large is not None and attachment.data == b""
        tracemalloc.reset_peak()
        pieces = 0
        digest = hashlib.sha256()
        for piece in attachment.large.chunks():
            digest.update(piece)
            pieces += 1
        _, decode_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert parsed.subject and "22/414" in parsed.subject
    assert digest.digest() == hashlib.sha256(data).digest() and pieces > 10
    assert peak < 5 * 2**20, f"parse peak {peak / 2**20:.0f} MB"
    assert decode_peak < 20 * 2**20, f"decode peak {decode_peak / 2**20:.0f} MB"


def test_broken_base64_padding_is_decoded_as_leniently_as_the_parser_does(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = make_email(attachments=[("a.bin", "application/octet-stream", b"y" * 200)])
    line = base64.encodebytes(b"y" * 200).split(b"\n")[0]
    assert line in raw
    broken = raw.replace(line, line[:-3] + b"=")
    plain = summary(broken)
    monkeypatch.setattr(mime_large, "LARGE_MESSAGE", 0)
    monkeypatch.setattr(mime_large, "LARGE_BODY", 10)
    assert summary(broken) == plain


def mapped_rss_kb(path: Path) -> int:
    """Resident kilobytes of this process's memory maps of ``path`` (from /proc/self/smaps)."""
    total, inside = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        if line[:1].isalnum() and "-" in line.split(" ", 1)[0]:
            inside = line.rstrip().endswith(str(path))
        elif inside and line.startswith("Rss:"):
            total += int(line.split()[1])
    return total


def test_a_large_stored_message_is_read_through_a_map_and_given_back_as_it_is_decoded(tmp_path: Path) -> None:
    from intake.mail.large import Mapped
    from intake.store.raw import RawStore

    payload = bytes(range(256)) * (24 * 4096)  # 24 MiB of attachment, 32 MiB as base64
    raw = make_email(attachments=[("stor.pdf", "application/pdf", payload)])
    store = RawStore(tmp_path / "store")
    _, blob = store.put(raw)
    mapped = store.read_for_parsing(blob)
    assert isinstance(mapped, Mapped)
    parsed = parse(mapped)
    (part,) = parsed.attachments
    assert part.large is not None and part.large.raw is mapped
    path = store.path_of(blob)
    digest = hashlib.sha256()
    peak = 0
    for chunk in part.large.chunks():
        digest.update(chunk)
        peak = max(peak, mapped_rss_kb(path))
    assert digest.digest() == hashlib.sha256(payload).digest()
    # Never more than a few pieces of the 32 MiB message resident at once, and none at the end.
    assert 0 < peak < 8 * 1024
    assert mapped_rss_kb(path) < 2 * 1024
    assert summary(raw)[:6] == (parsed.headers, parsed.subject, parsed.sender, parsed.message_id, parsed.body_text,
                                parsed.content_type)


_STORE_AND_PARSE = r"""
import gc, sys, threading, time
from pathlib import Path
from intake.mail.mime import parse
from intake.store.raw import RawStore
from tests.builders import make_email

def pss_mb():
    for line in open("/proc/self/smaps_rollup"):
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024

store = RawStore(Path(sys.argv[1]))
data = bytes(range(256)) * (50 * 2**20 // 256)
raw = make_email(attachments=[("stort.pdf", "application/pdf", data)])
size = len(raw)
del data
# Stored as the poller stores a fetched batch, then fetched again in pieces, as a large body is spooled.
(_, blob), = store.put_batch([raw])
spooled = store.spool(raw[at : at + 2**20] for at in range(0, size, 2**20))
del raw
gc.collect()
base, peak, done = pss_mb(), [0.0], threading.Event()

def sample():
    while not done.is_set():
        peak[0] = max(peak[0], pss_mb())
        time.sleep(0.005)

sampler = threading.Thread(target=sample)
sampler.start()
(_, again), = store.put_batch([spooled])
del spooled
parsed = parse(store.read_for_parsing(blob))
(part,) = parsed.attachments
assert part.large is not None
_, _, stored = store.put_chunks(part.large.chunks())
done.set()
sampler.join()
assert again == blob and stored == 50 * 2**20, (again, blob, stored)
print(size / 2**20, peak[0] - base)
"""


def test_storing_and_parsing_a_50_mb_attachment_costs_the_process_a_few_mb(tmp_path: Path) -> None:
    """Measured in a process of its own (PSS), so this process's heap does not count.

    A whole copy of the message (68 MB) anywhere on the way, as the pack read or a fetch into memory
    once made, fails this."""
    import subprocess
    import sys

    repo = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-c", _STORE_AND_PARSE, str(tmp_path / "store")], cwd=repo,
                         capture_output=True, text=True, timeout=120, check=True)
    size, grown = (float(x) for x in out.stdout.split())
    assert size > 65
    assert grown < 20, f"storing and parsing a {size:.0f} MB message grew the process by {grown:.0f} MB"


@pytest.mark.parametrize("mapped", [False, True], ids=["bytes", "map"])
def test_find_first_finds_what_find_finds_across_its_windows(
    mapped: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mime_large, "CHUNK", 7)  # windows far shorter than the text, cut everywhere
    text = b"Subject: x\nTo: y\r\nA: b\r\n\r\nbody\n\nmore\r\n\r\nend"
    path = tmp_path / "text"
    path.write_bytes(text)
    raw = mime_large.open_mapped(path) if mapped else text
    needles = (b"\r\n\r\n", b"\n\n")
    for start in range(len(text)):
        for end in (len(text), len(text) - 3, start + 5):
            hits = [(at, n) for n in needles if (at := text.find(n, start, end)) >= 0]
            assert mime_large.find_first(raw, needles, start, end) == min(hits, default=(-1, b"")), (start, end)
