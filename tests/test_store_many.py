"""RawStore.put_many: the same blobs and paths as put, durably, for a batch at once."""

from __future__ import annotations

from pathlib import Path

from intake.store import RawStore


def test_put_many_matches_put_and_is_idempotent(tmp_path: Path) -> None:
    store = RawStore(tmp_path / "store")
    datas = [b"first message\r\n", b"second message\r\n", b"first message\r\n"]
    stored = store.put_many(datas)

    assert stored == [RawStore(tmp_path / "other").put(d) for d in datas]
    assert [store.read(blob) for _, blob in stored] == datas
    assert store.put_many(datas) == stored
    assert not list((tmp_path / "store").rglob(".tmp-*"))
