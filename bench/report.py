"""Medians, the tables (terminal and markdown), the design bars and the chart, from the raw runs.

    summary = summarise(runs, contenders)
    text = markdown(summary, meta)          # bench/results/latest.md
    svg = chart_svg(summary, meta)          # drawn to PNG by the benchmark's own Chromium
"""

from __future__ import annotations

import html
import statistics

# What each metric is and which way is better (True: higher is better).
METRICS = {
    "boot_s": ("navigation to Python ready, first visit (s)", False),
    "boot_s_cached": ("navigation to Python ready, return visit (s)", False),
    "fcp_s": ("first contentful paint (s)", False),
    "load_s": ("model load, first visit (s)", False),
    "load_s_cached": ("model load, return visit (s)", False),
    "ready_s": ("navigation to model ready, first visit (s)", False),
    "ready_s_cached": ("navigation to model ready, return visit (s)", False),
    "open_first_token_s": ("navigation to first token, first visit (s)", False),
    "open_first_token_s_cached": ("navigation to first token, return visit (s)", False),
    "ttft_s": ("send to first token (s)", False),
    "ttft_s_first_visit": ("send to first token, first visit's probe reply (s)", False),
    "sw_settle_s": ("wait for pagellm's service worker after a first visit (s)", False),
    "first_visit_bytes": ("bytes the site sent on a first visit, service worker included", False),
    "decode_tps": ("decode (tokens/s)", True),
    "decode_tps_page": ("decode as the page sees it (tokens/s)", True),
    "max_gap_ms": ("longest main-thread timer gap while generating (ms)", False),
    "max_longtask_ms": ("longest main-thread long task while generating (ms)", False),
    "tokens": ("tokens generated", True),
    "prompt_tokens": ("prompt tokens", True),
    "remote_tps": ("remote stream, first to last token (tokens/s)", True),
    "remote_wall_tps": ("remote stream, request to last token (tokens/s)", True),
}


def stat(values: list[float]) -> dict | None:
    values = [v for v in values if isinstance(v, (int, float))]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def summarise(runs: list[dict], labels: dict[str, str]) -> dict:
    """{contender key: {label, ok, errors, metrics: {metric: stat}}} in the order of `labels`."""
    out = {}
    for key, label in labels.items():
        mine = [r for r in runs if r["contender"] == key]
        ok = [r["result"] for r in mine if "result" in r]
        metrics = {}
        for metric in METRICS:
            found = stat([r.get(metric) for r in ok])
            if found:
                metrics[metric] = found
        out[key] = {"label": label, "ok": len(ok), "errors": [r["error"] for r in mine if "error" in r],
                    "metrics": metrics}
    return out


def median(summary: dict, key: str, metric: str) -> float | None:
    found = summary.get(key, {}).get("metrics", {}).get(metric)
    return found["median"] if found else None


def fmt(value: float | None, metric: str) -> str:
    if value is None:
        return "—"
    if metric.endswith("_ms"):
        return f"{value:.0f}"
    if metric.endswith("_tps") or "tps" in metric:
        return f"{value:,.0f}" if value >= 1000 else f"{value:.1f}"
    if metric in ("tokens", "prompt_tokens"):
        return f"{value:.0f}"
    if metric.endswith("_bytes"):
        return f"{value / 1e6:.1f} MB"
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def cell(summary: dict, key: str, metric: str, spread: bool = True) -> str:
    found = summary.get(key, {}).get("metrics", {}).get(metric)
    if not found:
        return "—"
    text = fmt(found["median"], metric)
    if spread and found["n"] > 1 and found["min"] != found["max"]:
        text += f" ({fmt(found['min'], metric)}–{fmt(found['max'], metric)})"
    return text


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "—"
    return f"{a / b:.2f}x"


def same_threads_pagellm(key: str, summary: dict) -> str:
    threads = key.rsplit("-t", 1)[-1]
    for candidate in (f"pagellm-q8-t{threads}", "pagellm-q8-t1"):
        if candidate in summary and summary[candidate]["ok"]:
            return candidate
    return "pagellm-q8-t1"


# -- the design bars -------------------------------------------------------------------------------

# The most the int8 download may weigh: a faster or better recipe may not make it larger.
INT8_BYTES_LIMIT = 137_366_039  # the int8 file of a generic optimum export of SmolLM2-135M


