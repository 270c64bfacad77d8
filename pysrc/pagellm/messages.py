"""Messages and conversations: a tree of messages, the path the chat shows, and trimming to a context.

Every message has an ``id`` and a ``parent``. Editing a message or answering it again adds a sibling
instead of replacing anything, so a conversation is a tree; the chat shows one path through it, from
the first message to ``current``, and that path is what a model reads.

    >>> chat = Conversation(system_prompt="Be brief.")
    >>> question = chat.add_user("What is the capital of France?")
    >>> _ = chat.add_assistant("Paris.")
    >>> [m["role"] for m in chat.for_model()]
    ['system', 'user', 'assistant']
    >>> _ = chat.edit(question.id, "And of Spain?"); _ = chat.add_assistant("Madrid.")
    >>> [m.content for m in chat.messages], chat.position(chat.messages[0].id)
    (['And of Spain?', 'Madrid.'], (2, 2))
    >>> _ = chat.switch(chat.messages[0].id, -1)
    >>> [m.content for m in chat.messages]
    ['What is the capital of France?', 'Paris.']

A user message can carry attached files (``attach`` them, then ``add_user``): the model reads them whole
when they fit, else the passages retrieved for the question (see ``pagellm.grounding``):

    >>> chat = Conversation()
    >>> _ = chat.attach("notes.txt", b"The train leaves at 9:40.")
    >>> question = chat.add_user("When does the train leave?")
    >>> [a.name for a in question.attachments], chat.model_input().citations["mode"]
    (['notes.txt'], 'whole')
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from .attachments import MAX_FILE_BYTES, Attachment
from .errors import ContextOverflowError, InputError
from .grounding import Budget, Grounded, ground
from .message import Message
from .message_tree import MessageTree

# The saved form: 1 was a flat list of messages; 2 is the tree (every message has an id and a parent).
SAVED_VERSION = 2


@dataclass
class ContextFit:
    """What a model reads of a conversation: the messages, their tokens, and how many were left out."""

    messages: list[dict]
    used: int
    left_out: int
    citations: dict | None = None   # what the reply's meta["citations"] records (pagellm.grounding)


class Conversation(MessageTree):
    """A tree of messages and the path through it the chat shows (see the module's example)."""

    def __init__(self, messages: list[Message] | None = None, system_prompt: str = "", title: str = "",
                 id: str | None = None, pinned: bool = False, used: float = 0.0):
        self.system_prompt = system_prompt
        self.title = title
        self.id = id or uuid.uuid4().hex
        self.pinned = pinned
        self.used = used              # when the chat was last used (seconds), for sorting the list
        self.pending: list[Attachment] = []       # attached, waiting for the next add_user (not saved)
        # The latest question's embedding and the model it came from, set by whoever embeds (not saved);
        # without it passages are ranked by BM25 alone.
        self.query_vector: Sequence[float] | None = None
        self.embedding_model: str | None = None
        super().__init__(messages)

    def __eq__(self, other) -> bool:
        return isinstance(other, Conversation) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"Conversation(id={self.id!r}, title={self.title!r}, {len(self._nodes)} messages)"

    # ------------------------------------------------------------------------------------------
    # Adding and changing: each keeps user and assistant turns alternating along the path.
    def attach(self, name: str, data: bytes, media_type: str | None = None) -> Attachment:
        """Check and read a file for the next user message (``add_user`` takes it); InputError names the
        file and the reason when it cannot be attached, and nothing is attached then."""
        attachment = Attachment.from_bytes(name, data, media_type)
        self.pending.append(attachment)
        return attachment

    def attach_file(self, path: "str | Path") -> Attachment:
        """``attach`` a file from disk (CPython)."""
        path = Path(path)
        try:
            size = path.stat().st_size
            if size > MAX_FILE_BYTES:  # refused unread: the same message Attachment.from_bytes gives
                raise InputError(f"{path.name} cannot be attached: it is {size / 1024 / 1024:.1f} MB, over the "
                                 f"{MAX_FILE_BYTES / 1024 / 1024:.1f} MB limit for a file.",
                                 hint="Split it, or attach the part you need.")
            data = path.read_bytes()
        except OSError as err:
            raise InputError(f"{path.name} cannot be attached: {err.strerror or err}.") from None
        return self.attach(path.name, data)

    def detach(self, attachment_id: str) -> Attachment:
        """Remove a pending attachment before the message is sent."""
        for attachment in self.pending:
            if attachment.id == attachment_id:
                self.pending.remove(attachment)
                return attachment
        raise InputError(f"No pending attachment {attachment_id!r}.")

    def add_user(self, text: str, attachments: list[Attachment] | None = None) -> Message:
        """Add a question; it carries ``attachments`` (default: the pending ones, which are then cleared)."""
        if not isinstance(text, str) or not text.strip():
            raise InputError("Type a message first: an empty prompt cannot be sent.")
        files = list(self.pending if attachments is None else attachments)
        if self.last is not None and self.last.role == "user":
            # A question left unanswered (a reload before the first word): mark it, so turns alternate.
            self._attach(Message("assistant", "", status="interrupted"), self.current)
        message = self._attach(Message("user", text, attachments=files), self.current)
        if attachments is None:
            self.pending = []
        if not self.title:
            self.title = " ".join(text.split())[:60]
        return message

    def add_assistant(self, text: str = "", status: str = "complete") -> Message:
        if self.last is None or self.last.role != "user":
            raise InputError("A reply answers a user message: this chat's path does not end with one.")
        return self._attach(Message("assistant", text, status=status), self.current)

    def edit(self, message_id: str, text: str) -> Message:
        """A new version of a message, beside the old one (a new branch); the path now ends there."""
        old = self.get(message_id)
        if old.role == "system":
            raise InputError("A system message cannot be edited: change the chat's system prompt instead.")
        if old.role == "user" and (not isinstance(text, str) or not text.strip()):
            raise InputError("An edited message cannot be empty: type some text, or delete the message.")
        return self._attach(Message(old.role, text, attachments=list(old.attachments)), old.parent)

    def regenerate(self, reply_id: str | None = None) -> Message:
        """Prepare a new answer to the question ``reply_id`` answered (default: the path's last reply):
        the path ends at that question, the old reply stays as a sibling. Returns the question."""
        if reply_id is None:
            replies = [m for m in self.messages if m.role == "assistant"]
            if not replies:
                raise InputError("There is no reply to answer again yet.")
            reply_id = replies[-1].id
        reply = self.get(reply_id)
        question = self._nodes.get(reply.parent) if reply.parent else None
        if reply.role != "assistant" or question is None or question.role != "user":
            raise InputError("Only a reply to a user message can be answered again.")
        self._go(question.id)
        return question

    def drop_last_reply(self) -> None:
        """End the path at its last user message, so it can be answered again (the replies stay as siblings)."""
        path = self.messages
        while path and path[-1].role == "assistant":
            path = path[:-1]
        if not path or path[-1].role != "user":
            raise InputError("There is no question to answer again.")
        self._go(path[-1].id)

    def continue_reply(self, reply_id: str | None = None) -> Message:
        """Make a cut reply (see ``Message.cut``) the path's end, so a model writes on from its text."""
        reply = self.get(reply_id) if reply_id is not None else self.last
        if reply is None or reply.role != "assistant":
            raise InputError("Only a reply can be continued.")
        if self._children[reply.id]:
            raise InputError("This reply already has an answer after it: only the last reply of a branch can be continued.")
        if not reply.cut:
            raise InputError("This reply is complete: only a reply that was stopped or reached the token limit "
                             "can be continued.")
        self._go(reply.id)
        return reply

    # ------------------------------------------------------------------------------------------
    # What a model reads.
    def for_model(self, budget: Budget | None = None) -> list[dict]:
        """The OpenAI-format messages of the visible path: system prompt first, no error notices.
        A path that ends with a reply (``continue_reply``) asks the model to carry that reply on.
        Attached files are in the user messages, whole or as retrieved passages (``model_input``)."""
        return self.model_input(budget).messages

    def model_input(self, budget: Budget | None = None) -> Grounded:
        """``for_model``'s messages and the citations to keep with the reply (``meta["citations"]``).
        ``budget`` (pagellm.grounding.Budget) says how many tokens the prompt may use; its question
        vector defaults to ``query_vector``."""
        budget = budget or Budget()
        if budget.query_vector is None and self.query_vector is not None:
            budget.query_vector, budget.model = self.query_vector, self.embedding_model
        turns = [(m.role, m.content, m.attachments) for m in self.messages if m.status != "error" and m.content]
        return ground(turns, budget, self.system_prompt)

    def question(self) -> str:
        """The text of the path's last user message: what passages are retrieved for (and embedded)."""
        return next((m.content for m in reversed(self.messages) if m.role == "user"), "")

    def trimmed(self, count_tokens: Callable[[list[dict]], int], limit: int) -> list[dict]:
        """Drop the oldest turns until ``count_tokens(messages) <= limit`` (see ``fit``)."""
        return self.fit(count_tokens, limit).messages

    def fit(self, count_tokens: Callable[[list[dict]], int], limit: int, *, images: bool = False,
            engine: str = "This model") -> "ContextFit":
        """The messages the model reads within ``limit`` tokens: the oldest turns are left out first.

        The system prompt and the latest user message are always kept; when even those do not fit,
        the conversation cannot be sent and the error says by how much. Attached files go in whole when
        they fit, else as passages (``model_input``); an image is refused unless ``images``.

        >>> chat = Conversation(system_prompt="S")
        >>> for text in ("one two", "three four", "five"):
        ...     _ = chat.add_user(text); _ = chat.add_assistant("ok")
        >>> words = lambda messages: sum(len(m["content"].split()) for m in messages)
        >>> fit = chat.fit(words, 6)
        >>> fit.used, fit.left_out, [m["content"] for m in fit.messages]
        (6, 2, ['S', 'three four', 'ok', 'five', 'ok'])
        """
        def count_text(text: str) -> int:
            return count_tokens([{"role": "user", "content": text}])

        given = self.model_input(Budget(limit=limit, count_tokens=count_text, images=images, engine=engine))
        messages = given.messages
        head = messages[:1] if messages and messages[0]["role"] == "system" else []
        body = messages[len(head):]
        while True:
            used = count_tokens(head + body)
            if used <= limit:
                return ContextFit(head + body, used, len(messages) - len(head) - len(body), given.citations)
            if len(body) <= 1:
                raise ContextOverflowError(
                    f"The message needs {used} tokens but the model's context holds {limit}.",
                    hint="Shorten the message or the system prompt, or start a new chat.",
                )
            body = body[1:]
            while len(body) > 1 and body[0]["role"] != "user":  # start on a user turn
                body = body[1:]

    # ------------------------------------------------------------------------------------------
    # The saved form.
    def view(self) -> list[dict]:
        """The visible path for a page to draw without Python: each message's id, its place among its
        siblings, and whether it can be continued."""
        out = []
        for message in self.messages:
            index, count = self.position(message.id)
            out.append({"id": message.id, "index": index, "count": count,
                        "continuable": message.cut and not self._children[message.id]})
        return out

    def to_dict(self) -> dict:
        """The saved form, version 2: every message (``parent`` links make the tree), the path's end, the
        choice at each fork; ``view`` is derived (see ``view``) and ignored when read back."""
        return {
            "version": SAVED_VERSION,
            "id": self.id,
            "title": self.title,
            "system_prompt": self.system_prompt,
            "pinned": self.pinned,
            "used": self.used,
            "messages": [m.to_dict() for m in self._nodes.values()],
            "current": self.current,
            "chosen": {parent or "": child for parent, child in self._chosen.items()},
            "view": self.view(),
        }

    def content_key(self) -> tuple:
        """What the chat holds, without when it was used or pinned: equal keys mean the same chat."""
        return (self.title, self.system_prompt, tuple(
            (m.id, m.parent, m.role, m.content, m.status, tuple(a.id for a in m.attachments))
            for m in self._nodes.values()))

    @classmethod
    def from_dict(cls, data: dict) -> "Conversation":
        """A conversation from its saved form: version 2 (a tree), or version 1 (a flat list, read as
        one branch with ids m1, m2, ...); a newer version or a damaged one is refused, saying what is wrong."""
        if not isinstance(data, dict) or not isinstance(data.get("messages", []), list):
            raise InputError("A conversation must be an object with a 'messages' list.")
        version = data.get("version", 1)
        if version not in (1, SAVED_VERSION) or isinstance(version, bool):
            if isinstance(version, int) and not isinstance(version, bool) and version > SAVED_VERSION:
                raise InputError(f"This chat was saved by a newer pagellm (saved form version {version}); "
                                 f"this one reads versions 1 to {SAVED_VERSION}.")
            raise InputError(f"Unknown saved form version {version!r}: expected 1 or {SAVED_VERSION}.")
        try:
            used = float(data.get("used") or 0.0)
        except (TypeError, ValueError):
            raise InputError(f"A chat's 'used' must be a time, got {data.get('used')!r}.") from None
        chat = cls(system_prompt=str(data.get("system_prompt") or ""), title=str(data.get("title") or ""),
                   id=str(data.get("id") or uuid.uuid4().hex), pinned=bool(data.get("pinned")), used=used)
        items = data.get("messages", [])
        if version == 1:
            for index, item in enumerate(items, 1):
                chat._attach(Message.from_dict(item, id=f"m{index}", parent=chat.current), chat.current)
            return chat
        for index, item in enumerate(items, 1):
            message = Message.from_dict(item)
            if message.parent is not None and message.parent not in chat._nodes:
                raise InputError(f"Message {index} ({message.id!r}) answers {message.parent!r}, which is not "
                                 "an earlier message of this chat.")
            chat._attach(message, message.parent)
        chosen = data.get("chosen") or {}
        if not isinstance(chosen, dict):
            raise InputError("A chat's 'chosen' must be an object of parent id -> child id.")
        chat._chosen = {}
        for parent, child in chosen.items():
            key = parent or None
            if child not in chat._children.get(key, []) and not (child == key and key in chat._nodes):
                raise InputError(f"The chat chooses {child!r} after {parent!r}, but it does not answer it.")
            chat._chosen[key] = child
        current = data.get("current")
        if current is not None and current not in chat._nodes:
            raise InputError(f"The chat's path ends at {current!r}, which is not one of its messages.")
        if "current" in data:
            chat.current = current
            if current is not None:
                chat._go(current)
        return chat
