"""Sentence embeddings on CPython: the page's embedding model folder run by onnxruntime and tokenizers.

    from pagellm.embeddings import OnnxEmbedder
    embed = OnnxEmbedder("models/build/all-minilm-l6-v2")     # the folder the recipe builds
    vectors = embed(["The train leaves at 9:40.", "Bread needs yeast."])   # 384 floats each, unit length

The folder is the one the page runs with Transformers.js (``feature-extraction``, mean pooling,
normalized), so a script and the page rank passages the same way. Needs the ``embed`` extra
(onnxruntime, tokenizers, numpy); the page never imports this module.
"""

from __future__ import annotations

import json
from pathlib import Path

from .errors import InputError, ModelLoadError

__all__ = ["OnnxEmbedder"]


class OnnxEmbedder:
    """A callable: texts -> mean-pooled, normalized vectors (lists of floats). ``model`` names it (the
    folder's name), as ``PassageIndex.set_vectors`` records it."""

    def __init__(self, folder: "str | Path", *, file: str = "onnx/model_quantized.onnx", threads: int | None = None,
                 max_tokens: int | None = None):
        folder = Path(folder)
        try:
            import numpy
            import onnxruntime
            from tokenizers import Tokenizer
        except ImportError as err:
            raise ModelLoadError(f"Embeddings on CPython need onnxruntime, tokenizers and numpy ({err.name} is missing).",
                                 hint="pip install 'pagellm[embed]'") from None
        if not (folder / file).is_file() or not (folder / "tokenizer.json").is_file():
            raise ModelLoadError(f"{folder} is not an embedding model folder (it needs tokenizer.json and {file}).",
                                 hint="Build it with: python -m models.embedder")
        config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8")) \
            if (folder / "tokenizer_config.json").is_file() else {}
        self.model = folder.name
        self.max_tokens = max_tokens or int(config.get("model_max_length") or 256)
        self._np = numpy
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.enable_truncation(self.max_tokens)
        self._tokenizer.enable_padding()
        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self._session = onnxruntime.InferenceSession(str(folder / file), options, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}

    def __repr__(self) -> str:
        return f"OnnxEmbedder({self.model!r})"

    def __call__(self, texts: list[str]) -> list[list[float]]:
        if isinstance(texts, str):
            raise InputError("OnnxEmbedder takes a list of texts, not one string.")
        if not texts:
            return []
        np = self._np
        encodings = self._tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(None, feeds)[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return pooled.tolist()
