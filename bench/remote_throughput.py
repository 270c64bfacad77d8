"""How fast the remote client decodes a loopback stream: RemoteEngine over httpx, tokens per second.

    .venv/bin/python bench/remote_throughput.py [--tokens 20000] [--runs 5]

The fake OpenAI-compatible server (tests/fake_openai.py) runs in its own process and streams N tokens,
one SSE event per token in its own HTTP chunk, as fast as it can. Each run streams the whole reply
through RemoteEngine (httpx transport, SSE decoder, chunk handling, Delta records) and reports the
client's rate: tokens / (time from the request to the Final record). Printed: the median of the runs,
the decode-only rate from the Final record, and the same pipeline without a network (bytes already in
memory), which bounds what the client can do on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "pysrc"))

from pagellm.engine import Delta, Final  # noqa: E402
from pagellm.messages import Conversation  # noqa: E402
from pagellm.remote import RemoteEngine  # noqa: E402
from pagellm.settings import GenerationSettings  # noqa: E402
from pagellm.transports.httpx_transport import HttpxTransport  # noqa: E402
from pagellm.transports.mock import MockResponse, MockTransport  # noqa: E402


def start_server() -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "fake_openai.py"), "--port", "0"],
                            stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().strip()
    if not line.startswith("READY "):
        proc.kill()
        raise SystemExit(f"the fake server did not start: {line!r}")
    return proc, line.split(" ", 1)[1]


async def one_run(engine: RemoteEngine, tokens: int) -> tuple[float, float | None, int]:
    conversation = Conversation()
    conversation.add_user("go")
    started = time.perf_counter()
    count = 0
    final = None
    async for event in engine.stream(conversation, GenerationSettings(max_new_tokens=min(tokens, 32768))):
        if isinstance(event, Delta):
            count += 1
        elif isinstance(event, Final):
            final = event
    elapsed = time.perf_counter() - started
    assert count == tokens, f"got {count} tokens, expected {tokens}"
    return count / elapsed, final.tokens_per_second, count


def stream_body(tokens: int) -> bytes:
    head = '{"id":"chatcmpl-fake","object":"chat.completion.chunk","created":0,"model":"m","choices":[{"index":0,'
    events = [f'data: {head}"delta":{{"content":" t{i}"}},"finish_reason":null}}]}}\n\n' for i in range(tokens)]
    events.append(f'data: {head}"delta":{{}},"finish_reason":"length"}}]}}\n\ndata: [DONE]\n\n')
    return "".join(events).encode()


async def main(tokens: int, runs: int) -> dict:
    proc, base = start_server()
    try:
        transport = HttpxTransport()
        warm = RemoteEngine(base.replace("/v1", "/tokens-500/v1"), "fake-model", transport=transport)
        await one_run(warm, 500)  # warm up: connection pool, imports
        engine = RemoteEngine(base.replace("/v1", f"/tokens-{tokens}/v1"), "fake-model", transport=transport)
        wall, decode = [], []
        for _ in range(runs):
            rate, decode_rate, _ = await one_run(engine, tokens)
            wall.append(rate)
            decode.append(decode_rate or 0.0)
        await transport.aclose()
    finally:
        proc.kill()
        proc.wait()
    # The same pipeline without sockets: one event per chunk, as the server sends it.
    body = stream_body(tokens)
    pieces = body.split(b"\n\n")
    chunks = [p + b"\n\n" for p in pieces if p]
    memory = []
    for _ in range(runs):
        transport = MockTransport([MockResponse(chunks_=chunks, headers={"content-type": "text/event-stream"})])
        engine = RemoteEngine("http://bench.invalid/v1", "m", transport=transport)
        rate, _, _ = await one_run(engine, tokens)
        memory.append(rate)
    return {
        "tokens": tokens, "runs": runs,
        "loopback_tokens_per_s_median": round(statistics.median(wall)),
        "loopback_decode_tokens_per_s_median": round(statistics.median(decode)),
        "in_memory_tokens_per_s_median": round(statistics.median(memory)),
        "loopback_runs": [round(r) for r in wall],
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    result = asyncio.run(main(args.tokens, args.runs))
    if args.json:
        print(json.dumps(result))
    else:
        print(f"remote client, {result['tokens']} tokens over loopback (httpx, fake server in its own process), "
              f"median of {result['runs']}: {result['loopback_tokens_per_s_median']:,} tokens/s "
              f"(decode rate from Final: {result['loopback_decode_tokens_per_s_median']:,}; "
              f"runs: {result['loopback_runs']})")
        print(f"same pipeline from memory (no sockets): {result['in_memory_tokens_per_s_median']:,} tokens/s")
