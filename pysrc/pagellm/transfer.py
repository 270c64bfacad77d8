"""Export and import of conversations: JSON (OpenAI messages plus metadata) and Markdown.

    >>> chat = Conversation(title="Capitals")
    >>> _ = chat.add_user("Capital of France?"); _ = chat.add_assistant("Paris.")
    >>> data = export_json([chat])
    >>> [c.title for c in import_json(data)]
    ['Capitals']
    >>> print(export_markdown([chat]).splitlines()[0])
    # Capitals

Import validates everything before returning anything: a bad file changes nothing and the error says
what is wrong and where. Files of format version 1 (flat message lists) are read as single-branch chats;
``merge`` decides what an imported backup adds to the chats already saved, never overwriting one.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field

from . import __version__
from .errors import InputError
from .messages import SAVED_VERSION, Conversation

FORMAT = "pagellm.conversations"
VERSION = SAVED_VERSION
READS = (1, SAVED_VERSION)
MAX_IMPORT_BYTES = 20_000_000


def export_json(conversations: list[Conversation], settings: dict | None = None) -> str:
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "exported_by": f"pagellm {__version__}",
        "conversations": [
            {**c.to_dict(), "openai_messages": c.for_model(), **({"settings": settings} if settings else {})}
            for c in conversations
        ],
    }
    return json.dumps(payload, indent=1, ensure_ascii=False)


def import_json(text: str) -> list[Conversation]:
    if len(text) > MAX_IMPORT_BYTES:
        raise InputError(f"This file is too large to import ({len(text) / 1e6:.1f} MB; at most {MAX_IMPORT_BYTES / 1e6:g} MB).")
    try:
        payload = json.loads(text)
    except ValueError as err:
        raise InputError(f"This file is not valid JSON ({err.msg} at line {err.lineno}, column {err.colno}).") from None
    if isinstance(payload, list):  # a bare list of OpenAI messages is one conversation
        payload = {"format": FORMAT, "version": VERSION, "conversations": [{"messages": payload}]}
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise InputError("This is not a pagellm export: expected an object with \"format\": \"pagellm.conversations\" "
                         "or a list of OpenAI-style messages.")
    version = payload.get("version")
    if version not in READS or isinstance(version, bool):
        if isinstance(version, int) and not isinstance(version, bool) and version > VERSION:
            raise InputError(f"This file was written by a newer pagellm (format version {version}); this one reads "
                             f"versions 1 to {VERSION}. Nothing was imported.")
        raise InputError(f"This export has version {version!r}; this pagellm reads versions 1 to {VERSION}.")
    items = payload.get("conversations")
    if not isinstance(items, list) or not items:
        raise InputError("This export holds no conversations.")
    conversations = []
    for index, item in enumerate(items, 1):
        try:
            if isinstance(item, dict) and "messages" not in item and "openai_messages" in item:
                item = {**item, "messages": item["openai_messages"], "version": 1}
            if version == 1 and isinstance(item, dict):
                item = {**item, "version": 1}  # a version 1 file holds flat lists, whatever a chat says
            conversations.append(Conversation.from_dict(item))
        except InputError as err:
            raise InputError(f"Conversation {index} of the file is damaged: {err}") from None
    return conversations


@dataclass
class Merge:
    """What importing a backup does: the chats to save, and how many were already here."""

    add: list[Conversation] = field(default_factory=list)
    copies: int = 0      # same id as a saved chat but other content: added under a new id
    unchanged: int = 0   # already saved with the same content: left as they are

    def summary(self) -> str:
        parts = [f"Imported {len(self.add) - self.copies} new chat(s)"]
        if self.copies:
            parts.append(f"{self.copies} as copies (a chat with the same id but other content is already here)")
        if self.unchanged:
            parts.append(f"{self.unchanged} already here unchanged")
        return ", ".join(parts) + "."


def merge(saved: list[Conversation], incoming: list[Conversation]) -> Merge:
    """Merge ``incoming`` into ``saved`` without overwriting anything: a new id is added, the same id with
    the same content is skipped, the same id with other content is added as a copy under a new id.

    >>> here = Conversation(title="A", id="1"); _ = here.add_user("hi")
    >>> other = Conversation(title="A", id="1"); _ = other.add_user("hello")
    >>> result = merge([here], [Conversation.from_dict(here.to_dict()), other])
    >>> result.unchanged, result.copies, result.add[0].title
    (1, 1, 'A (imported copy)')
    """
    known = {chat.id: chat.content_key() for chat in saved}
    result = Merge()
    for chat in incoming:
        key = chat.content_key()
        if chat.id in known:
            if known[chat.id] == key:
                result.unchanged += 1
                continue
            chat.id = uuid.uuid4().hex
            chat.title = f"{chat.title or 'Untitled chat'} (imported copy)"
            result.copies += 1
        known[chat.id] = key
        result.add.append(chat)
    return result


def export_markdown(conversations: list[Conversation]) -> str:
    names = {"user": "You", "assistant": "Assistant", "system": "System"}
    parts = []
    for chat in conversations:
        lines = [f"# {chat.title or 'Conversation'}", ""]
        if chat.system_prompt.strip():
            lines += [f"> System: {chat.system_prompt.strip()}", ""]
        for message in chat.messages:  # the visible path
            mark = "" if message.status == "complete" else f" ({message.status})"
            lines += [f"**{names[message.role]}**{mark}:", "", message.content or "_(empty)_", ""]
            if message.meta.get("error"):
                lines += [f"> Error: {message.meta['error']}", ""]
        parts.append("\n".join(lines).rstrip() + "\n")
    return "\n---\n\n".join(parts)
