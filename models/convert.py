"""Sources -> a Hugging Face model folder (safetensors, config, tokenizer files), the input of the ONNX export.

Each function here is one recipe step; recipe.py runs them in a subprocess (heavy imports, gigabytes of
tensors) and passes plain arguments, so they take strings and return JSON-able dicts.
"""

from __future__ import annotations

from pathlib import Path

from .tokenizer import (CHATML_TEMPLATE, SpecialTokens, tokenizer_from_gguf, train_tiny_tokenizer,
                        write_tokenizer_files)


class ConversionError(ValueError):
    """The source cannot be converted (unsupported architecture, tokenizer...): a message for the user."""


def gguf_metadata(gguf_path: str) -> dict:
    """The GGUF's key/value metadata as plain Python values."""
    from gguf import GGUFReader

    reader = GGUFReader(gguf_path)
    return {key: f.contents() for key, f in reader.fields.items()}


def gguf_to_hf(gguf_path: str, out_dir: str, architecture: str, context_length: int) -> dict:
    """Dequantize the GGUF into a float32 transformers model; rebuild its tokenizer from the metadata."""
    import torch
    from transformers import AutoModelForCausalLM

    gguf, out = Path(gguf_path), Path(out_dir)
    meta = gguf_metadata(gguf_path)
    found = meta.get("general.architecture")
    if found != architecture:
        raise ConversionError(f"the GGUF's architecture is {found!r}, the catalog says {architecture!r}; "
                              f"the recipe converts only {architecture!r}")
    try:
        tok, special, template = tokenizer_from_gguf(meta)
    except ValueError as e:
        raise ConversionError(str(e)) from None
    if template is None:
        raise ConversionError("the GGUF has no chat template (tokenizer.chat_template)")

    # transformers dequantizes every tensor (Q4_1, Q8_0) to float32; `accelerate` must be installed.
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    ids = {name: tok.token_to_id(getattr(special, name)) for name in ("bos", "eos", "pad")}
    _set_special_ids(model, ids, context_length)
    model.save_pretrained(str(out))
    write_tokenizer_files(out, tok, special, template, context_length)
    return {"parameters": sum(p.numel() for p in model.parameters()), "vocab_size": tok.get_vocab_size()}


def make_tiny(source: dict, corpus_path: str, out_dir: str, context_length: int) -> dict:
    """A tiny Llama with random weights from a fixed seed, and a BPE tokenizer trained on the corpus."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    out = Path(out_dir)
    tok = train_tiny_tokenizer(Path(corpus_path).read_text(encoding="utf-8"), source["vocab_size"])
    special = SpecialTokens(bos="<|im_start|>", eos="<|im_end|>", pad="<|im_end|>", unk="<|endoftext|>")
    write_tokenizer_files(out, tok, special, CHATML_TEMPLATE, context_length)

    config = LlamaConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=source["hidden_size"],
        intermediate_size=source["intermediate_size"],
        num_hidden_layers=source["layers"],
        num_attention_heads=source["heads"],
        num_key_value_heads=source["kv_heads"],
        max_position_embeddings=context_length,
        initializer_range=source["init_std"],
        tie_word_embeddings=True,
    )
    torch.manual_seed(source["seed"])
    model = LlamaForCausalLM(config).to(torch.float32)
    with torch.no_grad():
        # Shrink the (tied) embedding rows of special and unprintable tokens: their logits become small, so
        # greedy output is printable words - readable, and free of broken UTF-8 - in the browser tests.
        model.model.embed_tokens.weight[_unprintable_ids(tok)] *= 0.05
    ids = {name: tok.token_to_id(getattr(special, name)) for name in ("bos", "eos", "pad")}
    _set_special_ids(model, ids, context_length)
    model.save_pretrained(str(out))
    return {"parameters": sum(p.numel() for p in model.parameters()), "vocab_size": tok.get_vocab_size()}


def _unprintable_ids(tok) -> list[int]:
    """Special tokens, and tokens that decode to control characters or to part of a UTF-8 character."""
    special = set(tok.get_added_tokens_decoder())
    ids = []
    for i in range(tok.get_vocab_size()):
        text = tok.decode([i], skip_special_tokens=False)
        if i in special or "\ufffd" in text or not text.strip(" ").isprintable():
            ids.append(i)
    return ids


def _set_special_ids(model, ids: dict[str, int], context_length: int) -> None:
    """The ids Transformers.js stops on (eos) and pads with, in config.json and generation_config.json."""
    for cfg in (model.config, model.generation_config):
        cfg.bos_token_id, cfg.eos_token_id, cfg.pad_token_id = ids["bos"], ids["eos"], ids["pad"]
    model.config.max_position_embeddings = context_length
