"""The local engine's choices that need no browser: the device, the generation options, the files a dtype
needs, what a load failure means, a JavaScript error's message. Unit-tested on CPython.

    >>> choose_device("auto", webgpu_available=False)
    ('wasm', None)
    >>> download_files("q8")[-1]
    'onnx/model_quantized.onnx'
"""

from __future__ import annotations

from .dtypes import onnx_path
from .errors import DeviceError, ModelLoadError
from .settings import GenerationSettings

DEVICES = ("auto", "webgpu", "wasm")
CONFIG_FILES = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json")


def choose_device(requested: str, webgpu_available: bool) -> tuple[str, str | None]:
    """The device to run on, and a notice when the request could not be honoured."""
    if requested not in DEVICES:
        raise DeviceError(f"Unknown device {requested!r}: use one of {', '.join(DEVICES)}.")
    if requested == "wasm":
        return "wasm", None
    if webgpu_available:
        return "webgpu", None
    if requested == "webgpu":
        return "wasm", "WebGPU was requested but this browser granted no adapter: running on WebAssembly (CPU)."
    return "wasm", None


def generation_options(settings: GenerationSettings) -> dict:
    """Transformers.js `generate()` options for these settings."""
    options = {"max_new_tokens": settings.max_new_tokens, "repetition_penalty": settings.repetition_penalty}
    if settings.greedy:
        options["do_sample"] = False
    else:
        options.update(do_sample=True, temperature=settings.temperature, top_p=settings.top_p, top_k=settings.top_k)
    return options


def download_files(dtype: str) -> list[str]:
    return [*CONFIG_FILES, onnx_path(dtype)]


def explain_load_failure(model: str, message: str) -> ModelLoadError:
    lowered = message.lower()
    if "memory" in lowered or "allocation" in lowered or "out of bounds" in lowered:
        return ModelLoadError(f"The model {model} does not fit in this device's memory.",
                              hint="Choose a smaller model or a smaller dtype, or close other tabs.")
    if "404" in message or "not found" in lowered or "could not locate" in lowered:
        return ModelLoadError(f"A file of the model {model} is missing on the site: {message}",
                              hint="Rebuild the site (python build.py build) or pick another model.")
    if "unsupported model type" in lowered or "not supported" in lowered:
        return ModelLoadError(f"The model {model} has an architecture Transformers.js cannot run: {message}")
    return ModelLoadError(f"The model {model} could not be loaded: {message}")


SLOW_ATTENTION_NOTICE = (
    "This model's graph uses GroupQueryAttention, whose WebAssembly kernel reads long prompts slowly "
    "(about 5x slower at 1,000 tokens than the rewritten attention of the bundled models); short chats are "
    "not affected. Convert it with this project's recipe (models/) for fast long prompts.")


def js_message(err: Exception) -> str:
    message = str(err)
    for prefix in ("Error: ", "JsException: "):
        message = message.replace(prefix, "")
    return message.strip() or type(err).__name__
