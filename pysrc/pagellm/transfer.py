"""Export and import of conversations: JSON (OpenAI messages plus metadata) and Markdown.

    >>> chat = Conversation(title="Capitals")
    >>> _ = chat.add_user("Capital of France?"); _ = chat.add_assistant("Paris.")
    >>> data = export_json([chat])
    >>> [c.title for c in import_json(data)]
    ['Capitals']
    >>> print(export_markdown([chat]).splitlines()[0])
    # Capitals

Import validates everything before returning anything: a bad file changes nothing and the error says
what is wrong and where.
"""

from __future__ import annotations

import json

from . import __version__
from .errors import InputError
from .messages import Conversation

FORMAT = "pagellm.conversations"
VERSION = 1
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
    if payload.get("version") != VERSION:
        raise InputError(f"This export has version {payload.get('version')!r}; this pagellm reads version {VERSION}.")
    items = payload.get("conversations")
    if not isinstance(items, list) or not items:
        raise InputError("This export holds no conversations.")
    conversations = []
    for index, item in enumerate(items, 1):
        try:
            if isinstance(item, dict) and "messages" not in item and "openai_messages" in item:
                item = {**item, "messages": item["openai_messages"]}
            conversations.append(Conversation.from_dict(item))
        except InputError as err:
            raise InputError(f"Conversation {index} of the file is damaged: {err}") from None
    return conversations


def export_markdown(conversations: list[Conversation]) -> str:
    names = {"user": "You", "assistant": "Assistant", "system": "System"}
    parts = []
    for chat in conversations:
        lines = [f"# {chat.title or 'Conversation'}", ""]
        if chat.system_prompt.strip():
            lines += [f"> System: {chat.system_prompt.strip()}", ""]
        for message in chat.messages:
            mark = "" if message.status == "complete" else f" ({message.status})"
            lines += [f"**{names[message.role]}**{mark}:", "", message.content or "_(empty)_", ""]
            if message.meta.get("error"):
                lines += [f"> Error: {message.meta['error']}", ""]
        parts.append("\n".join(lines).rstrip() + "\n")
    return "\n---\n\n".join(parts)
