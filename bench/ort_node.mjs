// ONNX Runtime alone, no page: greedy decode of a Transformers.js folder's ONNX file with onnxruntime-web's
// WebAssembly build in Node, to tell ONNX Runtime's own speed from the page's. Prints one JSON line.
//
//   node bench/ort_node.mjs models/build/smollm2-135m-instruct/onnx/model_quantized.onnx [--threads N]
//        [--steps N] [--asyncify] [--prompt N] [--past N] [--optimizer all|basic|disabled]
//
// --prompt N times prompt processing instead: one session.run over N prompt tokens after --past N tokens
// already in the cache (default 0), the median of --repeat runs (default 3); --chunk N feeds the prompt
// N tokens per run, as the page does.
// --asyncify loads the build Transformers.js uses by default (the one WebGPU needs) instead of the plain one.
// Measured here (1 thread, SmolLM2 int8): plain 34 ms/token (29 tok/s), asyncify 77-87 ms/token.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const args = process.argv.slice(2);
const option = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const modelPath = args.find((a) => a.endsWith(".onnx"));
const asyncify = args.includes("--asyncify");
const dist = path.join(root, "node_modules/onnxruntime-web/dist/");
const ort = await import(path.join(dist, asyncify ? "ort.webgpu.min.mjs" : "ort.wasm.min.mjs"));
ort.env.wasm.numThreads = Number(option("--threads", 1));
ort.env.wasm.wasmPaths = dist;

let started = performance.now();
// --optimizer basic: the session as the page creates it for a file the recipe saved optimized (dtypes.session_options).
const graphOptimizationLevel = option("--optimizer", "all");
const session = await ort.InferenceSession.create(fs.readFileSync(modelPath), { executionProviders: ["wasm"], graphOptimizationLevel });
const createMs = performance.now() - started;
const config = JSON.parse(fs.readFileSync(path.join(path.dirname(path.dirname(modelPath)), "config.json")));
const layers = config.num_hidden_layers, kvHeads = config.num_key_value_heads;
const headDim = config.head_dim ?? config.hidden_size / config.num_attention_heads;
const int64 = (values, dims) => new ort.Tensor("int64", BigInt64Array.from(values.map(BigInt)), dims);

const int64Scalar = (value) => new ort.Tensor("int64", BigInt64Array.from([BigInt(value)]), []);
const emptyPast = () => {
  const past = {};
  for (let i = 0; i < layers; i++) for (const kind of ["key", "value"]) {
    past[`past_key_values.${i}.${kind}`] = new ort.Tensor("float32", new Float32Array(0), [1, kvHeads, 0, headDim]);
  }
  return past;
};
// Feeds for `ids` after `past`; a graph with num_logits_to_keep computes the last position's logits only.
const feedsFor = (ids, past, position) => {
  const total = position + ids.length;
  const feeds = { ...past, input_ids: int64(ids, [1, ids.length]), attention_mask: int64(Array(total).fill(1), [1, total]) };
  if (session.inputNames.includes("position_ids")) feeds.position_ids = int64(ids.map((_, i) => position + i), [1, ids.length]);
  if (session.inputNames.includes("num_logits_to_keep")) feeds.num_logits_to_keep = int64Scalar(1);
  return feeds;
};
const presentAsPast = (out) => {
  const past = {};
  for (let i = 0; i < layers; i++) for (const kind of ["key", "value"]) past[`past_key_values.${i}.${kind}`] = out[`present.${i}.${kind}`];
  return past;
};

if (args.includes("--prompt")) {
  const promptLength = Number(option("--prompt", 128)), pastLength = Number(option("--past", 0));
  const vocab = config.vocab_size;
  const tokensOf = (n, seed) => Array.from({ length: n }, (_, i) => (seed + i * 7919) % vocab);  // any ids time alike
  let past = emptyPast();
  if (pastLength) past = presentAsPast(await session.run(feedsFor(tokensOf(pastLength, 1), past, 0)));
  const chunk = Number(option("--chunk", promptLength));
  const runs = [];
  for (let r = 0; r < Number(option("--repeat", 3)); r++) {
    const ids = tokensOf(promptLength, 2 + r);
    let cache = past;
    started = performance.now();
    for (let at = 0; at < promptLength; at += chunk) {
      cache = presentAsPast(await session.run(feedsFor(ids.slice(at, at + chunk), cache, pastLength + at)));
    }
    runs.push(performance.now() - started);
  }
  runs.sort((a, b) => a - b);
  const ms = runs[runs.length >> 1];
  console.log(JSON.stringify({ model: modelPath, build: asyncify ? "asyncify" : "plain", threads: ort.env.wasm.numThreads,
    session_ms: Math.round(createMs), prompt_tokens: promptLength, past_tokens: pastLength, chunk, prompt_ms: Math.round(ms),
    prompt_tokens_per_second: +(promptLength / ms * 1000).toFixed(1) }));
  process.exit(0);
}

// SmolLM2's chat prompt for "What is the capital of France?" (token ids; any ids work for timing).
let ids = [1, 9690, 198, 2683, 359, 253, 5356, 5646, 11173, 2, 198, 1, 4093, 198, 1780, 314, 260, 3575, 282, 4649, 47, 2, 198, 1, 520, 9531, 198];
let past = emptyPast(), position = 0;
const tokens = [], stepMs = [];
let prefillMs;
for (let step = 0; step <= Number(option("--steps", 48)); step++) {
  const total = position + ids.length;
  const feeds = feedsFor(ids, past, position);
  started = performance.now();
  const out = await session.run(feeds);
  const ms = performance.now() - started;
  if (step === 0) prefillMs = ms; else stepMs.push(ms);
  const vocab = out.logits.dims[2], offset = (out.logits.dims[1] - 1) * vocab, logits = out.logits.data;
  let best = 0;
  for (let v = 1; v < vocab; v++) if (logits[offset + v] > logits[offset + best]) best = v;
  tokens.push(best);
  past = presentAsPast(out);
  position = total;
  ids = [best];
}
stepMs.sort((a, b) => a - b);
const median = stepMs[stepMs.length >> 1];
console.log(JSON.stringify({ model: modelPath, build: asyncify ? "asyncify" : "plain", threads: ort.env.wasm.numThreads,
  session_ms: Math.round(createMs), prefill_ms: Math.round(prefillMs), decode_ms_median: +median.toFixed(2),
  tokens_per_second: +(1000 / median).toFixed(1), first_tokens: tokens.slice(0, 8) }));
process.exit(0);
