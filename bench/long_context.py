"""Long prompts and growing chats, side by side in one run (part of `python build.py bench`).

    .venv/bin/python bench/long_context.py                  # defaults: 3 rounds, 128/512/1,024 tokens, 8 turns
    .venv/bin/python bench/long_context.py --runs 1 --lengths 128,512 --turns 4

Two measurements, every contender in each round, contenders alternating:
- prompt processing: a prompt of N tokens (chat template included) and a one-token reply; speed =
  prompt tokens / time to first token (send to the first text, seen by the page; in-process for the
  native runtimes, which need no decode step for it). Contenders: pagellm (int8, 1 thread), a
  plain-JavaScript Transformers.js page on the same files, wllama on the GGUF the model was converted
  from, llama.cpp natively on that GGUF, and ONNX Runtime natively on pagellm's very int8 file
  (one run over the whole prompt, logits for the last position).
- a growing chat: eight turns of ~90-token messages with 24-token greedy replies; the time to first token
  of each turn, for pagellm (its key/value cache kept between turns), the plain-JS page (which reads the
  whole chat again each turn, as a page without a cache does) and wllama (llama.cpp's prompt cache on).

Writes bench/results/long-context.md (commit it) and long-context.json (the raw runs, ignored by git).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import drivers  # noqa: E402
from drivers import MARKS_JS, Contender, new_context, pagellm_send, pagellm_url, set_field, wait_state  # noqa: E402
from harness import DEFAULT_MODEL, in_chromium  # noqa: E402
from pagellm.dtypes import onnx_path  # noqa: E402

REPLY_TOKENS = 24
# Plain prose, cut to the token counts the runs need (any text reads at the same speed).
PROSE = ("The lighthouse keeper rose before dawn, climbed the iron stairs and trimmed the wick. He polished the "
         "great lens, wound the clockwork that turned it, and wrote the weather in a ledger that had been kept "
         "without a missing day for ninety years. Ships passed at a respectful distance; gulls argued on the "
         "rail; the tide came in and went out again. In winter the storms were loud enough to shake the glass, "
         "and in summer the sea lay so still that the beam seemed to lie on it like a road. ")


class Texts:
    """Prompts of exact token counts, in the model's own chat template."""

    def __init__(self, model: str):
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(str(ROOT / "models" / "build" / model))
        self.words = (PROSE * 200).split()

    def ids(self, messages: list[dict]) -> list[int]:
        return list(self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True))

    def prompt(self, tokens: int) -> str:
        """A user message whose whole prompt (template included) is about `tokens` tokens. Each length starts
        with other words, so no prompt begins with another (a cache could not serve part of it)."""
        words = [f"({tokens})", *self.words[tokens % 97:]]
        low, high = 1, len(words)
        while low < high:  # the longest run of words that fits
            mid = (low + high + 1) // 2
            if len(self.ids([{"role": "user", "content": " ".join(words[:mid])}])) <= tokens:
                low = mid
            else:
                high = mid - 1
        return " ".join(words[:low])

    def chat_message(self, turn: int, tokens: int = 90) -> str:
        start = turn * 70
        return f"Part {turn + 1}: " + " ".join(self.words[start:start + tokens * 3 // 4])


# -- contenders ------------------------------------------------------------------------------------

def run_pagellm(browser, base, guard, model, texts, lengths, turns) -> dict:
    context = new_context(browser, guard)
    try:
        page = context.new_page()
        page.goto(pagellm_url(base, model, Contender("pagellm", "pagellm", "", "q8", 1)))
        wait_state(page)
        set_field(page, "[data-testid=temperature]", 0)
        set_field(page, "#repetition-penalty", 1)

        def send(text: str, tokens: int) -> dict:
            set_field(page, "[data-testid=max-tokens]", tokens)
            page.evaluate("() => performance.clearMarks()")
            sent = pagellm_send(page, text, drivers.generation_timeout_ms(tokens) + 120_000)
            first = page.evaluate(MARKS_JS, ["pagellm:first-token"])["pagellm:first-token"]
            stats = page.get_by_test_id("stats")
            return {"ttft_s": (first - sent) / 1000, "prompt_tokens": int(stats.get_attribute("data-prompt-tokens")),
                    "reused_tokens": int(stats.get_attribute("data-reused-tokens") or 0)}

        out = {"prompt": {}, "chat": []}
        for turn in range(turns):  # the chat first: its first turn follows nothing but the load
            out["chat"].append(send(texts.chat_message(turn), REPLY_TOKENS))
        for n in lengths:
            page.get_by_test_id("new-chat").click()
            out["prompt"][n] = send(texts.prompt(n), 1)
        return out
    finally:
        context.close()


def run_js_page(browser, base, guard, model, texts, lengths, turns, kind) -> dict:
    context = new_context(browser, guard)
    try:
        page = context.new_page()
        c = Contender(kind, kind, "", "q8", 1)
        url = drivers.js_page_url(base, c, model) + ("&ctx=4096" if kind == "wllama" else "")
        page.goto(url)
        wait_state(page)

        def generate(args: dict) -> dict:
            result = page.evaluate("(a) => window.benchGenerate(a)", args)
            return {"ttft_s": (result["first_text"] - result["sent"]) / 1000,
                    "prompt_tokens": result.get("prompt_tokens"), "text": result.get("text") or ""}

        out = {"prompt": {}, "chat": []}
        messages: list[dict] = []
        for turn in range(turns):
            messages.append({"role": "user", "content": texts.chat_message(turn)})
            reply = generate({"messages": messages, "maxTokens": REPLY_TOKENS, "cachePrompt": True})
            messages.append({"role": "assistant", "content": reply.pop("text")})
            out["chat"].append(reply)
        for n in lengths:
            out["prompt"][n] = generate({"prompt": texts.prompt(n), "maxTokens": 1})
        for record in out["prompt"].values():
            record.pop("text", None)
        return out
    finally:
        context.close()


def run_llamacpp(gguf: Path, texts, lengths) -> dict:
    from llama_cpp import Llama

    llm = Llama(model_path=str(gguf), n_ctx=max(lengths) + 64, n_batch=512, n_threads=1, n_threads_batch=1,
                n_gpu_layers=0, verbose=False)
    out = {"prompt": {}}
    try:
        for n in lengths:
            text = texts.tokenizer.apply_chat_template([{"role": "user", "content": texts.prompt(n)}],
                                                      add_generation_prompt=True, tokenize=False)
            tokens = llm.tokenize(text.encode(), add_bos=False, special=True)
            llm.reset()
            started = time.perf_counter()
            llm.eval(tokens)
            out["prompt"][n] = {"ttft_s": time.perf_counter() - started, "prompt_tokens": len(tokens)}
    finally:
        if hasattr(llm, "close"):
            llm.close()
    return out


def run_onnxruntime(onnx_file: Path, texts, lengths) -> dict:
    import numpy as np
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])
    names = {i.name for i in session.get_inputs()}
    past = [i for i in session.get_inputs() if i.name.startswith("past_key_values.")]
    out = {"prompt": {}}
    for n in lengths:
        ids = texts.ids([{"role": "user", "content": texts.prompt(n)}])
        feeds = {"input_ids": np.array([ids], np.int64), "attention_mask": np.ones((1, len(ids)), np.int64)}
        feeds.update({i.name: np.zeros((1, i.shape[1], 0, i.shape[3]), np.float32) for i in past})
        if "num_logits_to_keep" in names:
            feeds["num_logits_to_keep"] = np.array(1, np.int64)
        started = time.perf_counter()
        session.run(["logits"], feeds)
        out["prompt"][n] = {"ttft_s": time.perf_counter() - started, "prompt_tokens": len(ids)}
    return out


