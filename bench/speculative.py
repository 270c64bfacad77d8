"""Decoding speed with and without speculative decoding, on four tasks, side by side in one run.

    .venv/bin/python bench/speculative.py                 # 3 rounds, 96-token greedy replies
    .venv/bin/python bench/speculative.py --runs 1 --tokens 64
    python build.py bench --speculative-only              # the same (part of `python build.py bench`)

Tasks: an open-ended story, repeating a given passage, correcting a given function, answering from a given
passage. Contenders, each task in each round, the order rotating:
- pagellm (int8, 1 thread), speculative decoding off and on (the settings panel's choice), in one page;
  the replies with and without it are compared word for word (greedy decoding: they must be equal);
- native llama.cpp (llama-cpp-python, 1 thread) on the GGUF the model was converted from, plain and with
  its prompt-lookup decoding (`LlamaPromptLookupDecoding`, 10 tokens per draft);
- the plain-JavaScript Transformers.js page (same files) and wllama (the GGUF), as they come.
Decode speed is tokens after the first / their time (the engine's own clock where it has one). Greedy, no
repetition penalty, at most --tokens tokens (a reply may end sooner).

Writes bench/results/speculative.md and speculative.json (the raw runs; commit both).
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
from drivers import Contender, new_context, pagellm_send, pagellm_url, rate, set_field, wait_state  # noqa: E402
from harness import DEFAULT_MODEL, in_chromium  # noqa: E402

PASSAGE = ("The lighthouse on Carrow Point was built in 1871 from granite cut on the island itself. Its lamp "
           "burned paraffin until 1923, when a clockwork mechanism and an electric bulb replaced the keeper's "
           "nightly climb. The last keeper, Agnes Moyle, left in 1961 and wrote that she missed the storms more "
           "than the calm, because in a storm the light had work to do.")
FUNCTION = ("def average(numbers):\n    total = 0\n    for n in numbers:\n        total += n\n"
            "    return total / len(number)\n")
TASKS = {
    "story": "Write a short story about a lighthouse keeper and a storm.",
    "repeat": f"Repeat this passage word for word:\n\n{PASSAGE}",
    "correct": f"Fix the bug in this Python function and give the whole corrected function:\n\n```python\n{FUNCTION}```",
    "answer": f"Read the passage, then answer in full sentences: when was the lighthouse built, and who was its "
              f"last keeper?\n\n{PASSAGE}",
}
TOKENS = 96  # at most, per reply
LABELS = {"pagellm-off": "pagellm, speculation off", "pagellm-on": "pagellm, speculation on",
          "llamacpp-off": "llama.cpp native", "llamacpp-on": "llama.cpp native + prompt lookup",
          "tjs": "plain-JS Transformers.js", "wllama": "wllama (GGUF)"}


# -- contenders ------------------------------------------------------------------------------------

class PagellmPage:
    """One pagellm page (int8, 1 thread, greedy, no repetition penalty) kept open for every reply."""

    def __init__(self, browser, base: str, guard, model: str):
        self.context = new_context(browser, guard)
        self.page = self.context.new_page()
        self.page.goto(pagellm_url(base, model, Contender("pagellm", "pagellm", "", "q8", 1)))
        wait_state(self.page)
        set_field(self.page, "[data-testid=temperature]", 0)
        set_field(self.page, "#repetition-penalty", 1)

    def reply(self, prompt: str, tokens: int, speculative: bool) -> dict:
        set_field(self.page, "[data-testid=max-tokens]", tokens)
        set_field(self.page, "#speculative", "on" if speculative else "off")
        self.page.get_by_test_id("new-chat").click()
        self.page.evaluate("() => performance.clearMarks()")  # pagellm_send waits for this reply's mark
        pagellm_send(self.page, prompt, drivers.generation_timeout_ms(tokens) + 60_000)
        stats = self.page.get_by_test_id("stats")
        number = lambda name: float(v) if (v := stats.get_attribute(name)) else None  # noqa: E731
        text = self.page.locator("[data-testid=message][data-role=assistant] .content").last.inner_text()
        return {"tps": number("data-tokens-per-second"), "tokens": number("data-tokens"),
                "drafted": number("data-drafted-tokens"), "accepted": number("data-accepted-tokens"), "text": text}

    def close(self) -> None:
        self.context.close()


class JsPage:
    """The plain-JS Transformers.js page or wllama, kept open; each reply from a fresh prompt."""

    def __init__(self, browser, base: str, guard, model: str, kind: str):
        self.context = new_context(browser, guard)
        self.page = self.context.new_page()
        self.page.goto(drivers.js_page_url(base, Contender(kind, kind, "", "q8", 1), model))
        wait_state(self.page)

    def reply(self, prompt: str, tokens: int) -> dict:
        result = self.page.evaluate("(a) => window.benchGenerate(a)", {"prompt": prompt, "maxTokens": tokens})
        return {"tps": rate(result["tokens"], result.get("engine_first"), result.get("engine_last")),
                "tokens": result["tokens"], "text": result.get("text") or ""}

    def close(self) -> None:
        self.context.close()


class LlamaCpp:
    """llama.cpp natively, one thread, with or without prompt-lookup drafts."""

    def __init__(self, gguf: Path, lookup: bool):
        from llama_cpp import Llama
        from llama_cpp.llama_speculative import LlamaPromptLookupDecoding

        draft = LlamaPromptLookupDecoding(num_pred_tokens=10) if lookup else None
        self.llm = Llama(model_path=str(gguf), n_ctx=2048, n_threads=1, n_threads_batch=1, n_gpu_layers=0,
                         verbose=False, draft_model=draft)

    def reply(self, prompt: str, tokens: int) -> dict:
        stamps, pieces = [], []
        for chunk in self.llm.create_chat_completion(messages=[{"role": "user", "content": prompt}],
                                                     max_tokens=tokens, temperature=0.0, top_k=1,
                                                     repeat_penalty=1.0, stream=True):
            piece = chunk["choices"][0]["delta"].get("content")
            if piece:
                stamps.append(time.perf_counter())
                pieces.append(piece)
        text = "".join(pieces)
        count = len(self.llm.tokenize(text.encode(), add_bos=False))
        return {"tps": rate(count, stamps[0], stamps[-1], unit=1.0) if stamps else None, "tokens": count,
                "text": text}

    def close(self) -> None:
        if hasattr(self.llm, "close"):
            self.llm.close()


# -- run -------------------------------------------------------------------------------------------

def run(browser, base: str, *, model: str, gguf: Path | None, runs: int, tokens: int, say=print,
        only: str | None = None) -> tuple[list[dict], dict]:
    guard = drivers.Guard()
    opened: dict = {}

    def contender(key):
        if key not in opened:
            if key.startswith("pagellm"):
                opened[key] = opened.get("pagellm-on") or opened.get("pagellm-off") or PagellmPage(browser, base, guard, model)
            elif key.startswith("llamacpp"):
                opened[key] = LlamaCpp(gguf, lookup=key.endswith("-on"))
            else:
                opened[key] = JsPage(browser, base, guard, model, key)
        return opened[key]

    def reply(key, prompt):
        engine = contender(key)
        if key.startswith("pagellm"):
            return engine.reply(prompt, tokens, speculative=key.endswith("-on"))
        return engine.reply(prompt, tokens)

    keys = ["pagellm-off", "pagellm-on", "tjs"] + (["llamacpp-off", "llamacpp-on", "wllama"] if gguf else [])
    keys = [k for k in keys if not only or re.search(only, k)]
    records = []
    try:
        for index in range(runs):
            say(f"-- speculative decoding round {index + 1}/{runs}")
            for task, prompt in TASKS.items():
                order = keys[index % len(keys):] + keys[:index % len(keys)]
                for key in order:
                    record = {"contender": key, "task": task, "round": index + 1}
                    try:
                        record["result"] = reply(key, prompt)
                        r = record["result"]
                        extra = f", {r['accepted'] or 0:.0f} of {r['drafted']:.0f} drafted kept" if r.get("drafted") else ""
                        say(f"   {task:<8} {key:<13} {r['tps'] or 0:6.1f} tok/s ({r['tokens']} tokens{extra})")
                    except Exception as err:  # noqa: BLE001 - one failed reply must not end the benchmark
                        record["error"] = f"{type(err).__name__}: {str(err).splitlines()[0][:300] if str(err) else ''}"
                        say(f"   {task:<8} {key:<13} FAILED: {record['error']}")
                    records.append(record)
    finally:
        for engine in {id(e): e for e in opened.values()}.values():
            engine.close()
    if guard.outside:
        say(f"WARNING: pages tried to reach beyond loopback (aborted): {sorted(set(guard.outside))[:5]}")
    return records, summarize(records)


def summarize(records: list[dict]) -> dict:
    summary: dict = {}
    for task in TASKS:
        for key in LABELS:
            done = [r["result"] for r in records if r["contender"] == key and r["task"] == task and "result" in r]
            rates = [d["tps"] for d in done if d.get("tps")]
            if not rates:
                continue
            entry = {"tps": statistics.median(rates), "tokens": statistics.median(d["tokens"] for d in done)}
            if any(d.get("drafted") for d in done):
                entry["accepted"] = sum(d.get("accepted") or 0 for d in done)
                entry["drafted"] = sum(d.get("drafted") or 0 for d in done)
            summary.setdefault(task, {})[key] = entry
        on = [r["result"]["text"] for r in records if r["contender"] == "pagellm-on" and r["task"] == task and "result" in r]
        off = [r["result"]["text"] for r in records if r["contender"] == "pagellm-off" and r["task"] == task and "result" in r]
        if on and off:
            summary.setdefault(task, {})["same_text"] = set(on) == set(off) and len(set(on)) == 1
    return summary


def markdown(summary: dict, meta: dict) -> str:
    keys = [k for k in LABELS if any(k in summary.get(t, {}) for t in TASKS)]
    lines = [f"# Speculative decoding — {meta['date']}", "",
             f"{meta['machine']}; {meta['browser']}; model {meta['model']}; greedy, no repetition penalty, at most "
             f"{meta['tokens']} tokens; medians of {meta['runs']} rounds, contenders alternating; load average "
             f"{meta['loadavg_before']} before, {meta['loadavg_after']} after; `{meta['command']}`.", "",
             "Decode tokens/s (tokens after the first / their time):", "",
             "| task | " + " | ".join(LABELS[k] for k in keys) + " | pagellm on ÷ off | llama.cpp on ÷ off |",
             "|---|" + "---|" * (len(keys) + 2)]

    def cell(task, key):
        e = summary.get(task, {}).get(key)
        if not e:
            return "—"
        drafted = f" ({e['accepted']:.0f} of {e['drafted']:.0f} drafted kept)" if e.get("drafted") else ""
        return f"{e['tps']:.1f}{drafted}"

    def ratio(task, a, b):
        x, y = summary.get(task, {}).get(a), summary.get(task, {}).get(b)
        return f"{x['tps'] / y['tps']:.2f}x" if x and y else "—"

    for task in TASKS:
        lines.append(f"| {task} | " + " | ".join(cell(task, k) for k in keys)
                     + f" | {ratio(task, 'pagellm-on', 'pagellm-off')} | {ratio(task, 'llamacpp-on', 'llamacpp-off')} |")
    same = {t: summary.get(t, {}).get("same_text") for t in TASKS}
    repeat, story = summary.get("repeat", {}).get("pagellm-on"), summary.get("story", {}).get("pagellm-on")
    lines += [""]
    if repeat and story:
        lines.append(f"pagellm with speculation: repeating a passage decodes at {repeat['tps'] / story['tps']:.2f}x "
                     f"the tokens/s of the open-ended story in the same run (bar: 2x); the story with speculation "
                     f"runs at {ratio('story', 'pagellm-on', 'pagellm-off')} of it without (bar: 0.97x).")
    lines.append("pagellm's replies are held to the full length (the bench site's generation_config.json sets "
                 "min_new_tokens); llama.cpp's may end sooner at end-of-sequence, which leaves tokens/s comparable. "
                 "llama-cpp-python's prompt lookup has no back-off: it drafts whenever a 1- or 2-token n-gram matches, and "
                 "on open text those drafts cost more than they save.")
    lines.append("Replies with and without speculation, word for word: "
                 + ", ".join(f"{t} {'same' if v else 'DIFFERENT' if v is not None else '—'}" for t, v in same.items()) + ".")
    return "\n".join(lines) + "\n"


def write(out: Path, records: list[dict], summary: dict, meta: dict) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    (out / "speculative.json").write_text(json.dumps({"meta": meta, "runs": records, "summary": summary}, indent=1,
                                                     default=str))
    path = out / "speculative.md"
    path.write_text(markdown(summary, meta))
    return path


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench/speculative.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=TOKENS)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--only", help="regular expression: run only the contenders whose key matches")
    parser.add_argument("--dist", type=Path, default=ROOT / "dist")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--print-prompts", action="store_true",
                        help="print each task's prompt token ids (chat template included) as JSON and exit "
                             "(for bench/tune_speculation.mjs)")
    args = parser.parse_args(argv)
    if args.print_prompts:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(ROOT / "models" / "build" / args.model))
        print(json.dumps({task: list(tokenizer.apply_chat_template([{"role": "user", "content": text}],
                                                                   add_generation_prompt=True, tokenize=True))
                          for task, text in TASKS.items()}))
        return 0
    records, summary, meta = in_chromium(
        args.dist, args.model, args.tokens, "python bench/speculative.py " + " ".join(argv),
        lambda browser, base, gguf: run(browser, base, model=args.model, gguf=gguf, runs=args.runs,
                                        tokens=args.tokens, only=args.only))
    meta.update(runs=args.runs, tokens=args.tokens)
    path = write(args.out, records, summary, meta)
    print(path.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
