"""API keys in text: how a key may be shown, and how it is taken out of what a server says.

    >>> mask("sk-test-1234567890abcd")
    'sk-…abcd'
    >>> redact("Incorrect API key provided: sk-test-1234567890abcd", "sk-test-1234567890abcd")
    'Incorrect API key provided: sk-…abcd'

Error messages, ``repr``s and logs show keys only through ``mask``. The page keeps the keys the user
types (per base URL); the terminal client reads them from environment variables (``pagellm.cli``).
"""

from __future__ import annotations

__all__ = ["mask", "redact"]

_KNOWN_PREFIXES = ("sk-ant-", "sk-", "hf_", "gsk_", "fw_")  # shown by mask(): they say which kind of key


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
