"""Models beyond the bundle: a model by id from a Hub, or a folder from this computer, checked for fit
before anything large is downloaded (Pyodide only, except ``parse_hub_id``).

    >>> parse_hub_id("onnx-community/Qwen2.5-0.5B-Instruct@main")
    ('onnx-community/Qwen2.5-0.5B-Instruct', 'main')
"""

from __future__ import annotations

import re

from .errors import InputError, ModelLoadError
from .local_choices import js_message

DEFAULT_HUB = "https://huggingface.co"  # used only when the user asks for a Hub model and names no other Hub
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def parse_hub_id(text: str) -> tuple[str, str]:
    """``owner/name`` or ``owner/name@revision`` -> (id, revision)."""
    model_id, _, revision = text.strip().partition("@")
    if not HUB_ID.match(model_id):
        raise InputError(f"{text.strip() or 'An empty id'!r} is not a Hub model id: use owner/name, e.g. "
                         "onnx-community/Qwen2.5-0.5B-Instruct (optionally @revision).")
    return model_id, revision or "main"


async def _cached_size(url: str) -> int | None:
    import js

    try:
        cache = await js.caches.open("transformers-cache")
        hit = await cache.match(url)
        return int((await hit.blob()).size) if hit else None
    except Exception:
        return None


async def hub_plan(host: str, model_id: str, revision: str, device: str):
    """Read a Hub model's config and file sizes (HEAD requests), then judge the fit before downloading."""
    import json as _json

    import js
    from pyodide.ffi import to_js

    from .fit import candidate_files, plan_download

    root = f"{host.rstrip('/')}/{model_id}/resolve/{revision}/"
    try:
        cache = await js.caches.open("transformers-cache")
        response = await cache.match(root + "config.json") or await js.fetch(root + "config.json")
    except Exception as err:
        raise ModelLoadError(f"Could not reach the Hub at {host} ({js_message(err)}).",
                             hint="Check the Hub URL and your connection; cached models work offline.") from None
    if response.status == 404:
        raise ModelLoadError(f"There is no model {model_id} (revision {revision}) at {host}: its config.json was not found.",
                             hint="Check the id's spelling and the revision.")
    if not response.ok:
        raise ModelLoadError(f"The Hub at {host} answered {response.status} for {model_id}'s config.json.")
    config = _json.loads(str(await response.text()))
    sizes = {}
    head = to_js({"method": "HEAD"}, dict_converter=js.Object.fromEntries)
    for file in candidate_files():
        size = await _cached_size(root + file)
        if size is None:
            try:
                answer = await js.fetch(root + file, head)
            except Exception:
                continue
            if answer.ok:
                size = int(answer.headers.get("x-linked-size") or answer.headers.get("content-length") or 0)
        if size:
            sizes[file] = size
    memory = getattr(js.navigator, "deviceMemory", None)
    return plan_download(config, sizes, device, device_memory_gb=float(memory) if memory else None, name=model_id)


async def folder_plan(files, device: str):
    """The same check for a folder picked on this computer (``files``: path -> JS File)."""
    import json as _json

    import js

    from .fit import plan_download

    config_file = files.get("config.json")
    if config_file is None:
        raise ModelLoadError("The chosen folder has no config.json: pick a folder in Transformers.js layout "
                             "(config.json, tokenizer.json, onnx/model_*.onnx).")
    config = _json.loads(str(await config_file.text()))
    sizes = {path: int(f.size) for path, f in files.items() if path.startswith("onnx/")}
    memory = getattr(js.navigator, "deviceMemory", None)
    return plan_download(config, sizes, device, device_memory_gb=float(memory) if memory else None, name="The chosen folder")
