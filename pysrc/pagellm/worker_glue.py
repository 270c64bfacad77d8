"""The worker's browser glue: a ``WorkerApp`` connected to the PyScript worker's messages, with the
engines and the embedding model made for the page (Pyodide only; web/worker.py calls ``serve_worker``).
"""

from __future__ import annotations

import asyncio
import json

from . import protocol as p
from .worker import WorkerApp


def _make_embedder(site_url: str, model_id: str):
    from .page_embedder import PageEmbedder

    return PageEmbedder(site_url, model_id)


def _make_local(entry: dict, device: str, site_url: str, threads: int | None = None, files: dict | None = None):
    from .local import LocalEngine

    return LocalEngine.for_site_model(entry, site_url=site_url, device=device, threads=threads, files=files)


def _make_remote(backend: dict):
    from .remote import RemoteEngine

    return RemoteEngine(backend.get("base_url", ""), backend.get("model", ""), api_key=backend.get("api_key") or None,
                        provider=backend.get("provider") or "custom")


# What the worker imports on its way to a first reply, local or remote: build_snapshot.mjs imports these
# into the Python memory snapshot the page starts from, so a visit spends no time importing them.
PRELOADED = ("pagellm.local", "pagellm.local_load", "pagellm.local_choices", "pagellm.local_speculation",
             "pagellm.remote", "pagellm.page_embedder", "pagellm.page_runtime", "pagellm.transports.browser",
             "transformers_js_py")


def serve_worker() -> None:
    """Connect a WorkerApp to this PyScript worker's messages (called by web/worker.py)."""
    from polyscript import xworker
    from pyodide.ffi import create_proxy

    from .page_runtime import webgpu_adapter_info

    app = WorkerApp(post=lambda event: xworker.postMessage(json.dumps(event)),
                    make_local=_make_local, make_remote=_make_remote, detect_webgpu=webgpu_adapter_info,
                    make_embedder=_make_embedder)
    tasks = set()

    def on_message(event):
        message = p.unpack(str(event.data.json), event.data.blobs)
        if message.get("kind") == "stop":  # at once, not queued behind the reply it stops
            app.stop()
            app.post(p.End().to_dict(message.get("id")))
            return
        # Each request runs as its own task, so the worker keeps listening while a reply streams.
        task = asyncio.ensure_future(app.handle(message))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    xworker.onmessage = create_proxy(on_message)
    app.emit(p.Booted())
