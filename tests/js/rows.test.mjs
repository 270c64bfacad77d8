// The int8 graph's exact branch (models/rows.py) in onnxruntime-web, the runtime the page uses: a run of a
// few tokens gives bit for bit the logits and keys/values of one token per step, which is what makes
// speculative decoding's output identical to plain decoding's. On the built tiny test model (dist/).
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const folder = path.join(root, "dist/models/tiny-random");
const ortDist = path.join(root, "node_modules/onnxruntime-web/dist/");
const ort = await import(path.join(ortDist, "ort.wasm.min.mjs"));
ort.env.wasm.wasmPaths = ortDist;
ort.env.wasm.numThreads = 1;

const config = JSON.parse(fs.readFileSync(path.join(folder, "config.json")));
const layers = config.num_hidden_layers, kvHeads = config.num_key_value_heads;
const headSize = config.head_dim ?? config.hidden_size / config.num_attention_heads;
const int64 = (values, dims) => new ort.Tensor("int64", BigInt64Array.from(values.map(BigInt)), dims);

// The session as the page creates it on WebAssembly (the build's session options for this file).
const catalog = JSON.parse(fs.readFileSync(path.join(root, "dist/models/catalog.json")));
const pageOptions = catalog.models.find((m) => m.id === "tiny-random").session_options.wasm;

async function model(options = pageOptions) {
  // A copy: ONNX Runtime adds its own entries to the options it is given.
  const session = await ort.InferenceSession.create(fs.readFileSync(path.join(folder, "onnx/model_quantized.onnx")), structuredClone(options));
  const empty = {};
  for (let i = 0; i < layers; i++) for (const kind of ["key", "value"]) {
    empty[`past_key_values.${i}.${kind}`] = new ort.Tensor("float32", new Float32Array(0), [1, kvHeads, 0, headSize]);
  }
  // Runs ids after `past` (whose length is `position`); returns every position's logits and the new past.
  const run = async (ids, past = empty, position = 0) => {
    const total = position + ids.length;
    const out = await session.run({ ...past, input_ids: int64(ids, [1, ids.length]),
      attention_mask: int64(Array(total).fill(1), [1, total]), num_logits_to_keep: int64([0], []) });
    const next = {};
    for (let i = 0; i < layers; i++) for (const kind of ["key", "value"]) next[`past_key_values.${i}.${kind}`] = out[`present.${i}.${kind}`];
    return { logits: out.logits.data, past: next };
  };
  return { run };
}

const tokens = (n, seed) => Array.from({ length: n }, (_, i) => (seed * 1009 + i * 7919 + 13) % config.vocab_size);

test("a run of 2..16 tokens computes bit for bit what one token per step computes", async () => {
  const { run } = await model();
  for (const [prompt, drafted] of [[20, 8], [33, 2], [7, 16]]) {
    const ids = tokens(prompt + drafted, prompt);
    const before = await run(ids.slice(0, prompt));
    let past = before.past;
    const stepLogits = [];
    for (let i = 0; i < drafted; i++) {
      const step = await run([ids[prompt + i]], past, prompt + i);
      stepLogits.push(...step.logits);
      past = step.past;
    }
    const together = await run(ids.slice(prompt), before.past, prompt);
    assert.deepEqual(Array.from(together.logits), stepLogits, `${drafted} tokens after ${prompt}`);
    for (const name of Object.keys(past)) assert.deepEqual(Array.from(together.past[name].data), Array.from(past[name].data), name);
  }
});

test("longer runs (prompts) still go through the original graph", async () => {
  const { run } = await model();
  const ids = tokens(40, 1);
  const whole = await run(ids);
  assert.equal(whole.logits.length, 40 * config.vocab_size);
  assert.ok(whole.logits.every(Number.isFinite));
});

// The recipe saves this file as ONNX Runtime's optimizer leaves it, and the page runs the basic level only
// (pagellm.dtypes.session_options): nothing is lost by that, the logits are those of a fully optimized session.
test("the basic optimizer level computes what every level computes", async () => {
  assert.deepEqual(pageOptions, { graphOptimizationLevel: "basic" });
  const file = fs.readFileSync(path.join(folder, "onnx/model_quantized.onnx"));
  assert.ok(file.includes("DynamicQuantizeMatMul"), "the file holds the optimizer's fused operators");
  const basic = await model(), all = await model({ graphOptimizationLevel: "all" });
  const ids = tokens(30, 3);
  const [a, b] = [await basic.run(ids), await all.run(ids)];
  assert.deepEqual(Array.from(a.logits), Array.from(b.logits));
  const [stepA, stepB] = [await basic.run([ids[0]], a.past, 30), await all.run([ids[0]], b.past, 30)];
  assert.deepEqual(Array.from(stepA.logits), Array.from(stepB.logits));
});
