"""pagellm against its peers, in one headless Chromium, contenders alternating run by run.

    python build.py bench                       # builds dist/, then this with the defaults (~20 min quiet)
    .venv/bin/python bench/run.py --quick       # smoke run: 1 repetition, 16 tokens
    .venv/bin/python bench/run.py --model tiny-random --quick --only 'pagellm-q8-t1|tjs-q8-t1'
    .venv/bin/python bench/run.py --profile     # where pagellm's decode time goes (bench/profile_decode.py)

Contenders (keys for --only / --skip, regular expressions):
  pyodide            a bare Pyodide page served the same way (boot only)
  pagellm-q8-t1/-t2  the pagellm page, int8 ONNX, 1 or 2 ONNX Runtime threads (?threads=N)
  pagellm-q4-t1      the pagellm page, 4-bit ONNX
  tjs-q8-t1/-t2      a plain-JavaScript Transformers.js page on the same files, engine in a worker
  tjs-main-q8-t1     the same page with the engine on the main thread (responsiveness contrast)
  wllama-t1/-t2      wllama 3.13 (llama.cpp in WebAssembly) on the GGUF the model was converted from
  native-t1/-t2      llama.cpp natively (llama-cpp-python, in this process): the ceiling
  --all adds pagellm-q4-t2 and tjs-q4-t1.
Plus the remote client: the page and CPython streaming from a loopback fake server (--remote-tokens), and
long prompts and growing chats (bench/long_context.py: prompt processing at 128/512/1,024 tokens, time to
first token over eight turns; --no-long leaves it out, --long-only runs only it), and speculative decoding
(bench/speculative.py: decode speed with and without it on four tasks, beside native llama.cpp with and
without prompt lookup; --no-speculative leaves it out, --speculative-only runs only it).

Each repetition of a browser contender is a first visit in a fresh browser context. The contenders with a
return visit (pyodide, pagellm-q8-t1, tjs-q8-t1, wllama-t1) send a short probe reply right at ready (open to
first token, first visit), then open the page again in the same context and write the full reply there
(load from cache, open to first token from cache, decode, responsiveness); the others write the full reply
on their first visit. Secondary variants run --runs-extra times; --budget-min stops starting rounds in time
for the whole run to stay under 30 minutes. Writes bench/results/latest.{md,png,json} (commit these: the
JSON holds the raw runs) and a dated copy of the JSON (ignored by git); prints the table and the load average.
--baseline DIST adds pagellm q8 from another build, alternating with this one (before/after in one run).

--profile traces one reply each of pagellm, the plain-JS page and wllama with Chromium's sampling profiler
and prints where decode time goes, per component and thread (bench/results/profile.md); --profile-startup
traces a return visit of pagellm and the plain-JS page from navigation to the first token, per thread
(bench/results/startup.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shlex
import shutil
import sys
import time
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import drivers  # noqa: E402
import report  # noqa: E402
from drivers import Contender  # noqa: E402
from harness import CHROMIUM_ARGS, DEFAULT_MODEL, find_gguf, loadavg, machine, say  # noqa: E402
from pagellm.dtypes import DTYPE_FILES, onnx_path  # noqa: E402
from webroot import BenchSite, SiteError  # noqa: E402



def model_quality(model_id: str) -> dict:
    """The recipe's check of the served files (models/build/<id>/recipe-report.json): agreement with the
    float32 model, the greedy answer and the size of each dtype's file. Empty when the report is missing."""
    path = ROOT / "models" / "build" / model_id / "recipe-report.json"
    if not path.is_file():
        return {}
    report_data = json.loads(path.read_text(encoding="utf-8"))
    sizes = {rel: f["bytes"] for rel, f in report_data.get("files", {}).items()}
    return {dtype: {"agreement": r.get("agreement"), "agreement_one_pass": r.get("agreement_one_pass"),
                    "answer": r.get("answer"), "bytes": sizes.get(onnx_path(dtype))}
            for dtype, r in report_data.get("check", {}).get("dtypes", {}).items() if dtype in DTYPE_FILES}


