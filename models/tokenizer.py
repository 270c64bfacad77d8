"""Tokenizer files in the layout Transformers.js 4.3.1 reads: tokenizer.json, tokenizer_config.json (with the
chat template inside it: that is the only place it looks) and special_tokens_map.json.

Two ways to get a `tokenizers.Tokenizer`: rebuilt from a GGUF's metadata (what transformers builds from a
GGUF is wrong for SmolLM2: eos = <|im_start|>, an extra BOS on every encode, a 98 MB tokenizer.model), or
trained on a small fixed corpus for the tiny test model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

# ChatML as SmolLM2-Instruct writes it (its GGUF carries the same text); used by the tiny model.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\\n' }}"
    "{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
CHATML_SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


@dataclass(frozen=True)
class SpecialTokens:
    bos: str
    eos: str
    pad: str
    unk: str


def _byte_level(digits: bool) -> pre_tokenizers.PreTokenizer:
    """GPT-2 byte-level pre-tokenizer; SmolLM2 ("smollm" in llama.cpp) also splits digits one by one."""
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
    if not digits:
        return byte_level
    return pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])


# llama.cpp's `tokenizer.ggml.pre` names -> pre-tokenizer (only those whose rules we know to be these).
_GGUF_PRE = {"smollm": True, "gpt2": False, "default": False}


def tokenizer_from_gguf(fields: dict) -> tuple[Tokenizer, SpecialTokens, str | None]:
    """Build the tokenizer from GGUF metadata (`fields`: key -> value, as read by gguf's reader).

    Returns the tokenizer, its special tokens and the chat template (None when the GGUF has none).
    """
    model_kind = fields.get("tokenizer.ggml.model")
    pre = fields.get("tokenizer.ggml.pre", "default")
    if model_kind != "gpt2" or pre not in _GGUF_PRE:
        raise ValueError(f"unsupported GGUF tokenizer {model_kind!r} / pre-tokenizer {pre!r} "
                         f"(supported: gpt2 BPE with pre-tokenizer {', '.join(_GGUF_PRE)})")
    tokens: list[str] = list(fields["tokenizer.ggml.tokens"])
    types: list[int] = list(fields["tokenizer.ggml.token_type"])
    merges = [tuple(m.split(" ", 1)) for m in fields["tokenizer.ggml.merges"]]

    tok = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges, fuse_unk=False))
    tok.pre_tokenizer = _byte_level(digits=_GGUF_PRE[pre])
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    # GGUF token types: 3 = control, 4 = user defined; both are whole tokens never split by BPE.
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False)
                            for t, kind in zip(tokens, types) if kind in (3, 4)])

    def name(key: str, fallback: str) -> str:
        i = fields.get(f"tokenizer.ggml.{key}_token_id")
        return tokens[int(i)] if i is not None else fallback

    eos = name("eos", "<|endoftext|>")
    special = SpecialTokens(bos=name("bos", eos), eos=eos, pad=name("padding", eos), unk=name("unknown", eos))
    return tok, special, fields.get("tokenizer.chat_template")


def train_tiny_tokenizer(corpus: str, vocab_size: int) -> Tokenizer:
    """A byte-level BPE like SmolLM2's, trained on `corpus`, with the ChatML special tokens as ids 0, 1, 2."""
    tok = Tokenizer(models.BPE(fuse_unk=False))
    tok.pre_tokenizer = _byte_level(digits=True)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[AddedToken(t, special=True, normalized=False) for t in CHATML_SPECIAL],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # every byte encodable: no unknown tokens
        show_progress=False,
    )
    # One "line" per paragraph keeps the training input, and so the merges, identical across runs.
    tok.train_from_iterator([p for p in corpus.split("\n\n") if p.strip()], trainer=trainer)
    tok.normalizer = None
    return tok


def write_tokenizer_files(out_dir: Path, tok: Tokenizer, special: SpecialTokens, chat_template: str | None,
                          model_max_length: int) -> None:
    """Write tokenizer.json, tokenizer_config.json (chat template inside) and special_tokens_map.json."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tok.save(str(out_dir / "tokenizer.json"), pretty=False)
    added = {str(i): {"content": t.content, "lstrip": False, "normalized": False, "rstrip": False,
                      "single_word": False, "special": True}
             for i, t in sorted(tok.get_added_tokens_decoder().items())}
    config = {
        "add_bos_token": False,
        "add_prefix_space": False,
        "added_tokens_decoder": added,
        "bos_token": special.bos,
        "eos_token": special.eos,
        "pad_token": special.pad,
        "unk_token": special.unk,
        "clean_up_tokenization_spaces": False,
        "model_max_length": model_max_length,
        "tokenizer_class": "GPT2Tokenizer",
        "chat_template": chat_template,
    }
    if chat_template is None:
        del config["chat_template"]
    _write_json(out_dir / "tokenizer_config.json", config)
    _write_json(out_dir / "special_tokens_map.json",
                {"bos_token": special.bos, "eos_token": special.eos, "pad_token": special.pad,
                 "unk_token": special.unk})


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
