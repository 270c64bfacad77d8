"""Attachments: a file's bytes checked and turned into text (or kept as an image) with its passage index.

    >>> note = Attachment.from_bytes("notes.md", b"# Trip\\n\\nThe train leaves at 9:40 from Lyon.")
    >>> note.kind, note.media_type, note.size, note.pages
    ('text', 'text/markdown', 43, None)
    >>> Attachment.from_bytes("photo.txt", b"\\x89PNG\\r\\n\\x1a\\n\\x00\\x00")
    Traceback (most recent call last):
    ...
    pagellm.errors.InputError: photo.txt cannot be attached: it holds binary data (a NUL byte at offset 8), not text. Attach a text file, or give the file its right extension.

Supported: plain text, Markdown, code and configuration files, CSV/TSV, JSON, HTML (read as its visible
text), PDF (its text layer, read with pypdf, page by page), and images (PNG, JPEG, GIF, WebP) for remote
models that accept them. Every refusal is an ``InputError`` naming the file and the reason, raised
before anything is attached.
"""

from __future__ import annotations

import base64
import codecs
import io
import math
import re
import uuid
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import PurePath

from .errors import InputError
from .retrieval import PassageIndex

__all__ = ["Attachment", "MAX_FILE_BYTES", "MAX_IMAGE_BYTES", "MAX_TEXT_CHARS", "media_type_of", "supported_types"]

# 20 MB covers a few hundred pages of PDF; pypdf reads about that in seconds on CPython, a few times
# slower in Pyodide. Images are sent inline as data URLs (a third larger): 10 MB is what most providers
# accept per image.
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_IMAGE_BYTES = 10 * 1024 * 1024
# About 500 pages: past this the passage index (and the saved chat) grows beyond what a page keeps well.
MAX_TEXT_CHARS = 2_000_000
# Letters and digits per page, on average, below which a PDF has no text layer: a scan yields none, or
# only page numbers.
MIN_PDF_LETTERS = 10

_TEXT_TYPES = {
    ".txt": "text/plain", ".text": "text/plain", ".log": "text/plain", ".rst": "text/x-rst",
    ".md": "text/markdown", ".markdown": "text/markdown",
    ".csv": "text/csv", ".tsv": "text/tab-separated-values",
    ".json": "application/json", ".jsonl": "application/jsonl", ".ndjson": "application/jsonl",
    ".html": "text/html", ".htm": "text/html",
    ".xml": "application/xml", ".yaml": "application/yaml", ".yml": "application/yaml",
    ".toml": "application/toml", ".ini": "text/plain", ".cfg": "text/plain", ".env": "text/plain",
    ".tex": "text/x-tex", ".srt": "text/plain", ".vtt": "text/vtt",
}
_CODE_EXTENSIONS = (
    ".py .pyi .js .mjs .cjs .ts .tsx .jsx .java .kt .kts .scala .c .h .cc .cpp .cxx .hpp .hh .cs .go .rs .rb "
    ".php .swift .m .mm .r .jl .lua .pl .pm .sh .bash .zsh .fish .ps1 .bat .sql .css .scss .sass .less .vue "
    ".svelte .dart .hs .ml .mli .ex .exs .erl .clj .el .lisp .scm .f90 .zig .nim .v .sv .vhd .cmake .gradle "
    ".proto .graphql .ipynb").split()
_TEXT_TYPES.update({ext: "text/x-code" for ext in _CODE_EXTENSIONS})
_TEXT_NAMES = {"makefile": "text/x-code", "dockerfile": "text/x-code", "readme": "text/plain",
               "license": "text/plain", "changelog": "text/plain"}
_IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
                ".webp": "image/webp"}
_IMAGE_MAGIC = {"image/png": (b"\x89PNG\r\n\x1a\n",), "image/jpeg": (b"\xff\xd8\xff",),
                "image/gif": (b"GIF87a", b"GIF89a"), "image/webp": (b"RIFF",)}
PDF_TYPE = "application/pdf"


def supported_types() -> str:
    """A short list of what can be attached, for messages."""
    return "text, Markdown, code, CSV/TSV, JSON, HTML, PDF, and PNG/JPEG/GIF/WebP images"


def media_type_of(name: str, given: str | None = None) -> str | None:
    """The media type pagellm reads ``name`` as: from its extension first (browsers guess types poorly for
    code), then from ``given`` (a browser File's type) when it is text; None when unsupported.

    >>> media_type_of("main.rs"), media_type_of("data.bin", "text/plain"), media_type_of("a.docx")
    ('text/x-code', 'text/plain', None)
    """
    path = PurePath(name)
    ext = path.suffix.lower()
    if ext == ".pdf":
        return PDF_TYPE
    if ext in _IMAGE_TYPES:
        return _IMAGE_TYPES[ext]
    if ext in _TEXT_TYPES:
        return _TEXT_TYPES[ext]
    if not ext and path.name.lower() in _TEXT_NAMES:
        return _TEXT_NAMES[path.name.lower()]
    given = (given or "").split(";")[0].strip().lower()
    if given.startswith("text/") or given in ("application/json", "application/xml"):
        return given
    return None