def first_visit_bytes_by_device(dist: Path, model_id: str) -> dict:
    """What a first visit downloads on each device, from the build: every file the service worker precaches
    (web/sw.js: not the models, the lab or ONNX Runtime's WebGPU build), the device's ONNX Runtime build and
    the files the engine fetches for the model on it (the catalog's fetched_files)."""
    files = json.loads((dist / "manifest.json").read_text())["files"]
    catalog = json.loads((dist / "models" / "catalog.json").read_text())
    model = next((m for m in catalog["models"] if m["id"] == model_id), None)
    webgpu_runtime = [p for p in files if re.match(r"vendor/ort/[^/]*\.asyncify\.", p)]
    shell = sum(f["size"] for p, f in files.items()
                if not p.startswith(("models/", "lab/")) and p not in webgpu_runtime)
    out = {}
    for device, fetched in ((model or {}).get("fetched_files") or {}).items():
        runtime = sum(files[p]["size"] for p in webgpu_runtime) if device == "webgpu" else 0
        weights = sum(files.get(f"models/{model_id}/{rel}", {}).get("size", 0) for rel in fetched)
        out[device] = {"app": shell + runtime, "model": weights}
    return out


def all_contenders(full: bool) -> list[Contender]:
    c = [
        Contender("pyodide", "pyodide", "bare Pyodide page", cached=True),
        Contender("pagellm-q8-t1", "pagellm", "pagellm q8, 1 thread", "q8", 1, cached=True),
        Contender("pagellm-q8-t2", "pagellm", "pagellm q8, 2 threads", "q8", 2, extra=True),
        Contender("pagellm-q4-t1", "pagellm", "pagellm q4, 1 thread", "q4", 1, extra=True),
        Contender("tjs-q8-t1", "tjs", "plain-JS Transformers.js q8, 1 thread", "q8", 1, cached=True),
        Contender("tjs-q8-t2", "tjs", "plain-JS Transformers.js q8, 2 threads", "q8", 2, extra=True),
        Contender("tjs-main-q8-t1", "tjs-main", "plain-JS q8, 1 thread, main thread", "q8", 1, extra=True),
        Contender("wllama-t1", "wllama", "wllama (GGUF), 1 thread", None, 1, cached=True),
        Contender("wllama-t2", "wllama", "wllama (GGUF), 2 threads", None, 2, extra=True),
        Contender("native-t1", "native", "llama.cpp native (GGUF), 1 thread", None, 1),
        Contender("native-t2", "native", "llama.cpp native (GGUF), 2 threads", None, 2),
    ]
    if full:
        c.insert(4, Contender("pagellm-q4-t2", "pagellm", "pagellm q4, 2 threads", "q4", 2, extra=True))
        c.insert(8, Contender("tjs-q4-t1", "tjs", "plain-JS Transformers.js q4, 1 thread", "q4", 1, extra=True))
    return c


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="repetitions of the main contenders (default 5)")
    parser.add_argument("--runs-extra", type=int, default=3,
                        help="repetitions of the secondary variants: 2 threads, q4, main thread (default 3)")
    parser.add_argument("--tokens", type=int, default=128, help="tokens per reply (default 128)")
    parser.add_argument("--remote-tokens", type=int, default=2000, help="tokens per remote stream (default 2000)")
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"catalog model id (default {DEFAULT_MODEL})")
    parser.add_argument("--gguf", type=Path, help="GGUF for wllama and llama.cpp (default: the model's source)")
    parser.add_argument("--only", help="regular expression: run only the contenders whose key matches")
    parser.add_argument("--skip", help="regular expression: leave out the contenders whose key matches")
    parser.add_argument("--all", action="store_true", help="add pagellm-q4-t2 and tjs-q4-t1")
    parser.add_argument("--no-remote", action="store_true", help="leave out the remote throughput part")
    parser.add_argument("--no-long", action="store_true", help="leave out long prompts and growing chats")
    parser.add_argument("--long-only", action="store_true", help="run only long prompts and growing chats")
    parser.add_argument("--no-speculative", action="store_true", help="leave out speculative decoding")
    parser.add_argument("--speculative-only", action="store_true", help="run only speculative decoding")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 1 repetition of everything, 16 tokens, 1 remote run")
    parser.add_argument("--budget-min", type=float, default=25.0,
                        help="start no new round after this many minutes (default 25)")
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="the built site (default dist/)")
    parser.add_argument("--baseline", type=Path,
                        help="another build (a copy of an earlier dist/): its pagellm q8 runs beside this one's")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="where results go (default bench/results)")
    parser.add_argument("--profile", action="store_true",
                        help="instead of the benchmark: profile where decode time goes (bench/profile_decode.py)")
    parser.add_argument("--keep-traces", action="store_true", help="with --profile: also save the raw traces")
    parser.add_argument("--profile-startup", action="store_true",
                        help="instead of the benchmark: trace a return visit to the first token (bench/profile_startup.py)")
    parser.add_argument("--first-visit", action="store_true",
                        help="with --profile-startup: trace the first visit instead of the return visit")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.runs_extra = 1, 1
        if args.tokens == 128:
            args.tokens = 16
    args.runs_extra = min(args.runs_extra, args.runs)
    return args


