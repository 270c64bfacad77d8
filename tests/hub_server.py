"""A loopback server laid out as a model Hub is: ``/{owner}/{name}/resolve/{revision}/{file}``, with CORS.

    with FakeHub({"pagellm-test/tiny-chat": Path("models/build/tiny-random")}) as hub:
        hub.url                     # http://127.0.0.1:PORT
        hub.requests                # paths asked for, in order

A repo maps to a folder, or to a dict {file: bytes | int}: an int is a size announced by HEAD only (a
file too large to serve, for the fit check).
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class FakeHub:
    def __init__(self, repos: dict):
        self.repos = repos
        self.requests: list[str] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def cors(self):
                self.send_header("Access-Control-Allow-Origin", "*")
                self.send_header("Access-Control-Expose-Headers", "Content-Length")

            def do_OPTIONS(self):
                self.send_response(204)
                self.cors()
                self.send_header("Access-Control-Allow-Methods", "GET, HEAD")
                self.send_header("Access-Control-Allow-Headers", "*")
                self.end_headers()

            def find(self):
                hub.requests.append(self.path)
                parts = self.path.split("?")[0].strip("/").split("/")
                if len(parts) < 5 or parts[2] != "resolve":
                    return None
                repo, file = f"{parts[0]}/{parts[1]}", "/".join(parts[4:])
                source = hub.repos.get(repo)
                if isinstance(source, Path):
                    path = source / file
                    return path.read_bytes() if path.is_file() else None
                if isinstance(source, dict):
                    return source.get(file)
                return None

            def answer(self, body_wanted: bool):
                found = self.find()
                if found is None:
                    self.send_response(404)
                    self.cors()
                    self.send_header("Content-Length", "15")
                    self.end_headers()
                    if body_wanted:
                        self.wfile.write(b"Entry not found")
                    return
                size = found if isinstance(found, int) else len(found)
                self.send_response(200)
                self.cors()
                self.send_header("Content-Length", str(size))
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                if body_wanted and not isinstance(found, int):
                    self.wfile.write(found)

            def do_HEAD(self):
                self.answer(False)

            def do_GET(self):
                self.answer(True)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> "FakeHub":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
