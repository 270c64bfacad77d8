"""Attachments: every supported type is read, every bad input is refused with the file's name and the reason."""

from __future__ import annotations

import pytest

from pagellm.attachments import MAX_FILE_BYTES, MAX_IMAGE_BYTES, MAX_TEXT_CHARS, Attachment, html_text, media_type_of
from pagellm.errors import InputError
from tests.pdf_maker import columns_page, encrypted, make_pdf

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


@pytest.mark.parametrize("name, media_type", [
    ("a.txt", "text/plain"), ("README.md", "text/markdown"), ("main.py", "text/x-code"), ("x.tsv", "text/tab-separated-values"),
    ("t.csv", "text/csv"), ("d.json", "application/json"), ("p.html", "text/html"), ("Makefile", "text/x-code"),
])
def test_text_types_are_read(name, media_type):
    attachment = Attachment.from_bytes(name, "héllo,\tworld\n<b>x</b>".encode())
    assert attachment.media_type == media_type and attachment.kind == "text"
    assert "héllo" in attachment.text


def test_bom_crlf_and_utf16():
    assert Attachment.from_bytes("a.txt", b"\xef\xbb\xbfone\r\ntwo").text == "one\ntwo"
    assert Attachment.from_bytes("a.txt", "caf\u00e9".encode("utf-16")).text == "café"


def test_html_is_read_as_visible_text_and_markup_stays_inert():
    text = Attachment.from_bytes("p.html", b"<html><head><title>T</title><style>b{}</style></head>"
                                           b"<body><p>One</p><script>alert(1)</script><p>Two &amp; three</p></body>").text
    assert text == "T\n\nOne\n\nTwo & three"
    assert html_text("<ul><li>a<li>b</ul>") == "a\nb"


def test_browser_type_is_used_only_for_unknown_extensions():
    assert media_type_of("notes.weird", "text/plain") == "text/plain"
    assert media_type_of("main.ts", "video/mp2t") == "text/x-code"  # browsers call .ts video


@pytest.mark.parametrize("name, data, reason", [
    ("report.docx", b"PK\x03\x04", "this file type is not supported"),
    ("archive.zip", b"PK\x03\x04", "this file type is not supported"),
    ("empty.txt", b"", "the file is empty"),
    ("blank.md", b"  \n\n ", "it holds no text"),
    ("image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00", "binary data (a NUL byte at offset 8)"),
    ("controls.csv", bytes(range(1, 32)) * 20, "binary data"),
    ("latin1.txt", "café".encode("latin-1"), "not valid UTF-8 (byte 3 is 0xe9)"),
    ("fake.pdf", b"hello", "it is not a PDF"),
    ("fake.png", b"GIF89a....", "it is not a PNG image"),
    ("fake.webp", b"RIFF\x00\x00\x00\x00WAVE", "it is not a WEBP image"),
])
def test_bad_inputs_name_the_file_and_the_reason(name, data, reason):
    with pytest.raises(InputError) as caught:
        Attachment.from_bytes(name, data)
    assert str(caught.value).startswith(f"{name} cannot be attached") and reason in str(caught.value)


def test_size_limits():
    with pytest.raises(InputError, match=r"big.txt .* over the 20.0 MB limit for a file"):
        Attachment.from_bytes("big.txt", b"a" * (MAX_FILE_BYTES + 1))
    with pytest.raises(InputError, match=r"big.png .* over the 10.0 MB limit for an image"):
        Attachment.from_bytes("big.png", PNG + b"\x00" * MAX_IMAGE_BYTES)
    with pytest.raises(InputError, match=r"long.txt .* over the 2,000,000 limit"):
        Attachment.from_bytes("long.txt", b"word " * (MAX_TEXT_CHARS // 5 + 1))


def test_pdf_text_pages_and_offsets():
    attachment = Attachment.from_bytes("doc.pdf", make_pdf([["First page text here."], ["Second page: the answer is 42."]]))
    assert attachment.kind == "pdf" and attachment.media_type == "application/pdf" and attachment.page_count == 2
    second = attachment.text[attachment.pages[1]:]
    assert second.startswith("Second page") and attachment.index.page_of(attachment.pages[1] + 3) == 2


def test_multi_column_pdf_in_column_order_reads_each_column_whole():
    left, right = [f"left {i}" for i in range(4)], [f"right {i}" for i in range(4)]
    text = Attachment.from_bytes("c.pdf", make_pdf([columns_page(left, right, order="columns")])).text
    assert text.index("left 3") < text.index("right 0")


@pytest.mark.parametrize("pdf, reason", [
    (make_pdf([[]], drawing=True), "the PDF has no text layer"),
    (make_pdf([["a"], ["b"]]), "the PDF has no text layer"),  # two letters: nothing to read
    (encrypted(make_pdf([["Secret text of the document."]])), "the PDF is encrypted"),
    (make_pdf([["x" * 40]])[:200], "the PDF is damaged"),
])
def test_bad_pdfs(pdf, reason):
    with pytest.raises(InputError, match=reason) as caught:
        Attachment.from_bytes("scan.pdf", pdf)
    assert str(caught.value).startswith("scan.pdf cannot be attached")


def test_pdf_with_an_empty_user_password_opens():
    attachment = Attachment.from_bytes("open.pdf", encrypted(make_pdf([["Readable without a password."]]), password=""))
    assert "Readable" in attachment.text


def test_image_and_saved_form_round_trip():
    image = Attachment.from_bytes("photo.png", PNG)
    assert image.kind == "image" and image.data_url().startswith("data:image/png;base64,iVBORw0KGgo")
    note = Attachment.from_bytes("n.md", b"# Title\n\nBody text.")
    for attachment in (image, note):
        data = attachment.to_dict()
        again = Attachment.from_dict(data)
        assert again.to_dict() == data
    assert "index" in note.to_dict() and note.to_dict()["tokens"] > 0


def test_damaged_saved_forms_are_refused():
    with pytest.raises(InputError):
        Attachment.from_dict({"name": "x"})
    with pytest.raises(InputError, match="kind"):
        Attachment.from_dict({"name": "x", "media_type": "text/plain", "size": 1, "kind": "video"})
    data = Attachment.from_bytes("n.txt", b"short text").to_dict()
    data["index"]["passages"] = [[0, 999, None]]
    with pytest.raises(InputError, match="outside its text"):
        Attachment.from_dict(data)
