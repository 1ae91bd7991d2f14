"""Builds small PDF files by hand, for hostile and oversized inputs no office program would write."""

from __future__ import annotations

import zlib


def make_pdf(contents: list[bytes], *, compress: bool = False, kids: bytes | None = None) -> bytes:
    """A PDF with one page per content stream (Helvetica as /F1); ``kids`` overrides the page list."""
    objects: list[bytes] = []
    first_page = 4
    page_refs = b" ".join(b"%d 0 R" % (first_page + 2 * i) for i in range(len(contents)))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids if kids is not None else page_refs,
                                                              len(contents)))
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for number, content in enumerate(contents):
        stream_ref = first_page + 2 * number + 1
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >>"
            b" /Contents %d 0 R >>" % stream_ref
        )
        data = zlib.compress(content, 1) if compress else content
        flt = b" /Filter /FlateDecode" if compress else b""
        objects.append(b"<< /Length %d%s >>\nstream\n%s\nendstream" % (len(data), flt, data))
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def text_page(lines: list[str]) -> bytes:
    """A content stream writing the lines top down in 10 pt Helvetica."""
    body = [b"BT /F1 10 Tf 12 TL 50 800 Td"]
    for line in lines:
        escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        body.append(b"(%s) '" % escaped.encode("latin-1"))
    body.append(b"ET")
    return b"\n".join(body)


def bomb_stream(megabytes: int) -> bytes:
    """A FlateDecode content stream that inflates to ``megabytes`` MiB of blanks: small on disk, huge in memory."""
    packer = zlib.compressobj(9)
    chunk = b" " * (1024 * 1024)
    packed = b"".join(packer.compress(chunk) for _ in range(megabytes)) + packer.flush()
    return packed


def scattered_page(runs: int = 1450) -> bytes:
    """A content stream of ``runs`` letters each in its own text object and place: as many runs as letters."""
    columns = 50
    body = [b"BT /F1 6 Tf %d %d Td (x) Tj ET" % (20 + (n % columns) * 11, 820 - (n // columns) * 10)
            for n in range(runs)]
    return b"\n".join(body)
