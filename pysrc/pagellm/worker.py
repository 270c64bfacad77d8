"""The page's engine side, run in a PyScript worker: it owns conversations and engines.

The page sends JSON messages (init, load, send, regenerate, edit, continue, switch, delete, open,
summarize, stop, models, import, export, tool-result) and gets JSON events back (ready, progress, loaded,
accepted, context, reading, delta, done, changed, summary, error, models, plan, confirm, imported, exported,
tool-call). A request may name page tools (``"tools": ["run_python"]``) for a remote model: each call
is posted as ``tool-call`` and waits for the page's ``tool-result`` (pagellm.page_tools).
Python owns each conversation's tree: a request carries the saved conversation and an intent
("edit message X"), and the answer carries the whole conversation back for the page to save and draw. ``WorkerApp`` knows nothing of the
browser: ``post`` is any callable, so it is unit-tested on CPython with a fake engine.

    app = WorkerApp(post=print, make_local=..., make_remote=...)
    await app.handle({"type": "send", "text": "Hi", "conversation": {...}, "settings": {}, "backend": {...}})
"""

from __future__ import annotations

import asyncio
import json
from typing import Callable

from .engine import ContextUse, Delta, Final, Reading
from .errors import GenerationError, InputError, PagellmError
from .messages import MAX_MESSAGE_CHARS, Conversation, summary_request
from .page_tools import PageTools
from .settings import GenerationSettings
from .tools import ToolCallEvent, ToolResultEvent