def selected(args) -> list[Contender]:
    chosen = []
    for c in all_contenders(args.all):
        if args.only and not re.search(args.only, c.key):
            continue
        if args.skip and re.search(args.skip, c.key):
            continue
        if c.threads > 1 and (os.cpu_count() or 1) < 2:
            continue
        chosen.append(c)
    return chosen


def brief(result: dict) -> str:
    parts = []
    for key, unit, name in (("boot_s", "s", "boot"), ("load_s", "s", "load"), ("ttft_s", "s", "ttft"),
                            ("decode_tps", "tok/s", "decode"), ("load_s_cached", "s", "load (return)"),
                            ("open_first_token_s", "s", "open→token"), ("open_first_token_s_cached", "s", "open→token (return)"),
                            ("sw_settle_s", "s", "sw settle"), ("max_gap_ms", "ms", "gap"),
                            ("remote_tps", "tok/s", "stream")):
        value = result.get(key)
        if isinstance(value, (int, float)):
            parts.append(f"{name} {value:,.2f} {unit}" if unit != "ms" else f"{name} {value:.0f} ms")
    if result.get("tokens") is not None and "decode_tps" in result:
        parts.append(f"{result['tokens']} tokens")
    return ", ".join(parts)


def baseline_contender() -> Contender:
    """pagellm q8 from another build (--baseline DIST), alternating with this one: before/after in one run."""
    return Contender("baseline-q8-t1", "pagellm", "pagellm q8, 1 thread, baseline build", "q8", 1, cached=True)


def run_rounds(browser, base: str | dict, chosen: list[Contender], args, gguf, started: float) -> tuple[list[dict], str]:
    runs: list[dict] = []
    failures = {c.key: 0 for c in chosen}
    successes = {c.key: 0 for c in chosen}
    guard = drivers.Guard()
    rounds = max(args.runs, args.runs_extra)
    stopped = ""
    round_times: list[float] = []
    for index in range(rounds):
        todo = [c for c in chosen if index < (args.runs_extra if c.extra else args.runs)
                and not (failures[c.key] >= 2 and successes[c.key] == 0)]
        if not todo:
            break
        elapsed = time.monotonic() - started
        if round_times and elapsed + max(round_times) > args.budget_min * 60:
            stopped = (f"stopped after {index} of {rounds} rounds: the next one would pass the "
                       f"{args.budget_min:g}-minute budget (--budget-min)")
            say(stopped)
            break
        shift = index % len(todo)
        todo = todo[shift:] + todo[:shift]
        round_started = time.monotonic()
        say(f"-- round {index + 1}/{rounds} ({len(todo)} contenders, {elapsed / 60:.1f} min so far, "
            f"load average {loadavg()})")
        for c in todo:
            record = {"contender": c.key, "round": index + 1, "started": datetime.now().isoformat(timespec="seconds"),
                      "loadavg": loadavg()}
            t0 = time.monotonic()
            try:
                where = base.get(c.key, base[""]) if isinstance(base, dict) else base
                record["result"] = drivers.DRIVERS[c.kind](browser, where, c, guard, model=args.model,
                                                           tokens=args.tokens, gguf=gguf)
                successes[c.key] += 1
                say(f"   {c.key:<16} {brief(record['result'])}  [{time.monotonic() - t0:.0f} s]")
            except Exception as err:  # noqa: BLE001 - one failed run must not end the benchmark
                failures[c.key] += 1
                record["error"] = f"{type(err).__name__}: {str(err).splitlines()[0][:300] if str(err) else ''}"
                say(f"   {c.key:<16} FAILED: {record['error']}  [{time.monotonic() - t0:.0f} s]")
                if failures[c.key] >= 2 and successes[c.key] == 0:
                    say(f"   {c.key:<16} dropped after two failures")
            record["seconds"] = round(time.monotonic() - t0, 1)
            runs.append(record)
        round_times.append(time.monotonic() - round_started)
    if guard.outside:
        say(f"WARNING: pages tried to reach beyond loopback (aborted): {sorted(set(guard.outside))[:5]}")
    return runs, stopped


