"""The headers and MIME types the site's files are served with, by ``build.py serve`` and by the service worker.

    >>> content_type("models/tiny-random/onnx/model_q4.onnx")
    'application/octet-stream'
    >>> content_type("pyodide/pyodide.asm.wasm")
    'application/wasm'
    >>> ISOLATION_HEADERS["Cross-Origin-Embedder-Policy"]
    'credentialless'

Static hosts such as GitHub Pages send no headers of their own choosing, so the service worker adds
these to every response it serves; the build writes ``for_service_worker()`` into it.
"""

from __future__ import annotations

__all__ = ["ISOLATION_HEADERS", "MIME_TYPES", "content_type", "for_service_worker"]

# Cross-origin isolation (threads in WebAssembly). credentialless, not require-corp: isolated all the
# same, and a no-cors probe of a remote endpoint still gets through (how a CORS refusal is told from a
# dead host).
ISOLATION_HEADERS: dict[str, str] = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "credentialless",
    "Cross-Origin-Resource-Policy": "same-origin",
}

# File extension (no dot) -> Content-Type. Anything else is served as application/octet-stream.
MIME_TYPES: dict[str, str] = {
    "html": "text/html", "js": "text/javascript", "mjs": "text/javascript", "css": "text/css",
    "json": "application/json", "wasm": "application/wasm", "zip": "application/zip", "gz": "application/gzip",
    "whl": "application/octet-stream", "onnx": "application/octet-stream", "py": "text/plain",
    "toml": "text/plain", "txt": "text/plain", "md": "text/markdown", "ipynb": "application/json",
    "webmanifest": "application/manifest+json", "svg": "image/svg+xml", "png": "image/png", "ico": "image/x-icon",
    "woff": "font/woff", "woff2": "font/woff2", "ttf": "font/ttf",
}
DEFAULT_TYPE = "application/octet-stream"


def content_type(path: str) -> str:
    """The Content-Type a file of the site is served with."""
    name = path.rsplit("/", 1)[-1]
    return MIME_TYPES.get(name.rsplit(".", 1)[-1].lower(), DEFAULT_TYPE) if "." in name else DEFAULT_TYPE


def for_service_worker() -> dict:
    """What the service worker needs of this table, as JSON: ``{"isolation": {...}, "types": {...}}``."""
    return {"isolation": dict(ISOLATION_HEADERS), "types": dict(MIME_TYPES)}
