"""Parsing real-world mail: charsets, encoded words, forwards, HTML-only, broken headers."""

from __future__ import annotations

import time
from email.message import EmailMessage

import pytest

from intake.mail.charsets import decode_bytes
from intake.mail.mime import normalise_message_id, parse, peek_message_id
from tests.builders import make_email


def test_rfc2047_subject_and_sender_name() -> None:
    raw = (
        b"From: =?utf-8?q?Statens_legemiddelverk_=C3=A6=C3=B8=C3=A5?= <post@legemiddelverket.no>\r\n"
        b"Subject: =?iso-8859-1?q?H=F8ringssvar_sak_22/414?=\r\n"
        b"Message-ID: <a1@x>\r\n\r\nbody\r\n"
    )
    parsed = parse(raw)
    assert parsed.subject == "Høringssvar sak 22/414"
    assert parsed.sender_name == "Statens legemiddelverk æøå"
    assert parsed.sender == "post@legemiddelverket.no"
    assert parsed.message_id == "<a1@x>"


def test_raw_8bit_headers_in_utf8_and_windows_1252() -> None:
    utf8 = "Subject: Høringssvar fra Bærum\r\nFrom: a@b.no\r\n\r\nx".encode()
    cp1252 = "Subject: Høringssvar fra Bærum\r\nFrom: a@b.no\r\n\r\nx".encode("cp1252")
    assert parse(utf8).subject == "Høringssvar fra Bærum"
    assert parse(cp1252).subject == "Høringssvar fra Bærum"


def test_body_charsets_undeclared_wrong_and_unknown() -> None:
    text = "Vi støtter målene. Blåbærsyltetøy."
    undeclared = b"From: a@b.no\r\nContent-Type: text/plain\r\n\r\n" + text.encode("cp1252")
    mislabelled = b"From: a@b.no\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\n" + text.encode()
    unknown = b"From: a@b.no\r\nContent-Type: text/plain; charset=x-fantasy\r\n\r\n" + text.encode()
    for raw in (undeclared, mislabelled, unknown):
        assert parse(raw).body_text == text


def test_decode_bytes_prefers_declared_charset_when_it_fits() -> None:
    assert decode_bytes("Ærlig".encode("iso-8859-15"), "iso-8859-15") == "Ærlig"
    assert decode_bytes("привет".encode("koi8-r"), "koi8-r") == "привет"


def test_rfc2231_filename() -> None:
    raw = (
        b"From: a@b.no\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n"
        b"--XX\r\nContent-Type: text/plain\r\n\r\nSe vedlegg\r\n"
        b"--XX\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
        b"Content-Disposition: attachment; filename*=utf-8''H%C3%B8ringssvar%20Bj%C3%B8rn.pdf\r\n\r\n"
        b"JVBERi0xLjQK\r\n--XX--\r\n"
    )
    parsed = parse(raw)
    assert [a.filename for a in parsed.attachments] == ["Høringssvar Bjørn.pdf"]
    assert parsed.attachments[0].data == b"%PDF-1.4\n"


def test_hostile_filename_is_made_safe() -> None:
    raw = (
        b"From: a@b.no\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\n"
        b"Content-Type: text/plain\r\nContent-Disposition: attachment; filename=\"../../etc/pa\x01sswd\"\r\n"
        b"\r\nx\r\n--XX--\r\n"
    )
    names = [a.filename for a in parse(raw).attachments]
    assert len(names) == 1
    assert "/" not in names[0] and "\x01" not in names[0]


def test_nested_forward_keeps_inner_attachments_and_text() -> None:
    from email import message_from_bytes, policy

    inner_bytes = make_email(subject="Høringssvar sak 22/414", body="Originalt svar",
                       attachments=[("svar.pdf", "application/pdf", b"%PDF-1.4 inner")])
    inner = message_from_bytes(inner_bytes, policy=policy.default)
    outer = EmailMessage()
    outer["From"] = "Sentralbord <post@kommune.no>"
    outer["Subject"] = "VS: til rett mottaker"
    outer.set_content("Videresender.")
    outer.add_attachment(inner)
    parsed = parse(outer.as_bytes())
    assert [(a.filename, a.depth) for a in parsed.attachments] == [
        ("Høringssvar sak 22_414.eml", 0),
        ("svar.pdf", 1),
    ]
    assert "Originalt svar" in parsed.body_text
    assert "Subject: Høringssvar sak 22/414" in parsed.body_text


def test_html_only_mail_becomes_text_without_scripts() -> None:
    raw = (
        b"From: a@b.no\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        + "<html><head><style>p{}</style><script>alert(1)</script></head>"
          "<body><p>Høringssvar&nbsp;sak 22/414</p><div>Linje to</div></body></html>".encode()
    )
    parsed = parse(raw)
    assert parsed.body_text == "Høringssvar sak 22/414\n\nLinje to" or parsed.body_text.split() == [
        "Høringssvar", "sak", "22/414", "Linje", "to"]
    assert "alert" not in parsed.body_text


