"""Every real-world mail in the shared corpus goes through the whole pipeline.

Each one ingests without an unhandled exception, keeps its raw bytes byte for
byte, and where the corpus gives an expected subject, sender or attachment
names (Zammad's ``.yml`` files), ours agree.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlmodel import Session, select

from intake.db.models import Attachment, Message, Submission
from intake.mail.mime import parse
from intake.pipeline.run import ingest
from intake.runtime import Runtime
from intake.store.messages import Source
from tests.conftest import SHARED, need

CORPUS = SHARED / "corpus" / "mail"
SKIP_NAMES = {"SOURCE.txt", "LICENSE", "COPYING", "PSF-LICENSE", "README"}

# Where Zammad's expectation is not what a careful parser should give, and why.
KNOWN_DIFFERENCES = {
    "mail016.yml": "no From header; Zammad falls back on the envelope",
    "mail018.yml": "Zammad leaves a UTF-7 word undecoded",
    "mail064.yml": "Zammad keeps the filename in decomposed form",
    "mail093.yml": "raw Shift_JIS bytes in the Subject while the body declares another charset",
    "mail019.yml": "an empty From address; Zammad falls back on the envelope",
    "mail062.yml": "Zammad invents names for parts without one (video.mov)",
    "mail073.yml": "Zammad's expected filename holds a replacement character; ours decodes it",
    "mail102.yml": "Zammad renames a repeated filename; we keep the sender's names",
}
# Names Zammad invents for parts that carry none; we name those ourselves.
INVENTED = re.compile(r"^(message\.html|file|document\d*\.html|image\.\w+|Delivery report\.txt|\d+\.\d+\.\d+)$")


def corpus_files() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(
        p for p in CORPUS.rglob("*")
        if p.is_file() and p.name not in SKIP_NAMES and p.suffix not in {".yml", ".md"}
    )


class _RubyLoader(yaml.SafeLoader):
    """Reads Zammad's YAML, whose mappings carry Ruby class tags."""


def _any_tag(loader: yaml.SafeLoader, _suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)  # type: ignore[arg-type]


_RubyLoader.add_multi_constructor("!", _any_tag)


def _norm(text: str | None) -> str:
    return " ".join((text or "").split())


def _norm_address(text: str | None) -> str:
    return (text or "").lower().replace('"', "").strip().rstrip(".>")


def _norm_name(text: str) -> str:
    return _norm(re.sub(r'[\x00-\x1f/\\:*?"<>|]+', "_", text)).strip(" ._")


def test_corpus_is_there() -> None:
    if not corpus_files():
        need("the shared corpus", f"nothing under {CORPUS}")
    assert len(corpus_files()) > 200


def test_every_corpus_mail_goes_through_the_pipeline(rt: Runtime) -> None:
    files = corpus_files()
    if not files:
        need("the shared corpus", f"nothing under {CORPUS}")
    received = datetime(2022, 9, 28, 8, 0, tzinfo=UTC)
    for path in files:
        ingest(rt, path.read_bytes(), Source(kind="file"), received)
    with Session(rt.engine) as session:
        messages = session.exec(select(Message)).all()
        by_sha = {m.sha256: m for m in messages}
        failed = [(m.id, m.last_error) for m in messages if m.status != "processed"]
        assert failed == []
        assert len(session.exec(select(Submission)).all()) == len(messages)
        for path in files:
            raw = path.read_bytes()
            from intake.store.raw import sha256_hex

            message = by_sha[sha256_hex(raw)]
            assert rt.store.read(message.blob) == raw, path
        for attachment in session.exec(select(Attachment)).all():
            assert rt.store.path_of(attachment.blob).stat().st_size == attachment.size


def zammad_expectations() -> list[tuple[Path, Path]]:
    root = CORPUS / "zammad"
    pairs = []
    for yml in sorted(root.rglob("*.yml")):
        box = yml.with_suffix(".box")
        if box.exists() and yml.name not in KNOWN_DIFFERENCES:
            pairs.append((yml, box))
    return pairs


@pytest.mark.parametrize("yml,box", zammad_expectations(), ids=lambda p: p.name)
def test_zammad_expected_subject_sender_and_attachments(yml: Path, box: Path) -> None:
    expected = yaml.load(yml.read_text(encoding="utf-8"), Loader=_RubyLoader)
    parsed = parse(box.read_bytes())
    if "subject" in expected and expected["subject"] is not None:
        assert _norm(parsed.subject) == _norm(str(expected["subject"]))
    if expected.get("from_email"):
        assert _norm_address(parsed.sender) == _norm_address(str(expected["from_email"]))
    ours = {_norm_name(a.filename) for a in parsed.attachments}
    for attachment in expected.get("attachments") or []:
        name = str(attachment.get("filename") or "") if isinstance(attachment, dict) else ""
        if name and not INVENTED.match(name):
            assert _norm_name(name) in ours, f"{name!r} not in {sorted(ours)}"
