"""Fixtures shared by every test: the built site served on loopback, Debian's Chromium driven by
pytest-playwright, and a network guard that fails any test whose page reaches beyond localhost."""

from __future__ import annotations

import shutil
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import build  # noqa: E402  (build.py: make_server, the manifest logic)
from tests.guard import NetworkGuard  # noqa: E402

DIST = ROOT / "dist"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-default-apps"]


def serve(root: Path, **options):
    """Start build.make_server on a free port in a thread; returns (server, base URL)."""
    server = build.make_server(root, 0, **options)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    prefix = options.get("prefix", "/").strip("/")
    return server, f"http://127.0.0.1:{server.server_address[1]}/{prefix + '/' if prefix else ''}"


@pytest.fixture(scope="session")
def dist() -> Path:
    if not (DIST / "index.html").exists() or not (DIST / "manifest.json").exists():
        pytest.fail("dist/ is not built: run the tests through `python build.py test`.")
    return DIST


@pytest.fixture(scope="session")
def site(dist) -> str:
    """The base URL of dist/ served like `python build.py serve` does (COOP/COEP on)."""
    server, url = serve(dist)
    yield url
    server.shutdown()


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail("Chromium is missing: apt-get install -y chromium")
    return path


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args, chromium_path):
    return {**browser_type_launch_args, "executable_path": chromium_path, "args": CHROMIUM_ARGS}


@pytest.fixture
def guard(context) -> NetworkGuard:
    guard = NetworkGuard()
    context.route("**/*", guard)
    yield guard
    assert not guard.outside, f"the page tried to reach beyond localhost: {guard.outside}"


@pytest.fixture
def console(page):
    """The page's console lines (also printed when a test fails, to see why)."""
    lines: list[str] = []
    page.on("console", lambda msg: lines.append(f"{msg.type}: {msg.text}"))
    page.on("pageerror", lambda err: lines.append(f"pageerror: {err}"))
    page.on("worker", lambda worker: worker.on("console", lambda msg: lines.append(f"worker {msg.type}: {msg.text}")))
    yield lines
    print("\n".join(lines[-80:]))


@pytest.fixture
def chat(page, guard, console, site):
    """A page opened on the site with the tiny test model, waited until ready."""
    from tests.e2e.helpers import ChatPage

    return ChatPage(page, site)


# llama.cpp's OpenAI-compatible server, for live tests from CPython (tests/live) and from the page.
from tests.llama_server import gguf, llama_server, llama_server_with_key, own_llama_server  # noqa: E402,F401
