"""pagellm in a notebook: the site's lab (JupyterLite, Pyodide kernel), or IPython on CPython (remote only).

    import pagellm.notebook as nb
    engine = await nb.load_local()          # the site's default model, with a progress line
    await nb.ask("What is the capital of France?")   # the reply streams into the cell output

    %load_ext pagellm.notebook
    %%chat
    And of Italy?

`ask` and `%%chat` continue one conversation (`nb.session.chat`; `nb.new_chat()` starts another) with
`nb.session.settings`, on the engine loaded last (or `nb.use(engine)`, or `%%chat VARIABLE`). A reply
cut by KeyboardInterrupt is kept, marked stopped.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass, field

from .engine import Delta, Final, Progress
from .errors import DeviceError, InputError, ModelLoadError, PagellmError, SiteError
from .messages import Conversation
from .settings import GenerationSettings
from .site import page_base_url


@dataclass
class Session:
    """What `ask` and `%%chat` use when not told otherwise."""

    engine: object | None = None
    chat: Conversation = field(default_factory=Conversation)
    settings: GenerationSettings = field(default_factory=lambda: GenerationSettings(temperature=0, max_new_tokens=128))


session = Session()


def use(engine) -> None:
    """Make `engine` (LocalEngine or RemoteEngine) the one `ask` and `%%chat` talk to."""
    session.engine = engine


def new_chat(system_prompt: str = "") -> Conversation:
    """Start a fresh conversation for `ask` and `%%chat`."""
    session.chat = Conversation(system_prompt=system_prompt)
    return session.chat


async def site_catalog(site_url: str | None = None) -> dict:
    """The site's model catalog (models/catalog.json): which models it serves, their files and sizes."""
    from pyodide.http import pyfetch

    base = site_url or page_base_url()
    url = base + "models/catalog.json"
    try:
        response = await pyfetch(url)
        if response.ok:
            return await response.json()
        why = f"it answered {response.status}"
    except Exception as err:
        why = f"the request failed ({type(err).__name__}: {err})"
    raise SiteError(f"pagellm could not read the site's model catalog at {url}: {why}.",
                    hint="Is this notebook inside a pagellm build (python build.py build)? Otherwise call "
                         "pagellm.site.use_site('https://…/') with the address of one.")


class _ProgressLine:
    """One line of the cell output, rewritten in place ("\\r") as the load goes on."""

    def __init__(self):
        self.last = ""

    def __call__(self, p: Progress) -> None:
        if p.fraction is not None and p.stage.startswith("Downloading"):
            bar = "#" * int(p.fraction * 20)
            line = f"{p.stage} [{bar:<20}] {p.loaded / 1e6:.1f} of {p.total / 1e6:.1f} MB"
        else:
            line = p.stage
        if line != self.last:
            print(f"\r{line:<72}", end="", flush=True)
            self.last = line


async def load_local(model: str | None = None, *, device: str = "auto", threads: int | None = None,
                     site_url: str | None = None, progress: bool = True):
    """Load one of the site's models (default: the site's default) and make it the session's engine."""
    if sys.platform != "emscripten":
        raise DeviceError("load_local runs in the site's lab (Pyodide). On CPython use nb.use(RemoteEngine(...)).")
    from .local import LocalEngine

    base = site_url or page_base_url()
    catalog = await site_catalog(base)
    model = model or catalog.get("default")
    entry = next((m for m in catalog.get("models", []) if m["id"] == model), None)
    if entry is None:
        known = ", ".join(m["id"] for m in catalog.get("models", [])) or "none"
        raise InputError(f"Unknown model {model!r}: this site serves {known}.")
    engine = LocalEngine.for_site_model(entry, site_url=base, device=device, threads=threads)
    report = _ProgressLine() if progress else None
    try:
        await engine.load(progress=report)
    except PagellmError:
        raise
    except Exception as err:  # a raw JavaScript error: say where it came from
        raise ModelLoadError(f"The model {model} could not be loaded from {base}: {err}",
                             hint="Rebuild the site (python build.py build) and reload the lab.") from None
    if report:
        print(f"\r{entry.get('name', model)} on {engine.device} ({engine.dtype}), loaded in "
              f"{engine.load_seconds:.1f} s{': ' + engine.notice if engine.notice else ''}".ljust(72), flush=True)
    use(engine)
    return engine


