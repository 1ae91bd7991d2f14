"""HTML mail bodies to plain text, safely: scripts and styles dropped, nothing rendered.

libxml2 (through lxml) reads the HTML: it is linear on any input, where Python's
``html.parser`` is quadratic on unclosed tags (``"<a " * 40000`` took 227 s).
"""

from __future__ import annotations

import re

from lxml import etree

_BLOCK = {
    "p", "div", "br", "li", "tr", "table", "h1", "h2", "h3", "h4", "h5", "h6",
    "blockquote", "pre", "hr", "ul", "ol", "section", "article", "header", "footer",
}
_SKIP = {"script", "style", "head", "title", "noscript", "template", "svg"}


class _TextTarget:
    """Collects the text as libxml2's parser reports tags and data; nothing is built into a tree."""

    def __init__(self) -> None:
        self.chunks: list[str] = []
        self.skipping = 0

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        if tag in _SKIP:
            self.skipping += 1
        elif tag in _BLOCK:
            self.chunks.append("\n")
        elif tag == "td":
            self.chunks.append("\t")

    def end(self, tag: str) -> None:
        if tag in _SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in _BLOCK:
            self.chunks.append("\n")

    def data(self, data: str) -> None:
        if not self.skipping:
            self.chunks.append(data)

    def close(self) -> str:
        return "".join(self.chunks)


def html_to_text(html: str) -> str:
    if not html.strip():
        return ""
    target = _TextTarget()
    parser = etree.HTMLParser(target=target, no_network=True, remove_comments=True, remove_pis=True)
    try:
        parser.feed(html)
        text = parser.close()
    except (etree.LxmlError, ValueError):  # nothing libxml2 could read: the tags stripped by hand
        return _tidy(re.sub(r"<[^>]*>", " ", html))
    return _tidy(str(text or ""))


def _tidy(text: str) -> str:
    text = text.replace("\xa0", " ")
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
