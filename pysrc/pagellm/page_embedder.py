"""Sentence embeddings in the page's worker: the site's embedding model (catalog.json's ``embedders``)
through Transformers.js's feature-extraction pipeline, for retrieval over attachments
(pagellm.retrieval). Browser glue: on CPython, ``pagellm.embeddings.OnnxEmbedder`` runs the same files.

    embedder = PageEmbedder("https://example.org/app/", "all-minilm-l6-v2")
    vectors = await embedder.embed(["first passage", "second passage"])   # 384 floats each, normalised
"""

from __future__ import annotations

from typing import Callable

from .page_runtime import import_engine_js, import_transformers, use_ort_build

BATCH = 16  # passages a call: a progress step every few hundred milliseconds on one thread


class PageEmbedder:
    def __init__(self, site_url: str, model_id: str):
        self.site_url = site_url
        self.model_id = model_id
        self._pipeline = None
        self._proxies: list = []

    async def _load(self):
        from pyodide.ffi import create_proxy, to_js
        import js

        T = await import_transformers(self.site_url)
        engine_js = await import_engine_js(self.site_url)
        build, _, _ = use_ort_build("wasm")
        self._proxies = [create_proxy(lambda *args: None) for _ in range(3)]
        # The site's own files, fetched from this origin (the chat model may have pointed env at a Hub).
        inputs = {"T": T, "base": self.site_url, "source": to_js({"kind": "site"}, dict_converter=js.Object.fromEntries),
                  "ortBuild": build, "files": js.Map.new(), "onBytes": self._proxies[0],
                  "onFailure": self._proxies[1], "onOperator": self._proxies[2]}
        engine_js.configureEnv(to_js(inputs, dict_converter=js.Object.fromEntries))
        options = to_js({"dtype": "q8", "device": "wasm"}, dict_converter=js.Object.fromEntries)
        return await T.pipeline("feature-extraction", self.model_id, options)

    async def embed(self, texts: list[str], progress: Callable[[int, int], None] | None = None) -> list[list[float]]:
        from pyodide.ffi import to_js
        import js

        if self._pipeline is None:
            self._pipeline = await self._load()
        options = to_js({"pooling": "mean", "normalize": True}, dict_converter=js.Object.fromEntries)
        vectors: list[list[float]] = []
        for start in range(0, len(texts), BATCH):
            output = await self._pipeline(to_js(texts[start:start + BATCH]), options)
            vectors.extend(output.tolist().to_py())
            output.dispose()
            if progress:
                progress(len(vectors), len(texts))
        return vectors
