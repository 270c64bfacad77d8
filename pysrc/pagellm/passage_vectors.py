"""The worker's embedding of attached files' passages and of the question that retrieves them, with the
site's embedding model (made once, when first needed). Any failure leaves retrieval by words (BM25).

    vectors = PassageVectors(make_embedder)      # (site URL, model id) -> object with async embed(texts, progress)
    notice = await vectors.embed_passages(attachment, (site_url, "all-minilm-l6-v2"), emit)
    await vectors.embed_question(conversation, (site_url, "all-minilm-l6-v2"))
"""

from __future__ import annotations

from typing import Callable

from . import protocol as p
from .attachments import Attachment
from .messages import Conversation

WORDS_ONLY = "passages are found by their words only."


class PassageVectors:
    def __init__(self, make_embedder: Callable | None):
        self.make_embedder = make_embedder
        self.embedder = None

    def model(self, site: tuple[str | None, str | None]):
        """The site's embedding model, or None (no factory, no model in the catalog, no site yet)."""
        site_url, model_id = site
        if self.embedder is None and self.make_embedder and model_id and site_url:
            self.embedder = self.make_embedder(site_url, model_id)
        return self.embedder

    async def embed_passages(self, attachment: Attachment, site, emit: Callable[[p.Message], None]) -> str | None:
        """Vectors for the attachment's passages, with progress; a notice when only words can find them."""
        embedder = self.model(site)
        if embedder is None:
            return f"No embedding model on this site: {WORDS_ONLY}"

        def progress(done: int, total: int) -> None:
            emit(p.Progress(stage=f"Indexing {attachment.name}", loaded=done, total=total,
                            fraction=done / total if total else None))
        try:
            attachment.index.set_vectors(await embedder.embed(attachment.index.texts(), progress), embedder.model_id)
        except Exception as err:  # noqa: BLE001 - retrieval still works by words
            return f"The embedding model failed ({type(err).__name__}: {err}): {WORDS_ONLY}"
        return None

    async def embed_question(self, conversation: Conversation, site) -> None:
        """Embed the question when the chat has files (else retrieval uses words)."""
        embedder = self.model(site)
        if embedder is None or not any(m.attachments for m in conversation.messages):
            return
        try:
            conversation.query_vector = (await embedder.embed([conversation.question()]))[0]
            conversation.embedding_model = embedder.model_id
        except Exception:  # noqa: BLE001 - the passages are still ranked by their words
            conversation.query_vector = None
