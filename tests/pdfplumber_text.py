"""The PDF text as pdfplumber reads it, with the same lines-to-paragraphs rule as intake's PDFium reader.

The reference the PDFium text is compared with (tests/test_extract_pdf_similarity.py) and the
other column of bench/extract.py: intake itself reads PDFs with PDFium only.
"""

from __future__ import annotations

import io

import pdfplumber

from intake.extract.pdf import Line, add_page


def pdfplumber_text(data: bytes) -> str:
    """Every page's text, paragraphs separated by a blank line, as the PDFium reader separates them."""
    paragraphs: list[list[str]] = []
    ended = True
    with pdfplumber.open(io.BytesIO(data)) as pdf:
        for page in pdf.pages:
            found = page.extract_text_lines(layout=False, strip=True, return_chars=False)
            lines = [Line(str(f["text"]), float(f["top"]), float(f["bottom"]), float(f["x0"]), float(f["x1"]))
                     for f in found]
            ended = add_page(lines, paragraphs, ended)
            page.close()
    return "\n\n".join("\n".join(lines) for lines in paragraphs if lines)
