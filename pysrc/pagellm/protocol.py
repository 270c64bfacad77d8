"""The messages between the page and its engine worker: one dataclass per request and per event.

A request is ``{"v": PROTOCOL_VERSION, "kind": ..., "id": ..., <its fields>}``; every event the worker
posts while answering it carries the same ``id``, and the last one is ``End``. Events that answer no
request (``Booted``) carry ``id`` None. Requests travel as JSON with their Blobs beside it (``pack`` in
web/client.js, ``unpack`` here); events travel as JSON. The page's side imports the kinds and field
names from web/protocol.js, which the build writes from this module (``javascript()``), so a kind or a
field exists in one place.

    >>> request = parse_request({"v": 1, "kind": "rename", "id": "r7", "conversation": {}, "title": "Trip"})
    >>> type(request).__name__, request.title
    ('Rename', 'Trip')
    >>> Delta(text="Hel").to_dict("r7")
    {'kind': 'delta', 'id': 'r7', 'text': 'Hel', 'part': 'content'}
    >>> parse_request({"v": 1, "kind": "send", "id": "r8", "txt": "Hi"})
    Traceback (most recent call last):
    pagellm.errors.InputError: The page sent 'send' with a field the worker does not know: txt.
"""

from __future__ import annotations

import json
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar

from .errors import InputError

PROTOCOL_VERSION = 1

REQUESTS: dict[str, type] = {}
EVENTS: dict[str, type] = {}


def _register(table: dict, kind: str):
    def add(cls):
        cls = dataclass(cls)
        cls.kind = kind
        table[kind] = cls
        return cls
    return add


def request(kind: str):
    return _register(REQUESTS, kind)


def event(kind: str):
    return _register(EVENTS, kind)


class Message:
    kind: ClassVar[str]

    def to_dict(self, id: str | None = None) -> dict:
        return {"kind": self.kind, "id": id, **{f.name: getattr(self, f.name) for f in fields(self)}}


# -- requests: what the page asks ----------------------------------------------------------------

@request("init")
class Init(Message):
    """Python is up: here is the site's base URL and its model catalog."""
    base: str = ""
    catalog: dict = field(default_factory=dict)


@request("load")
class Load(Message):
    """Load a model: one of the catalog's, a Hub model by id, or the folder sent before. ``files`` are
    the model's files the page already downloaded (``{"path", "blob"}``), used instead of fetching."""
    model: str = ""
    device: str = "auto"
    threads: int | None = None
    hub: dict | None = None
    folder: bool = False
    confirmed: bool = False
    files: list = field(default_factory=list)


@request("folder")
class Folder(Message):
    """A model folder from this computer: ``files`` are ``{"path", "file"}`` with File objects."""
    files: list = field(default_factory=list)


@dataclass
class Turn(Message):
    """The fields of every request that ends in a reply."""
    conversation: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    backend: dict = field(default_factory=dict)
    tools: list = field(default_factory=list)


@request("send")
class Send(Turn):
    """A new question, with the files attached to it (``Attached`` records, as the worker made them)."""
    text: str = ""
    attachments: list = field(default_factory=list)


@request("attach")
class Attach(Message):
    """Read a file for the next question: ``data`` is its Blob (File); answered by ``Attached``."""
    name: str = ""
    data: Any = None
    media_type: str | None = None


@request("regenerate")
class Regenerate(Turn):
    message_id: str | None = None


@request("edit")
class Edit(Turn):
    message_id: str | None = None
    text: str = ""


@request("continue")
class Continue(Turn):
    message_id: str | None = None


@request("summarize")
class Summarize(Turn):
    """Write a summary of the chat and start a new chat from it."""


@request("open")
class Open(Message):
    """Read a saved chat (an older saved form is rewritten), shown at its message number ``at``."""
    conversation: dict = field(default_factory=dict)
    at: int | None = None


@request("switch")
class Switch(Message):
    conversation: dict = field(default_factory=dict)
    message_id: str | None = None
    step: int = 0


@request("delete")
class Delete(Message):
    conversation: dict = field(default_factory=dict)
    message_id: str | None = None


@request("rename")
class Rename(Message):
    conversation: dict = field(default_factory=dict)
    title: str = ""


@request("set-system-prompt")
class SetSystemPrompt(Message):
    conversation: dict = field(default_factory=dict)
    text: str = ""


@request("stop")
class Stop(Message):
    """Stop the reply in progress (handled at once, not queued behind it)."""


@request("tool-output")
class ToolOutput(Message):
    """The page's answer to a ``RunTool``: run (``ok``) or refused, with the output or the reason."""
    call: str = ""
    ok: bool = False
    output: str = ""


@request("import")
class Import(Message):
    """A file's text to merge with the ``saved`` chats: nothing is overwritten."""
    text: str = ""
    saved: list = field(default_factory=list)


@request("export")
class Export(Message):
    conversations: list = field(default_factory=list)
    format: str = "json"
    settings: dict | None = None
    name: str = "pagellm-chats"


@request("models")
class Models(Message):
    """The models a remote endpoint offers (also the connection test)."""
    backend: dict = field(default_factory=dict)


# -- events: what the worker answers ------------------------------------------------------------

@event("booted")
class Booted(Message):
    """The worker listens (before ``Init``)."""


@event("ready")
class Ready(Message):
    webgpu: bool = False
    version: str = ""


