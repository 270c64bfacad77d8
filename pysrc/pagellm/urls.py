"""Endpoint URLs: the canonical base URL, the host a message names, and where a host lives.

    >>> validate_base_url(" HTTP://localhost:11434/v1/ ")
    'http://localhost:11434/v1'
    >>> validate_base_url("localhost:8080/v1")
    Traceback (most recent call last):
    ...
    pagellm.errors.BadURLError: The base URL needs http:// or https:// at the start. Did you mean http://localhost:8080/v1?
    >>> host_of("https://api.openai.com/v1")
    'api.openai.com:443'
    >>> is_loopback("http://127.0.0.2:8080/v1"), is_private("http://192.168.1.2/v1"), is_private("https://api.openai.com/v1")
    (True, True, False)
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from .errors import BadURLError

__all__ = ["validate_base_url", "host_of", "host_port", "hostname", "is_loopback", "is_private"]

DEFAULT_PORTS = {"http": 80, "https": 443}
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")
# What users paste after the base URL: the base stops before these.
_ENDPOINT_SUFFIXES = ("/chat/completions", "/completions", "/models")
_LAN_PREFIXES = ("localhost", "127.", "0.0.0.0", "[::1]", "192.168.", "10.")


def validate_base_url(url: str) -> str:
    """The base URL in canonical form (lower-case scheme, no trailing slash), or BadURLError saying what is wrong."""
    text = (url or "").strip()
    if not text:
        raise BadURLError("Enter the server's base URL.", hint="For example http://localhost:11434/v1 for Ollama.")
    if any(ch.isspace() for ch in text):
        raise BadURLError(f"The base URL {text!r} contains a space.", hint="Remove the spaces (copy the URL again).")
    match = _SCHEME.match(text)
    if not match:
        guess = ("http://" if text.startswith(_LAN_PREFIXES) else "https://") + text.lstrip("/:")
        raise BadURLError("The base URL needs http:// or https:// at the start.", hint=f"Did you mean {guess}?")
    scheme = match.group(1).lower()
    if scheme not in DEFAULT_PORTS:
        raise BadURLError(f"The base URL must start with http:// or https://, not {scheme}://.")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise BadURLError(f"The base URL {text!r} is not valid: {exc}.",
                          hint="The port must be a number from 1 to 65535.") from None
    if not parts.hostname:
        raise BadURLError(f"The base URL {text!r} has no host name.", hint="For example https://api.openai.com/v1.")
    if parts.username is not None or parts.password is not None:
        raise BadURLError("The base URL must not contain a user name or password.",
                          hint="Put the API key in the API key field (or its environment variable), not in the URL.")
    if parts.query or parts.fragment:
        raise BadURLError("The base URL must not contain a query (?...) or a fragment (#...).",
                          hint="Remove everything from the ? or # on.")
    if port == 0:
        raise BadURLError("The base URL's port must be a number from 1 to 65535.")
    path = parts.path.rstrip("/")
    for suffix in _ENDPOINT_SUFFIXES:
        if path.endswith(suffix):
            raise BadURLError(f"The base URL should stop before {suffix}.",
                              hint=f"Use {scheme}://{parts.netloc}{path[: -len(suffix)]}")
    return f"{scheme}://{parts.netloc}{path}"


def hostname(url: str) -> str:
    """The URL's host in lower case ("" when there is none or the URL cannot be read)."""
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def host_port(url: str) -> tuple[str, int | None]:
    """(host in lower case, port with the scheme's default filled in); ("", None) for an unreadable URL."""
    try:
        parts = urlsplit(url)
        return (parts.hostname or "").lower(), parts.port or DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        return "", None


def host_of(url: str) -> str:
    """``host:port`` of a URL, for messages (the default port is shown too: it is often the mistake)."""
    host, port = host_port(url)
    if not host:
        return url
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{port}" if port else host


def is_loopback(url: str) -> bool:
    """localhost, *.localhost, 127.0.0.0/8 and ::1: what browsers treat as potentially trustworthy."""
    host = hostname(url)
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_private(url: str) -> bool:
    """A loopback, LAN (RFC 1918, link-local) or .local host."""
    host = hostname(url)
    if is_loopback(url) or host.endswith(".local"):
        return True
    try:
        return ipaddress.ip_address(host).is_private
    except ValueError:
        return False
