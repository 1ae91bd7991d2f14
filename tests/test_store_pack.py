"""RawStore.put_batch: a batch of blobs appended to this process's pack, each read back by its reference."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from intake.errors import StorageError
from intake.store.raw import Pack, RawStore


def packs(root: Path) -> list[Path]:
    return sorted(p for p in (root / "packs").rglob("*.pack"))


def test_a_batch_gives_back_every_blob(tmp_path: Path) -> None:
    store = RawStore(tmp_path / "store")
    datas = [b"first message\r\n", b"second message\r\n", b"first message\r\n"]
    stored = store.put_batch(datas)

    assert [digest for digest, _ in stored] == [hashlib.sha256(d).hexdigest() for d in datas]
    assert [store.read(ref) for _, ref in stored] == datas
    # The same bytes twice are written once, and share a reference.
    assert stored[0][1] == stored[2][1]
    more = store.put_batch([b"third\r\n"])
    assert store.read(more[0][1]) == b"third\r\n"
    # Both batches went into the one pack this store has open.
    (pack,) = packs(tmp_path / "store")
    assert pack.read_bytes() == b"first message\r\nsecond message\r\nthird\r\n"
    assert store.put_batch([]) == []
    store.close()


def test_each_store_has_a_pack_of_its_own_and_leaves_a_full_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    one, two = RawStore(tmp_path / "store"), RawStore(tmp_path / "store")
    (_, a), = one.put_batch([b"from one"])
    (_, b), = two.put_batch([b"from two"])
    assert a.split("#")[0] != b.split("#")[0]
    monkeypatch.setattr(Pack, "LIMIT", 5)
    (_, c), = one.put_batch([b"after the limit"])
    assert c.split("#")[0] not in (a.split("#")[0], b.split("#")[0])
    assert [one.read(ref) for ref in (a, b, c)] == [b"from one", b"from two", b"after the limit"]
    assert len(packs(tmp_path / "store")) == 3
    one.close()
    two.close()


def test_bytes_left_by_a_failed_append_are_skipped(tmp_path: Path) -> None:
    store = RawStore(tmp_path / "store")
    (_, first), = store.put_batch([b"kept"])
    # A write that died half-way leaves bytes no row refers to; the next batch goes after them.
    with open(store.path_of(first), "ab") as handle:
        handle.write(b"torn")
    (_, second), = store.put_batch([b"next"])
    assert store.read(first) == b"kept" and store.read(second) == b"next"
    assert second.endswith("#8+4")
    store.close()


def test_a_reference_past_the_end_of_its_pack_is_an_error(tmp_path: Path) -> None:
    store = RawStore(tmp_path / "store")
    (_, ref), = store.put_batch([b"short"])
    pack = ref.split("#")[0]
    with pytest.raises(StorageError, match="shorter"):
        store.read(f"{pack}#2+10")
    with pytest.raises(StorageError, match="not a blob reference"):
        store.read(f"{pack}#x")
    with pytest.raises(StorageError, match="outside the store"):
        store.read("../../etc/passwd#0+1")
    assert os.path.getsize(store.path_of(ref)) == 5
    store.close()


def test_a_large_message_in_a_batch_gets_a_file_of_its_own_read_through_a_map(tmp_path: Path) -> None:
    from intake.mail.large import MAPPED_MESSAGE, Mapped

    store = RawStore(tmp_path / "store")
    large = b"Subject: stor\r\n\r\n" + b"y" * MAPPED_MESSAGE
    (_, small_ref), (digest, large_ref), (_, twice) = store.put_batch([b"small\r\n", large, large])
    assert "#" in small_ref and "#" not in large_ref and twice == large_ref
    assert digest == hashlib.sha256(large).hexdigest() and store.read(large_ref) == large
    mapped = store.read_for_parsing(large_ref)
    assert isinstance(mapped, Mapped) and mapped[:12] == large[:12]
    # Only the small one went into the pack.
    (pack,) = packs(tmp_path / "store")
    assert pack.read_bytes() == b"small\r\n"
    store.close()


def test_a_spooled_message_is_moved_into_place_once_and_a_second_copy_leaves_nothing_behind(tmp_path: Path) -> None:
    store = RawStore(tmp_path / "store")
    data = b"Subject: stor\r\n\r\n" + os.urandom(3 * 2**20)
    pieces = [data[at : at + 2**20] for at in range(0, len(data), 2**20)]
    (digest, blob), = store.put_batch([store.spool(pieces)])
    assert digest == hashlib.sha256(data).hexdigest() and "#" not in blob and store.read(blob) == data
    again = store.spool(pieces)
    assert len(list((tmp_path / "store" / "incoming").iterdir())) == 1
    assert store.put_batch([again]) == [(digest, blob)]
    assert list((tmp_path / "store" / "incoming").iterdir()) == [] and store.read(blob) == data
    store.close()
