"""Summarizing a chat: the request a model answers, and the new chat that starts from its summary.

A chat too long for the model's context is summarized from its latest part that fits.
"""

from __future__ import annotations

from .engine import Delta
from .errors import ContextOverflowError, GenerationError, InputError
from .messages import Conversation
from .settings import GenerationSettings

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



async def write_summary(engine, conversation: Conversation, settings: GenerationSettings) -> str:
    """The summary ``engine`` writes of ``conversation``: its latest 8,000 characters, halved while they
    do not fit the model's context."""
    max_chars, parts = 8000, []
    while True:
        try:
            async for event in engine.stream(summary_request(conversation, max_chars), settings):
                if isinstance(event, Delta) and event.kind == "content":
                    parts.append(event.text)
            break
        except ContextOverflowError:
            if max_chars <= 250:
                raise
            max_chars //= 2
    text = "".join(parts).strip()
    if not text:
        raise GenerationError("The model wrote no summary: try again, or start a new chat.")
    return text


def summary_chat(conversation: Conversation, summary: str) -> Conversation:
    """A new chat that carries ``conversation`` on from its summary (in its system prompt)."""
    earlier = f"{conversation.system_prompt}\n\n" if conversation.system_prompt else ""
    return Conversation(title=f"Summary: {conversation.title or 'chat'}"[:60],
                        system_prompt=f"{earlier}Summary of an earlier chat:\n{summary}")