def open_chat(path: str, index: int = 0) -> Conversation:
    """Continue a chat exported from the page (Export JSON): it becomes the session's conversation, and
    the settings saved with it (temperature, …) the session's settings."""
    import json

    from .transfer import import_json

    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise InputError(f"There is no file {path!r} here: drag the exported .json into the file browser "
                         "(left), then give its name.") from None
    chats = import_json(text)
    if not 0 <= index < len(chats):
        raise InputError(f"{path} holds {len(chats)} conversation(s): index {index} is not one of them.")
    saved = json.loads(text)
    settings = saved.get("conversations", [{}])[index].get("settings") if isinstance(saved, dict) else None
    if settings:
        session.settings = GenerationSettings.from_dict(settings)
    session.chat = chats[index]
    return session.chat


def _stats(final: Final) -> str:
    speed = f", {final.tokens_per_second:.1f} tok/s" if final.tokens_per_second else ""
    return f"[{final.finish_reason}: {final.completion_tokens} tokens in {final.total_time:.1f} s{speed}]"


async def ask(text: str, *, engine=None, chat: Conversation | None = None,
              settings: GenerationSettings | None = None, show: bool = True) -> str:
    """Send `text`, print the reply as it streams, keep both in the conversation; returns the reply."""
    engine = engine or session.engine
    if engine is None:
        raise InputError("No engine yet: run `engine = await nb.load_local()` (or nb.use(RemoteEngine(...))) first.")
    chat = chat if chat is not None else session.chat
    chat.add_user(text)
    parts: list[str] = []
    final = None
    try:
        async for event in engine.stream(chat, settings or session.settings):
            if isinstance(event, Delta):
                if event.kind == "content":
                    parts.append(event.text)
                    if show:
                        print(event.text, end="", flush=True)
            elif isinstance(event, Final):
                final = event  # other records (context use, prompt reading) are not shown
    except (KeyboardInterrupt, asyncio.CancelledError):
        engine.cancel()
        chat.add_assistant("".join(parts), status="stopped")
        if show:
            print("\n[stopped: the partial reply is kept]", flush=True)
        return "".join(parts)
    except PagellmError:
        chat.messages.pop()  # the question stays unanswered: ask again after fixing the cause
        raise
    reply = "".join(parts)
    chat.add_assistant(reply, status="stopped" if final and final.finish_reason == "cancelled" else "complete")
    if show and final is not None:
        print("\n" + _stats(final), flush=True)
    return reply


# -- %%chat -------------------------------------------------------------------------------------

def chat_cell_transform(lines: list[str]) -> list[str]:
    """IPython input transformer: a `%%chat [ENGINE]` cell becomes an awaited `ask` of its text.

    A transformer rather than a cell magic, because a magic cannot await and the reply streams.

        >>> chat_cell_transform(["%%chat remote\\n", "Hello!\\n"])
        ["await __import__('pagellm.notebook').notebook.chat_cell('Hello!', 'remote', globals())\\n"]
    """
    if not lines or not lines[0].startswith("%%chat") or lines[0][6:7] not in ("", " ", "\t", "\n"):
        return lines
    target = lines[0][6:].strip()
    text = "".join(lines[1:]).strip()
    return [f"await __import__('pagellm.notebook').notebook.chat_cell({text!r}, {target!r}, globals())\n"]


async def chat_cell(text: str, target: str, namespace: dict) -> None:
    engine = None
    if target:
        if target not in namespace:
            raise InputError(f"%%chat {target}: there is no variable {target!r} in this notebook.")
        engine = namespace[target]
    if not text:
        raise InputError("%%chat needs a message: write it on the lines below %%chat.")
    await ask(text, engine=engine)


def load_ipython_extension(ipython) -> None:
    """`%load_ext pagellm.notebook`: enables `%%chat`."""
    if chat_cell_transform not in ipython.input_transformers_cleanup:
        ipython.input_transformers_cleanup.append(chat_cell_transform)


def unload_ipython_extension(ipython) -> None:
    if chat_cell_transform in ipython.input_transformers_cleanup:
        ipython.input_transformers_cleanup.remove(chat_cell_transform)


__all__ = ["Session", "ask", "chat_cell_transform", "load_local", "new_chat", "open_chat", "session", "site_catalog",
           "use"]
