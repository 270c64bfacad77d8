"""Where a visit's start-up goes: navigation to the first token, traced on every thread.

    .venv/bin/python bench/run.py --profile-startup [--first-visit] [--dist DIR] [--model ID]

For pagellm (q8, 1 thread) and the plain-JS Transformers.js page, one first visit fills the caches (pagellm
also waits for its service worker), then the return visit is traced from navigation to the first token of a
short reply (--first-visit: the first visit itself, in a fresh browser context; startup-first-visit.md):
Chromium's sampling profiler on every thread plus the user-timing marks each thread sets (the page's and the
worker's: pagellm:*, bench:*). Written: bench/results/startup.md, a timeline per contender: the marks in
order with their thread, and per thread and 250 ms slice what kept it busy (profile_decode.bucket's
components), so the serial waits show as one thread busy while the others idle.
Each traced visit runs twice: with marks only (the times), then with the profiler (what runs; slower).
"""

from __future__ import annotations

import json
import re
import time
from collections import defaultdict
from datetime import datetime

import drivers
from drivers import Contender
from harness import loadavg, say
from profile_decode import bucket, profiling_browser, samples, thread_names

MARKS = ["blink.user_timing", "__metadata"]
CATEGORIES = ["disabled-by-default-v8.cpu_profiler", *MARKS]
PROFILED = [
    Contender("pagellm-q8-t1", "pagellm", "pagellm q8, 1 thread", "q8", 1),
    Contender("tjs-q8-t1", "tjs", "plain-JS Transformers.js q8, 1 thread", "q8", 1),
]
SLICE_MS = 250
SHORT = {"ONNX Runtime kernels (wasm)": "ORT wasm", "ONNX Runtime glue (JS)": "ORT JS",
         "Python (Pyodide wasm)": "Python", "Pyodide JS (FFI)": "Pyodide JS", "Transformers.js (JS)": "T.js",
         "(program): V8/Blink native": "native", "pagellm page JS (web/*.js)": "page JS",
         "other wasm (generated stubs)": "wasm stubs", "browser built-ins & driver": "built-ins",
         "markdown rendering (marked, DOMPurify)": "markdown", "wasm <-> JS transitions": "wasm<->JS"}


def traced_visit(browser, base: str, c: Contender, model: str, guard, categories: list[str],
                 first_visit: bool = False) -> tuple[dict, float]:
    """The trace of a return visit (or of the first visit), and the page's time of its first token (ms
    after navigation)."""
    context = drivers.new_context(browser, guard)
    try:
        page = context.new_page()
        pagellm = c.kind == "pagellm"
        url = drivers.pagellm_url(base, model, c) if pagellm else drivers.js_page_url(base, c, model)

        def visit():
            if not pagellm:
                return drivers.js_visit(page, url, drivers.PROBE_TOKENS)
            page.goto(url)
            drivers.wait_state(page)
            return drivers.pagellm_generate(page, drivers.PROBE_TOKENS)

        if not first_visit:
            visit()
            if pagellm:
                drivers.pagellm_settle(page, model)
        browser.start_tracing(page=None, categories=categories)
        try:
            reply = visit()
        finally:
            raw = browser.stop_tracing()
        return json.loads(raw), reply["open_first_token_s"] * 1000
    finally:
        context.close()