def run_long(browser, base: str, args, gguf) -> None:
    """Long prompts and growing chats (bench/long_context.py) on this run's site: bench/results/long-context.md."""
    import long_context

    lengths, turns = ([128, 512], 4) if args.quick else ([128, 512, 1024], 8)
    runs = min(args.runs, 3)
    started = time.monotonic()
    before = loadavg()
    records, summary = long_context.run(browser, base, model=args.model, gguf=gguf, runs=runs, lengths=lengths,
                                        turns=turns, say=say)
    meta = {"date": datetime.now().strftime("%Y-%m-%d %H:%M"), "machine": machine(),
            "browser": f"Chromium {browser.version} (headless)", "model": args.model, "runs": runs,
            "loadavg_before": before, "loadavg_after": loadavg(),
            "elapsed_min": round((time.monotonic() - started) / 60, 1), "command": "python build.py bench"}
    say(long_context.write(args.out, records, summary, meta, lengths, turns).read_text())


def run_speculative(browser, base: str, args, gguf) -> None:
    """Speculative decoding (bench/speculative.py) on this run's site: bench/results/speculative.md."""
    import speculative

    runs, tokens = (1, 32) if args.quick else (min(args.runs, 3), speculative.TOKENS)
    started = time.monotonic()
    before = loadavg()
    records, summary = speculative.run(browser, base, model=args.model, gguf=gguf, runs=runs, tokens=tokens, say=say)
    meta = {"date": datetime.now().strftime("%Y-%m-%d %H:%M"), "machine": machine(),
            "browser": f"Chromium {browser.version} (headless)", "model": args.model, "runs": runs, "tokens": tokens,
            "loadavg_before": before, "loadavg_after": loadavg(),
            "elapsed_min": round((time.monotonic() - started) / 60, 1), "command": "python build.py bench"}
    say(speculative.write(args.out, records, summary, meta).read_text())


