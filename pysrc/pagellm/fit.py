"""Will a model fit? Decided before downloading, from its config and its files' sizes.

    >>> config = {"model_type": "llama", "num_hidden_layers": 30, "num_attention_heads": 9,
    ...           "num_key_value_heads": 3, "hidden_size": 576}
    >>> plan = plan_download(config, {"onnx/model_quantized.onnx": 137_000_000}, "wasm", device_memory_gb=8)
    >>> plan.dtype, plan.verdict, plan.context_length
    ('q8', 'ok', 2048)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .dtypes import DTYPE_FILES, HUB_PREFERENCE, onnx_path
from .errors import ModelLoadError

# Decoder-only model types Transformers.js 4 runs as AutoModelForCausalLM.
CAUSAL_LM_TYPES = frozenset({
    "llama", "mistral", "qwen2", "qwen3", "phi", "phi3", "gemma", "gemma2", "gemma3_text", "gpt2", "gpt_neox",
    "gptj", "granite", "olmo", "olmo2", "stablelm", "smollm3", "mobilellm", "cohere", "falcon", "opt", "bloom",
    "codegen", "starcoder2", "exaone", "helium", "glm", "ernie4_5", "lfm2",
})
WASM_LIMIT = 4 * 1024**3        # wasm32 can address at most 4 GiB, the session and its buffers included
CONFIRM_ABOVE = 300_000_000     # downloads larger than this ask the user first
CONTEXT_FOR_ESTIMATE = 2048


@dataclass
class Plan:
    model_type: str
    dtype: str
    file: str
    download_bytes: int
    memory_bytes: int
    verdict: str                # "ok" | "warn" | "refuse"
    reason: str
    confirm: bool
    context_length: int = CONTEXT_FOR_ESTIMATE  # tokens the model attends to, from its config

    def to_dict(self) -> dict:
        return asdict(self)


def candidate_files() -> list[str]:
    """The ONNX files worth asking a Hub about: one per dtype some device would load."""
    wanted = {dtype for dtypes in HUB_PREFERENCE.values() for dtype in dtypes}
    return [onnx_path(dtype) for dtype in DTYPE_FILES if dtype in wanted]


def kv_cache_bytes(config: dict, context: int = CONTEXT_FOR_ESTIMATE) -> int:
    layers = int(config.get("num_hidden_layers") or config.get("n_layer") or 0)
    heads = int(config.get("num_attention_heads") or config.get("n_head") or 1)
    kv_heads = int(config.get("num_key_value_heads") or heads)
    head_dim = int(config.get("head_dim") or (int(config.get("hidden_size") or config.get("n_embd") or 0) // heads))
    return 2 * layers * kv_heads * head_dim * context * 4


def context_length(config: dict) -> int:
    """The model's own context length (config.json), or 2,048 when the config does not say."""
    for key in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = config.get(key)
        if isinstance(value, int) and value > 0:
            return value
    return CONTEXT_FOR_ESTIMATE


def plan_download(config: dict, sizes: dict[str, int], device: str, *, device_memory_gb: float | None = None,
                  extra_bytes: int = 0, name: str = "this model") -> Plan:
    """Pick the file for the device and judge whether it fits. ``sizes`` maps present files to bytes."""
    model_type = str(config.get("model_type") or "")
    if model_type not in CAUSAL_LM_TYPES:
        raise ModelLoadError(
            f"{name} is a {model_type or 'model of unknown type'!s}, which pagellm cannot chat with: it runs "
            f"decoder-only text models ({', '.join(sorted(list(CAUSAL_LM_TYPES))[:8])}, …).")
    for dtype in HUB_PREFERENCE[device]:
        file = onnx_path(dtype)
        if file in sizes:
            break
    else:
        raise ModelLoadError(f"{name} has no ONNX weights this browser can run on {device} "
                             f"(looked for {', '.join(candidate_files())}).")
    download = sizes[file] + extra_bytes
    memory = int(sizes[file] * 1.2) + kv_cache_bytes(config)
    verdict, reason = "ok", f"needs about {memory / 1e9:.1f} GB of memory"
    if device == "wasm" and memory > WASM_LIMIT * 0.9:
        verdict = "refuse"
        reason = (f"needs about {memory / 1e9:.1f} GB, but WebAssembly can address at most 4 GB: "
                  "choose a smaller model or dtype, or use WebGPU")
    elif device_memory_gb and memory > device_memory_gb * 1e9:
        verdict = "refuse"
        reason = f"needs about {memory / 1e9:.1f} GB, more than this device's {device_memory_gb:g} GB"
    elif device_memory_gb and memory > device_memory_gb * 1e9 * 0.5:
        verdict, reason = "warn", f"needs about {memory / 1e9:.1f} GB, over half of this device's {device_memory_gb:g} GB"
    return Plan(model_type, dtype, file, download, memory, verdict, reason, confirm=download > CONFIRM_ABOVE,
                context_length=context_length(config))
