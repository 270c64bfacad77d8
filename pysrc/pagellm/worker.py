"""The page's engine side, run in a PyScript worker: it owns conversations and engines.

The page sends the requests of ``pagellm.protocol`` and gets its events back, each tagged with the
request's id and ended by ``End``. Python owns each conversation and its saved form: a request carries
the saved conversation and an intent ("edit message X", "rename"), and the answer carries the whole
conversation back for the page to save and draw. A request may name page tools (``tools=["run_python"]``)
for a remote model: each call is posted as ``RunTool`` and waits for the page's ``ToolOutput``
(pagellm.page_tools). ``WorkerApp`` knows nothing of the browser: ``post`` is any callable taking an
event's dict, so it is unit-tested on CPython with a fake engine.

    app = WorkerApp(post=print, make_local=..., make_remote=...)
    await app.handle({"v": 1, "kind": "send", "id": "r1", "text": "Hi", "conversation": {...}, "backend": {...}})
"""

from __future__ import annotations

import contextvars
import time
from typing import Callable

from . import protocol as p
from .attachments import Attachment
from .engine import Citations, ContextUse, Delta, Final, Reading
from .errors import GenerationError, InputError, ModelLoadError, PagellmError
from .grounding import check_images
from .local_choices import choose_device
from .message import MAX_MESSAGE_CHARS
from .messages import Conversation
from .page_tools import PageTools
from .passage_vectors import PassageVectors
from .settings import GenerationSettings
from .summary import summary_chat, write_summary
from .tools import ToolCallEvent, ToolResultEvent

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

MAX_TITLE_CHARS = 200
CHECKPOINT_SECONDS = 0.4   # how often a streaming reply is handed to the page to save


