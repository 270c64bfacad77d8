"""Where this Python runs: the base URL of the site that serves pagellm's files (Pyodide only).

    base = page_base_url()   # e.g. "https://me.github.io/pagellm/"
"""

from __future__ import annotations


def page_base_url() -> str:
    """The site's base URL: in a worker `js.location` is a blob: URL, so ask the page."""
    import js

    href = str(js.location.href)
    if href.startswith("blob:"):
        from pyscript import window  # needs cross-origin isolation; the page passes site_url otherwise

        href = str(window.location.href)
    return href.split("?")[0].split("#")[0].rsplit("/", 1)[0] + "/"
