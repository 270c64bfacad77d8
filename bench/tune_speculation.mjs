// Tunes speculative decoding's drafting (pysrc/pagellm/speculative.py) on ONNX Runtime alone: the int8 file
// in onnxruntime-web's WebAssembly build (Node, 1 thread), greedy, the four tasks of bench/speculative.py,
// for several n-gram sizes and draft lengths; prints tokens/s per task and configuration as JSON lines.
// The prompts' token ids come from `python bench/speculative.py --print-prompts > prompts.json`.
//
//   node bench/tune_speculation.mjs models/build/smollm2-135m-instruct/onnx/model_quantized.onnx prompts.json
//        [--configs JSON] [--rounds N]
//
// The drafter here mirrors speculative.Drafter (propose / update) with its constants as parameters.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const [modelPath, promptsPath] = process.argv.slice(2);
const dist = path.join(root, "node_modules/onnxruntime-web/dist/");
const ort = await import(path.join(dist, "ort.wasm.min.mjs"));
ort.env.wasm.wasmPaths = dist;
ort.env.wasm.numThreads = 1;
const session = await ort.InferenceSession.create(fs.readFileSync(modelPath));
const config = JSON.parse(fs.readFileSync(path.join(path.dirname(path.dirname(modelPath)), "config.json")));
const layers = config.num_hidden_layers, kvHeads = config.num_key_value_heads, vocabulary = config.vocab_size;
const headSize = config.head_dim ?? config.hidden_size / config.num_attention_heads;
const TOKENS = 96, EOS = config.eos_token_id;

const int64 = (values, dims) => new ort.Tensor("int64", BigInt64Array.from(values.map(BigInt)), dims);
const emptyPast = () => {
  const past = {};
  for (let i = 0; i < layers; i++) for (const kind of ["key", "value"]) {
    past[`past_key_values.${i}.${kind}`] = new ort.Tensor("float32", new Float32Array(0), [1, kvHeads, 0, headSize]);
  }
  return past;
};
async function run(ids, past, position, keep) {
  const total = position + ids.length;
  const out = await session.run({ ...past, input_ids: int64(ids, [1, ids.length]),
    attention_mask: int64(Array(total).fill(1), [1, total]), num_logits_to_keep: int64([keep], []) });
  const next = {};
  for (let i = 0; i < layers; i++) for (const kind of ["key", "value"]) next[`past_key_values.${i}.${kind}`] = out[`present.${i}.${kind}`];
  return { logits: out.logits.data, rows: out.logits.dims[1], past: next };
}
const cut = (past, length) => {
  const kept = {};
  for (const [name, t] of Object.entries(past)) {
    const [b, h, positions, size] = t.dims;
    const data = new Float32Array(b * h * length * size);
    for (let r = 0; r < b * h; r++) data.set(t.data.subarray(r * positions * size, (r * positions + length) * size), r * length * size);
    kept[name] = new ort.Tensor("float32", data, [b, h, length, size]);
  }
  return kept;
};
// Greedy choices, end-of-sequence ruled out (every reply writes TOKENS tokens, as in the page benchmark).
const choices = (logits, rows) => Array.from({ length: rows }, (_, r) => {
  let best = EOS === 0 ? 1 : 0;
  for (let v = 0; v < vocabulary; v++) if (v !== EOS && logits[r * vocabulary + v] > logits[r * vocabulary + best]) best = v;
  return best;
});

class Drafter {
  constructor({ ngrams, first, longest }) { Object.assign(this, { ngrams, longest, length: first, misses: 0, pause: 0, nextPause: 4 }); }
  propose(tokens) {
    if (this.pause > 0) { this.pause--; return []; }
    for (const n of this.ngrams) {
      if (tokens.length <= n) continue;
      const tail = tokens.slice(-n);
      for (let start = tokens.length - n - 1; start >= 0; start--) {
        if (tail.every((t, i) => tokens[start + i] === t)) return tokens.slice(start + n, start + n + this.length);
      }
    }
    return [];
  }
  update(drafted, accepted) {
    this.length = accepted === drafted ? Math.min(this.longest, this.length * 2) : Math.max(1, accepted + 1);
    if (accepted === 0) {
      if (++this.misses >= 2) { this.pause = this.nextPause; this.misses = 0; this.nextPause = Math.min(64, this.nextPause * 2); }
    } else { this.misses = 0; this.nextPause = 4; }
  }
}

async function reply(prompt, drafter) {
  let past = emptyPast();
  for (let start = 0; start < prompt.length - 1; start += 64) {
    const end = Math.min(start + 64, prompt.length - 1);
    past = (await run(prompt.slice(start, end), past, start, 1)).past;
  }
  const known = [...prompt];
  let generated = 0, drafted = 0, accepted = 0, first = null;
  while (generated < TOKENS) {
    const room = TOKENS - generated - 1;
    const draft = drafter && room > 0 ? drafter.propose(known).slice(0, room) : [];
    const fed = known.length - 1;
    const out = await run([known[fed], ...draft], past, fed, draft.length ? 0 : 1);
    const chosen = choices(out.logits, out.rows);
    let kept = 0;
    while (kept < draft.length && draft[kept] === chosen[kept]) kept++;
    if (draft.length) { drafter.update(draft.length, kept); drafted += draft.length; accepted += kept; }
    past = draft.length ? cut(out.past, fed + 1 + kept) : out.past;
    const fresh = [...draft.slice(0, kept), chosen[kept]].slice(0, TOKENS - generated);
    known.push(...fresh);
    generated += fresh.length;
    first ??= performance.now();  // decode speed, as the page's stats count it: tokens after the first run
  }
  const seconds = (performance.now() - first) / 1000;
  return { tokens: generated, tps: +((generated - 1) / seconds).toFixed(1), drafted, accepted };
}

const prompts = JSON.parse(fs.readFileSync(promptsPath));
// --configs '[null, {"ngrams": [3, 2], "first": 4, "longest": 15}, ...]' (null: no drafts); --rounds N.
const option = (name, fallback) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : fallback);
const configs = JSON.parse(option("--configs", JSON.stringify([
  null, { ngrams: [4, 3], first: 4, longest: 15 }, { ngrams: [4, 3, 2], first: 4, longest: 15 },
  { ngrams: [3, 2], first: 4, longest: 15 }, { ngrams: [3, 2], first: 4, longest: 7 },
  { ngrams: [3, 2, 1], first: 4, longest: 15 }, { ngrams: [4, 3, 2], first: 8, longest: 15 },
  { ngrams: [5, 4, 3, 2], first: 4, longest: 15 },
])));
for (let round = 0; round < Number(option("--rounds", 1)); round++) {
  for (const settings of configs) {
    const line = { round, drafter: settings ?? "off" };
    for (const [task, prompt] of Object.entries(prompts)) line[task] = await reply(prompt, settings && new Drafter(settings));
    console.log(JSON.stringify(line));
  }
}