def in_thread(coroutine):
    """asyncio.run in a thread of its own: Playwright's sync API keeps an event loop on this one."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def run_remote(browser, base: str, args) -> tuple[list[dict], dict]:
    import remote_throughput as rt

    raw: list[dict] = []
    proc, fake = rt.start_server()
    guard = drivers.Guard()
    page = None
    try:
        in_thread(drivers.cpython_remote_run(fake, 200))  # warm up: imports, first connection
        page = drivers.RemotePage(browser, base, guard, fake, args.remote_tokens)
        count = 1 if args.quick else args.runs
        say(f"-- remote: {count} x (page, CPython) streaming {args.remote_tokens} tokens from a loopback server")
        for index in range(count):
            for part in ("page", "cpython"):
                record = {"contender": f"remote-{part}", "round": index + 1}
                try:
                    record["result"] = page.run() if part == "page" else \
                        in_thread(drivers.cpython_remote_run(fake, args.remote_tokens))
                    say(f"   remote-{part:<9} {brief(record['result'])}")
                except Exception as err:  # noqa: BLE001
                    record["error"] = f"{type(err).__name__}: {str(err).splitlines()[0][:300] if str(err) else ''}"
                    say(f"   remote-{part:<9} FAILED: {record['error']}")
                raw.append(record)
    except Exception as err:  # noqa: BLE001
        raw.append({"contender": "remote-page", "error": f"{type(err).__name__}: {err}"})
        say(f"   remote FAILED: {err}")
    finally:
        if page:
            page.close()
        proc.kill()
        proc.wait()
    summary = {}
    for part in ("page", "cpython"):
        ok = [r["result"] for r in raw if r["contender"] == f"remote-{part}" and "result" in r]
        summary[part] = {m: report.stat([r.get(m) for r in ok]) for m in
                         ("remote_tps", "remote_wall_tps", "remote_tps_engine", "max_gap_ms", "max_longtask_ms")
                         if report.stat([r.get(m) for r in ok])}
    summary["errors"] = [r["error"] for r in raw if "error" in r]
    return raw, summary


def draw_chart(browser, svg: str, path: Path) -> None:
    page = browser.new_page()
    try:
        page.set_content(f"<html><body style='margin:0;background:white'>{svg}</body></html>")
        page.locator("svg").screenshot(path=str(path))
    finally:
        page.close()


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.profile:
        import profile_decode

        return profile_decode.main(args)
    if args.profile_startup:
        import profile_startup

        return profile_startup.main(args)
    if args.speculative_only:
        import speculative

        quick = ["--runs", "1", "--tokens", "32"] if args.quick else []
        return speculative.main(["--model", args.model, "--dist", str(args.dist), "--out", str(args.out), *quick])
    if args.long_only:
        import long_context

        quick = ["--runs", "1", "--lengths", "128,512", "--turns", "4"] if args.quick else []
        return long_context.main(["--model", args.model, "--dist", str(args.dist), "--out", str(args.out), *quick])
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        say("Chromium is missing: apt-get install -y chromium")
        return 1
    chosen = selected(args) + ([baseline_contender()] if args.baseline else [])
    if not chosen:
        say("no contender left after --only/--skip")
        return 1
    started = time.monotonic()
    before = loadavg()
    needs_gguf = any(c.kind in ("wllama", "native") for c in chosen)
    gguf, gguf_name = find_gguf(args) if needs_gguf else (None, "not used")
    if needs_gguf and gguf is None:
        say("no GGUF found for wllama/llama.cpp: pass --gguf, or --skip 'wllama|native'")
        return 1
    try:
        site = BenchSite.create(args.dist, [args.model], args.tokens, gguf=gguf,
                                q4=any(c.dtype == "q4" for c in chosen))
    except SiteError as err:
        say(f"error: {err}")
        return 1
    command = "python build.py bench" + (" " + shlex.join(argv) if argv else "")
    say(f"pagellm bench: model {args.model}, {args.tokens} tokens, {args.runs} runs "
        f"({args.runs_extra} for secondary variants), contenders {', '.join(c.key for c in chosen)}; "
        f"load average {before}")
    server, base = site.serve()
    if args.baseline:
        baseline = BenchSite.create(args.baseline, [args.model], args.tokens, q4=False)
        base = {"": base, "baseline-q8-t1": baseline.serve()[1]}
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
            try:
                runs, stopped = run_rounds(browser, base, chosen, args, gguf, started)
                here = base[""] if isinstance(base, dict) else base
                remote_raw, remote = ([], {}) if args.no_remote else run_remote(browser, here, args)
                if not args.no_long:
                    run_long(browser, here, args, gguf)
                if not args.no_speculative:
                    run_speculative(browser, here, args, gguf)
                after = loadavg()
                meta = {
                    "date": datetime.now().strftime("%Y-%m-%d %H:%M"), "machine": machine(),
                    "browser": f"Chromium {browser.version} (headless)", "model": args.model, "gguf": gguf_name,
                    "tokens": args.tokens, "prompt": drivers.PROMPT, "runs": args.runs, "runs_extra": args.runs_extra,
                    "remote_tokens": args.remote_tokens, "loadavg_before": before, "loadavg_after": after,
                    "elapsed_min": (time.monotonic() - started) / 60, "command": command, "stopped": stopped,
                    "quality": model_quality(args.model),
                    "first_visit_bytes_by_device": first_visit_bytes_by_device(args.dist, args.model),
                }
                labels = {c.key: c.label for c in chosen}
                summary = report.summarise(runs, labels)
                args.out.mkdir(parents=True, exist_ok=True)
                stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
                data = {"meta": meta, "contenders": [c.__dict__ for c in chosen], "runs": runs + remote_raw,
                        "summary": summary, "remote": remote}
                # latest.json (committed beside latest.md) keeps the raw runs, so the table can be re-analysed.
                for name in (f"bench-{stamp}.json", "latest.json"):
                    (args.out / name).write_text(json.dumps(data, indent=1))
                text = report.markdown(summary, remote, meta)
                if stopped:
                    text += f"\n{stopped}\n"
                (args.out / "latest.md").write_text(text)
                try:
                    draw_chart(browser, report.chart_svg(summary, remote, meta), args.out / "latest.png")
                except Exception as err:  # noqa: BLE001 - the table matters more than the picture
                    say(f"chart not drawn: {err}")
            finally:
                browser.close()
    finally:
        site.close()
        if args.baseline:
            baseline.close()
    say("")
    say(report.terminal(summary, remote, meta))
    say(f"load average: {before} before, {after} after; {meta['elapsed_min']:.1f} min")
    say(f"wrote {args.out / 'latest.md'}, {args.out / 'latest.png'}, {args.out / 'latest.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