@dataclass
class Attachment:
    """One attached file. ``kind``: "text", "pdf" or "image". ``text`` is what a model reads (empty for an
    image); ``pages`` holds each PDF page's start offset in ``text``; ``data`` is an image's base64
    bytes; ``index`` the passages of ``text`` (built on first use; vectors once embedded)."""

    name: str
    media_type: str
    size: int
    text: str = ""
    kind: str = "text"
    pages: list[int] | None = None
    data: str | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    _index: PassageIndex | None = field(default=None, repr=False, compare=False)

    # -- creation ----------------------------------------------------------------------------------
    @classmethod
    def from_bytes(cls, name: str, data: bytes, media_type: str | None = None) -> "Attachment":
        """Check ``data`` and read it; raises InputError naming the file and the reason."""
        name = PurePath(str(name or "").replace("\\", "/")).name.strip()
        if not name:
            raise InputError("An attachment needs a file name.")
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise InputError(f"{name} cannot be attached: its content must be bytes, got {type(data).__name__}.")
        data = bytes(data)
        kind_type = media_type_of(name, media_type)
        if kind_type is None:
            raise InputError(f"{name} cannot be attached: this file type is not supported.",
                             hint=f"Attach {supported_types()}.")
        if not data:
            raise InputError(f"{name} cannot be attached: the file is empty.")
        if kind_type.startswith("image/"):
            return cls._image(name, data, kind_type)
        if len(data) > MAX_FILE_BYTES:
            raise InputError(f"{name} cannot be attached: it is {_size(len(data))}, over the "
                             f"{_size(MAX_FILE_BYTES)} limit for a file.", hint="Split it, or attach the part you need.")
        if kind_type == PDF_TYPE:
            text, pages = _pdf_text(name, data)
            return cls._checked(name, kind_type, len(data), text, "pdf", pages)
        text = _decode(name, data)
        if kind_type == "text/html":
            text = html_text(text)
        return cls._checked(name, kind_type, len(data), text, "text", None)

    @classmethod
    def _checked(cls, name, media_type, size, text, kind, pages) -> "Attachment":
        if not text.strip():
            raise InputError(f"{name} cannot be attached: it holds no text.")
        if len(text) > MAX_TEXT_CHARS:
            raise InputError(f"{name} cannot be attached: its text is {len(text):,} characters, over the "
                             f"{MAX_TEXT_CHARS:,} limit.", hint="Attach a shorter part of it.")
        return cls(name, media_type, size, text, kind, pages)

    @classmethod
    def _image(cls, name: str, data: bytes, media_type: str) -> "Attachment":
        if len(data) > MAX_IMAGE_BYTES:
            raise InputError(f"{name} cannot be attached: it is {_size(len(data))}, over the "
                             f"{_size(MAX_IMAGE_BYTES)} limit for an image.", hint="Send a smaller image.")
        magic = _IMAGE_MAGIC[media_type]
        if not data.startswith(magic) or (media_type == "image/webp" and data[8:12] != b"WEBP"):
            raise InputError(f"{name} cannot be attached: it is not a {media_type.split('/')[1].upper()} image "
                             "(its first bytes do not match).")
        return cls(name, media_type, len(data), "", "image", None, base64.b64encode(data).decode())

    # -- reading -----------------------------------------------------------------------------------
    @property
    def index(self) -> PassageIndex:
        """The passages of the text (an image has none)."""
        if self._index is None:
            self._index = PassageIndex.build(self.text, self.pages, key=self.id, name=self.name)
        return self._index

    @property
    def passages(self):
        return self.index.passages

    @property
    def page_count(self) -> int | None:
        return len(self.pages) if self.pages else None

    @property
    def approx_tokens(self) -> int:
        """A rough token count (4 characters a token), for a chip; the engine counts exactly."""
        return math.ceil(len(self.text) / 4)

    def data_url(self) -> str:
        if self.kind != "image":
            raise InputError(f"{self.name} is not an image.")
        return f"data:{self.media_type};base64,{self.data}"

    # -- the saved form ----------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """{"id", "name", "media_type", "kind", "size", "text", "pages", "tokens", "index"} (+ "data" for an
        image); ``tokens`` is derived (for a chip) and ignored when read back."""
        data = {"id": self.id, "name": self.name, "media_type": self.media_type, "kind": self.kind,
                "size": self.size, "text": self.text, "pages": self.pages, "tokens": self.approx_tokens}
        if self.kind == "image":
            data["data"] = self.data
        else:
            data["index"] = self.index.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "Attachment":
        if not isinstance(data, dict):
            raise InputError("An attachment must be an object.")
        try:
            attachment = cls(name=str(data["name"]), media_type=str(data["media_type"]), size=int(data["size"]),
                             text=str(data.get("text") or ""), kind=str(data.get("kind") or "text"),
                             pages=[int(p) for p in data["pages"]] if data.get("pages") else None,
                             data=data.get("data"), id=str(data.get("id") or uuid.uuid4().hex[:16]))
        except (KeyError, TypeError, ValueError) as err:
            raise InputError(f"An attachment's saved form is damaged ({type(err).__name__}: {err}).") from None
        if attachment.kind not in ("text", "pdf", "image"):
            raise InputError(f"Unknown attachment kind {attachment.kind!r}.")
        if attachment.kind == "image" and not isinstance(attachment.data, str):
            raise InputError(f"The image {attachment.name} has no data.")
        if isinstance(data.get("index"), dict):
            attachment._index = PassageIndex.from_dict(attachment.text, data["index"], attachment.pages,
                                                       key=attachment.id, name=attachment.name)
        return attachment


# ---------------------------------------------------------------------------------------------------
# Text files.

def _decode(name: str, data: bytes) -> str:
    """UTF-8 (with or without BOM) or UTF-16 with BOM; binary data and invalid UTF-8 are refused."""
    for bom, codec in ((codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            try:
                return data.decode(codec)
            except UnicodeDecodeError:
                raise InputError(f"{name} cannot be attached: it starts like UTF-16 text but is not.") from None
    nul = data.find(b"\x00", 0, 65536)
    if nul >= 0:
        raise InputError(f"{name} cannot be attached: it holds binary data (a NUL byte at offset {nul}), not text.",
                         hint="Attach a text file, or give the file its right extension.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputError(f"{name} cannot be attached: it is not valid UTF-8 (byte {err.start} is "
                         f"0x{data[err.start]:02x}).", hint="Save it as UTF-8 and attach it again.") from None
    controls = sum(1 for ch in text[:65536] if ch < " " and ch not in "\t\n\r\f\v")
    if controls > max(8, len(text[:65536]) // 100):
        raise InputError(f"{name} cannot be attached: it holds binary data ({controls} control characters), "
                         "not text.", hint="Attach a text file, or give the file its right extension.")
    return text.replace("\r\n", "\n").replace("\r", "\n")


class _VisibleText(HTMLParser):
    BLOCKS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article", "pre",
              "blockquote", "table", "ul", "ol", "header", "footer", "hr", "dt", "dd", "title"}
    HIDDEN = {"script", "style", "template", "noscript", "svg", "head"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.HIDDEN and tag != "head":
            self.hidden += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n\n" if tag not in ("br", "li", "tr", "dt", "dd") else "\n")

    def handle_endtag(self, tag):
        if tag in self.HIDDEN and tag != "head":
            self.hidden = max(0, self.hidden - 1)
        elif tag in self.BLOCKS:
            self.parts.append("\n\n" if tag not in ("br", "li", "tr", "dt", "dd") else "\n")

    def handle_data(self, data):
        if not self.hidden:
            self.parts.append(data)


def html_text(html: str) -> str:
    """The visible text of an HTML document: scripts and styles dropped, blocks on their own lines.

    >>> html_text("<h1>Title</h1><p>One <b>two</b></p><script>alert(1)</script><p>three</p>")
    'Title\\n\\nOne two\\n\\nthree'
    """
    parser = _VisibleText()
    parser.feed(html)
    parser.close()
    text = "".join(parser.parts)
    text = re.sub(r"[ \t\f\v]+", " ", text)
    text = re.sub(r" *\n *", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


# ---------------------------------------------------------------------------------------------------
# PDF.

def _pdf_text(name: str, data: bytes) -> tuple[str, list[int]]:
    """The text of every page (pypdf), joined with blank lines, and each page's start offset."""
    if not data.lstrip()[:5].startswith(b"%PDF-"):
        raise InputError(f"{name} cannot be attached: it is not a PDF (it does not start with %PDF-).")
    try:
        from pypdf import PdfReader
        from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError
    except ImportError:
        raise InputError(f"{name} cannot be attached: reading PDFs needs the pypdf package.",
                         hint="pip install pypdf==7.1.0") from None
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise FileNotDecryptedError("password")
        texts = [_page_text(page) for page in reader.pages]
    except (FileNotDecryptedError, DependencyError):
        raise InputError(f"{name} cannot be attached: the PDF is encrypted (password-protected).",
                         hint="Save an unprotected copy (print to PDF) and attach that.") from None
    except InputError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError) as err:
        raise InputError(f"{name} cannot be attached: the PDF is damaged or not readable ({type(err).__name__}).") from None
    if not texts:
        raise InputError(f"{name} cannot be attached: the PDF has no pages.")
    if sum(ch.isalnum() for t in texts for ch in t) < MIN_PDF_LETTERS * len(texts):
        raise InputError(f"{name} cannot be attached: the PDF has no text layer (a scan or images of pages).",
                         hint="Run it through OCR first, or attach the text.")
    pages, parts, offset = [], [], 0
    for text in texts:
        pages.append(offset)
        parts.append(text)
        offset += len(text) + 2
    return "\n\n".join(parts), pages


def _page_text(page) -> str:
    text = page.extract_text() or ""
    # pypdf keeps a line break at every line end of the layout; paragraphs stay split by blank lines.
    text = text.replace("\r\n", "\n").replace("\x00", "")
    return re.sub(r"[ \t]+\n", "\n", text).strip()


def _size(count: int) -> str:
    return f"{count / 1024 / 1024:.1f} MB" if count >= 1024 * 1024 else f"{count / 1024:.0f} KB"