class WorkerApp:
    def __init__(self, post: Callable[[dict], None], make_local: Callable, make_remote: Callable,
                 detect_webgpu: Callable | None = None, make_embedder: Callable | None = None,
                 read_bytes: Callable | None = None):
        self.post = post
        self.make_local = make_local      # (model entry dict, device, site_url, threads, files) -> engine
        self.make_remote = make_remote    # (backend config dict) -> engine
        self.detect_webgpu = detect_webgpu
        self.vectors = PassageVectors(make_embedder)  # the site's embedding model, made when first needed
        self.read_bytes = read_bytes or _as_bytes  # an attachment's data (a Blob in the page) -> bytes
        self.site_url: str | None = None
        self.catalog: dict = {"models": []}
        self.local = None
        self.webgpu = False
        self.folder_files: dict = {}      # path -> File, for a model from this computer
        self.active = None                # the engine streaming now, for stop
        self.page_tools = PageTools(self.emit)  # run_python: approved and run in the page's sandbox
        self.tools: list = []             # the tools offered with the request being answered

    def emit(self, event: p.Message) -> None:
        """Post an event as part of the answer to the request this task handles."""
        self.post(event.to_dict(_request_id.get()))

    async def handle(self, message: dict) -> None:
        """Answer one page message: its events, then ``End``. Every failure becomes an ``Error`` event."""
        _request_id.set(message.get("id") if isinstance(message, dict) else None)
        try:
            request = p.parse_request(message)
            await getattr(self, "on_" + request.kind.replace("-", "_"))(request)
        except PagellmError as err:
            self.emit(self.error_event(err))
        except Exception as err:  # a bug, not a user error: say so instead of hanging the page
            self.emit(p.Error(code="internal", message=f"Internal error in pagellm ({type(err).__name__}: {err})."))
        finally:
            self.emit(p.End())

    @staticmethod
    def error_event(err: PagellmError, conversation: Conversation | None = None) -> p.Error:
        details = err.to_dict()
        # What a server answered (remote errors): status, host and its own (redacted) words.
        answer = {name: getattr(err, name) for name in ("status", "host", "server_message") if getattr(err, name, None)}
        return p.Error(code=details.pop("code"), message=details.pop("message"), setting=getattr(err, "field", None),
                       conversation=conversation.to_dict() if conversation else None, data={**details, **answer})

    async def on_init(self, request: p.Init) -> None:
        self.site_url = request.base or None
        self.catalog = request.catalog or {"models": []}
        self.webgpu = bool(await self.detect_webgpu()) if self.detect_webgpu else False
        from . import __version__

        self.emit(p.Ready(webgpu=self.webgpu, version=__version__))

    def model_entry(self, model_id: str) -> dict:
        for entry in self.catalog.get("models", []):
            if entry["id"] == model_id:
                return entry
        known = ", ".join(e["id"] for e in self.catalog.get("models", [])) or "none"
        raise InputError(f"Unknown model {model_id!r}: this site offers {known}.")

    async def on_load(self, request: p.Load) -> None:
        if request.hub or request.folder:
            return await self.load_external(request)
        entry = self.model_entry(request.model or self.catalog.get("default", ""))
        files = {item["path"]: item["blob"] for item in request.files}  # downloaded by the page meanwhile
        engine = self.make_local(entry, request.device or "auto", self.site_url, request.threads, files)
        await self.finish_load(engine, entry["id"], entry.get("name", entry["id"]))

    async def finish_load(self, engine, model_id: str, name: str) -> None:
        await engine.load(progress=lambda progress: self.emit(p.Progress(**progress.to_dict())))
        if self.local is not None and hasattr(self.local, "forget_cache"):
            self.local.forget_cache()  # one key/value cache at a time: the old model's goes
        self.local = engine
        self.emit(p.Loaded(model=model_id, name=name, device=engine.device, dtype=engine.dtype, notice=engine.notice,
                           seconds=engine.load_seconds or 0.0, early=getattr(engine, "started_early", False)))

    async def on_folder(self, request: p.Folder) -> None:
        """Keep a model folder's files (the chosen folder's own name dropped from each path)."""
        self.folder_files = {str(item["path"]).split("/", 1)[-1]: item["file"] for item in request.files}
        self.emit(p.FolderReceived(files=len(self.folder_files)))

    async def load_external(self, request: p.Load) -> None:
        """A model from a Hub (by id) or from a folder on this computer: check the fit, then load."""
        from .hub import DEFAULT_HUB, folder_plan, hub_plan, parse_hub_id
        from .local import LocalEngine

        device, _ = choose_device(request.device or "auto", self.webgpu)
        if request.hub:
            model_id, revision = parse_hub_id(request.hub.get("id", ""))
            host = (request.hub.get("host") or DEFAULT_HUB).strip()
            plan = await hub_plan(host, model_id, revision, device)
            source, name = {"kind": "hub", "host": host, "revision": revision}, model_id
        else:
            if not self.folder_files:
                raise InputError("Choose a folder first.")
            plan = await folder_plan(self.folder_files, device)
            model_id, source, name = "local-folder", {"kind": "folder"}, "Model from this computer"
        self.emit(p.Plan(model=name, plan=plan.to_dict()))
        if plan.verdict == "refuse":
            raise ModelLoadError(f"{name} will not fit: it {plan.reason}.")
        if plan.confirm and not request.confirmed:
            self.emit(p.Confirm(model=name, plan=plan.to_dict()))
            return
        engine = LocalEngine(model_id, site_url=self.site_url, device=request.device or "auto", dtype=plan.dtype,
                             dtypes=(plan.dtype,), file_sizes={plan.file: plan.download_bytes}, name=name,
                             source=source, context_length=plan.context_length,
                             files={f"models/local-folder/{path}": file for path, file in self.folder_files.items()})
        await self.finish_load(engine, model_id, name)

    async def engine_for(self, backend: dict):
        if backend.get("kind") == "remote":
            engine = self.make_remote(backend)
            await engine.load()  # checks the URL and the key before anything is sent or changed
            return engine
        if self.local is None:
            raise InputError("The local model is not loaded yet: wait for it, or press Load model.")
        return self.local

    async def prepare(self, request: p.Turn):
        """The request's conversation, settings and engine, all checked before anything changes."""
        conversation = Conversation.from_dict(request.conversation)
        settings = GenerationSettings.from_dict(request.settings)
        engine = await self.engine_for(request.backend)
        # Tools only go to remote endpoints (the OpenAI tool-call protocol); the local engine takes none.
        self.tools = self.page_tools.offered(request.tools) if request.backend.get("kind") == "remote" else []
        return conversation, settings, engine

    async def on_send(self, request: p.Send) -> None:
        conversation, settings, engine = await self.prepare(request)
        files = [Attachment.from_dict(a) for a in request.attachments]
        # Checked before the question is added: a refused file leaves the chat and the draft as they were.
        check_images([f for f in files if f.kind == "image"], getattr(engine, "accepts_images", False),
                     getattr(engine, "name", None) or "this model")
        conversation.add_user(request.text, attachments=files)
        await self.answer(engine, conversation, settings)

    def embedder_ids(self) -> tuple[str | None, str | None]:
        """(site URL, the site's embedding model id: catalog.json's first ``embedders`` entry)."""
        entries = self.catalog.get("embedders") or []
        return self.site_url, (entries[0]["id"] if entries else None)

    async def on_attach(self, request: p.Attach) -> None:
        """Read a file, split its text into passages and embed them: the page holds the result until the
        question is sent. A file that cannot be attached is refused whole, saying why."""
        attachment = Attachment.from_bytes(request.name, await self.read_bytes(request.data), request.media_type)
        notice = None
        if attachment.kind != "image":
            self.emit(p.Progress(stage=f"Indexing {attachment.name}", loaded=0, total=len(attachment.index.texts())))
            notice = await self.vectors.embed_passages(attachment, self.embedder_ids(), self.emit)
        self.emit(p.Attached(attachment=attachment.to_dict(), notice=notice))

    async def on_regenerate(self, request: p.Regenerate) -> None:
        """A new reply beside ``message_id`` (default: the path's last reply); the old one stays a sibling."""
        conversation, settings, engine = await self.prepare(request)
        conversation.regenerate(request.message_id)
        await self.answer(engine, conversation, settings)

    async def on_edit(self, request: p.Edit) -> None:
        """A new version of a message beside the old one; a user message is then answered."""
        conversation, settings, engine = await self.prepare(request)
        edited = conversation.edit(request.message_id, request.text)
        if edited.role != "user":
            return self.changed(conversation, edited.id)
        await self.answer(engine, conversation, settings)

    async def on_continue(self, request: p.Continue) -> None:
        """Carry a cut reply on: the model reads it as the start of its answer and writes the rest."""
        conversation, settings, engine = await self.prepare(request)
        reply = conversation.continue_reply(request.message_id)
        await self.answer(engine, conversation, settings, reply)

    def changed(self, conversation: Conversation, focus: str | None = None) -> None:
        self.emit(p.Changed(conversation=conversation.to_dict(), focus=focus))

    async def on_open(self, request: p.Open) -> None:
        """A saved chat in today's form (older saved forms are read and rewritten), optionally shown at
        the message at index ``at`` of its saved ``messages`` (what search found)."""
        conversation = Conversation.from_dict(request.conversation)
        focus = None
        if request.at is not None:
            nodes = conversation.nodes
            if not isinstance(request.at, int) or not 0 <= request.at < len(nodes):
                raise InputError(f"This chat has no message number {request.at!r}.")
            focus = conversation.show(nodes[request.at].id).id
        self.changed(conversation, focus)

    async def on_switch(self, request: p.Switch) -> None:
        conversation = Conversation.from_dict(request.conversation)
        shown = conversation.switch(request.message_id, int(request.step or 0))
        self.changed(conversation, shown.id)

    async def on_delete(self, request: p.Delete) -> None:
        conversation = Conversation.from_dict(request.conversation)
        conversation.delete(request.message_id)
        self.changed(conversation)

    async def on_rename(self, request: p.Rename) -> None:
        title = " ".join(str(request.title).split())
        if not title:
            raise InputError("A chat's name cannot be empty.")
        if len(title) > MAX_TITLE_CHARS:
            raise InputError(f"A chat's name can be at most {MAX_TITLE_CHARS} characters; this one has {len(title)}.")
        conversation = Conversation.from_dict(request.conversation)
        conversation.title = title
        self.changed(conversation)

    async def on_set_system_prompt(self, request: p.SetSystemPrompt) -> None:
        conversation = Conversation.from_dict(request.conversation)
        conversation.system_prompt = str(request.text)
        self.changed(conversation)

    async def answer(self, engine, conversation: Conversation, settings: GenerationSettings, reply=None) -> None:
        """Stream a reply into ``reply`` (a cut reply to carry on) or a new one. The new reply is in the
        conversation the page gets with ``Accepted``, marked interrupted until it ends, and checkpoints
        follow as it streams, so a reload mid-reply keeps what came so far."""
        if reply is None:
            reply = conversation.add_assistant("", status="interrupted")
        self.emit(p.Accepted(conversation=conversation.to_dict(), reply=reply.id))
        await self.vectors.embed_question(conversation, self.embedder_ids())
        await self.reply(engine, conversation, settings, reply)

    async def reply(self, engine, conversation: Conversation, settings: GenerationSettings, reply) -> None:
        """Stream one reply; whatever happens, the conversation that comes back is consistent."""
        prefix, status = reply.content, reply.status
        content, reasoning, final = [], [], None
        size, capped, saved = len(prefix), False, time.monotonic()
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
                    self.emit(p.Delta(text=event.text, part=event.kind))
                    if time.monotonic() - saved > CHECKPOINT_SECONDS:
                        saved = time.monotonic()
                        self.fill(reply, prefix + "".join(content), "interrupted", reasoning)
                        reasoning = []  # now part of the reply's meta
                        self.emit(p.Checkpoint(conversation=conversation.to_dict()))
                elif isinstance(event, Reading):
                    self.emit(p.Reading(done=event.done, total=event.total))
                elif isinstance(event, ContextUse):
                    self.emit(p.Context(used=event.used, limit=event.limit, left_out=event.left_out))
                elif isinstance(event, Final):
                    final = event
                elif isinstance(event, Citations):  # which files or passages the reply was given
                    reply.meta["citations"] = event.data
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
            self.emit(self.error_event(err, conversation))
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
        self.emit(p.Done(conversation=conversation.to_dict(), final=final.to_dict() if final else None))

    @staticmethod
    def fill(reply, text: str, status: str, reasoning: list[str]) -> None:
        reply.content, reply.status = text, status
        if reasoning:
            reply.meta["reasoning"] = reply.meta.get("reasoning", "") + "".join(reasoning)

    async def on_summarize(self, request: p.Summarize) -> None:
        """Summarize a chat with the engine in use and start a new chat from the summary (pagellm.summary)."""
        conversation = Conversation.from_dict(request.conversation)
        settings = GenerationSettings.from_dict(request.settings)
        engine = await self.engine_for(request.backend)
        self.active = engine
        try:
            summary = await write_summary(engine, conversation, settings)
        finally:
            self.active = None
        self.changed(summary_chat(conversation, summary))

    def stop(self) -> None:
        self.page_tools.cancel_all("The user stopped the reply before the code ran.")
        if self.active is not None:
            self.active.cancel()

    async def on_tool_output(self, request: p.ToolOutput) -> None:
        """The page's answer to a ``RunTool`` (approved and run, or denied)."""
        self.page_tools.resolve(request)

    async def on_stop(self, request: p.Stop) -> None:
        self.stop()

    async def on_import(self, request: p.Import) -> None:
        """Read a file and merge it with the saved chats the page sends: nothing is overwritten, and a
        bad file changes nothing."""
        from .transfer import import_json, merge

        conversations = import_json(request.text)
        saved = []
        for item in request.saved:
            try:
                saved.append(Conversation.from_dict(item))
            except InputError:  # an unreadable saved chat is never matched, so never replaced
                continue
        result = merge(saved, conversations)
        self.emit(p.Imported(conversations=[c.to_dict() for c in result.add], copies=result.copies,
                             unchanged=result.unchanged, summary=result.summary()))

    async def on_export(self, request: p.Export) -> None:
        from .transfer import export_json, export_markdown

        conversations = [Conversation.from_dict(c) for c in request.conversations]
        text = export_markdown(conversations) if request.format == "markdown" else export_json(conversations, request.settings)
        self.emit(p.Exported(format=request.format, text=text, name=request.name))

    async def on_models(self, request: p.Models) -> None:
        engine = self.make_remote(request.backend)
        self.emit(p.ModelsListed(ids=list(await engine.list_models())))


async def _as_bytes(data) -> bytes:
    """Bytes as they are (CPython, tests), or a Blob's bytes (the page)."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    if hasattr(data, "arrayBuffer"):
        return (await data.arrayBuffer()).to_bytes()
    from .errors import InputError

    raise InputError("The attachment's content did not reach the worker as a file.")
