"""Asking about files from a script (CPython or a notebook): attach, embed, answer with citations.

    import asyncio
    from pathlib import Path
    from pagellm.documents import ask_files
    from pagellm.embeddings import OnnxEmbedder
    from pagellm.remote import RemoteEngine

    engine = RemoteEngine("http://127.0.0.1:8080/v1", "my-model", context_tokens=8192)
    embed = OnnxEmbedder("models/build/all-minilm-l6-v2")          # optional: BM25 alone without it
    reply = asyncio.run(ask_files(engine, sorted(Path("reports").glob("*.pdf")), "What was Q3 revenue?",
                                  embed=embed))
    print(reply.content)
    for passage in reply.meta["citations"]["passages"]:
        print(f"[{passage['n']}] {passage['name']} p.{passage['page']}: {passage['text'][:80]}")

``answer`` streams a reply to a conversation's last question into a new reply message, keeping the
citations (``meta["citations"]``, see pagellm.grounding) and the reply's statistics (``meta["stats"]``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

from .engine import Citations, Delta, Final
from .messages import Conversation, Message
from .retrieval import Embed
from .settings import GenerationSettings

__all__ = ["embed_attachments", "answer", "ask_files"]


def embed_attachments(chat: Conversation, embed: Embed, model: str | None = None) -> int:
    """Embed the passages of every attachment on the visible path (and pending) that ``model`` has not
    embedded yet, and the path's last question; returns how many passages were embedded."""
    model = model or getattr(embed, "model", None) or "embedding"
    files = [a for m in chat.messages for a in m.attachments] + chat.pending
    count = 0
    for attachment in files:
        if attachment.kind == "image" or attachment.index.model == model:
            continue
        texts = attachment.index.texts()
        vectors = [v for start in range(0, len(texts), 32) for v in embed(texts[start:start + 32])]
        attachment.index.set_vectors(vectors, model)
        count += len(texts)
    question = chat.question()
    if question:
        chat.query_vector, chat.embedding_model = list(embed([question])[0]), model
    return count


async def answer(engine, chat: Conversation, settings: GenerationSettings | None = None, *,
                 embed: Embed | None = None, on_text: Callable[[str], None] | None = None) -> Message:
    """Stream the engine's reply to the path's last question; the reply message keeps its citations."""
    if embed is not None:
        embed_attachments(chat, embed)
    parts, citations, final = [], None, None
    async for event in engine.stream(chat, settings or GenerationSettings()):
        if isinstance(event, Delta) and event.kind == "content":
            parts.append(event.text)
            if on_text:
                on_text(event.text)
        elif isinstance(event, Citations):
            citations = event.data
        elif isinstance(event, Final):
            final = event
    status = "stopped" if final is not None and final.finish_reason == "cancelled" else "complete"
    reply = chat.add_assistant("".join(parts), status=status)
    if citations:
        reply.meta["citations"] = citations
    if final is not None:
        reply.meta["stats"] = final.to_dict()
    return reply


async def ask_files(engine, paths: Iterable["str | Path"], question: str, *, chat: Conversation | None = None,
                    settings: GenerationSettings | None = None, embed: Embed | None = None,
                    on_text: Callable[[str], None] | None = None) -> Message:
    """Attach ``paths`` (each checked; the first bad one raises InputError and nothing is sent), ask
    ``question`` about them, and return the reply."""
    chat = chat if chat is not None else Conversation()
    attached = []
    try:
        for path in paths:
            attached.append(chat.attach_file(path))
        chat.add_user(question)
    except Exception:  # nothing attached partially
        for attachment in attached:
            chat.detach(attachment.id)
        raise
    return await answer(engine, chat, settings, embed=embed, on_text=on_text)
