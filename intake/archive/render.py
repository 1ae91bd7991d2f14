"""The mail text as PDF/A-2b, made with WeasyPrint in an extraction worker.

The page is built here from the stored text (headers and body, escaped) and drawn in
a worker under the extraction limits, because the text is the sender's and its size
is theirs too. WeasyPrint is never allowed to fetch anything: the fetcher refuses
every address, so a link or image in the text can neither leak a request nor wait
on a network. It embeds a subset of every font it uses, writes the XMP with
``pdfaid:part=2`` and ``conformance=B`` and an sRGB output intent.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import jinja2

from intake.extract.base import Extraction, WorkerTask
from intake.extract.limits import Limits

TEMPLATES = Path(__file__).parent / "templates"
_ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                          undefined=jinja2.StrictUndefined)
# Longer mail text than this (about 400 pages) is not drawn; the package says so and keeps the .eml.
MAX_BODY_CHARS = 1_000_000


def mail_html(*, title: str, headers: list[tuple[str, str]], body: str, note: str) -> str:
    """The page of one e-mail: its headers as a table, then its text as written."""
    return _ENV.get_template("mail.html.j2").render(title=title, headers=headers, body=body, note=note)


@dataclass(frozen=True)
class MailToPdfa(WorkerTask):
    """Draws the page in ``data`` (UTF-8 HTML) to a PDF/A-2b file at ``out``."""

    out: str = ""

    def run(self, limits: Limits) -> Extraction:
        from weasyprint import HTML

        document = HTML(string=self.data.decode("utf-8"), url_fetcher=_refuse(), base_url=None).render()
        if len(document.pages) > limits.max_pages:
            return Extraction.failed(f"{len(document.pages)} sider er mer enn grensen på {limits.max_pages}")
        with warnings.catch_warnings():
            # WeasyPrint opens its sRGB profile for the output intent and leaves closing it to the
            # garbage collector; that warning is about its file, not about this document.
            warnings.simplefilter("ignore", ResourceWarning)
            document.write_pdf(self.out, pdf_variant="pdf/a-2b")
        return Extraction(status="ok", pages=len(document.pages))


def _refuse() -> object:
    from weasyprint.urls import URLFetcher

    class Refuse(URLFetcher):  # type: ignore[misc]
        """Fetches nothing: the archive copy of a mail must not depend on, or reveal itself to, any server."""

        def fetch(self, url: str, headers: object = None) -> object:
            raise ValueError(f"fetching {url[:80]} is not allowed")

    return Refuse()
