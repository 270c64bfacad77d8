"""Generation settings: one strict, validated record shared by every engine.

    >>> GenerationSettings.from_dict({"temperature": 0, "max_new_tokens": 32}).greedy
    True
    >>> BOUNDS["temperature"]
    Bound(low=0.0, high=2.0, step=0.1, kind=<class 'float'>)
    >>> form_bounds()["max_new_tokens"]
    {'min': 1, 'max': 32768, 'step': 1, 'default': 256}
    >>> GenerationSettings.from_dict({"temprature": 1})
    Traceback (most recent call last):
    ...
    pagellm.errors.SettingsError: temprature is not a setting: use one of temperature, top_p, top_k, max_new_tokens, repetition_penalty, stop, seed, speculative
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import NamedTuple

from .errors import SettingsError

__all__ = ["GenerationSettings", "BOUNDS", "Bound", "MAX_STOP_STRINGS", "form_bounds"]


class Bound(NamedTuple):
    """A numeric setting's inclusive range, the step a form offers, and the number type it takes."""

    low: float
    high: float
    step: float
    kind: type


BOUNDS: dict[str, Bound] = {
    "temperature": Bound(0.0, 2.0, 0.1, float),
    "top_p": Bound(0.0, 1.0, 0.05, float),
    "top_k": Bound(0, 1000, 1, int),
    "max_new_tokens": Bound(1, 32768, 1, int),
    "repetition_penalty": Bound(0.5, 2.0, 0.05, float),
}
MAX_STOP_STRINGS = 8


@dataclass(frozen=True)
class GenerationSettings:
    temperature: float = 0.7
    top_p: float = 0.95
    top_k: int = 40
    max_new_tokens: int = 256
    repetition_penalty: float = 1.1
    stop: tuple[str, ...] = ()
    seed: int | None = None
    speculative: bool = True  # local replies draft from the conversation (pagellm.speculative)

    def __post_init__(self):
        for name, (low, high, _, kind) in BOUNDS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise SettingsError(name, f"must be a number, got {value!r}")
            if kind is int and value != int(value):
                raise SettingsError(name, f"must be a whole number, got {value}")
            if not math.isfinite(value) or not low <= value <= high:
                raise SettingsError(name, f"must be between {low:g} and {high:g}, got {value:g}")
            object.__setattr__(self, name, kind(value))
        stop = (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)
        if len(stop) > MAX_STOP_STRINGS or not all(isinstance(s, str) and s for s in stop):
            raise SettingsError("stop", f"must be at most {MAX_STOP_STRINGS} non-empty strings")
        object.__setattr__(self, "stop", stop)
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0):
            raise SettingsError("seed", f"must be a whole number of 0 or more, got {self.seed!r}")
        if not isinstance(self.speculative, bool):
            raise SettingsError("speculative", f"must be true or false, got {self.speculative!r}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    @classmethod
    def from_dict(cls, data: dict | None) -> "GenerationSettings":
        data = dict(data or {})
        known = [f.name for f in fields(cls)]
        for name in data:
            if name not in known:
                raise SettingsError(name, f"is not a setting: use one of {', '.join(known)}")
        for name, (_, _, _, kind) in BOUNDS.items():  # accept numbers typed into a form as text
            if isinstance(data.get(name), str):
                try:
                    data[name] = kind(float(data[name])) if kind is int and float(data[name]).is_integer() else float(data[name])
                except ValueError:
                    raise SettingsError(name, f"must be a number, got {data[name]!r}") from None
        if isinstance(data.get("speculative"), str):  # the form's choice
            data["speculative"] = {"on": True, "off": False}.get(data["speculative"], data["speculative"])
        if data.get("seed") in ("", None):
            data.pop("seed", None)
        return cls(**data)

    def replace(self, **changes) -> "GenerationSettings":
        return GenerationSettings.from_dict({**self.to_dict(), **changes})

    def to_dict(self) -> dict:
        data = asdict(self)
        data["stop"] = list(self.stop)
        return data


def form_bounds() -> dict[str, dict]:
    """Each numeric setting's ``min``, ``max``, ``step`` and ``default``, as the page's form takes them (JSON)."""
    defaults = GenerationSettings()
    return {name: {"min": b.low, "max": b.high, "step": b.step, "default": getattr(defaults, name)}
            for name, b in BOUNDS.items()}
