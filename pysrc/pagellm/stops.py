"""Stop strings over a stream of text pieces: text is released as soon as it cannot begin a stop string.

    >>> stops = StopStrings(["\\nUser:"])
    >>> stops.feed("Hello\\nUs")
    ('Hello', False)
    >>> stops.feed("er: hi")
    ('', True)
"""

from __future__ import annotations


class StopStrings:
    def __init__(self, stop: tuple[str, ...] | list[str] = ()):
        self.stop = tuple(s for s in stop if s)
        self._held = ""

    def feed(self, piece: str) -> tuple[str, bool]:
        """Returns (text safe to show, whether a stop string was hit). After a hit, drop the rest."""
        if not self.stop:
            return piece, False
        text = self._held + piece
        hits = [text.find(s) for s in self.stop if s in text]
        if hits:
            self._held = ""
            return text[: min(hits)], True
        keep = self._longest_partial(text)
        self._held = text[len(text) - keep:] if keep else ""
        return text[: len(text) - keep], False

    def flush(self) -> str:
        held, self._held = self._held, ""
        return held

    def _longest_partial(self, text: str) -> int:
        """Length of the longest tail of text that is a proper prefix of a stop string."""
        best = 0
        for s in self.stop:
            for size in range(min(len(s) - 1, len(text)), best, -1):
                if s.startswith(text[-size:]):
                    best = size
                    break
        return best
