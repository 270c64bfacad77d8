"""Messages and conversations: validation, history, and trimming to a model's context.

    >>> chat = Conversation(system_prompt="Be brief.")
    >>> _ = chat.add_user("What is the capital of France?")
    >>> _ = chat.add_assistant("Paris.")
    >>> [m["role"] for m in chat.for_model()]
    ['system', 'user', 'assistant']
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Callable

from .errors import ContextOverflowError, InputError

ROLES = ("system", "user", "assistant")
# How a message ended: "complete", or kept partial after the user stopped it, a reload cut it,
# or an error ended it. Only "error" notices are left out of what the model sees.
STATUSES = ("complete", "stopped", "interrupted", "error")
MAX_MESSAGE_CHARS = 200_000


@dataclass
class Message:
    role: str
    content: str
    status: str = "complete"
    created: float = field(default_factory=time.time)
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.role not in ROLES:
            raise InputError(f"Unknown message role {self.role!r}: use one of {', '.join(ROLES)}.")
        if not isinstance(self.content, str):
            raise InputError(f"A {self.role} message must be text, got {type(self.content).__name__}.")
        if len(self.content) > MAX_MESSAGE_CHARS:
            raise InputError(f"A message may hold at most {MAX_MESSAGE_CHARS:,} characters.")
        if self.status not in STATUSES:
            raise InputError(f"Unknown message status {self.status!r}.")

    def to_openai(self) -> dict:
        return {"role": self.role, "content": self.content}

    def to_dict(self) -> dict:
        data = {"role": self.role, "content": self.content, "status": self.status, "created": self.created}
        if self.meta:
            data["meta"] = self.meta
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "Message":
        if not isinstance(data, dict) or "role" not in data or "content" not in data:
            raise InputError("Each message needs a 'role' and a 'content'.")
        return cls(
            role=data["role"],
            content=data["content"],
            status=data.get("status", "complete"),
            created=float(data.get("created") or time.time()),
            meta=dict(data.get("meta") or {}),
        )


@dataclass
class ContextFit:
    """What a model reads of a conversation: the messages, their tokens, and how many were left out."""

    messages: list[dict]
    used: int
    left_out: int


@dataclass
class Conversation:
    messages: list[Message] = field(default_factory=list)
    system_prompt: str = ""
    title: str = ""
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def add_user(self, text: str) -> Message:
        if not isinstance(text, str) or not text.strip():
            raise InputError("Type a message first: an empty prompt cannot be sent.")
        message = Message("user", text)
        self.messages.append(message)
        if not self.title:
            self.title = " ".join(text.split())[:60]
        return message

    def add_assistant(self, text: str = "", status: str = "complete") -> Message:
        message = Message("assistant", text, status=status)
        self.messages.append(message)
        return message

    @property
    def last(self) -> Message | None:
        return self.messages[-1] if self.messages else None

    def drop_last_reply(self) -> None:
        """Remove the trailing assistant message(s), so the last user turn can be answered again."""
        while self.messages and self.messages[-1].role == "assistant":
            self.messages.pop()
        if not self.messages or self.messages[-1].role != "user":
            raise InputError("There is no question to answer again.")

    def for_model(self) -> list[dict]:
        """The OpenAI-format messages a model sees: system prompt first, no error notices."""
        out = [{"role": "system", "content": self.system_prompt}] if self.system_prompt.strip() else []
        out += [m.to_openai() for m in self.messages if m.status != "error" and m.content]
        return out

    def trimmed(self, count_tokens: Callable[[list[dict]], int], limit: int) -> list[dict]:
        """Drop the oldest turns until ``count_tokens(messages) <= limit`` (see ``fit``)."""
        return self.fit(count_tokens, limit).messages

    def fit(self, count_tokens: Callable[[list[dict]], int], limit: int) -> "ContextFit":
        """The messages the model reads within ``limit`` tokens: the oldest turns are left out first.

        The system prompt and the latest user message are always kept; when even those do not fit,
        the conversation cannot be sent and the error says by how much.

        >>> chat = Conversation(system_prompt="S")
        >>> for text in ("one two", "three four", "five"):
        ...     _ = chat.add_user(text); _ = chat.add_assistant("ok")
        >>> words = lambda messages: sum(len(m["content"].split()) for m in messages)
        >>> fit = chat.fit(words, 6)
        >>> fit.used, fit.left_out, [m["content"] for m in fit.messages]
        (6, 2, ['S', 'three four', 'ok', 'five', 'ok'])
        """
        messages = self.for_model()
        head = messages[:1] if messages and messages[0]["role"] == "system" else []
        body = messages[len(head):]
        while True:
            used = count_tokens(head + body)
            if used <= limit:
                return ContextFit(head + body, used, len(messages) - len(head) - len(body))
            if len(body) <= 1:
                raise ContextOverflowError(
                    f"The message needs {used} tokens but the model's context holds {limit}.",
                    hint="Shorten the message or the system prompt, or start a new chat.",
                )
            body = body[1:]
            while len(body) > 1 and body[0]["role"] != "user":  # start on a user turn
                body = body[1:]

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "title": self.title,
            "system_prompt": self.system_prompt,
            "messages": [m.to_dict() for m in self.messages],
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Conversation":
        if not isinstance(data, dict) or not isinstance(data.get("messages", []), list):
            raise InputError("A conversation must be an object with a 'messages' list.")
        return cls(
            messages=[Message.from_dict(m) for m in data.get("messages", [])],
            system_prompt=str(data.get("system_prompt") or ""),
            title=str(data.get("title") or ""),
            id=str(data.get("id") or uuid.uuid4().hex),
        )


SUMMARY_INSTRUCTION = ("Summarize the conversation below in a few sentences: the facts, decisions and open "
                       "questions someone would need to carry it on. Write only the summary.")


def summary_request(conversation: Conversation, max_chars: int = 6000) -> Conversation:
    """A one-question conversation asking a model to summarize ``conversation`` (its latest
    ``max_chars`` characters when it is longer); the transcript is marked as data, not instructions.

    >>> chat = Conversation()
    >>> _ = chat.add_user("Plan a trip to Lyon."); _ = chat.add_assistant("Take the train.")
    >>> print(summary_request(chat).messages[0].content.splitlines()[1])
    User: Plan a trip to Lyon.
    """
    lines = [f"{'User' if m['role'] == 'user' else 'Assistant'}: {m['content']}"
             for m in conversation.for_model() if m["role"] != "system"]
    if not lines:
        raise InputError("There is nothing to summarize yet: this chat has no messages.")
    transcript = "\n\n".join(lines)
    if len(transcript) > max_chars:
        transcript = "…" + transcript[-max_chars:]
    request = Conversation(system_prompt=SUMMARY_INSTRUCTION)
    request.add_user(f"<conversation>\n{transcript}\n</conversation>")
    return request