def test_alternative_prefers_plain_text() -> None:
    parsed = parse(make_email(body="plain version", html="<p>html version</p>"))
    assert parsed.body_text == "plain version"


def test_missing_and_broken_headers_do_not_raise() -> None:
    for raw in (b"", b"\r\n\r\n", b"garbage without headers", b"From: <<<@>>>\r\nDate: not a date\r\n\r\nx",
                b"Content-Type: multipart/mixed; boundary=\r\n\r\n--\r\n"):
        parsed = parse(raw)
        assert parsed.date is None or parsed.date.tzinfo is not None


def test_outlook_msg_file_is_not_mime() -> None:
    parsed = parse(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100)
    assert parsed.not_mime
    assert parsed.attachments == []


def test_in_reply_to_and_references() -> None:
    raw = make_email(headers={"In-Reply-To": "<ack-1@ehelse.no>", "References": "<a@x> <ack-1@ehelse.no>"})
    parsed = parse(raw)
    assert parsed.in_reply_to == ["<ack-1@ehelse.no>"]
    assert parsed.references == ["<a@x>", "<ack-1@ehelse.no>"]


def test_a_message_id_is_normalised_and_one_with_control_characters_is_none() -> None:
    assert normalise_message_id(" <abc@x.no> (comment)") == "<abc@x.no>"
    assert normalise_message_id("abc@x.no") == "<abc@x.no>"
    assert normalise_message_id("<" + "a" * 991 + "@x.no>") == "<" + "a" * 991 + "@x.no>"  # 998 characters
    for bad in ("<a\x00b@x.no>", "a\x01b@x.no", "a b@x.no", "<abc@x.no", "", None, "<" + "a" * 992 + "@x.no>"):
        assert normalise_message_id(bad) is None, bad
    assert peek_message_id(b"Message-ID: <a\x00b@x.no>\r\n\r\nbody") is None
    assert peek_message_id(b"Subject: x\r\nMessage-Id:\r\n <folded@x.no>\r\n\r\n") == "<folded@x.no>"


def html_mail(html: str) -> bytes:
    """A mail whose only body is HTML, as many webmail clients send it."""
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "kari@example.no", "postmottak@ehelse.no", "Svar"
    msg.set_content(html, subtype="html")
    return msg.as_bytes()


@pytest.mark.parametrize("html", ["<a " * 40_000, "<p>Sak 22/414 " + "<b x=" * 6_000, "<div>" * 50_000 + "Sak 22/414"],
                         ids=["unclosed-tags", "unclosed-attributes", "deep-nesting"])
def test_html_bomb_bodies_are_read_in_linear_time(html: str) -> None:
    # Before: Python's html.parser took 2.4 s for 5,000 unclosed "<a ", 11.5 s for 10,000 and 227 s for 40,000.
    raw = html_mail(html)
    started = time.monotonic()
    parsed = parse(raw)
    assert time.monotonic() - started < 1.0
    assert "<a <a" not in parsed.body_text


def test_html_body_keeps_its_text_and_drops_scripts() -> None:
    html = ("<html><head><style>p{}</style></head><body><p>Høringssvar sak 22/414</p>"
            "<script>alert(1)</script><p>Med vennlig hilsen &amp; takk</p></body></html>")
    parsed = parse(html_mail(html))
    assert "Høringssvar sak 22/414" in parsed.body_text and "Med vennlig hilsen & takk" in parsed.body_text
    assert "alert" not in parsed.body_text and "p{}" not in parsed.body_text


def nested_multiparts(levels: int) -> bytes:
    head = b"From: kari@example.no\r\nTo: postmottak@ehelse.no\r\nSubject: Dyp\r\nMIME-Version: 1.0\r\n"
    opening = b"".join(b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (n, n)
                       for n in range(levels))
    closing = b"".join(b"--b%d--\r\n" % n for n in reversed(range(levels)))
    return head + opening + b"Content-Type: text/plain\r\n\r\nSak 22/414\r\n" + closing


def test_nested_multiparts_count_towards_the_depth() -> None:
    assert parse(nested_multiparts(5)).body_text == "Sak 22/414"
    # Before: multiparts did not count; 45 levels were read to the bottom.
    deep = parse(nested_multiparts(45))
    assert "nesting too deep" in deep.defects and deep.body_text == "" and deep.not_mime is None


def test_thousands_of_nested_parts_are_not_parsed_at_all() -> None:
    # Before: 2,000 levels raised RecursionError out of the parser; 20,000 levels (1 MB) took 25 s first.
    started = time.monotonic()
    parsed = parse(nested_multiparts(20_000))
    assert time.monotonic() - started < 1.0
    assert parsed.not_mime == "more than 200 nested or attached parts" and parsed.subject == "Dyp"