class WorkerApp:
    def __init__(self, post: Callable[[dict], None], make_local: Callable, make_remote: Callable,
                 detect_webgpu: Callable | None = None):
        self.post = post
        self.make_local = make_local      # (model entry dict, device, site_url, threads) -> engine
        self.make_remote = make_remote    # (backend config dict) -> engine
        self.detect_webgpu = detect_webgpu
        self.site_url: str | None = None
        self.catalog: dict = {"models": []}
        self.local = None
        self.webgpu = False
        self.folder_files: dict = {}      # path -> File, for a model from this computer
        self.active = None                # the engine streaming now, for stop
        self.remote_cache: dict = {}
        self.page_tools = PageTools(post)  # run_python: approved and run in the page's sandbox
        self.tools: list = []             # the tools offered with the request being answered

    async def handle(self, message: dict) -> None:
        kind = message.get("type")
        handler = getattr(self, f"on_{str(kind).replace('-', '_')}", None)
        if handler is None:
            self.post({"type": "error", "code": "bad_input", "message": f"Unknown request {kind!r}."})
            return
        try:
            await handler(message)
        except PagellmError as err:
            self.post({"type": "error", **err.to_dict(), "field": getattr(err, "field", None),
                       "stage": "load" if kind == "load" else kind})
        except Exception as err:  # a bug, not a user error: say so instead of hanging the page
            self.post({"type": "error", "code": "internal", "stage": kind,
                       "message": f"Internal error in pagellm ({type(err).__name__}: {err})."})

    async def on_init(self, message: dict) -> None:
        self.site_url = message.get("base")
        self.catalog = message.get("catalog") or {"models": []}
        self.webgpu = bool(await self.detect_webgpu()) if self.detect_webgpu else False
        from . import __version__

        self.post({"type": "ready", "webgpu": self.webgpu, "version": __version__})

    def model_entry(self, model_id: str) -> dict:
        for entry in self.catalog.get("models", []):
            if entry["id"] == model_id:
                return entry
        known = ", ".join(e["id"] for e in self.catalog.get("models", [])) or "none"
        raise InputError(f"Unknown model {model_id!r}: this site offers {known}.")

    async def on_load(self, message: dict) -> None:
        if message.get("hub") or message.get("folder"):
            return await self.load_external(message)
        entry = self.model_entry(message.get("model") or self.catalog.get("default", ""))
        engine = self.make_local(entry, message.get("device") or "auto", self.site_url, message.get("threads"))
        await self.finish_load(engine, entry["id"], entry.get("name", entry["id"]))

    async def finish_load(self, engine, model_id: str, name: str) -> None:
        await engine.load(progress=lambda p: self.post({"type": "progress", **p.to_dict()}))
        if self.local is not None and hasattr(self.local, "forget_cache"):
            self.local.forget_cache()  # one key/value cache at a time: the old model's goes
        self.local = engine
        self.post({"type": "loaded", "model": model_id, "name": name, "device": engine.device, "dtype": engine.dtype,
                   "notice": engine.notice, "seconds": engine.load_seconds or 0.0})

    async def load_external(self, message: dict) -> None:
        """A model from a Hub (by id) or from a folder on this computer: check the fit, then load."""
        from .errors import ModelLoadError
        from .hub import DEFAULT_HUB, folder_plan, hub_plan, parse_hub_id
        from .local import LocalEngine, choose_device

        requested = message.get("device") or "auto"
        device, _ = choose_device(requested, self.webgpu)
        if message.get("hub"):
            model_id, revision = parse_hub_id(message["hub"].get("id", ""))
            host = (message["hub"].get("host") or DEFAULT_HUB).strip()
            plan = await hub_plan(host, model_id, revision, device)
            source, name = {"kind": "hub", "host": host, "revision": revision}, model_id
        else:
            if not self.folder_files:
                raise InputError("Choose a folder first.")
            plan = await folder_plan(self.folder_files, device)
            model_id, source, name = "local-folder", {"kind": "folder"}, "Model from this computer"
        self.post({"type": "plan", "model": name, **plan.to_dict()})
        if plan.verdict == "refuse":
            raise ModelLoadError(f"{name} will not fit: it {plan.reason}.")
        if plan.confirm and not message.get("confirmed"):
            self.post({"type": "confirm", "model": name, "plan": plan.to_dict(), "request": message})
            return
        engine = LocalEngine(model_id, site_url=self.site_url, device=requested, dtype=plan.dtype, dtypes=(plan.dtype,),
                             file_sizes={plan.file: plan.download_bytes}, name=name, source=source,
                             context_length=plan.context_length)
        await self.finish_load(engine, model_id, name)

    async def engine_for(self, backend: dict):
        if backend.get("kind") == "remote":
            engine = self.make_remote(backend)
            await engine.load()  # checks the URL and the key before anything is sent or changed
            return engine
        if self.local is None:
            raise InputError("The local model is not loaded yet: wait for it, or press Load model.")
        return self.local

    async def prepare(self, message: dict):
        """The request's conversation, settings and engine, all checked before anything changes."""
        conversation = Conversation.from_dict(message.get("conversation") or {})
        settings = GenerationSettings.from_dict(message.get("settings"))
        backend = message.get("backend") or {}
        engine = await self.engine_for(backend)
        # Tools only go to remote endpoints (the OpenAI tool-call protocol); the local engine takes none.
        self.tools = self.page_tools.offered(message.get("tools") or []) if backend.get("kind") == "remote" else []
        return conversation, settings, engine

    async def on_send(self, message: dict) -> None:
        conversation, settings, engine = await self.prepare(message)
        conversation.add_user(message.get("text", ""))
        await self.answer(engine, conversation, settings)

    async def on_regenerate(self, message: dict) -> None:
        """A new reply beside ``message_id`` (default: the path's last reply); the old one stays a sibling."""
        conversation, settings, engine = await self.prepare(message)
        conversation.regenerate(message.get("message_id"))
        await self.answer(engine, conversation, settings)

    async def on_edit(self, message: dict) -> None:
        """A new version of a message beside the old one; a user message is then answered."""
        conversation, settings, engine = await self.prepare(message)
        edited = conversation.edit(message.get("message_id"), message.get("text", ""))
        if edited.role != "user":
            self.post({"type": "changed", "conversation": conversation.to_dict(), "focus": edited.id})
            return
        await self.answer(engine, conversation, settings)

    async def on_continue(self, message: dict) -> None:
        """Carry a cut reply on: the model reads it as the start of its answer and writes the rest."""
        conversation, settings, engine = await self.prepare(message)
        reply = conversation.continue_reply(message.get("message_id"))
        await self.answer(engine, conversation, settings, reply)

    def changed(self, conversation: Conversation, focus: str | None = None) -> None:
        self.post({"type": "changed", "conversation": conversation.to_dict(), "focus": focus})

    async def on_open(self, message: dict) -> None:
        """A saved chat in today's form (older saved forms are read and rewritten), optionally shown at
        the message at index ``at`` of its saved ``messages`` (what search found)."""
        conversation = Conversation.from_dict(message.get("conversation") or {})
        at = message.get("at")
        focus = None
        if at is not None:
            nodes = conversation.nodes
            if not isinstance(at, int) or not 0 <= at < len(nodes):
                raise InputError(f"This chat has no message number {at!r}.")
            focus = conversation.show(nodes[at].id).id
        self.changed(conversation, focus)

    async def on_switch(self, message: dict) -> None:
        conversation = Conversation.from_dict(message.get("conversation") or {})
        shown = conversation.switch(message.get("message_id"), int(message.get("step") or 0))
        self.changed(conversation, shown.id)

    async def on_delete(self, message: dict) -> None:
        conversation = Conversation.from_dict(message.get("conversation") or {})
        conversation.delete(message.get("message_id"))
        self.changed(conversation)

    async def answer(self, engine, conversation: Conversation, settings: GenerationSettings, reply=None) -> None:
        """Stream a reply into ``reply`` (a cut reply to carry on) or a new one. The new reply is in the
        conversation the page gets with ``accepted``, marked interrupted until it ends, so a reload
        mid-reply keeps what came so far."""
        if reply is None:
            reply = conversation.add_assistant("", status="interrupted")
        self.post({"type": "accepted", "conversation": conversation.to_dict(), "reply": reply.id})
        await self.reply(engine, conversation, settings, reply)

    async def reply(self, engine, conversation: Conversation, settings: GenerationSettings, reply) -> None:
        """Stream one reply; whatever happens, the conversation that comes back is consistent."""
        prefix = reply.content
        content, reasoning, final = [], [], None
        size, capped = len(prefix), False
        self.active = engine
        try:
            async for event in engine.stream(conversation, settings, **({"tools": self.tools} if self.tools else {})):
                if isinstance(event, Delta):
                    if capped:
                        continue
                    size += len(event.text)
                    if size > MAX_MESSAGE_CHARS:  # an endless or hostile stream: keep what fits, stop it
                        capped = True
                        engine.cancel()
                        continue
                    (reasoning if event.kind == "reasoning" else content).append(event.text)
                    self.post({"type": "delta", "text": event.text, "kind": event.kind})
                elif isinstance(event, Reading):
                    self.post({"type": "reading", "done": event.done, "total": event.total})
                elif isinstance(event, ContextUse):
                    self.post({"type": "context", "used": event.used, "limit": event.limit, "left_out": event.left_out})
                elif isinstance(event, Final):
                    final = event
                elif isinstance(event, ToolCallEvent):  # kept with the reply, so the saved chat shows it
                    call = event.call
                    reply.meta.setdefault("tools", []).append(
                        {"id": call.id, "name": call.name, "arguments": call.arguments, "output": None, "ok": False})
                elif isinstance(event, ToolResultEvent):
                    for record in reply.meta.get("tools", []):
                        if record["id"] == event.call.id and record["output"] is None:
                            record.update(output=event.output, ok=event.ok)
        except Exception as err:
            if not isinstance(err, PagellmError):  # a bug, but the conversation must stay whole
                err = GenerationError(f"Internal error in pagellm ({type(err).__name__}: {err}).")
            self.fill(reply, prefix + "".join(content), "error", reasoning)
            reply.meta["error"] = str(err)
            self.post({"type": "error", **err.to_dict(), "conversation": conversation.to_dict()})
            return
        finally:
            self.active = None
        status = "stopped" if final and final.finish_reason == "cancelled" else "complete"
        self.fill(reply, prefix + "".join(content), status, reasoning)
        reply.meta.pop("error", None)
        if final:
            reply.meta["stats"] = final.to_dict()
        if capped:
            reply.meta["error"] = f"The reply was cut at {MAX_MESSAGE_CHARS:,} characters, the most one message may hold."
        self.post({"type": "done", "conversation": conversation.to_dict(), "final": final.to_dict() if final else None})

    @staticmethod
    def fill(reply, text: str, status: str, reasoning: list[str]) -> None:
        reply.content, reply.status = text, status
        if reasoning:
            reply.meta["reasoning"] = reply.meta.get("reasoning", "") + "".join(reasoning)

    async def on_summarize(self, message: dict) -> None:
        """Summarize a chat with the engine in use; the page starts a new chat from the summary. A chat
        too long for the model's context is summarized from its latest part that fits."""
        from .errors import ContextOverflowError

        conversation = Conversation.from_dict(message.get("conversation") or {})
        settings = GenerationSettings.from_dict(message.get("settings"))
        engine = await self.engine_for(message.get("backend") or {})
        max_chars, parts = 8000, []
        self.active = engine
        try:
            while True:
                try:
                    async for event in engine.stream(summary_request(conversation, max_chars), settings):
                        if isinstance(event, Delta) and event.kind == "content":
                            parts.append(event.text)
                    break
                except ContextOverflowError:
                    if max_chars <= 250:
                        raise
                    max_chars //= 2
        finally:
            self.active = None
        text = "".join(parts).strip()
        if not text:
            raise GenerationError("The model wrote no summary: try again, or start a new chat.")
        self.post({"type": "summary", "text": text})

    def stop(self) -> None:
        self.page_tools.cancel_all("The user stopped the reply before the code ran.")
        if self.active is not None:
            self.active.cancel()

    async def on_tool_result(self, message: dict) -> None:
        """The page's answer to a ``tool-call`` (approved and run, or denied)."""
        self.page_tools.resolve(message)

    async def on_stop(self, message: dict) -> None:
        self.stop()

    async def on_import(self, message: dict) -> None:
        """Read a file and merge it with the saved chats the page sends (``saved``): nothing is overwritten,
        and a bad file changes nothing."""
        from .transfer import import_json, merge

        conversations = import_json(message.get("text", ""))
        saved = []
        for item in message.get("saved") or []:
            try:
                saved.append(Conversation.from_dict(item))
            except InputError:  # an unreadable saved chat is never matched, so never replaced
                continue
        result = merge(saved, conversations)
        self.post({"type": "imported", "conversations": [c.to_dict() for c in result.add],
                   "copies": result.copies, "unchanged": result.unchanged, "summary": result.summary()})

    async def on_export(self, message: dict) -> None:
        from .transfer import export_json, export_markdown

        conversations = [Conversation.from_dict(c) for c in message.get("conversations", [])]
        kind = message.get("format", "json")
        text = export_markdown(conversations) if kind == "markdown" else export_json(conversations, message.get("settings"))
        self.post({"type": "exported", "format": kind, "text": text, "name": message.get("name", "pagellm-chats")})

    async def on_models(self, message: dict) -> None:
        engine = self.make_remote(message.get("backend") or {})
        ids = await engine.list_models()
        self.post({"type": "models", "ids": list(ids)})


