"""Where this Python runs: the base URL of the site that serves pagellm's files (Pyodide only).

    base = page_base_url()   # e.g. "https://me.github.io/pagellm/"

Three places are known: the page itself, a PyScript worker of the page (its location is a blob: URL, so
the page is asked), and a JupyterLite kernel of the site's lab (`lab/`), whose location is the kernel
worker's script deep inside the lab:

    >>> site_root("https://me.github.io/pagellm/lab/extensions/@jupyterlite/pyodide-kernel-extension/static/coincident.worker.1.js")
    'https://me.github.io/pagellm/'
    >>> site_root("http://127.0.0.1:8000/index.html?model=tiny-random")
    'http://127.0.0.1:8000/'
"""

from __future__ import annotations

from .errors import SiteError

# The kernel's worker script lives here inside a JupyterLite build; the lab is one folder below the site.
KERNEL_STATIC = "/extensions/@jupyterlite/pyodide-kernel-extension/static/"
_override: str | None = None


def site_root(href: str) -> str:
    """The site's base URL for a location: the folder of a page, the site above a lab's kernel."""
    href = href.split("?")[0].split("#")[0]
    if "://" not in href or href.startswith("blob:"):
        raise SiteError(f"pagellm cannot tell the site's address from {href!r}.",
                        hint="Pass site_url='https://…/' (the address of a pagellm build) or call "
                             "pagellm.site.use_site('https://…/').")
    if KERNEL_STATIC in href:
        lite_root = href.split(KERNEL_STATIC, 1)[0]  # …/pagellm/lab
        return lite_root.rsplit("/", 1)[0] + "/"
    return href.rsplit("/", 1)[0] + "/"


def use_site(url: str | None) -> None:
    """Name the site explicitly (for a kernel or page that is not part of a pagellm build); None forgets it."""
    global _override
    if url is not None and not url.startswith(("http://", "https://")):
        raise SiteError(f"{url!r} is not a web address: give the http(s) URL a pagellm build is served at.")
    _override = None if url is None else url.rstrip("/") + "/"


def page_base_url() -> str:
    """The site's base URL: in a worker `js.location` is a blob: URL, so ask the page."""
    if _override:
        return _override
    try:
        import js
    except ImportError:
        raise SiteError("There is no page here: pagellm finds its site only inside a browser (Pyodide).",
                        hint="On CPython use RemoteEngine, or pass site_url.") from None
    href = str(js.location.href)
    if href.startswith("blob:"):
        try:
            from pyscript import window  # needs cross-origin isolation; the page passes site_url otherwise

            href = str(window.location.href)
        except Exception as err:
            raise SiteError(f"This PyScript worker cannot read its page's address ({type(err).__name__}).",
                            hint="Pass site_url='https://…/' (the address of the pagellm build).") from None
    return site_root(href)