def timeline(trace: dict, first_token_ms: float) -> dict:
    """Marks (ms after navigation, thread) and per-thread busy time by bucket in SLICE_MS slices."""
    events = trace.get("traceEvents", trace if isinstance(trace, list) else [])
    names = thread_names(events)
    marks = [(e["ts"], e["name"], names.get((e["pid"], e["tid"]), str(e["tid"]))) for e in events
             if e.get("cat", "").startswith("blink.user_timing") and e.get("ph") in ("I", "R", "n", "b")
             and ":" in e.get("name", "")]
    # The page's first-token mark is at first_token_ms after navigation: that fixes the origin.
    anchor = [ts for ts, name, _ in marks if name in ("pagellm:first-token", "bench:first-token")]
    nav = [e["ts"] for e in events if e.get("name") == "navigationStart"]
    origin = max(nav) if nav else (min(anchor) - first_token_ms * 1000 if anchor else min(ts for ts, *_ in marks))
    end = origin + first_token_ms * 1000
    slices: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(float)))
    totals: dict = defaultdict(lambda: defaultdict(float))
    for thread, t, delta, frame in samples(events, names):
        where = bucket(frame)
        if not origin <= t <= end or delta <= 0 or where == "idle":
            continue
        slot = int((t - origin) / 1000 // SLICE_MS)
        slices[thread][slot][where] += delta / 1000
        totals[thread][where] += delta / 1000
    return {"first_token_ms": first_token_ms,
            "marks": sorted(((ts - origin) / 1000, name, thread) for ts, name, thread in marks if ts <= end + 1e5),
            "slices": {t: {k: dict(v) for k, v in s.items()} for t, s in slices.items()},
            "totals": {t: dict(v) for t, v in totals.items()}}


def render(results: dict, labels: dict, meta: dict) -> str:
    lines = [f"{meta['visit']} start-up, {meta['date']}, {meta['model']}, {meta['browser']}, load average "
             f"{meta['loadavg']}: navigation to the first token of a short reply, Chromium's sampling profiler "
             f"on every thread of the page. Reproduce: `{meta['command']}`.", ""]
    for key, found in results.items():
        plain = found["plain"]
        lines += [f"## {labels[key]}: first token at {plain['first_token_ms'] / 1000:.2f} s", "",
                  "Marks without the profiler (ms after navigation, thread):", ""]
        lines += [f"- {ms:7.0f}  {name}  ({thread})" for ms, name, thread in plain["marks"]]
        lines += ["", f"With the sampling profiler (first token at {found['first_token_ms'] / 1000:.2f} s; Python "
                  "in wasm is slowed most):", ""]
        lines += [f"- {ms:7.0f}  {name}  ({thread})" for ms, name, thread in found["marks"]]
        threads = sorted(found["totals"], key=lambda t: -sum(found["totals"][t].values()))
        threads = [t for t in threads if sum(found["totals"][t].values()) >= 20]
        lines += ["", f"Busy time per {SLICE_MS} ms slice (ms; the two largest components):", "",
                  "| from (s) | " + " | ".join(threads) + " |", "|---|" + "---|" * len(threads)]
        last = int(found["first_token_ms"] // SLICE_MS)
        for slot in range(last + 1):
            row = [f"{slot * SLICE_MS / 1000:.2f}"]
            for thread in threads:
                parts = found["slices"].get(thread, {}).get(slot, {})
                busy = sum(parts.values())
                top = sorted(parts.items(), key=lambda kv: -kv[1])[:2]
                row.append(f"{busy:.0f}: " + ", ".join(f"{SHORT.get(b, b)} {v:.0f}" for b, v in top) if busy >= 5 else "")
            lines.append("| " + " | ".join(row) + " |")
        lines += ["", "Busy time by component and thread, navigation to first token (ms): " + "; ".join(
            f"{t}: " + ", ".join(f"{SHORT.get(b, b)} {v:.0f}" for b, v in
                                 sorted(found["totals"][t].items(), key=lambda kv: -kv[1])[:6])
            for t in threads), ""]
    return "\n".join(lines)


def main(args) -> int:
    chosen = [c for c in PROFILED if not args.only or re.search(args.only, c.key)]
    first_visit = getattr(args, "first_visit", False)
    name = "startup-first-visit.md" if first_visit else "startup.md"
    results, labels = {}, {c.key: c.label for c in chosen}
    guard = drivers.Guard()
    with profiling_browser(args, drivers.PROBE_TOKENS) as (browser, base):
        version = browser.version
        for c in chosen:
            t0 = time.monotonic()
            try:
                # Marks alone first: the sampling profiler slows Python in wasm severalfold.
                trace, first = traced_visit(browser, base, c, args.model, guard, MARKS, first_visit)
                marks = timeline(trace, first)
                trace, first = traced_visit(browser, base, c, args.model, guard, CATEGORIES, first_visit)
            except Exception as err:  # noqa: BLE001
                say(f"   {c.key}: FAILED {type(err).__name__}: {err}")
                continue
            results[c.key] = {**timeline(trace, first), "plain": marks}
            if getattr(args, "keep_traces", False):
                (args.out / f"trace-startup-{c.key}.json").write_text(json.dumps(trace))
            say(f"   {c.key}: first token at {marks['first_token_ms'] / 1000:.2f} s [{time.monotonic() - t0:.0f} s]")
    meta = {"date": datetime.now().strftime("%Y-%m-%d %H:%M"), "model": args.model,
            "browser": f"Chromium {version}", "loadavg": loadavg(), "visit": "First-visit" if first_visit else "Return-visit",
            "command": "python build.py bench --profile-startup" + (" --first-visit" if first_visit else "")}
    text = render(results, labels, meta)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / name).write_text(text)
    say("")
    say(text)
    say(f"wrote {args.out / name}")
    return 0 if results else 1
