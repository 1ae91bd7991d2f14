"""The cheap formats: plain text, HTML, OpenDocument text and RTF."""

from __future__ import annotations

import re
from email.message import Message

from lxml import etree
from striprtf.striprtf import rtf_to_text

from intake.errors import ExtractionFailed
from intake.extract.base import Extraction
from intake.extract.limits import Limits, open_zip
from intake.mail.charsets import decode_bytes
from intake.mail.htmltext import html_to_text

TEXT_NS = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
XML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


def charset_of(content_type: str) -> str | None:
    """The charset parameter of a Content-Type value, if any."""
    message = Message()
    message["Content-Type"] = content_type
    charset = message.get_content_charset()
    return str(charset) if charset else None


def tidy(text: str) -> str:
    """Trims each line's trailing blanks and squeezes runs of blank lines to one."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\xa0", " ")
    lines = [line.rstrip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def extract_plain(data: bytes, content_type: str) -> Extraction:
    return Extraction(status="ok", text=tidy(decode_bytes(data, charset_of(content_type))))


def extract_html(data: bytes, content_type: str) -> Extraction:
    """Visible text of an HTML file; scripts and styles dropped, nothing fetched."""
    return Extraction(status="ok", text=tidy(html_to_text(decode_bytes(data, charset_of(content_type)))))


def extract_odt(data: bytes, limits: Limits) -> Extraction:
    """Paragraphs and headings of an OpenDocument text file, lists and tables included."""
    with open_zip(data, limits) as archive:
        try:
            content = archive.read("content.xml")
        except KeyError as err:
            raise ExtractionFailed("broken ODT: no content.xml") from err
    try:
        root = etree.fromstring(content, XML_PARSER)
    except etree.XMLSyntaxError as err:
        raise ExtractionFailed(f"broken ODT: {err}") from err
    paragraphs = ["".join(_odt_inline(p)) for p in root.iter(TEXT_NS + "p", TEXT_NS + "h")]
    return Extraction(status="ok", text="\n\n".join(p.strip() for p in paragraphs if p.strip()))


def _odt_inline(element: etree._Element) -> list[str]:
    parts = [element.text or ""]
    for child in element:
        tag = child.tag
        if tag == TEXT_NS + "tab":
            parts.append("\t")
        elif tag == TEXT_NS + "line-break":
            parts.append("\n")
        elif tag == TEXT_NS + "s":
            parts.append(" " * min(64, int(child.get(TEXT_NS + "c", "1"))))
        elif tag not in (TEXT_NS + "p", TEXT_NS + "h", TEXT_NS + "note"):
            # Nested paragraphs are read on their own by the caller's iteration.
            parts.extend(_odt_inline(child))
        parts.append(child.tail or "")
    return parts


def extract_rtf(data: bytes) -> Extraction:
    # RTF is 7-bit with escapes; Latin-1 maps every byte so nothing is lost before parsing.
    text: str = rtf_to_text(data.decode("latin-1"), errors="ignore")  # type: ignore[no-untyped-call]
    return Extraction(status="ok", text=tidy(text))
