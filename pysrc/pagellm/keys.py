"""API keys tied to the endpoint they were entered for.

    >>> ring = KeyRing()
    >>> ring.set("https://API.openai.com:443/v1/", "sk-test-1234567890abcd")
    >>> ring.get("https://api.openai.com/v1") == "sk-test-1234567890abcd"
    True
    >>> ring.get("https://evil.example/v1") is None      # never handed to another endpoint
    True
    >>> ring
    KeyRing({'https://api.openai.com/v1': 'sk-…abcd'})

A key belongs to one normalised endpoint (scheme, host, port and path; no query, fragment or
user info). Keys stay in memory unless set with ``remember=True``; ``remembered()`` lists only
those, for the page to persist, and ``restore()`` takes them back. Nothing here logs or prints a
key: ``repr`` and ``str`` show ``mask(key)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from .errors import BadURLError

__all__ = ["KeyRing", "endpoint_of", "mask", "redact"]

_DEFAULT_PORTS = {"http": 80, "https": 443}
_KNOWN_PREFIXES = ("sk-ant-", "sk-", "hf_", "gsk_", "fw_")  # shown by mask(): they say which kind of key


def endpoint_of(base_url: str) -> str:
    """The identity a key is tied to: ``scheme://host[:port]/path`` in a canonical form."""
    text = (base_url or "").strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise BadURLError(f"{text!r} is not a valid URL.") from None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host:
        raise BadURLError("A key can only be tied to an http:// or https:// URL with a host.")
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = parts.path.rstrip("/")
    return f"{scheme}://{netloc}{path}"


def mask(key: str | None) -> str:
    """A key as it may be shown: a short prefix kind and the last four characters at most."""
    if not key:
        return "(none)"
    if len(key) < 16:
        return "•" * 4
    prefix = next((p for p in _KNOWN_PREFIXES if key.startswith(p)), "")
    return f"{prefix}…{key[-4:]}"


def redact(text: str, *secrets: str | None) -> str:
    """``text`` with every secret (and any long piece of one) replaced by a mask."""
    for secret in secrets:
        if not secret:
            continue
        text = text.replace(secret, mask(secret))
        if len(secret) >= 16:  # servers often echo part of a key: hide any 12-char run of it
            for start in range(0, len(secret) - 11):
                piece = secret[start:start + 12]
                if piece in text:
                    text = text.replace(piece, "…")
    return text


@dataclass
class _Entry:
    secret: str
    remember: bool

    def __repr__(self) -> str:
        return f"_Entry({mask(self.secret)!r}, remember={self.remember})"


class KeyRing:
    """Holds at most one key per endpoint."""

    def __init__(self) -> None:
        self._keys: dict[str, _Entry] = {}

    def set(self, base_url: str, key: str | None, *, remember: bool = False) -> None:
        """Tie ``key`` to ``base_url``; an empty key forgets the endpoint's key."""
        endpoint = endpoint_of(base_url)
        key = (key or "").strip()
        if not key:
            self._keys.pop(endpoint, None)
            return
        if any(ch.isspace() for ch in key) or not key.isprintable():
            raise BadURLError("The API key contains spaces or invisible characters: paste it again.")
        self._keys[endpoint] = _Entry(key, remember)

    def get(self, base_url: str) -> str | None:
        """The key entered for exactly this endpoint, else None."""
        try:
            entry = self._keys.get(endpoint_of(base_url))
        except BadURLError:
            return None
        return entry.secret if entry else None

    def has(self, base_url: str) -> bool:
        return self.get(base_url) is not None

    def is_remembered(self, base_url: str) -> bool:
        try:
            entry = self._keys.get(endpoint_of(base_url))
        except BadURLError:
            return False
        return bool(entry and entry.remember)

    def forget(self, base_url: str) -> None:
        self._keys.pop(endpoint_of(base_url), None)

    def clear(self) -> None:
        self._keys.clear()

    def remembered(self) -> dict[str, str]:
        """Endpoint -> key for the keys the user asked to keep on this device (to persist)."""
        return {endpoint: e.secret for endpoint, e in self._keys.items() if e.remember}

    def restore(self, saved: dict[str, str]) -> None:
        """Load keys persisted from ``remembered()``; entries that are not valid are skipped."""
        for endpoint, key in (saved or {}).items():
            try:
                self.set(endpoint, key, remember=True)
            except BadURLError:
                continue

    def endpoints(self) -> list[str]:
        return list(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"KeyRing({ {endpoint: mask(e.secret) for endpoint, e in self._keys.items()} !r})"

    __str__ = __repr__

    def __getstate__(self):  # keep keys out of pickles and copies made for logging
        raise TypeError("A KeyRing cannot be pickled; persist remembered() explicitly.")
