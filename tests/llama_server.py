"""llama.cpp's OpenAI-compatible server (llama-cpp-python) on loopback, serving the bundled model's GGUF.

    def test_something(llama_server):           # session-wide, no key
        engine = RemoteEngine(llama_server.base_url, "smollm2", provider="llamacpp")

``llama_server_with_key`` is a second one started with ``--api_key`` (its key: ``LIVE_KEY``). Tests that
kill a server make their own ``LlamaServer``. The tests skip only when llama_cpp is not installed; a
server that does not come up fails them. Never send two requests to one server at once: a second
request interrupts the reply in progress.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
MODEL_ID = "smollm2-135m-instruct"
ALIAS = "smollm2"
LIVE_KEY = "sk-live-test-key-0123456789abcdef"
START_TIMEOUT = 120.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LlamaServer:
    """One ``python -m llama_cpp.server`` process; ``start``, ``kill`` (SIGKILL), ``stop``, start again."""

    def __init__(self, gguf: Path, *, api_key: str | None = None, port: int | None = None, n_ctx: int = 1024):
        self.gguf, self.api_key, self.n_ctx = gguf, api_key, n_ctx
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None
        self.log = Path(tempfile.mkstemp(prefix="llama-server-", suffix=".log")[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(self.gguf), "--host", "127.0.0.1",
               "--port", str(self.port), "--model_alias", ALIAS, "--verbose", "false", "--n_ctx", str(self.n_ctx)]
        return cmd + (["--api_key", self.api_key] if self.api_key else [])

    def start(self) -> "LlamaServer":
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"llama.cpp's server exited with {self.proc.returncode} while starting:\n{self.tail()}")
            try:
                if httpx.get(self.base_url + "/models", timeout=2).status_code in (200, 401):
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        pytest.fail(f"llama.cpp's server did not answer within {START_TIMEOUT:g} s:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def kill(self) -> None:
        """Die now, as a crash would (no clean shutdown of open streams)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def close(self) -> None:
        self.stop()
        try:
            os.unlink(self.log)
        except OSError:
            pass


@pytest.fixture(scope="session")
def gguf() -> Path:
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama_cpp is not installed: pip install 'llama-cpp-python[server]==0.3.36' "
                    "(python build.py test installs it from the cached wheel)")
    for module in ("fastapi", "uvicorn", "sse_starlette", "starlette_context", "pydantic_settings"):
        if importlib.util.find_spec(module) is None:
            pytest.fail(f"llama_cpp is installed without its server extra ({module} is missing): "
                        "pip install 'llama-cpp-python[server]==0.3.36'")
    sys.path.insert(0, str(ROOT))
    from models.recipe import source_path

    return Path(source_path(MODEL_ID, log=lambda *args, **kw: None))


@pytest.fixture(scope="session")
def llama_server(gguf):
    server = LlamaServer(gguf).start()
    yield server
    server.close()


@pytest.fixture(scope="session")
def llama_server_with_key(gguf):
    server = LlamaServer(gguf, api_key=LIVE_KEY).start()
    yield server
    server.close()


@pytest.fixture
def own_llama_server(gguf):
    """A server of this test's own, which it may kill and start again (same port)."""
    server = LlamaServer(gguf).start()
    yield server
    server.close()
