"""The cheap formats: plain text, HTML, OpenDocument text and RTF."""

from __future__ import annotations

import re
from email.message import Message

import lxml.html
from lxml import etree
from striprtf.striprtf import rtf_to_text

from intake.errors import ExtractionFailed
from intake.extract.base import Extraction
from intake.extract.limits import Limits, open_zip

TEXT_NS = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
XML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
HTML_DROP = ("script", "style", "head", "noscript", "template")
HTML_BLOCKS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "table"}


def charset_of(content_type: str) -> str | None:
    """The charset parameter of a Content-Type value, if any."""
    message = Message()
    message["Content-Type"] = content_type
    charset = message.get_content_charset()
    return str(charset) if charset else None


def decode(data: bytes, charset: str | None = None) -> str:
    """Bytes to text: a BOM or valid UTF-8 first, then the declared charset, then Windows-1252."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    for candidate in (charset, "cp1252"):
        if candidate:
            try:
                return data.decode(candidate, errors="replace")
            except LookupError:
                continue
    return data.decode("latin-1")


def tidy(text: str) -> str:
    """Trims each line's trailing blanks and squeezes runs of blank lines to one."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\xa0", " ")
    lines = [line.rstrip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def extract_plain(data: bytes, content_type: str) -> Extraction:
    return Extraction(status="ok", text=tidy(decode(data, charset_of(content_type))))


def extract_html(data: bytes, content_type: str) -> Extraction:
    """Visible text of an HTML file; scripts and styles dropped, nothing fetched."""
    source = decode(data, charset_of(content_type))
    if not source.strip():
        return Extraction(status="ok", text="")
    try:
        root = lxml.html.document_fromstring(source)
    except (etree.ParserError, ValueError) as err:
        raise ExtractionFailed(f"broken HTML: {err}") from err
    for element in list(root.iter(*HTML_DROP)):
        element.drop_tree()
    chunks: list[str] = []
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag in HTML_BLOCKS:
            chunks.append("\n\n")
        if element.text and isinstance(element.tag, str):
            chunks.append(element.text)
        if element.tail:
            chunks.append(element.tail)
    lines = (" ".join(line.split()) for line in "".join(chunks).split("\n"))
    return Extraction(status="ok", text=tidy("\n".join(lines)))


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