@event("progress")
class Progress(Message):
    stage: str = ""
    loaded: int | None = None
    total: int | None = None
    fraction: float | None = None
    file: str | None = None


@event("plan")
class Plan(Message):
    """How a Hub or folder model would fit this device, before it downloads."""
    model: str = ""
    plan: dict = field(default_factory=dict)


@event("confirm")
class Confirm(Message):
    """A large download: the page asks the user, then sends the load again with ``confirmed``."""
    model: str = ""
    plan: dict = field(default_factory=dict)


@event("loaded")
class Loaded(Message):
    model: str = ""
    name: str = ""
    device: str = ""
    dtype: str = ""
    notice: str | None = None
    seconds: float = 0.0
    early: bool = False  # the session was the one created while Python started (web/python-boot.mjs)


@event("folder-received")
class FolderReceived(Message):
    files: int = 0


@event("attached")
class Attached(Message):
    """A file read and indexed (``pagellm.attachments.Attachment.to_dict()``); ``notice`` says when its
    passages could only be indexed by their words (no embedding model)."""
    attachment: dict = field(default_factory=dict)
    notice: str | None = None


@event("accepted")
class Accepted(Message):
    """The conversation now holds the reply being written (id ``reply``), marked interrupted until done."""
    conversation: dict = field(default_factory=dict)
    reply: str = ""


@event("checkpoint")
class Checkpoint(Message):
    """The conversation with the reply so far, for the page to save while it streams."""
    conversation: dict = field(default_factory=dict)


@event("context")
class Context(Message):
    used: int = 0
    limit: int = 0
    left_out: int = 0


@event("reading")
class Reading(Message):
    done: int = 0
    total: int = 0


@event("delta")
class Delta(Message):
    text: str = ""
    part: str = "content"   # or "reasoning"


@event("done")
class Done(Message):
    conversation: dict = field(default_factory=dict)
    final: dict | None = None


@event("changed")
class Changed(Message):
    """A conversation changed without a model (branch switch, delete, rename, system prompt, a summary's chat)."""
    conversation: dict = field(default_factory=dict)
    focus: str | None = None


@event("error")
class Error(Message):
    """``code`` names the cause (pagellm.errors); ``setting`` the setting at fault; ``conversation`` is
    the consistent conversation after a failed reply; ``data`` what else the error knows (status, host)."""
    code: str = "internal"
    message: str = ""
    setting: str | None = None
    conversation: dict | None = None
    data: dict = field(default_factory=dict)


@event("run-tool")
class RunTool(Message):
    """The model called a page tool: the page asks the user, runs it and answers with ``ToolOutput``."""
    call: str = ""
    name: str = ""
    arguments: dict = field(default_factory=dict)


@event("models-listed")
class ModelsListed(Message):
    ids: list = field(default_factory=list)


@event("imported")
class Imported(Message):
    conversations: list = field(default_factory=list)
    copies: int = 0
    unchanged: int = 0
    summary: str = ""


@event("exported")
class Exported(Message):
    format: str = "json"
    text: str = ""
    name: str = ""


@event("end")
class End(Message):
    """The last event of every request."""


# -- reading and writing ---------------------------------------------------------------------------

def parse_request(data: Any) -> Message:
    """The request a page message holds, checked: version, kind and field names."""
    if not isinstance(data, dict):
        raise InputError("The page sent a message that is not an object.")
    if data.get("v") != PROTOCOL_VERSION:
        raise InputError(f"The page speaks protocol version {data.get('v')!r}; this worker speaks "
                         f"{PROTOCOL_VERSION}: reload the page.")
    kind = data.get("kind")
    cls = REQUESTS.get(kind)
    if cls is None:
        raise InputError(f"Unknown request {kind!r}.")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known - {"v", "kind", "id"})
    if unknown:
        raise InputError(f"The page sent {kind!r} with a field the worker does not know: {', '.join(unknown)}.")
    values = {name: value for name, value in data.items() if name in known and value is not None}
    return cls(**values)


def unpack(text: str, blobs) -> dict:
    """A request from its JSON and the Blobs sent beside it: ``{"$blob": i}`` stands for ``blobs[i]``."""
    def restore(value):
        if isinstance(value, dict):
            if set(value) == {"$blob"}:
                return blobs[value["$blob"]]
            return {k: restore(v) for k, v in value.items()}
        if isinstance(value, list):
            return [restore(v) for v in value]
        return value
    return restore(json.loads(text))


def javascript() -> str:
    """web/protocol.js: the kinds and their fields, for the page's client."""
    def table(kinds: dict) -> str:
        rows = [f"  {json.dumps(kind)}: {json.dumps([f.name for f in fields(cls)])}," for kind, cls in kinds.items()]
        return "Object.freeze({\n" + "\n".join(rows) + "\n})"
    return ("// Written by build.py from pysrc/pagellm/protocol.py: edit that file, not this one.\n"
            f"export const PROTOCOL_VERSION = {PROTOCOL_VERSION};\n"
            f"export const REQUESTS = {table(REQUESTS)};\n"
            f"export const EVENTS = {table(EVENTS)};\n")


def _check_defaults() -> None:
    """Every field has a default, so a request may leave out what it does not need."""
    for cls in (*REQUESTS.values(), *EVENTS.values()):
        for f in fields(cls):
            assert f.default is not MISSING or f.default_factory is not MISSING, (cls.kind, f.name)


_check_defaults()
