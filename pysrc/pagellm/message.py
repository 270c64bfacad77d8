"""One message of a conversation: its role, text, status, attached files and metadata, and its saved form.

    >>> m = Message("user", "Hi")
    >>> Message.from_dict(m.to_dict()) == m
    True
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from .attachments import Attachment
from .errors import InputError

ROLES = ("system", "user", "assistant")
# How a message ended: "complete", or kept partial after the user stopped it, a reload cut it,
# or an error ended it. Only "error" notices are left out of what the model sees.
STATUSES = ("complete", "stopped", "interrupted", "error")
MAX_MESSAGE_CHARS = 200_000


def new_id() -> str:
    return uuid.uuid4().hex[:16]


@dataclass
class Message:
    role: str
    content: str
    status: str = "complete"
    created: float = field(default_factory=time.time)
    meta: dict = field(default_factory=dict)
    id: str = field(default_factory=new_id)
    parent: str | None = None
    attachments: list[Attachment] = field(default_factory=list)

    def __post_init__(self):
        if self.role not in ROLES:
            raise InputError(f"Unknown message role {self.role!r}: use one of {', '.join(ROLES)}.")
        if not isinstance(self.content, str):
            raise InputError(f"A {self.role} message must be text, got {type(self.content).__name__}.")
        if len(self.content) > MAX_MESSAGE_CHARS:
            raise InputError(f"A message may hold at most {MAX_MESSAGE_CHARS:,} characters.")
        if self.status not in STATUSES:
            raise InputError(f"Unknown message status {self.status!r}.")
        if not isinstance(self.id, str) or not self.id:
            raise InputError(f"A message id must be a non-empty string, got {self.id!r}.")
        if self.attachments and self.role != "user":
            raise InputError(f"Only a user message can carry attachments, not a {self.role} message.")

    @property
    def cut(self) -> bool:
        """A reply that ended early: stopped, interrupted, or at the token limit; ``continue_reply`` carries it on."""
        if self.role != "assistant" or not self.content:
            return False
        return self.status in ("stopped", "interrupted") or (
            self.status == "complete" and (self.meta.get("stats") or {}).get("finish_reason") == "length")

    def to_openai(self) -> dict:
        return {"role": self.role, "content": self.content}

    def to_dict(self) -> dict:
        data = {"id": self.id, "parent": self.parent, "role": self.role, "content": self.content,
                "status": self.status, "created": self.created}
        if self.meta:
            data["meta"] = self.meta
        if self.attachments:
            data["attachments"] = [a.to_dict() for a in self.attachments]
        return data

    @classmethod
    def from_dict(cls, data: dict, *, id: str | None = None, parent: str | None = None) -> "Message":
        """A message from its saved form; ``id`` and ``parent``, when given, replace the saved ones (v1 data has none)."""
        if not isinstance(data, dict) or "role" not in data or "content" not in data:
            raise InputError("Each message needs a 'role' and a 'content'.")
        try:
            created = float(data.get("created") or time.time())
        except (TypeError, ValueError):
            raise InputError(f"A message's 'created' must be a time in seconds, got {data.get('created')!r}.") from None
        if not isinstance(data.get("meta") or {}, dict):
            raise InputError("A message's 'meta' must be an object.")
        if not isinstance(data.get("attachments") or [], list):
            raise InputError("A message's 'attachments' must be a list.")
        return cls(
            role=data["role"],
            content=data["content"],
            status=data.get("status", "complete"),
            created=created,
            meta=dict(data.get("meta") or {}),
            id=id if id is not None else data.get("id"),
            parent=parent if id is not None else data.get("parent"),
            attachments=[Attachment.from_dict(a) for a in data.get("attachments") or []],
        )
