#!/usr/bin/env python3
"""Attachments in the page: time from dropping a file to "ready to ask" (its chip shown: read, split
into passages, every passage embedded by the site's all-MiniLM-L6-v2 through Transformers.js in the
worker), for a 50-page two-column PDF and for a text file of the retrieval bench's size.

    .venv/bin/python bench/attachments_page.py [--runs 3] [--dist DIR]   # writes bench/results/attachments-page.md

Chromium headless, the tiny chat model (what the chat model is does not matter here), 1 thread.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "pysrc"))

import build  # noqa: E402
from bench.retrieval import FILLER, documents  # noqa: E402
from pagellm.attachments import Attachment  # noqa: E402
from tests.guard import NetworkGuard  # noqa: E402
from tests.pdf_maker import columns_page, make_pdf  # noqa: E402

OUT = ROOT / "bench" / "results" / "attachments-page.md"


def fifty_page_pdf() -> bytes:
    rng = random.Random(3)
    lines = lambda n: [" ".join(rng.sample(FILLER, 1))[:48] for _ in range(n)]  # noqa: E731
    return make_pdf([columns_page(lines(50), lines(50)) for _ in range(50)])


def time_to_ready(page, name: str, data: bytes, mime: str) -> float:
    """Seconds from handing the file to the page to its chip, ready to ask."""
    page.evaluate("() => { document.querySelector('#draft-attachments').replaceChildren(); }")
    started = time.perf_counter()
    page.get_by_test_id("attach").set_input_files(files=[{"name": name, "mimeType": mime, "buffer": data}])
    page.locator(f"#draft-attachments [data-testid=attachment][data-name='{name}']").wait_for(timeout=600_000)
    seconds = time.perf_counter() - started
    error = page.get_by_test_id("error")
    if error.is_visible():
        raise RuntimeError(error.inner_text())
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dist", type=Path, default=ROOT / "dist")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    server = build.make_server(args.dist)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/?model=tiny-random&device=wasm&threads=1"
    pdf = fifty_page_pdf()
    text = "\n\n".join(documents()[0]).encode()
    files = {"50-page two-column PDF": ("fifty.pdf", pdf, "application/pdf"),
             "text file (3 generated documents)": ("minutes.txt", text, "text/plain")}
    passages = {label: len(Attachment.from_bytes(name, data).index.texts()) for label, (name, data, _) in files.items()}
    times: dict[str, list[float]] = {label: [] for label in files}
    guard = NetworkGuard()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=build.shutil.which("chromium"))
        for run in range(args.runs):
            context = browser.new_context()
            context.route("**/*", guard)
            page = context.new_page()
            page.goto(url)
            page.wait_for_function("document.documentElement.dataset.state === 'ready'", timeout=300_000)
            for label, (name, data, mime) in files.items():  # the first file also loads the embedding model
                times[label].append(time_to_ready(page, name, data, mime))
                print(f"run {run + 1}: {label}: {times[label][-1]:.2f} s", flush=True)
            context.close()
        browser.close()
    server.shutdown()
    if guard.outside:
        print(f"requests outside localhost: {guard.outside}", file=sys.stderr)
        return 1
    rows = [f"| {label} | {len(files[label][1]) / 1e6:.2f} MB | {passages[label]} | {statistics.median(t):.2f} s "
            f"| {passages[label] / statistics.median(t):.1f} |" for label, t in times.items()]
    lines = ["# Attachments in the page", "",
             f"Command: `.venv/bin/python bench/attachments_page.py --runs {args.runs}` (Chromium headless, 1 thread, "
             "WebAssembly; a shared 2-core machine). Median of the runs; each run is a fresh page, so the first file "
             "also pays for loading the embedding model (23 MB).", "",
             "| file | size | passages | drop to ready to ask | passages/s (all steps) |",
             "| --- | --- | --- | --- | --- |", *rows, "",
             "Raw seconds: " + "; ".join(f"{label}: {', '.join(f'{s:.2f}' for s in t)}" for label, t in times.items()), ""]
    OUT.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