def _make_local(entry: dict, device: str, site_url: str, threads: int | None = None):
    from .local import LocalEngine

    return LocalEngine(entry["id"], site_url=site_url, device=device, threads=threads,
                       dtypes=tuple(entry.get("dtypes", ())),
                       file_sizes=entry.get("files", {}), context_length=entry.get("context_length", 2048),
                       name=entry.get("name"))


def _make_remote(backend: dict):
    from .remote import RemoteEngine

    return RemoteEngine(backend.get("base_url", ""), backend.get("model", ""), api_key=backend.get("api_key") or None,
                        provider=backend.get("provider") or "custom")


def serve_worker() -> None:
    """Connect a WorkerApp to this PyScript worker's messages (called by web/worker.py)."""
    from polyscript import xworker
    from pyodide.ffi import create_proxy

    from .local import webgpu_adapter_info

    app = WorkerApp(post=lambda event: xworker.postMessage(json.dumps(event)),
                    make_local=_make_local, make_remote=_make_remote, detect_webgpu=webgpu_adapter_info)
    tasks = set()

    def on_message(event):
        if not isinstance(event.data, str):  # File or Blob objects: they cannot travel as JSON
            if event.data.type == "prefetched":
                receive_prefetched(event.data)
            else:
                receive_folder(event.data)
            return
        message = json.loads(event.data)
        if message.get("type") == "stop":  # at once, not queued behind the reply it stops
            app.stop()
            return
        # Each request runs as its own task, so the worker keeps listening while a reply streams.
        task = asyncio.ensure_future(app.handle(message))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def receive_folder(data):
        import js

        files = {}
        for item in data.files:
            path = str(item.path).split("/", 1)[-1]  # drop the chosen folder's own name
            files[path] = item.file
        app.folder_files = files
        js.globalThis.pagellmFolder = js.Map.new()
        for path, file in files.items():
            js.globalThis.pagellmFolder.set(path, file)
        app.post({"type": "folder", "files": len(files)})

    def receive_prefetched(data):
        """The bundled model's files, downloaded by the page while Python started: the fetch in
        local_js.ENV_JS serves them (once each) instead of downloading them again."""
        import js

        js.globalThis.pagellmPrefetched = js.Map.new()
        for item in data.files:
            js.globalThis.pagellmPrefetched.set(item.path, item.blob)

    xworker.onmessage = create_proxy(on_message)
    app.post({"type": "booted"})

