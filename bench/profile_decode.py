"""Where decode time goes: Chromium's sampling profiler on every thread while a reply is written.

    python build.py bench --profile [--tokens 128] [--model ID] [--only REGEX]
    .venv/bin/python bench/run.py --profile --quick

For pagellm (q8, 1 thread), the plain-JS Transformers.js page (same files, engine in a worker) and
wllama (1 thread), one reply each is traced (category disabled-by-default-v8.cpu_profiler, which
samples every JavaScript and WebAssembly thread of the page: main thread, workers, ONNX Runtime's
threads). Only the samples between the page's first-token and reply-done marks count, so this is
decode, not load or prefill. Each sample's function is put in a bucket by the script it comes from:

  ONNX Runtime kernels (wasm)   ort-wasm-*.wasm          Python (Pyodide wasm)   pyodide.asm.wasm
  ONNX Runtime glue (JS)        ort-wasm-*.mjs           Pyodide JS (FFI)        pyodide.asm.mjs, pyodide.mjs
  Transformers.js (JS)          transformers.min.js      PyScript                pyscript/*
  llama.cpp (wllama wasm)       wllama.wasm / its glue   page & other JS         everything else
  GC, (program) = V8/Blink native work, idle

Printed: per bucket, milliseconds per generated token summed over all threads, and the difference
pagellm minus plain JS, then pagellm's busiest functions. Written: bench/results/profile.md and
profile.json (and the raw traces with --keep-traces, bench/results/trace-<key>.json, large).
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections import defaultdict
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import drivers
from drivers import Contender
from harness import CHROMIUM_ARGS, find_gguf, loadavg, say

CATEGORIES = ["disabled-by-default-v8.cpu_profiler", "blink.user_timing", "__metadata"]
PROFILED = [
    Contender("pagellm-q8-t1", "pagellm", "pagellm q8, 1 thread", "q8", 1),
    Contender("tjs-q8-t1", "tjs", "plain-JS Transformers.js q8, 1 thread", "q8", 1),
    Contender("wllama-t1", "wllama", "wllama (GGUF), 1 thread", None, 1),
]
FIRST = {"pagellm": "pagellm:first-token"}
DONE = {"pagellm": "pagellm:reply-done"}


def _function_index(name: str) -> int:
    """12 for "wasm-function[12]", -1 for a named function."""
    if name.startswith("wasm-function[") and name.endswith("]"):
        return int(name[len("wasm-function["):-1])
    return -1


def bucket(frame: dict) -> str:
    name, url = frame.get("functionName", ""), frame.get("url", "") or ""
    if name == "(idle)":
        return "idle"
    if name == "(garbage collector)":
        return "GC"
    if name in ("(program)", "(root)"):
        return "(program): V8/Blink native"
    if name == "wasm-to-js" or name.startswith("js-to-wasm"):
        return "wasm <-> JS transitions"
    low = url.lower()
    wasm = low.endswith(".wasm") or frame.get("codeType") == "wasm"
    if "ort-wasm" in low:
        return "ONNX Runtime kernels (wasm)" if wasm else "ONNX Runtime glue (JS)"
    if "pyodide.asm.wasm" in low:
        return "Python (Pyodide wasm)"
    if "pyodide" in low:
        return "Pyodide JS (FFI)"
    if "transformers" in low:
        return "Transformers.js (JS)"
    if "pyscript" in low or "polyscript" in low or low.startswith("blob:"):
        return "PyScript"
    if "wllama" in low:
        return "llama.cpp (wllama wasm)" if wasm else "wllama glue (JS)"
    if "marked" in low or "purify" in low:
        return "markdown rendering (marked, DOMPurify)"
    if "/bench/" in low:
        return "bench page JS"
    if low.endswith(".js") and "/vendor/" not in low:
        return "pagellm page JS (web/*.js)"
    if low.startswith("wasm://") and _function_index(name) >= 1000:
        # ONNX Runtime's plain build is compiled from bytes, so the profiler names it by hash only; it is
        # the one large wasm module without a URL in these pages (the generated stubs are a few functions).
        return "ONNX Runtime kernels (wasm)"
    if low.startswith("wasm://") or wasm:
        return "other wasm (generated stubs)"
    if not low:
        return "browser built-ins & driver"
    return "other JS"


def thread_names(events: list[dict]) -> dict:
    """(pid, tid) -> the thread's name, from the trace's metadata."""
    return {(e["pid"], e["tid"]): e["args"].get("name", "") for e in events
            if e.get("ph") == "M" and e.get("name") == "thread_name"}


def samples(events: list[dict], names: dict):
    """Every profiler sample of the trace: (thread name, time µs of trace clock, µs it stands for, call frame)."""
    profiles: dict = {}
    for e in events:
        if e.get("name") == "Profile":
            profiles[(e["pid"], e.get("id"))] = {"thread": names.get((e["pid"], e["tid"]), str(e["tid"])),
                                                  "start": e["args"]["data"]["startTime"], "nodes": {},
                                                  "samples": [], "deltas": []}
    for e in events:
        profile = profiles.get((e["pid"], e.get("id"))) if e.get("name") == "ProfileChunk" else None
        if profile is None:
            continue
        cpu = e["args"]["data"].get("cpuProfile", {})
        for node in cpu.get("nodes", []):
            profile["nodes"][node["id"]] = node
        profile["samples"] += cpu.get("samples", [])
        profile["deltas"] += e["args"]["data"].get("timeDeltas", [])
    for profile in profiles.values():
        t = profile["start"]
        for node_id, delta in zip(profile["samples"], profile["deltas"]):
            t += delta
            yield profile["thread"], t, delta, profile["nodes"].get(node_id, {}).get("callFrame", {})


def parse(trace: dict, first_mark: str, done_mark: str) -> dict:
    """Self time per bucket/function/thread between the two marks (µs of trace clock)."""
    events = trace.get("traceEvents", trace if isinstance(trace, list) else [])
    names = thread_names(events)
    marks = defaultdict(list)
    for e in events:
        if e.get("cat", "").startswith("blink.user_timing") and e.get("name") in (first_mark, done_mark):
            marks[e["name"]].append(e["ts"])
    if not marks.get(first_mark) or not marks.get(done_mark):
        raise drivers.RunError(f"the trace has no {first_mark} / {done_mark} marks")
    start, end = min(marks[first_mark]), max(marks[done_mark])
    by_bucket: dict = defaultdict(float)
    by_function: dict = defaultdict(float)
    by_thread: dict = defaultdict(float)
    for thread, t, delta, frame in samples(events, names):
        if not start <= t <= end or delta <= 0:
            continue
        where = bucket(frame)
        by_bucket[where] += delta
        if where != "idle":
            by_thread[thread] += delta
            fn = frame.get("functionName") or "(anonymous)"
            by_function[f"{fn} [{Path(frame.get('url', '') or '?').name}]"] += delta
    return {"window_us": end - start, "buckets": dict(by_bucket), "functions": dict(by_function),
            "threads": dict(by_thread)}


def traced_reply(browser, base: str, c: Contender, args, guard) -> tuple[dict, dict]:
    context = drivers.new_context(browser, guard)
    try:
        page = context.new_page()
        if c.kind == "pagellm":
            page.goto(drivers.pagellm_url(base, args.model, c))
            drivers.wait_state(page)
            drivers.set_field(page, "[data-testid=max-tokens]", args.tokens)
            drivers.set_field(page, "[data-testid=temperature]", 0)
            drivers.set_field(page, "#repetition-penalty", 1)
            drivers.pagellm_settle(page, args.model)  # the service worker's first-visit work, not decode
            browser.start_tracing(categories=CATEGORIES)
            try:
                drivers.pagellm_send(page, drivers.PROMPT, drivers.generation_timeout_ms(args.tokens))
            finally:
                raw = browser.stop_tracing()
            count = int(page.get_by_test_id("stats").get_attribute("data-tokens") or 0)
        else:
            page.goto(drivers.js_page_url(base, c, args.model))
            drivers.wait_state(page)
            browser.start_tracing(categories=CATEGORIES)
            try:
                result = page.evaluate("(a) => window.benchGenerate(a)", {"prompt": drivers.PROMPT,
                                                                         "maxTokens": args.tokens})
            finally:
                raw = browser.stop_tracing()
            count = result["tokens"]
        trace = json.loads(raw)
        found = parse(trace, FIRST.get(c.kind, "bench:first-token"), DONE.get(c.kind, "bench:reply-done"))
        found["tokens"] = count
        return found, trace
    finally:
        context.close()


def per_token(found: dict, part: str) -> dict:
    tokens = max(1, found["tokens"] - 1)
    return {k: v / 1000.0 / tokens for k, v in sorted(found[part].items(), key=lambda kv: -kv[1])}


def render(results: dict, labels: dict, meta: dict) -> str:
    lines = [f"Decode profile, {meta['date']}, {meta['model']}, {meta['tokens']} tokens, {meta['browser']}, "
             f"load average {meta['loadavg']}. Chromium's sampling profiler on every thread of the page, between "
             "the first token and the end of the reply; milliseconds per generated token (all threads summed; "
             "idle = a thread waiting).", ""]
    keys = [k for k in labels if k in results]
    buckets = sorted({b for k in keys for b in results[k]["buckets"]},
                     key=lambda b: -max(results[k]["buckets"].get(b, 0) for k in keys))
    header = ["bucket"] + [labels[k] for k in keys]
    if "pagellm-q8-t1" in results and "tjs-q8-t1" in results:
        header.append("pagellm − plain JS")
    rows = []
    pt = {k: per_token(results[k], "buckets") for k in keys}
    for b in buckets:
        row = [b] + [f"{pt[k].get(b, 0):.2f}" for k in keys]
        if len(header) > len(keys) + 1:
            row.append(f"{pt['pagellm-q8-t1'].get(b, 0) - pt['tjs-q8-t1'].get(b, 0):+.2f}")
        rows.append(row)
    busy = ["busy (not idle), all threads"]
    wall = ["wall time per token"]
    for k in keys:
        busy.append(f"{sum(v for b, v in pt[k].items() if b != 'idle'):.2f}")
        wall.append(f"{results[k]['window_us'] / 1000.0 / max(1, results[k]['tokens'] - 1):.2f}")
    if len(header) > len(keys) + 1:
        busy.append(f"{float(busy[1]) - float(busy[2]):+.2f}")
        wall.append(f"{float(wall[1]) - float(wall[2]):+.2f}")
    rows += [busy, wall]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    for k in keys:
        lines += ["", f"Busy threads, {labels[k]} (ms per token): " + ", ".join(
            f"{t} {v:.2f}" for t, v in per_token(results[k], "threads").items())]
        top = list(per_token(results[k], "functions").items())[:12]
        lines += [f"Busiest functions, {labels[k]} (self ms per token): " + "; ".join(f"{f} {v:.2f}" for f, v in top)]
    return "\n".join(lines) + "\n"


@contextmanager
def profiling_browser(args, tokens: int, gguf=None):
    """(browser, base): the benchmark's site for this model and a headless Chromium, closed afterwards."""
    from playwright.sync_api import sync_playwright

    from webroot import BenchSite

    site = BenchSite.create(args.dist, [args.model], tokens, gguf=gguf, q4=False)
    _, base = site.serve()
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS, headless=True)
            try:
                yield browser, base
            finally:
                browser.close()
    finally:
        site.close()


