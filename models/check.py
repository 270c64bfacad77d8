"""The recipe's check: does each ONNX file behave like the torch model it was exported from?

Two measures, both run with ONNX Runtime on the CPU:
- the greedy answer to a fixed chat question, compared token by token with the torch model's;
- top-1 next-token agreement with the torch float32 model over a fixed text (the share of positions where
  both pick the same most likely next token), measured as the page generates: one token per step, with
  the past key values (`agreement`). The int8 file quantizes activations per call, with one scale for all
  the positions it is given, so the same text fed in one pass (as a prompt is) agrees less: that figure is
  reported too (`agreement_one_pass`; SmolLM2 q8: 94% step by step, 87% in one pass).

Floors (why these numbers): an export that is wrong (bad graph, broken past key values, garbage scales)
agrees on almost nothing (0-10%), while the known quantization recipes for SmolLM2-135M agree 50-95%.
So fp32 must reproduce torch (same greedy tokens, >= 99% agreement: only exact ties may differ), and a
quantized file must agree on at least 40% - a floor that catches broken files without failing on the
quality trade-off each recipe makes. A catalog entry can raise its own floors (`min_agreement`) to guard
a recipe's measured quality against regressions.
Answer quality is gated only where the catalog says so (`expect_answer`, applied to the full-precision
model), never for the random tiny model, whose check is about consistency and about producing enough
varied tokens for streaming tests.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

QUESTION = "What is the capital of France?"
# About 90 SmolLM2 tokens of plain prose (not in any chat format).
AGREEMENT_TEXT = (
    "The history of the printing press begins in the fifteenth century, when Johannes Gutenberg combined "
    "movable metal type, oil-based ink and a wooden press adapted from those used to make wine. Books became "
    "cheaper and faster to produce, and within fifty years presses were at work in more than two hundred "
    "European cities. News, ideas and scientific discoveries could now travel far beyond the places where "
    "they were born, and more people than ever learned to read."
)
MAX_NEW_TOKENS = 32
QUANTIZED_FLOOR = 0.40
FLOORS = {"fp32": 0.99, "q8": QUANTIZED_FLOOR, "q4": QUANTIZED_FLOOR}
# The tiny model's weights are random: its logits have many near-ties that quantization flips, so only a
# floor far above chance (1/vocab = 0.1%) is meaningful there.
RANDOM_MODEL_FLOOR = 0.10
# Browser tests stream the tiny model's answer: it must not stop (EOS) before this many varied tokens.
MIN_RANDOM_ANSWER_TOKENS = 20


def top1_agreement(logits: np.ndarray, reference: np.ndarray) -> float:
    """Share of positions whose most likely next token is the same in `logits` and `reference` ([T, V])."""
    logits, reference = np.asarray(logits), np.asarray(reference)
    if logits.shape != reference.shape or logits.ndim != 2 or logits.shape[0] == 0:
        raise ValueError(f"expected two [positions, vocab] arrays of one shape, got {logits.shape} and "
                         f"{reference.shape}")
    return float(np.mean(logits.argmax(-1) == reference.argmax(-1)))


def matching_prefix(a: list[int], b: list[int]) -> int:
    """How many leading tokens two sequences share."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


@dataclass
class OnnxDecoder:
    """A minimal greedy decoder over a decoder-with-past export (input_ids, attention_mask, [position_ids,]
    past_key_values.N.key/value -> logits, present.N.key/value)."""

    path: Path

    def __post_init__(self):
        import onnxruntime as ort

        start = time.perf_counter()
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        self.load_seconds = time.perf_counter() - start
        self.input_names = {i.name for i in self.session.get_inputs()}
        self.past = [i for i in self.session.get_inputs() if i.name.startswith("past_key_values.")]
        # [batch, kv heads, past length, head dim]: heads and head dim are fixed numbers in the graph.
        self.kv_heads, self.head_dim = self.past[0].shape[1], self.past[0].shape[3]

    def _run(self, ids: list[int], past: list[np.ndarray] | None) -> tuple[np.ndarray, list[np.ndarray]]:
        past_len = 0 if past is None else past[0].shape[2]
        if past is None:
            past = [np.zeros((1, self.kv_heads, 0, self.head_dim), np.float32) for _ in self.past]
        feed = {"input_ids": np.array([ids], np.int64),
                "attention_mask": np.ones((1, past_len + len(ids)), np.int64)}
        if "position_ids" in self.input_names:
            feed["position_ids"] = np.arange(past_len, past_len + len(ids), dtype=np.int64)[None]
        if "num_logits_to_keep" in self.input_names:  # 0: logits at every position
            feed["num_logits_to_keep"] = np.array(0, np.int64)
        feed.update({inp.name: value for inp, value in zip(self.past, past)})
        logits, *present = self.session.run(None, feed)
        return logits[0], present

    def logits(self, ids: list[int]) -> np.ndarray:
        """Next-token logits at every position of `ids`, in one pass ([len(ids), vocab])."""
        return self._run(ids, None)[0]

    def logits_step_by_step(self, ids: list[int]) -> np.ndarray:
        """The same logits as `logits`, computed one token per run with the past, as generation does."""
        rows, past = [], None
        for token in ids:
            logits, past = self._run([token], past)
            rows.append(logits[-1])
        return np.stack(rows)

    def greedy(self, prompt: list[int], max_new_tokens: int, eos: int) -> tuple[list[int], float]:
        """Greedy tokens after `prompt` (stopping after eos), and the decode speed in tokens/s."""
        logits, past = self._run(prompt, None)
        out = [int(logits[-1].argmax())]
        start = time.perf_counter()
        while out[-1] != eos and len(out) < max_new_tokens:
            logits, past = self._run([out[-1]], past)
            out.append(int(logits[-1].argmax()))
        elapsed = time.perf_counter() - start
        return out, (len(out) - 1) / elapsed if elapsed > 0 else 0.0


