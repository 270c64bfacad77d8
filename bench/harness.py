"""What every benchmark entry point shares (run.py, long_context.py, profile_decode.py): Chromium's flags,
the default model and the GGUF it was converted from, and a description of the machine.

    >>> DEFAULT_MODEL
    'smollm2-135m-instruct'
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from datetime import datetime
from pathlib import Path
from typing import Callable

CHROMIUM_ARGS = ["--no-sandbox", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-default-apps"]
DEFAULT_MODEL = "smollm2-135m-instruct"


def find_gguf(args) -> tuple[Path | None, str]:
    """The GGUF for wllama and llama.cpp: ``args.gguf``, else the one ``args.model`` (or the default) came from."""
    if args.gguf:
        return args.gguf, args.gguf.name
    from models.recipe import source_path

    for model in (args.model, DEFAULT_MODEL):
        try:
            path = source_path(model, log=lambda *_: None)
            return path, f"{path.name}" + ("" if model == args.model else f" (the {model} GGUF)")
        except Exception:  # noqa: BLE001 - a generated model has no GGUF: fall back to the default's
            continue
    return None, "none"


def machine() -> str:
    name = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name or 'CPU'}, {os.cpu_count()} cores"


def loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def say(text: str) -> None:
    print(text, flush=True)


def in_chromium(dist: Path, model: str, tokens: int, command: str, run: Callable) -> tuple[list, dict, dict]:
    """A standalone benchmark's frame: the bench site on `dist` for `model` (replies of `tokens`), one headless
    Chromium, `run(browser, base, gguf)` -> (records, summary), and the run's metadata (machine, browser,
    load average before and after, minutes, the command)."""
    from playwright.sync_api import sync_playwright
    from webroot import BenchSite

    gguf, _ = find_gguf(argparse.Namespace(gguf=None, model=model))
    site = BenchSite.create(dist, [model], tokens, gguf=gguf, q4=False)
    _, base = site.serve()
    before, started = loadavg(), time.monotonic()
    try:
        with sync_playwright() as pw:
            chromium = shutil.which("chromium") or shutil.which("chromium-browser")
            browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
            try:
                records, summary = run(browser, base, gguf)
                meta = {"date": datetime.now().strftime("%Y-%m-%d %H:%M"), "machine": machine(),
                        "browser": f"Chromium {browser.version} (headless)", "model": model,
                        "loadavg_before": before, "loadavg_after": loadavg(),
                        "elapsed_min": round((time.monotonic() - started) / 60, 1), "command": command}
            finally:
                browser.close()
    finally:
        site.close()
    return records, summary, meta