def main(args) -> int:
    chosen = [c for c in PROFILED if not args.only or re.search(args.only, c.key)]
    gguf, _ = find_gguf(args) if any(c.kind == "wllama" for c in chosen) else (None, "")
    if gguf is None:
        chosen = [c for c in chosen if c.kind != "wllama"]
    results, labels = {}, {c.key: c.label for c in chosen}
    guard = drivers.Guard()
    with profiling_browser(args, args.tokens, gguf) as (browser, base):
        version = browser.version
        for c in chosen:
            t0 = time.monotonic()
            try:
                found, trace = traced_reply(browser, base, c, args, guard)
            except Exception as err:  # noqa: BLE001
                say(f"   {c.key}: FAILED {type(err).__name__}: {err}")
                continue
            results[c.key] = found
            if getattr(args, "keep_traces", False):
                (args.out / f"trace-{c.key}.json").write_text(json.dumps(trace))
            say(f"   {c.key}: {found['tokens']} tokens traced [{time.monotonic() - t0:.0f} s]")
    meta = {"date": datetime.now().strftime("%Y-%m-%d %H:%M"), "model": args.model, "tokens": args.tokens,
            "browser": f"Chromium {version}", "loadavg": loadavg()}
    text = render(results, labels, meta)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "profile.md").write_text(text)
    (args.out / "profile.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    say("")
    say(text)
    say(f"wrote {args.out / 'profile.md'} and profile.json")
    return 0 if results else 1