def run_check(model_dir: str, onnx_paths: dict[str, str], expect_answer: str | None = None,
              random_weights: bool = False, min_agreement: dict[str, float] | None = None) -> dict:
    """Check every ONNX file against the torch model in `model_dir` (a transformers folder).

    A model with `random_weights` gets the lower floor for quantized files, and must give a greedy answer
    long and varied enough for streaming tests; `min_agreement` ({dtype: share}) replaces floors. Returns the report; its "failures" list says, in words, every floor that was not met (empty: passed).
    """
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    prompt = tok.apply_chat_template([{"role": "user", "content": QUESTION}], add_generation_prompt=True,
                                     tokenize=True)
    prompt = list(prompt["input_ids"] if isinstance(prompt, dict) else prompt)
    text_ids = tok(AGREEMENT_TEXT, add_special_tokens=False)["input_ids"]
    if any(Path(model_dir).glob("*.safetensors")):
        generated, reference, eos = _torch_reference(model_dir, prompt, text_ids)
    elif "fp32" in onnx_paths:  # a ready-made folder without torch weights: its fp32 file is the reference
        decoder = OnnxDecoder(Path(onnx_paths["fp32"]))
        eos = _eos_id(model_dir)
        generated, reference = decoder.greedy(prompt, MAX_NEW_TOKENS, eos)[0], decoder.logits(text_ids)
    else:  # nothing to compare with: record what each file answers
        generated, reference, eos = None, None, _eos_id(model_dir)

    quantized_floor = RANDOM_MODEL_FLOOR if random_weights else QUANTIZED_FLOOR
    floors = {d: (min_agreement or {}).get(d, _floor(d, quantized_floor)) for d in onnx_paths}
    min_answer_tokens = MIN_RANDOM_ANSWER_TOKENS if random_weights else 0

    def answer(tokens: list[int]) -> str:
        return tok.decode(tokens, skip_special_tokens=True).strip()

    report = {
        "question": QUESTION, "prompt_tokens": len(prompt), "agreement_text_tokens": len(text_ids),
        "max_new_tokens": MAX_NEW_TOKENS, "floors": floors,
        "torch": {"answer": answer(generated), "tokens": generated} if generated is not None else None,
        "dtypes": {},
    }
    failures = []
    if expect_answer and generated is not None and expect_answer not in answer(generated):
        failures.append(f"the full-precision model's answer {answer(generated)!r} does not contain "
                        f"{expect_answer!r}: the conversion (weights or tokenizer) is likely wrong")
    if min_answer_tokens and generated is not None:
        before_eos = generated[:generated.index(eos)] if eos in generated else generated
        if len(before_eos) < min_answer_tokens or len(set(before_eos)) < min_answer_tokens // 3:
            failures.append(f"the torch model's greedy answer has {len(before_eos)} tokens before EOS "
                            f"({len(set(before_eos))} distinct); at least {min_answer_tokens} varied tokens "
                            "are needed (try another seed)")

    for dtype, path in onnx_paths.items():
        decoder = OnnxDecoder(Path(path))
        tokens, speed = decoder.greedy(prompt, MAX_NEW_TOKENS, eos)
        agreement = one_pass = None
        if reference is not None:
            agreement = top1_agreement(decoder.logits_step_by_step(text_ids), reference)
            one_pass = top1_agreement(decoder.logits(text_ids), reference)
        report["dtypes"][dtype] = {
            "answer": answer(tokens), "tokens": tokens,
            "same_tokens_as_reference": tokens == generated,
            "matching_prefix": matching_prefix(tokens, generated or []),
            "agreement": None if agreement is None else round(agreement, 4),
            "agreement_one_pass": None if one_pass is None else round(one_pass, 4),
            "load_seconds": round(decoder.load_seconds, 2), "decode_tokens_per_second": round(speed, 1),
        }
        floor = floors[dtype]
        if agreement is not None and agreement < floor:
            failures.append(f"{Path(path).name} ({dtype}) agrees with the torch model on {agreement:.0%} of "
                            f"next tokens; the floor is {floor:.0%}: the export or quantization is broken "
                            "or has regressed")
        if dtype == "fp32" and generated is not None and tokens != generated:
            failures.append(f"{Path(path).name} (fp32) answers {answer(tokens)!r}, torch answers "
                            f"{answer(generated)!r}: the fp32 export must reproduce the torch model")
    report["failures"] = failures
    return report


def _floor(dtype: str, quantized_floor: float) -> float:
    return FLOORS["fp32"] if dtype == "fp32" else quantized_floor


def _torch_reference(model_dir: str, prompt: list[int], text_ids: list[int]):
    """The float32 torch model's greedy answer, its logits over the agreement text, and its eos id."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    eos = model.generation_config.eos_token_id
    with torch.no_grad():
        generated = model.generate(torch.tensor([prompt]), do_sample=False, max_new_tokens=MAX_NEW_TOKENS,
                                   eos_token_id=eos, pad_token_id=eos)[0, len(prompt):].tolist()
        reference = model(torch.tensor([text_ids])).logits[0].numpy()
    return generated, reference, eos


def _eos_id(model_dir: str) -> int:
    import json

    for name in ("generation_config.json", "config.json"):
        path = Path(model_dir) / name
        if path.is_file():
            eos = json.loads(path.read_text(encoding="utf-8")).get("eos_token_id")
            if eos is not None:
                return eos[0] if isinstance(eos, list) else eos
    raise ValueError(f"{model_dir}: no eos_token_id in generation_config.json or config.json")
