"""How often the bundled model's answers are JSON of the schema asked for, with and without ask_json.

    .venv/bin/python bench/structured_output.py        # writes bench/results/structured-output.md

The bundled int8 file, greedy, run by native ONNX Runtime on CPython (the same graph the page runs; native
and WebAssembly int8 kernels can differ in the last bits). "Plain": the question alone, which names the
fields it wants, and the first JSON value in the answer is checked against the schema. "ask_json":
pagellm.structured.ask_json — the schema as an instruction, one retry with the problem.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "pysrc"))

from pagellm.engine import Delta, Final  # noqa: E402
from pagellm.errors import SchemaError  # noqa: E402
from pagellm.messages import Conversation  # noqa: E402
from pagellm.structured import ask_json, check  # noqa: E402

MODEL = ROOT / "models" / "build" / "smollm2-135m-instruct"
TASKS = [
    ("The capital of France and its population, as JSON with keys city and population.",
     {"type": "object", "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
      "required": ["city", "population"]}),
    ("Three colours of the rainbow, as a JSON list of strings.",
     {"type": "array", "items": {"type": "string"}, "minItems": 3}),
    ("Invent a person: JSON with name (a string) and age (a whole number).",
     {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
      "required": ["name", "age"]}),
    ("Is water wet? Answer as JSON with one key, answer, true or false.",
     {"type": "object", "properties": {"answer": {"type": "boolean"}}, "required": ["answer"]}),
    ("The sentiment of 'I love this film' as JSON: {\"sentiment\": positive, negative or neutral}.",
     {"type": "object", "properties": {"sentiment": {"enum": ["positive", "negative", "neutral"]}},
      "required": ["sentiment"]}),
    ("A famous book as JSON: book (with title and author) and year.",
     {"type": "object", "required": ["book", "year"], "properties": {
         "book": {"type": "object", "required": ["title", "author"],
                  "properties": {"title": {"type": "string"}, "author": {"type": "string"}}},
         "year": {"type": "integer"}}}),
]


class NativeEngine:
    """Greedy replies from the int8 ONNX file with native ONNX Runtime, behind the engine interface."""

    def __init__(self, max_new_tokens: int = 96):
        from transformers import AutoTokenizer

        from models.check import OnnxDecoder

        self.tokenizer = AutoTokenizer.from_pretrained(str(MODEL))
        self.decoder = OnnxDecoder(MODEL / "onnx" / "model_quantized.onnx")
        self.eos = self.tokenizer.convert_tokens_to_ids("<|im_end|>")
        self.max_new_tokens = max_new_tokens

    async def stream(self, conversation: Conversation, settings=None):
        ids = self.tokenizer.apply_chat_template(conversation.for_model(), add_generation_prompt=True)
        tokens, _ = self.decoder.greedy(list(ids), self.max_new_tokens, self.eos)
        yield Delta(self.tokenizer.decode(tokens, skip_special_tokens=True))
        yield Final("stop", len(tokens))


async def run() -> list[dict]:
    engine = NativeEngine()
    rows = []
    for question, schema in TASKS:
        chat = Conversation()
        chat.add_user(question)
        plain = "".join([e.text async for e in engine.stream(chat) if isinstance(e, Delta)])
        plain_ok = check(plain, schema)[1] is None
        try:
            value, helped = await ask_json(engine, chat, schema), None
        except SchemaError as err:
            value, helped = None, str(err)
        rows.append({"question": question, "plain_ok": plain_ok, "plain": plain[:160],
                     "ask_json_ok": helped is None, "ask_json": json.dumps(value)[:160] if helped is None else helped[:160]})
        print(f"{'ok ' if plain_ok else 'no '} / {'ok ' if helped is None else 'no '} {question}", flush=True)
    return rows


def main() -> int:
    rows = asyncio.run(run())
    plain, helped = sum(r["plain_ok"] for r in rows), sum(r["ask_json_ok"] for r in rows)
    lines = [f"# Structured output — {datetime.now():%Y-%m-%d %H:%M}", "",
             "SmolLM2-135M-Instruct int8 (the bundled file), greedy, native ONNX Runtime; "
             "`python bench/structured_output.py`.", "",
             f"Valid JSON of the schema: plain question {plain} of {len(rows)}; with `ask_json` {helped} of {len(rows)}.",
             "", "| question | plain | with ask_json |", "|---|---|---|"]
    for r in rows:
        cell = lambda ok, text: ("valid: " if ok else "invalid: ") + "`" + text.replace("|", "/").replace("\n", " ") + "`"  # noqa: E731
        lines.append(f"| {r['question']} | {cell(r['plain_ok'], r['plain'])} | {cell(r['ask_json_ok'], r['ask_json'])} |")
    out = ROOT / "bench" / "results" / "structured-output.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines[:5]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