def bars(summary: dict, remote: dict, meta: dict | None = None) -> list[tuple[str, str, bool | None]]:
    """(bar, measured, met?) for each design bar (and of the bundled model's quality) the run measured."""
    out = []

    def add(name, measured, ok):
        out.append((name, measured, ok))

    q8 = ((meta or {}).get("quality") or {}).get("q8")
    if q8 and q8.get("agreement") is not None:
        one_pass = q8.get("agreement_one_pass")
        add("int8 top-1 agreement with float32 ≥ 90% (the recipe's text, one token per step as generated)",
            f"{q8['agreement']:.1%}" + (f" (in one pass, as a prompt: {one_pass:.1%})" if one_pass is not None else ""),
            q8["agreement"] >= 0.9)
        add("int8 greedy answer to \"What is the capital of France?\" names Paris", repr(q8.get("answer", ""))[:80],
            "Paris" in (q8.get("answer") or ""))
    if q8 and q8.get("bytes"):
        add(f"int8 download at most {INT8_BYTES_LIMIT:,} bytes (the generic optimum export)", f"{q8['bytes']:,} bytes",
            q8["bytes"] <= INT8_BYTES_LIMIT)

    cold = median(summary, "pagellm-q8-t1", "open_first_token_s")
    if cold is not None:
        add("open-to-first-token, first visit ≤ 8 s (pagellm q8, 1 thread)", f"{cold:.2f} s", cold <= 8)
    warm = median(summary, "pagellm-q8-t1", "open_first_token_s_cached")
    if warm is not None:
        add("open-to-first-token, from cache ≤ 3 s", f"{warm:.2f} s", warm <= 3)
    for metric, visit in (("open_first_token_s", "first visit"), ("open_first_token_s_cached", "from cache")):
        mine, js = median(summary, "pagellm-q8-t1", metric), median(summary, "tjs-q8-t1", metric)
        if mine is not None and js is not None:
            add(f"open-to-first-token ≤ plain-JS Transformers.js, {visit} (q8, 1 thread)",
                f"{mine / js:.2f}x ({mine:.2f} s vs {js:.2f} s)", mine <= js)
    mine, bare = median(summary, "pagellm-q8-t1", "boot_s"), median(summary, "pyodide", "boot_s")
    if mine is not None and bare:
        add("Python ready ≤ 1.1x a bare Pyodide page", f"{mine / bare:.2f}x ({mine:.2f} s vs {bare:.2f} s)",
            mine / bare <= 1.1)
    fcp = median(summary, "pagellm-q8-t1", "fcp_s")
    if fcp is not None:
        add("chat UI visible within 1 s (first contentful paint)", f"{fcp:.2f} s", fcp <= 1.0)
    for threads in (1, 2):
        mine = median(summary, f"pagellm-q8-t{threads}", "decode_tps")
        js = median(summary, f"tjs-q8-t{threads}", "decode_tps")
        native = median(summary, f"native-t{threads}", "decode_tps")
        if mine and js:
            add(f"decode ≥ 0.97x plain-JS Transformers.js ({threads} thread{'s' if threads > 1 else ''})",
                f"{mine / js:.2f}x ({mine:.1f} vs {js:.1f} tok/s)", mine / js >= 0.97)
        if mine and native:
            add(f"decode ≥ 0.5x native llama.cpp ({threads} thread{'s' if threads > 1 else ''})",
                f"{mine / native:.2f}x ({mine:.1f} vs {native:.1f} tok/s)", mine / native >= 0.5)
    worst = summary.get("pagellm-q8-t1", {}).get("metrics", {}).get("max_longtask_ms")
    gap = summary.get("pagellm-q8-t1", {}).get("metrics", {}).get("max_gap_ms")
    if worst is not None:
        add("no main-thread task over 50 ms while generating (worst run)",
            f"longest task {worst['max']:.0f} ms, longest timer gap {gap['max']:.0f} ms" if gap else
            f"{worst['max']:.0f} ms", worst["max"] <= 50)
    page = (remote.get("page") or {}).get("remote_tps")
    if page:
        add("remote client keeps up with 2,000 tokens/s", f"{page['median']:,.0f} tokens/s", page["median"] >= 2000)
    return out


