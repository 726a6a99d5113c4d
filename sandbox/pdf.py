"""A minimal, valid one-page PDF written by hand (no library): what the sandboxes serve as invoices.

Five objects (catalog, pages, page, Helvetica, the text stream), a cross-reference table with the
real byte offsets and a trailer, so PDF readers open it and a marketplace's checks (``%PDF-`` magic,
size) see a real document. A few lines of text keep it well under 2 KB.
"""

from __future__ import annotations


def _escape(text: str) -> bytes:
    """A PDF literal string's bytes: WinAnsi (Latin-1) text with ``\\``, ``(`` and ``)`` escaped."""
    raw = text.encode("latin-1", "replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def minimal_pdf(lines: list[str]) -> bytes:
    """A one-page PDF 1.4 showing ``lines`` (the first one larger, as a title)."""
    text = [b"BT", b"/F1 16 Tf", b"72 740 Td"]
    for index, line in enumerate(lines):
        if index == 1:
            text.append(b"/F1 11 Tf")
        if index:
            text.append(b"0 -18 Td")
        text.append(b"(" + _escape(line) + b") Tj")
    text.append(b"ET")
    stream = b"\n".join(text)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> "
        b"/Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")  # the binary comment marks the file as binary
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref_at = len(out)
    out += b"xref\n0 %d\n" % (len(objects) + 1)
    out += b"0000000000 65535 f \n"  # each entry is exactly 20 bytes, as the format requires
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref_at)
    return bytes(out)
