"""Small PDFs written by hand (no PDF library), for tests and the retrieval bench.

    pdf = make_pdf([["First page, first line.", "Second line."], ["Page two."]])
    two_columns = make_pdf([columns_page(left_lines, right_lines, order="rows")])
    scan = make_pdf([[]], drawing=True)            # a page with a drawing and no text: no text layer

A page is a list of lines (top to bottom, one column) or the output of ``columns_page``: a list of
(x, y, text) placements in the order the content stream draws them. Text is Helvetica, Latin-1.
"""

from __future__ import annotations

PAGE_WIDTH, PAGE_HEIGHT = 612, 792
FONT_SIZE, LEADING = 10, 13


def _escape(text: str) -> bytes:
    raw = text.encode("latin-1", "replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def _placements(page) -> list[tuple[float, float, str]]:
    if page and isinstance(page[0], tuple):
        return list(page)
    return [(72, PAGE_HEIGHT - 72 - i * LEADING, line) for i, line in enumerate(page)]


def columns_page(left: list[str], right: list[str], order: str = "columns") -> list[tuple[float, float, str]]:
    """Two columns of lines. ``order`` is how the content stream draws them: "columns" (all of the left,
    then all of the right: what most word processors write) or "rows" (left line 1, right line 1, ...:
    what some typesetters and converters write)."""
    top = PAGE_HEIGHT - 72
    lefts = [(54, top - i * LEADING, line) for i, line in enumerate(left)]
    rights = [(318, top - i * LEADING, line) for i, line in enumerate(right)]
    if order == "columns":
        return lefts + rights
    out = []
    for i in range(max(len(lefts), len(rights))):
        out += lefts[i:i + 1] + rights[i:i + 1]
    return out


def make_pdf(pages: list, *, drawing: bool = False) -> bytes:
    """A PDF 1.4 file with one page per item of ``pages``; ``drawing`` adds a filled rectangle per page."""
    objects: list[bytes] = []  # object n is objects[n - 1]
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(b"")  # the page tree, filled in below
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    kids = []
    for page in pages:
        stream = b""
        if drawing:
            stream += b"0.5 g 100 300 400 300 re f\n"
        placements = _placements(page)
        if placements:
            stream += b"BT /F1 %d Tf\n" % FONT_SIZE
            for x, y, text in placements:
                stream += b"1 0 0 1 %.1f %.1f Tm (%s) Tj\n" % (x, y, _escape(text))
            stream += b"ET\n"
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"endstream")
        content = len(objects)
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Contents %d 0 R "
                       b"/Resources << /Font << /F1 3 0 R >> >> >>" % (PAGE_WIDTH, PAGE_HEIGHT, content))
        kids.append(len(objects))
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % k for k in kids), len(kids))
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def encrypted(pdf: bytes, password: str = "secret") -> bytes:
    """The same PDF, encrypted with a user password (pypdf, RC4: no crypto library needed)."""
    import io

    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    writer.encrypt(password, algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()
