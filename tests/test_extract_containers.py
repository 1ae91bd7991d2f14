"""Containers are unpacked and their inner files read: winmail.dat (TNEF), attached messages, nesting limits."""

from __future__ import annotations

import struct
from pathlib import Path

from intake.extract import Extraction, FileInput, Limits, extract_one, kind_of, read_form
from tests.builders import make_email
from tests.cfb_builder import make_cfb
from tests.fixtures.forms.make_forms import EXPECTED, QUESTIONS

FORMS = Path(__file__).resolve().parent / "fixtures" / "forms"
FORM_PDF = (FORMS / "skjema-ja.pdf").read_bytes()


def _tnef_object(level: int, name: int, kind: int, data: bytes) -> bytes:
    checksum = sum(data) & 0xFFFF
    return struct.pack("<BHHI", level, name, kind, len(data)) + data + struct.pack("<H", checksum)


def make_tnef(body: str, files: list[tuple[str, bytes]]) -> bytes:
    """A winmail.dat as Outlook writes it for a plain-text message: the body, then each file's title and data."""
    out = struct.pack("<IH", 0x223E9F78, 0x0101)
    out += _tnef_object(1, 0x9006, 0x0008, struct.pack("<I", 0x10000))  # TNEF version
    out += _tnef_object(1, 0x800C, 0x0002, body.encode("cp1252"))  # attBody
    for name, data in files:
        out += _tnef_object(2, 0x9002, 0x0006, b"\x01\x00\xff\xff\xff\xff" + b"\x00" * 8)  # attAttachRendData
        out += _tnef_object(2, 0x8010, 0x0001, name.encode("cp1252") + b"\x00")  # attAttachTitle
        out += _tnef_object(2, 0x800F, 0x0006, data)  # attAttachData
    return out


def test_winmail_dat_gives_its_body_and_the_form_inside() -> None:
    winmail = FileInput("winmail.dat", "application/ms-tnef", make_tnef("Vedlagt vårt svar.", [("svar.pdf", FORM_PDF)]))
    assert kind_of(winmail) == "tnef"
    result = extract_one(winmail, Limits())
    assert result.status == "ok" and result.text == "Vedlagt vårt svar."
    ((inner, extraction),) = result.children
    assert inner.filename == "svar.pdf" and inner.data == FORM_PDF
    assert read_form(extraction.text or "", QUESTIONS) == EXPECTED["skjema-ja"]


def test_attached_message_is_read_with_its_attachment() -> None:
    inner = make_email(subject="Høringssvar 22/414", body="Se vedlegg.",
                       attachments=[("skjema.pdf", "application/pdf", FORM_PDF)])
    result = extract_one(FileInput("videresendt.eml", "message/rfc822", inner), Limits())
    assert result.status == "ok"
    assert "Subject: Høringssvar 22/414" in (result.text or "") and "Se vedlegg." in (result.text or "")
    ((child, extraction),) = result.children
    assert child.filename == "skjema.pdf"
    assert read_form(extraction.text or "", QUESTIONS) == EXPECTED["skjema-ja"]


def test_nesting_deeper_than_the_limit_fails_at_the_limit() -> None:
    data = make_email(subject="innerst", attachments=[("skjema.pdf", "application/pdf", FORM_PDF)])
    for level in range(5):
        data = make_email(subject=f"nivå {level}", attachments=[("fwd.eml", "message/rfc822", data)])
    result = extract_one(FileInput("fwd.eml", "message/rfc822", data), Limits(max_depth=3))
    chain: list[Extraction] = [result]
    while chain[-1].children:
        chain.append(chain[-1].children[0][1])
    assert [e.status for e in chain] == ["ok", "ok", "ok", "ok", "failed"]
    assert chain[-1].error == "nested too deep: 4 > 3"


def test_unknown_and_legacy_binary_files_are_skipped_not_read() -> None:
    doc = FileInput("gammel.doc", "application/msword", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600)
    image = FileInput("bilde.png", "image/png", b"\x89PNG\r\n\x1a\n" + b"\0" * 100)
    assert [extract_one(f, Limits()).status for f in (doc, image)] == ["skipped", "skipped"]


def test_a_file_named_as_a_document_but_not_one_fails_with_the_reason() -> None:
    fake = FileInput("svar.docx", "application/octet-stream", b"this is not a zip")
    result = extract_one(fake, Limits())
    assert result.status == "failed" and (result.error or "").startswith("broken zip")


def test_cheap_formats_read() -> None:
    rtf = FileInput("svar.rtf", "application/rtf", rb"{\rtf1\ansi Saksnummer 22/414\par Hilsen}")
    html = FileInput("svar.html", "text/html", "<p>Sak 22/414</p><script>x()</script><p>Æ</p>".encode())
    text = FileInput("svar.txt", "text/plain; charset=iso-8859-1", "Høringssvar 22/414".encode("latin-1"))
    results = [extract_one(f, Limits()) for f in (rtf, html, text)]
    assert [r.status for r in results] == ["ok", "ok", "ok"]
    assert "22/414" in (results[0].text or "")
    assert results[1].text == "Sak 22/414\n\nÆ"
    assert results[2].text == "Høringssvar 22/414"


def test_outlook_msg_gives_its_body_and_the_form_inside() -> None:
    def utf16(text: str) -> bytes:
        return text.encode("utf-16-le")

    msg = make_cfb({
        "__substg1.0_0037001F": utf16("Høringssvar"),
        "__substg1.0_1000001F": utf16("Vedlagt følger vårt høringssvar."),
        "__attach_version1.0_#00000000": {
            "__substg1.0_3707001F": utf16("Høringssvar NSF.pdf"),
            "__substg1.0_370E001F": utf16("application/pdf"),
            "__substg1.0_37010102": FORM_PDF,
        },
    })
    outlook = FileInput("svar.msg", "application/octet-stream", msg)
    assert kind_of(outlook) == "msg"
    result = extract_one(outlook, Limits())
    assert result.status == "ok" and result.text == "Vedlagt følger vårt høringssvar."
    ((inner, extraction),) = result.children
    assert (inner.filename, inner.content_type, inner.data) == ("Høringssvar NSF.pdf", "application/pdf", FORM_PDF)
    assert read_form(extraction.text or "", QUESTIONS) == EXPECTED["skjema-ja"]
