"""A minimal graph that shows onnxruntime-web's GroupQueryAttention being slow on prompts (report-ready).

    .venv/bin/python bench/gqa_repro.py [--tokens 512]

One GroupQueryAttention node (float32, packed q|k|v, 9 heads, 3 key/value heads, head size 64, no rotary,
empty past) beside the same attention as one ONNX Attention node (opset 23), each run by onnxruntime-web's
WebAssembly build in Node (node_modules/onnxruntime-web, 1 thread) and by native onnxruntime. Since 1.29 the
CPU GroupQueryAttention kernel sends prompts (sequence length > 1) to ApplyAttentionFlash
(contrib_ops/cpu/bert/gqa_attention_base.h, core/mlas/lib/flashattn_gqa.cpp), whose q/kv tile sizes are
max(L2 / (4 * 4 * 2 * head_size), 1); GetL2CacheSize() (core/platform/posix/env.cc) returns 0 under
Emscripten, so tiles are 1x1. MultiHeadAttention checks `l2_cache_size_ > 0` before its flash path; GQA
does not. Printed: milliseconds per run, median of 5.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

ROOT = Path(__file__).resolve().parent.parent
HEADS, KV_HEADS, HEAD = 9, 3, 64

NODE_TIMER = r"""
import fs from "node:fs";
const [ortDir, ...files] = process.argv.slice(2);
const ort = await import(ortDir + "/ort.wasm.min.mjs");
ort.env.wasm.numThreads = 1;
ort.env.wasm.wasmPaths = ortDir + "/";
const tokens = Number(process.env.TOKENS);
const out = {};
for (const file of files) {
  const session = await ort.InferenceSession.create(fs.readFileSync(file));
  const feeds = {};
  for (const name of session.inputNames) {
    const width = name === "qkv" ? (9 + 2 * 3) * 64 : name === "q" ? 9 * 64 : 3 * 64;
    if (name.startsWith("past")) feeds[name] = new ort.Tensor("float32", new Float32Array(0), [1, 3, 0, 64]);
    else if (name === "seqlens_k") feeds[name] = new ort.Tensor("int32", Int32Array.from([tokens - 1]), [1]);
    else if (name === "total_length") feeds[name] = new ort.Tensor("int32", Int32Array.from([tokens]), []);
    else feeds[name] = new ort.Tensor("float32", Float32Array.from({ length: tokens * width }, (_, i) => Math.sin(i)), [1, tokens, width]);
  }
  const times = [];
  for (let i = 0; i < 5; i++) { const t = performance.now(); await session.run(feeds); times.push(performance.now() - t); }
  times.sort((a, b) => a - b);
  out[file.split("/").pop()] = +times[2].toFixed(1);
}
console.log(JSON.stringify(out));
"""


def gqa_model() -> onnx.ModelProto:
    width = (HEADS + 2 * KV_HEADS) * HEAD
    node = helper.make_node("GroupQueryAttention", ["qkv", "", "", "past_key", "past_value", "seqlens_k", "total_length"],
                            ["y", "present_key", "present_value"], domain="com.microsoft", num_heads=HEADS,
                            kv_num_heads=KV_HEADS)
    inputs = [helper.make_tensor_value_info("qkv", TensorProto.FLOAT, [1, "S", width]),
              *[helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, KV_HEADS, "P", HEAD]) for n in ("past_key", "past_value")],
              helper.make_tensor_value_info("seqlens_k", TensorProto.INT32, [1]),
              helper.make_tensor_value_info("total_length", TensorProto.INT32, [])]
    outputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("y", "present_key", "present_value")]
    graph = helper.make_graph([node], "gqa", inputs, outputs)
    return helper.make_model(graph, ir_version=10,
                             opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("com.microsoft", 1)])


def attention_model() -> onnx.ModelProto:
    node = helper.make_node("Attention", ["q", "k", "v", "", "past_key", "past_value"], ["y", "present_key", "present_value"],
                            q_num_heads=HEADS, kv_num_heads=KV_HEADS, is_causal=1)
    inputs = [helper.make_tensor_value_info("q", TensorProto.FLOAT, [1, "S", HEADS * HEAD]),
              *[helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, "S", KV_HEADS * HEAD]) for n in ("k", "v")],
              *[helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, KV_HEADS, "P", HEAD]) for n in ("past_key", "past_value")]]
    outputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("y", "present_key", "present_value")]
    graph = helper.make_graph([node], "attention", inputs, outputs)
    return helper.make_model(graph, ir_version=10, opset_imports=[helper.make_opsetid("", 23)])


def native_ms(path: Path, tokens: int) -> float:
    import time

    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feeds = {}
    for value in session.get_inputs():
        if value.name.startswith("past"):
            feeds[value.name] = np.zeros((1, KV_HEADS, 0, HEAD), np.float32)
        elif value.name == "seqlens_k":
            feeds[value.name] = np.array([tokens - 1], np.int32)
        elif value.name == "total_length":
            feeds[value.name] = np.array(tokens, np.int32)
        else:
            width = {"qkv": (HEADS + 2 * KV_HEADS) * HEAD, "q": HEADS * HEAD}.get(value.name, KV_HEADS * HEAD)
            feeds[value.name] = np.sin(np.arange(tokens * width, dtype=np.float32)).reshape(1, tokens, width)
    times = []
    for _ in range(5):
        started = time.perf_counter()
        session.run(None, feeds)
        times.append((time.perf_counter() - started) * 1000)
    return round(sorted(times)[2], 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=512)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        files = {"gqa.onnx": gqa_model(), "attention.onnx": attention_model()}
        for name, model in files.items():
            onnx.save(model, str(Path(tmp) / name))
        script = Path(tmp) / "time.mjs"
        script.write_text(NODE_TIMER)
        web = subprocess.run(["node", str(script), str(ROOT / "node_modules" / "onnxruntime-web" / "dist"),
                              *(str(Path(tmp) / n) for n in files)], capture_output=True, text=True,
                             env={**os.environ, "TOKENS": str(args.tokens)})
        if web.returncode:
            raise SystemExit(f"node failed: {web.stderr.strip()[-800:]}")
        version = json.loads((ROOT / "node_modules" / "onnxruntime-web" / "package.json").read_text())["version"]
        print(f"{args.tokens} prompt tokens, 1 thread, ms per run (median of 5)")
        print(f"onnxruntime-web {version} (WebAssembly): {web.stdout.strip()}")
        print("onnxruntime native:", json.dumps({n: native_ms(Path(tmp) / n, args.tokens) for n in files}))


if __name__ == "__main__":
    main()