LABELS = {"pagellm": "pagellm (int8, 1 thread)", "tjs": "plain-JS Transformers.js (same files)",
          "wllama": "wllama (GGUF)", "llamacpp": "llama.cpp native (GGUF)",
          "onnxruntime": "ONNX Runtime native (same int8 file)"}


# -- report ----------------------------------------------------------------------------------------

def medians(runs: list[dict], lengths, turns) -> dict:
    summary: dict = {}
    for key in LABELS:
        done = [r["result"] for r in runs if r["contender"] == key and "result" in r]
        if not done:
            continue
        entry = {"prompt": {}, "chat": {}}
        for n in lengths:
            rates = [(p["prompt_tokens"] - p.get("reused_tokens", 0)) / p["ttft_s"]
                     for r in done if (p := r["prompt"].get(n)) and p["ttft_s"]]
            times = [r["prompt"][n]["ttft_s"] for r in done if n in r["prompt"]]
            if rates:
                entry["prompt"][n] = {"tps": statistics.median(rates), "s": statistics.median(times)}
        for turn in range(turns):
            values = [r["chat"][turn]["ttft_s"] for r in done if len(r.get("chat", [])) > turn]
            if values:
                entry["chat"][turn + 1] = statistics.median(values)
        summary[key] = entry
    return summary