def largest_gaps(summary: dict) -> list[str]:
    """pagellm's best variant against the fastest peer, per headline metric, largest gap first.
    Times compare browser peers only (native llama.cpp maps a file, it does not load a page); decode
    also names native llama.cpp at pagellm's best thread count."""
    ok = {k for k, e in summary.items() if e["ok"]}
    pagellm = [k for k in ok if k.startswith("pagellm-")]
    browser_peers = [k for k in ok if not k.startswith(("pagellm-", "native-", "baseline-")) and k != "pyodide"]
    native = [k for k in ok if k.startswith("native-")]
    lines = []

    def compare(metric, peers, what="fastest peer"):
        higher = METRICS[metric][1]
        better = max if higher else min
        mine = [(median(summary, k, metric), k) for k in pagellm if median(summary, k, metric) is not None]
        theirs = [(median(summary, k, metric), k) for k in peers if median(summary, k, metric) is not None]
        if not mine or not theirs:
            return
        (m, mk), (p, pk) = better(mine), better(theirs)
        factor = (p / m) if higher else (m / p)
        verdict = f"the peer is {factor:.2f}x faster" if factor >= 1 else f"pagellm is {1 / factor:.2f}x faster"
        lines.append((factor, f"{METRICS[metric][0]}: best pagellm ({summary[mk]['label']}) {fmt(m, metric)} vs "
                              f"{what} ({summary[pk]['label']}) {fmt(p, metric)}: {verdict}"))

    for metric in ("decode_tps", "load_s", "load_s_cached", "ttft_s", "open_first_token_s",
                   "open_first_token_s_cached"):
        compare(metric, browser_peers, "fastest in-browser peer")
    compare("decode_tps", native, "native llama.cpp")
    return [text for _, text in sorted(lines, key=lambda item: -item[0])]


# -- tables ------------------------------------------------------------------------------------------

