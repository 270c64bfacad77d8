"""A small OpenAI-compatible server on loopback, with scripted behaviours, for tests and benchmarks.

    with FakeOpenAI() as server:                      # a thread; port chosen by the OS
        server.base_url()                             # http://127.0.0.1:PORT/v1 (behaviour "normal")
        server.base_url("status-429")                 # http://127.0.0.1:PORT/status-429/v1
        server.requests[-1].headers["authorization"]  # what the client sent

    python tests/fake_openai.py --port 8765 [--no-cors] [--api-key KEY]   # prints "READY <base url>"

A behaviour is picked per request by a path prefix (``/<behaviour>/v1/...``) or else by the model
name (``"model": "<behaviour>"``); flags join it with ``+`` (``slow+nocors``). Behaviours:

  normal           "The quick brown fox jumps over the lazy dog." word by word, usage, [DONE]
  echo             "You said: <last user message>" word by word
  tokens-N         N tokens ("t0 t1 ...") as fast as possible (throughput)
  slow[-MS]        40 words, MS ms apart (default 100): for stop/cancel tests
  reasoning        reasoning_content deltas, then reasoning deltas, then the answer
  status-CODE      an error answer: 400 (context_length_exceeded), 401, 403, 404, 429 (Retry-After: 7),
                   500, 503, or any other code with a generic body
  bad-json         two words, then a chunk that is not JSON
  error-mid        two words, then {"error": {...}} in the stream
  cut              two words, then the connection is dropped mid-body (no end of the chunked body)
  cut-clean        two words, then the body ends properly but without finish_reason or [DONE]
  no-done          the normal reply with finish_reason but no [DONE]
  crlf             the normal reply with CRLF line ends, comments and "data:" without a space
  json             a whole (non-streamed) chat completion as application/json
  html             a 200 text/html page (a web UI at the base URL)
  endless          tokens every 2 ms until the client goes away (at most 120 s)
  invalid-utf8     chunks whose bytes are not UTF-8
  huge-json        one 8 MB content delta
  redirect         307 to another origin
  code             a reply with a Python code block (CODE_REPLY)
  code-lines-N     a reply with one fenced Python block of N lines (long_code(N)), a line every 2 ms:
                   for rendering cost while a long block streams
  tool-python      a call of the tool run_python (TOOL_CODE), its arguments streamed in pieces; once the
                   request carries the tool's result: "The sandbox said: <result>"
  tool-unknown     a call of a tool no request offers (delete_files)
Flags: nocors (no CORS headers at all), auth (require the server's key even if it has none: "sk-fake").

CORS is on by default: the request's Origin is reflected (or "*"), preflights (OPTIONS) allow
GET/POST/OPTIONS and the requested headers (Authorization included) without a key, Retry-After is
exposed, and Private/Local Network Access preflights are allowed. ``GET /v1/models`` lists
"fake-model" and the behaviours. With ``api_key`` set, every request but a preflight needs
``Authorization: Bearer <key>`` (401 otherwise).
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NORMAL_TEXT = "The quick brown fox jumps over the lazy dog."
CODE_REPLY = "Here is some code:\n\n```python\nprint('hello from the sandbox')\nsum(range(10))\n```\n\nAnd a shell line:\n\n```sh\nls\n```\n"
TOOL_CODE = "print(6 * 7)"
BEHAVIOURS = ["normal", "echo", "tokens-1000", "slow", "reasoning", "status-401", "status-403", "status-404",
              "status-429", "status-500", "status-503", "status-400", "bad-json", "error-mid", "cut", "cut-clean",
              "no-done", "crlf", "json", "html"]
ERROR_BODIES = {
    400: {"error": {"message": "This model's maximum context length is 2048 tokens. However, you requested 4096 "
                               "tokens. Please reduce the length of the messages.",
                    "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}},
    401: {"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error",
                    "param": None, "code": "invalid_api_key"}},
    403: {"error": {"message": "You are not allowed to use this model.", "type": "permission_error",
                    "code": "model_not_allowed"}},
    404: {"error": {"message": "The model `missing-model` does not exist or you do not have access to it.",
                    "type": "invalid_request_error", "code": "model_not_found"}},
    429: {"error": {"message": "Rate limit reached for requests per minute.", "type": "requests",
                    "code": "rate_limit_exceeded"}},
    500: {"error": {"message": "The server had an error while processing your request.", "type": "server_error"}},
    503: {"error": {"message": "The engine is currently overloaded, please try again later.", "type": "server_error"}},
}


def long_code(lines: int) -> str:
    """The code-lines-N reply: prose, an N-line Python block, prose."""
    body = "\n".join(f"def step_{i}(x, y={i}):  # line {i}\n    return [a * y for a in range(x)] if x else 'none'".split("\n")[i % 2]
                     for i in range(lines))
    return f"A long program:\n\n```python\n{body}\n```\n\nThat is all."


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: dict | None = None
    when: float = field(default_factory=time.time)


def _words(text: str) -> list[str]:
    words = text.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words)]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_Server"

    def log_message(self, *args):  # quiet
        pass

    # -- plumbing ------------------------------------------------------------------------------

    def _split(self) -> tuple[str, list[str], str]:
        """(behaviour from the path or "", flags, the path after the prefix)."""
        path = self.path.split("?", 1)[0]
        parts = path.strip("/").split("/")
        if len(parts) >= 2 and parts[1] == "v1" and parts[0] != "v1":
            name, *flags = parts[0].split("+")
            return name, flags, "/" + "/".join(parts[1:])
        return "", [], path

    def _cors(self, flags: list[str]) -> dict[str, str]:
        if not self.server.cors or "nocors" in flags:
            return {}
        origin = self.headers.get("Origin")
        headers = {"Access-Control-Allow-Origin": origin or "*", "Access-Control-Expose-Headers": "Retry-After"}
        if origin:
            headers["Vary"] = "Origin"
        return headers

    def _send(self, status: int, body: bytes, content_type: str, flags: list[str], extra: dict | None = None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in {**self._cors(flags), **(extra or {})}.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, payload, flags, extra=None):
        self._send(status, json.dumps(payload).encode(), "application/json", flags, extra)

    def _start_stream(self, flags):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        for k, v in self._cors(flags).items():
            self.send_header(k, v)
        self.end_headers()

    def _chunk(self, data: bytes):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _end_chunks(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _record(self, body):
        self.server.requests.append(RecordedRequest(
            self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body))

    # -- verbs -----------------------------------------------------------------------------------

    def do_OPTIONS(self):
        self._record(None)
        _, flags, _ = self._split()
        self.send_response(204)
        if self.server.cors and "nocors" not in flags:
            requested = self.headers.get("Access-Control-Request-Headers")
            self.send_header("Access-Control-Allow-Origin", self.headers.get("Origin") or "*")
            self.send_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
            self.send_header("Access-Control-Allow-Headers", requested or "Authorization, Content-Type")
            self.send_header("Access-Control-Max-Age", "600")
            self.send_header("Vary", "Origin, Access-Control-Request-Headers")
            if self.headers.get("Access-Control-Request-Private-Network"):
                self.send_header("Access-Control-Allow-Private-Network", "true")
            if self.headers.get("Access-Control-Request-Local-Network"):
                self.send_header("Access-Control-Allow-Local-Network", "true")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _authorized(self, flags) -> bool:
        key = self.server.api_key or ("sk-fake" if "auth" in flags else None)
        if key is None:
            return True
        if self.headers.get("Authorization") == f"Bearer {key}":
            return True
        self._json(401, ERROR_BODIES[401], flags)
        return False

    def do_GET(self):
        self._record(None)
        name, flags, path = self._split()
        if not self._authorized(flags):
            return
        if name.startswith("status-"):
            return self._status(int(name.split("-", 1)[1]), flags)
        if name == "redirect":  # to another origin: a client must not follow it with the key
            return self._send(307, b"", "text/plain", flags, {"Location": "http://localhost:9/v1/chat/completions"})
        if name == "html":
            return self._send(200, b"<!doctype html><title>Some Web UI</title><p>hi</p>", "text/html", flags)
        if path in ("/v1/models", "/models"):
            models = ["fake-model"] + BEHAVIOURS
            return self._json(200, {"object": "list", "data": [
                {"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in models]}, flags)
        self._json(404, {"detail": "Not Found"}, flags)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            self._record(None)
            return self._send(500, b"Internal Server Error", "text/plain", [])
        self._record(body)
        name, flags, path = self._split()
        if not name:
            model = str(body.get("model") or "normal")
            name, *flags = model.split("+")
        if not self._authorized(flags):
            return
        if path not in ("/v1/chat/completions", "/chat/completions"):
            return self._json(404, {"detail": "Not Found"}, flags)
        if name.startswith("status-"):
            return self._status(int(name.split("-", 1)[1]), flags)
        if name == "redirect":  # to another origin: a client must not follow it with the key
            return self._send(307, b"", "text/plain", flags, {"Location": "http://localhost:9/v1/chat/completions"})
        self._chat(name, flags, body)

    # -- behaviours -----------------------------------------------------------------------------

    def _status(self, code: int, flags):
        extra = {"Retry-After": "7"} if code == 429 else {}
        payload = ERROR_BODIES.get(code, {"error": {"message": f"Scripted status {code}.", "type": "fake"}})
        self._json(code, payload, flags, extra)

    def _chat(self, name: str, flags: list[str], body: dict):
        model = body.get("model") or "fake-model"
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        created = int(time.time())
        head = f'{{"id":"chatcmpl-fake","object":"chat.completion.chunk","created":{created},"model":{json.dumps(model)},"choices":['

        def chunk(delta: dict, finish=None) -> bytes:
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            return ("data: " + head + json.dumps(choice) + "]}\n\n").encode()

        if name == "html":
            return self._send(200, b"<!doctype html><title>Some Web UI</title>", "text/html", flags)
        messages = body.get("messages") or [{}]
        if name == "echo":
            text = "You said: " + str(messages[-1].get("content", ""))
        elif name == "code":
            text = CODE_REPLY
        else:
            text = NORMAL_TEXT
        words = _words(text)
        if name == "json":
            return self._json(200, {
                "id": "chatcmpl-fake", "object": "chat.completion", "created": created, "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 5, "completion_tokens": len(words), "total_tokens": 5 + len(words)},
            }, flags)

        self._start_stream(flags)
        if name.startswith("tokens-"):
            count = int(name.split("-", 1)[1])
            self._chunk(chunk({"role": "assistant", "content": ""}))
            prefix = ("data: " + head + '{"index":0,"delta":{"content":"').encode()
            suffix = b'"},"finish_reason":null}]}\n\n'
            for i in range(count):
                self._chunk(prefix + (b" t%d" % i) + suffix)
            self._chunk(chunk({}, "length"))
            if include_usage:
                self._chunk(self._usage_event(head, count))
            self._chunk(b"data: [DONE]\n\n")
            return self._end_chunks()
        if name.startswith("slow"):
            delay = int(name.split("-", 1)[1]) / 1000 if "-" in name else 0.1
            self._chunk(chunk({"role": "assistant"}))
            for i in range(40):
                time.sleep(delay)
                self._chunk(chunk({"content": f" w{i}"}))
            self._chunk(chunk({}, "stop"))
            self._chunk(b"data: [DONE]\n\n")
            return self._end_chunks()
        if name.startswith("code-lines-"):
            self._chunk(chunk({"role": "assistant", "content": ""}))
            for line in long_code(int(name.rsplit("-", 1)[1])).splitlines(keepends=True):
                self._chunk(chunk({"content": line}))
                time.sleep(0.002)
            self._chunk(chunk({}, "stop"))
            self._chunk(b"data: [DONE]\n\n")
            return self._end_chunks()
        if name == "endless":  # tokens until the client goes away (bounded: 120 s at most)
            self._chunk(chunk({"role": "assistant"}))
            deadline = time.monotonic() + 120
            try:
                while time.monotonic() < deadline:
                    self._chunk(chunk({"content": " more"}))
                    time.sleep(0.002)
            except OSError:
                return
            return self._end_chunks()
        if name == "invalid-utf8":
            self._chunk(chunk({"role": "assistant", "content": "bad "}))
            self._chunk(b'data: {"choices": [{"index": 0, "delta": {"content": "\xff\xfe"}, "finish_reason": null}]}\n\n')
            self._chunk(chunk({}, "stop"))
            self._chunk(b"data: [DONE]\n\n")
            return self._end_chunks()
        if name == "huge-json":  # one 8 MB event: must neither freeze the page nor exhaust it
            self._chunk(chunk({"role": "assistant", "content": "x" * 8_000_000}))
            self._chunk(chunk({}, "stop"))
            self._chunk(b"data: [DONE]\n\n")
            return self._end_chunks()
        if name in ("tool-python", "tool-unknown"):
            if messages[-1].get("role") == "tool":
                text = "The sandbox said: " + str(messages[-1].get("content", "")).strip()
                self._chunk(chunk({"role": "assistant", "content": ""}))
                for w in _words(text):
                    self._chunk(chunk({"content": w}))
                self._chunk(chunk({}, "stop"))
            else:
                tool = "run_python" if name == "tool-python" else "delete_files"
                arguments = json.dumps({"code": TOOL_CODE})
                self._chunk(chunk({"role": "assistant", "content": "Let me run that."}))
                self._chunk(chunk({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                                                   "function": {"name": tool, "arguments": ""}}]}))
                for i in range(0, len(arguments), 5):  # arguments in pieces, as servers stream them
                    self._chunk(chunk({"tool_calls": [{"index": 0, "function": {"arguments": arguments[i:i + 5]}}]}))
                self._chunk(chunk({}, "tool_calls"))
            self._chunk(b"data: [DONE]\n\n")
            return self._end_chunks()
        if name == "reasoning":
            self._chunk(chunk({"role": "assistant", "content": None, "reasoning_content": "Let me"}))
            self._chunk(chunk({"reasoning_content": " think."}))
            self._chunk(chunk({"reasoning": " Still thinking."}))
            for w in _words("The answer is 4."):
                self._chunk(chunk({"content": w}))
            self._chunk(chunk({}, "stop"))
            self._chunk(b"data: [DONE]\n\n")
            return self._end_chunks()
        if name in ("bad-json", "error-mid", "cut", "cut-clean"):
            self._chunk(chunk({"role": "assistant", "content": ""}))
            for w in words[:2]:
                self._chunk(chunk({"content": w}))
            if name == "bad-json":
                self._chunk(b'data: {"choices": [{"delta": {"content": "oops"\n\n')
                return self._end_chunks()
            if name == "error-mid":
                self._chunk(b'data: {"error": {"message": "The model crashed while generating.", "type": "server_error"}}\n\n')
                return self._end_chunks()
            if name == "cut":  # drop the connection without ending the chunked body
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            return self._end_chunks()  # cut-clean

        eol = "\r\n" if name == "crlf" else "\n"
        if name == "crlf":
            self._chunk(b": keep-alive\r\n\r\n")
        self._chunk(chunk({"role": "assistant", "content": ""}).replace(b"\n", eol.encode()))
        for w in words:
            event = chunk({"content": w})
            if name == "crlf":
                event = event.replace(b"data: ", b"data:").replace(b"\n", b"\r\n")
            self._chunk(event)
        self._chunk(chunk({}, "stop").replace(b"\n", eol.encode()))
        if include_usage:
            self._chunk(self._usage_event(head, len(words)).replace(b"\n", eol.encode()))
        if name != "no-done":
            self._chunk(f"data: [DONE]{eol}{eol}".encode())
        self._end_chunks()

    @staticmethod
    def _usage_event(head: str, completion: int) -> bytes:
        usage = {"prompt_tokens": 5, "completion_tokens": completion, "total_tokens": 5 + completion}
        return ("data: " + head + "],\"usage\":" + json.dumps(usage) + "}\n\n").encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, cors: bool, api_key: str | None):
        super().__init__(address, _Handler)
        self.cors = cors
        self.api_key = api_key
        self.requests: list[RecordedRequest] = []

    def handle_error(self, request, client_address):  # a client that went away is not news
        pass


class FakeOpenAI:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, cors: bool = True, api_key: str | None = None):
        self._server = _Server((host, port), cors, api_key)
        self.host, self.port = self._server.server_address[:2]
        self._thread: threading.Thread | None = None

    @property
    def requests(self) -> list[RecordedRequest]:
        return self._server.requests

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    def base_url(self, behaviour: str | None = None) -> str:
        return f"{self.origin}/{behaviour}/v1" if behaviour else f"{self.origin}/v1"

    def start(self) -> "FakeOpenAI":
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-openai", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "FakeOpenAI":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--no-cors", action="store_true")
    parser.add_argument("--api-key", default=None, help="require this key (a test key, never a real one)")
    args = parser.parse_args(argv)
    server = FakeOpenAI(args.host, args.port, cors=not args.no_cors, api_key=args.api_key)
    print(f"READY {server.base_url()}", flush=True)
    try:
        server._server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