def markdown(summary: dict, meta: dict, lengths, turns) -> str:
    def tps(key, n):
        value = summary.get(key, {}).get("prompt", {}).get(n)
        return f"{value['tps']:.0f} tok/s ({value['s']:.2f} s)" if value else "—"

    lines = [f"# Long prompts and growing chats — {meta['date']}", "",
             f"{meta['machine']}; {meta['browser']}; model {meta['model']}; medians of {meta['runs']} rounds, "
             f"contenders alternating; load average {meta['loadavg_before']} before, {meta['loadavg_after']} after; "
             f"`{meta['command']}`.", "",
             "## Prompt processing (prompt tokens / time to first token)", "",
             "| prompt tokens | " + " | ".join(LABELS[k] for k in LABELS if k in summary) + " | pagellm ÷ native ORT |",
             "|---|" + "---|" * (len([k for k in LABELS if k in summary]) + 1)]
    for n in lengths:
        ours = summary.get("pagellm", {}).get("prompt", {}).get(n)
        native = summary.get("onnxruntime", {}).get("prompt", {}).get(n)
        ratio = f"{ours['tps'] / native['tps']:.2f}x" if ours and native else "—"
        lines.append(f"| {n} | " + " | ".join(tps(k, n) for k in LABELS if k in summary) + f" | {ratio} |")
    ours, native = (summary.get(k, {}).get("prompt", {}).get(max(lengths)) for k in ("pagellm", "onnxruntime"))
    if ours and native:
        lines += ["", f"A {max(lengths):,}-token prompt pasted in the page reaches its first token in {ours['s']:.2f} s; "
                      f"native ONNX Runtime reads it in {native['s']:.2f} s ({native['s'] / ours['s']:.2f}x of its time)."]
    chat_keys = [k for k in ("pagellm", "tjs", "wllama") if summary.get(k, {}).get("chat")]
    shown = [t for t in range(1, turns + 1) if t in (1, 2, 4, 6, 8) or t == turns]
    lines += ["", f"## Time to first token as a chat grows (~90-token messages, {REPLY_TOKENS}-token replies)", "",
              "| turn | " + " | ".join(LABELS[k] for k in chat_keys) + " |", "|---|" + "---|" * len(chat_keys)]
    for t in shown:
        cells = [f"{summary[k]['chat'][t]:.2f} s" if t in summary[k]["chat"] else "—" for k in chat_keys]
        lines.append(f"| {t} | " + " | ".join(cells) + " |")
    ratio_cells = []
    for k in chat_keys:
        chat = summary[k]["chat"]
        ratio_cells.append(f"{chat[turns] / chat[1]:.2f}x" if 1 in chat and turns in chat else "—")
    lines.append(f"| turn {turns} ÷ turn 1 | " + " | ".join(ratio_cells) + " |")
    return "\n".join(lines) + "\n"


# -- main ------------------------------------------------------------------------------------------

def run(browser, base: str, *, model: str, gguf: Path | None, runs: int, lengths: list[int], turns: int,
        say=print, only: str | None = None) -> tuple[list[dict], dict]:
    texts = Texts(model)
    guard = drivers.Guard()
    onnx_file = ROOT / "models" / "build" / model / onnx_path("q8")
    contenders = {
        "pagellm": lambda: run_pagellm(browser, base, guard, model, texts, lengths, turns),
        "tjs": lambda: run_js_page(browser, base, guard, model, texts, lengths, turns, "tjs"),
        "onnxruntime": lambda: run_onnxruntime(onnx_file, texts, lengths),
    }
    if gguf is not None:
        contenders["wllama"] = lambda: run_js_page(browser, base, guard, model, texts, lengths, turns, "wllama")
        contenders["llamacpp"] = lambda: run_llamacpp(gguf, texts, lengths)
    records = []
    keys = [k for k in contenders if not only or re.search(only, k)]
    for index in range(runs):
        order = keys[index % len(keys):] + keys[:index % len(keys)]
        say(f"-- long context round {index + 1}/{runs}")
        for key in order:
            started = time.monotonic()
            record = {"contender": key, "round": index + 1}
            try:
                record["result"] = contenders[key]()
                prompt = record["result"]["prompt"]
                say(f"   {key:<12} " + ", ".join(f"{n}: {p['ttft_s']:.2f} s" for n, p in prompt.items())
                    + (f"; chat turns 1/{turns}: {record['result']['chat'][0]['ttft_s']:.2f} / "
                       f"{record['result']['chat'][-1]['ttft_s']:.2f} s" if record["result"].get("chat") else "")
                    + f"  [{time.monotonic() - started:.0f} s]")
            except Exception as err:  # noqa: BLE001 - one failed run must not end the benchmark
                record["error"] = f"{type(err).__name__}: {str(err).splitlines()[0][:300] if str(err) else ''}"
                say(f"   {key:<12} FAILED: {record['error']}")
            records.append(record)
    if guard.outside:
        say(f"WARNING: pages tried to reach beyond loopback (aborted): {sorted(set(guard.outside))[:5]}")
    return records, medians(records, lengths, turns)


def write(out: Path, records: list[dict], summary: dict, meta: dict, lengths, turns) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    (out / "long-context.json").write_text(json.dumps({"meta": meta, "runs": records, "summary": summary}, indent=1,
                                                      default=str))
    path = out / "long-context.md"
    path.write_text(markdown(summary, meta, lengths, turns))
    return path


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench/long_context.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--lengths", default="128,512,1024")
    parser.add_argument("--turns", type=int, default=8)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--only", help="regular expression: run only the contenders whose key matches")
    parser.add_argument("--dist", type=Path, default=ROOT / "dist")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    lengths = [int(n) for n in args.lengths.split(",")]
    records, summary, meta = in_chromium(
        args.dist, args.model, REPLY_TOKENS, "python bench/long_context.py " + " ".join(argv),
        lambda browser, base, gguf: run(browser, base, model=args.model, gguf=gguf, runs=args.runs, lengths=lengths,
                                        turns=args.turns, only=args.only))
    meta["runs"] = args.runs
    path = write(args.out, records, summary, meta, lengths, args.turns)
    print(path.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