def tables(summary: dict, remote: dict, meta: dict) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) for each section."""
    out = []
    boot_rows = []
    base = median(summary, "pagellm-q8-t1", "boot_s")
    for key, name in (("pagellm-q8-t1", "pagellm (PyScript worker)"), ("baseline-q8-t1", "pagellm, baseline build"),
                      ("pyodide", "bare Pyodide page")):
        if key in summary and summary[key]["ok"]:
            boot_rows.append([name, cell(summary, key, "boot_s"), cell(summary, key, "boot_s_cached"),
                              cell(summary, key, "fcp_s"), ratio(median(summary, key, "boot_s"), base)])
    if boot_rows:
        out.append(("1. Boot: navigation to Python ready (s, lower is better)",
                    ["page", "first visit", "return visit", "first paint", "÷ pagellm"], boot_rows))

    gen_rows = []
    load_base = median(summary, "pagellm-q8-t1", "load_s")
    for key, entry in summary.items():
        if key == "pyodide" or not entry["ok"]:
            continue
        ref = same_threads_pagellm(key, summary)
        gen_rows.append([
            entry["label"], cell(summary, key, "load_s"), cell(summary, key, "load_s_cached"),
            ratio(median(summary, key, "load_s"), load_base),
            cell(summary, key, "open_first_token_s"), cell(summary, key, "open_first_token_s_cached", False),
            cell(summary, key, "ttft_s"), cell(summary, key, "decode_tps"),
            ratio(median(summary, key, "decode_tps"), median(summary, ref, "decode_tps")),
            cell(summary, key, "prompt_tokens", False) + " / " + cell(summary, key, "tokens", False),
            cell(summary, key, "first_visit_bytes", False),
        ])
    if gen_rows:
        out.append((f"2. Local generation: {meta['tokens']} tokens, greedy, \"{meta['prompt']}\" "
                    "(times in s, lower is better; decode in tokens/s, higher is better)",
                    ["contender", "load, first visit", "load, return visit", "load ÷ pagellm q8",
                     "open → first token, first visit", "… return visit", "send → first token",
                     "decode tok/s", "decode ÷ pagellm q8 (same threads)", "prompt / generated tokens",
                     "first-visit download"],
                    gen_rows))
    devices = meta.get("first_visit_bytes_by_device") or {}
    if devices:
        out.append(("First-visit download per device, from the build (pagellm: the page, the service worker's "
                    "precache and the model's weights; the measured column above is every byte the server sent, "
                    "the service worker's install included)",
                    ["device", "runtime and app", "model weights", "total"],
                    [[device, f"{d['app'] / 1e6:.1f} MB", f"{d['model'] / 1e6:.1f} MB",
                      f"{(d['app'] + d['model']) / 1e6:.1f} MB"] for device, d in devices.items()]))

    resp_rows = []
    for key, entry in summary.items():
        if entry["ok"] and "max_gap_ms" in entry["metrics"] and entry["metrics"]["max_gap_ms"]:
            resp_rows.append([entry["label"], cell(summary, key, "max_gap_ms"), cell(summary, key, "max_longtask_ms")])
    if remote.get("page") and "max_gap_ms" in remote["page"]:
        resp_rows.append(["pagellm, remote stream", cell({"r": {"metrics": remote["page"]}}, "r", "max_gap_ms"),
                          cell({"r": {"metrics": remote["page"]}}, "r", "max_longtask_ms")])
    if resp_rows:
        out.append(("3. Responsiveness while generating: the page's main thread (ms, lower is better)",
                    ["contender", "longest 10 ms-timer gap", "longest long task (≥ 50 ms; 0 = none)"], resp_rows))

    if remote:
        rows = []
        page = (remote.get("page") or {}).get("remote_tps")
        for name, part in (("pagellm page (Pyodide worker, browser fetch)", "page"),
                           ("CPython client (RemoteEngine over httpx)", "cpython")):
            metrics = remote.get(part) or {}
            if "remote_tps" in metrics:
                wrapped = {"r": {"metrics": metrics}}
                rows.append([name, cell(wrapped, "r", "remote_tps"), cell(wrapped, "r", "remote_wall_tps"),
                             ratio(metrics["remote_tps"]["median"], page["median"] if page else None)])
        if rows:
            out.append((f"4. Remote: a loopback server streaming {meta['remote_tokens']} tokens as fast as it can "
                        "(tokens/s, higher is better)",
                        ["client", "first → last token", "request → last token", "÷ pagellm page"], rows))
    return out


def errors(summary: dict, remote: dict) -> list[str]:
    out = [f"{entry['label']}: {len(entry['errors'])} failed run(s): {entry['errors'][0]}"
           for entry in summary.values() if entry["errors"]]
    out += [f"remote: {e}" for e in remote.get("errors", [])]
    return out


def markdown(summary: dict, remote: dict, meta: dict) -> str:
    lines = [f"Measured {meta['date']} on {meta['machine']}, {meta['browser']}, model {meta['model']} "
             f"(Transformers.js: ONNX q8/q4 from dist/models; wllama and llama.cpp: the GGUF it was converted "
             f"from, {meta['gguf']}). Medians of {meta['runs']} run{'s' if meta['runs'] != 1 else ''} "
             f"({meta['runs_extra']} for the secondary variants) with min–max; contenders alternate run by run "
             f"in one headless Chromium. "
             f"Load average {meta['loadavg_before']} before, {meta['loadavg_after']} after; "
             f"the run took {meta['elapsed_min']:.1f} min.", ""]
    for title, header, rows in tables(summary, remote, meta):
        lines += [f"**{title}**", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        lines.append("")
    found = bars(summary, remote, meta)
    if found:
        lines += ["**Design bars**", "", "| bar | measured | met |", "|---|---|---|"]
        lines += [f"| {name} | {measured} | {'yes' if ok else 'no'} |" for name, measured, ok in found]
        lines.append("")
    gaps = largest_gaps(summary)
    if gaps:
        lines += ["**Largest gaps to the fastest peer**", ""] + [f"- {g}" for g in gaps] + [""]
    lines += ["Notes: every Transformers.js contender writes exactly the requested tokens (the benchmark's copy of "
              "generation_config.json sets min_new_tokens; llama.cpp and wllama ignore end-of-sequence), repetition "
              "penalty 1, no system prompt (the chat template adds its default one). Decode is (tokens − 1) / "
              "(last − first token) where the engine produces them; \"send → first token\" is to the first text on "
              "screen. Each run is a first visit in a fresh browser context; for the contenders with a return visit, "
              "the first visit sends a short probe reply at once (open → first token, first visit) and the full "
              "reply (decode, send → first token, responsiveness) is written on the return visit; pagellm's "
              "service worker finishes its first-visit caching before any full reply. Threads = ONNX Runtime / "
              "llama.cpp threads; 2 threads need the page cross-origin isolated (COOP/COEP), which the "
              "benchmark's server is.",
              "", f"Reproduce: `{meta['command']}`"]
    for problem in errors(summary, remote):
        lines.append(f"\nProblem: {problem}")
    return "\n".join(lines) + "\n"


def terminal(summary: dict, remote: dict, meta: dict) -> str:
    out = []
    for title, header, rows in tables(summary, remote, meta):
        widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
        out.append(title)
        out.append("  ".join(h.ljust(w) for h, w in zip(header, widths)))
        out += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)) for row in rows]
        out.append("")
    found = bars(summary, remote, meta)
    if found:
        out.append("Design bars:")
        out += [f"  [{'ok' if ok else 'NO'}] {name}: {measured}" for name, measured, ok in found]
        out.append("")
    gaps = largest_gaps(summary)
    if gaps:
        out.append("Largest gaps to the fastest peer:")
        out += [f"  {g}" for g in gaps]
        out.append("")
    out += [f"Problem: {p}" for p in errors(summary, remote)]
    return "\n".join(out)


# -- chart ---------------------------------------------------------------------------------------------

def chart_svg(summary: dict, remote: dict, meta: dict) -> str:
    """Three panels of horizontal bars (median, with a min–max whisker): decode, time to first token
    from opening the page (first and return visit), boot."""
    panels = []
    decode = [(e["label"], e["metrics"]["decode_tps"]) for e in summary.values()
              if e["ok"] and "decode_tps" in e["metrics"]]
    if decode:
        panels.append(("Decode, tokens/s (higher is better)", [(label, [("", m, "#3b6fb6")]) for label, m in decode]))
    opened = [(e["label"], [(tag, e["metrics"][k], colour) for k, tag, colour in
                            (("open_first_token_s", "first visit", "#c0504d"),
                             ("open_first_token_s_cached", "return visit", "#f2a09e")) if k in e["metrics"]])
              for e in summary.values() if e["ok"] and "open_first_token_s" in e["metrics"]]
    if opened:
        panels.append(("Open page → first token, s (lower is better)", opened))
    boot = [(summary[key]["label"], [(tag, summary[key]["metrics"][k], colour) for k, tag, colour in
                                      (("boot_s", "first visit", "#4f9a55"), ("boot_s_cached", "return visit", "#a5d3a9"))
                                      if k in summary[key]["metrics"]])
            for key in ("pagellm-q8-t1", "pyodide") if key in summary and "boot_s" in summary[key]["metrics"]]
    if boot:
        panels.append(("Navigation → Python ready, s (lower is better)", boot))

    width, label_w, bar_h, gap = 980, 330, 16, 6
    y = 76
    parts = []
    for title, rows in panels:
        parts.append(f'<text x="10" y="{y}" font-size="16" font-weight="bold">{html.escape(title)}</text>')
        y += 12
        top = max(s["max"] for _, bars_ in rows for _, s, _ in bars_) or 1
        scale = (width - label_w - 150) / top
        for label, bars_ in rows:
            row_h = len(bars_) * (bar_h + 2)
            parts.append(f'<text x="{label_w - 8}" y="{y + row_h / 2 + 5}" font-size="13" text-anchor="end">'
                         f'{html.escape(label)}</text>')
            for tag, s, colour in bars_:
                w = max(1.0, s["median"] * scale)
                parts.append(f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{colour}"/>')
                lo, hi = label_w + s["min"] * scale, label_w + s["max"] * scale
                mid = y + bar_h / 2
                parts.append(f'<line x1="{lo:.1f}" y1="{mid}" x2="{hi:.1f}" y2="{mid}" stroke="#222" stroke-width="1"/>'
                             f'<line x1="{lo:.1f}" y1="{mid - 4}" x2="{lo:.1f}" y2="{mid + 4}" stroke="#222"/>'
                             f'<line x1="{hi:.1f}" y1="{mid - 4}" x2="{hi:.1f}" y2="{mid + 4}" stroke="#222"/>')
                value = f"{s['median']:.1f}" if s["median"] >= 10 else f"{s['median']:.2f}"
                parts.append(f'<text x="{max(hi, label_w + w) + 6:.1f}" y="{y + bar_h - 3}" font-size="12">'
                             f'{value}{(" " + tag) if tag else ""}</text>')
                y += bar_h + 2
            y += gap
        y += 26
    head = (f'<text x="10" y="24" font-size="18" font-weight="bold">pagellm benchmark — {html.escape(meta["model"])}, '
            f'{meta["tokens"]} greedy tokens</text>'
            f'<text x="10" y="44" font-size="12" fill="#555">{html.escape(meta["date"])} · {html.escape(meta["machine"])} · '
            f'{html.escape(meta["browser"])} · median of {meta["runs"]} runs, whiskers min–max · load avg '
            f'{html.escape(str(meta["loadavg_before"]))}</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{y}" '
            f'font-family="DejaVu Sans, Arial, sans-serif"><rect width="100%" height="100%" fill="white"/>'
            f'{head}{"".join(parts)}</svg>')
