// The JavaScript the local engine (pysrc/pagellm/local.py) runs inside the worker, each a function of
// its inputs: Transformers.js's env, a yield per decoding step, and the key/value cache operations.

// Configures Transformers.js's env on the real JS object (transformers_js_py's wrapper hands out
// copies). Fetches are resolved against the site base, because inside a worker relative URLs do not
// resolve; bytes are counted here so progress needs no extra probing request. An ONNX file lists its
// nodes before its weights, so its operators show in the first megabytes: the engine is told when a
// graph uses GroupQueryAttention (slow on long prompts in WebAssembly). The bytes searched are a node's
// op_type field (tag 0x22, length 19), not a tensor that merely carries the name.
export function configureEnv({ T, base, source, ortBuild, files, onBytes, onFailure, onOperator }) {
  const env = T.env;
  const hub = source.kind === "hub";
  env.allowLocalModels = !hub;
  env.allowRemoteModels = hub;  // only when the user asked for a Hub model
  if (hub) {
    env.remoteHost = source.host.replace(/\/*$/, "/");
    env.remotePathTemplate = "{model}/resolve/{revision}/";
  }
  env.localModelPath = "/models/";
  const ort = new URL("vendor/ort/", base).href;
  env.backends.onnx.wasm.wasmPaths = { mjs: `${ort}${ortBuild}.mjs`, wasm: `${ort}${ortBuild}.wasm` };
  const resolve = (url) => {
    const text = String(url);
    return text.startsWith("/") ? new URL(text.slice(1), base).href : new URL(text, base).href;
  };
  const counted = (response, url) => {
    if (!response.ok || !response.body) return response;
    const reader = response.body.getReader();
    let scanned = String(url).endsWith(".onnx") ? 0 : Infinity, tail = new Uint8Array(0);
    const found = new Set();
    const body = new ReadableStream({
      async pull(controller) {
        const { done, value } = await reader.read();
        if (done) { controller.close(); return; }
        onBytes(url, value.byteLength);
        if (scanned < 8e6) {
          const bytes = tail.length ? concat(tail, value) : value;
          for (const [name, needle] of MARKERS) if (!found.has(name) && contains(bytes, needle)) { found.add(name); onOperator(name); }
          tail = bytes.slice(-LONGEST_MARKER);
          scanned += value.byteLength;
        }
        controller.enqueue(value);
      },
      cancel(reason) { return reader.cancel(reason); },
    });
    return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
  };
  const scanOperators = async (blob) => {
    const bytes = new Uint8Array(await blob.arrayBuffer());
    for (const [name, needle] of MARKERS) if (contains(bytes, needle)) onOperator(name);
  };
  env.fetch = async (url, init) => {
    const text = String(url);
    // A file the engine was handed (site path -> Blob or File): one the page downloaded while Python
    // started (served once), or one of a model folder from this computer.
    const path = text.startsWith("/") ? text.slice(1) : text;
    const file = files.get(path);
    if (file) {
      if (!path.startsWith("models/local-folder/")) files.delete(path);
      // Whole already: counted at once, its first megabytes searched apart, and the Blob itself handed on,
      // so its bytes reach Transformers.js without a pass through this thread's JavaScript.
      onBytes(text, file.size);
      if (text.endsWith(".onnx")) scanOperators(file.slice(0, 8e6));
      return new Response(file, { status: 200, headers: { "Content-Length": String(file.size) } });
    }
    if (path.startsWith("models/local-folder/")) return new Response("not in the chosen folder", { status: 404 });
    const response = await fetch(resolve(url), init);
    // Transformers.js would parse an error page as a model: say what the server (or the service
    // worker's integrity check) said instead. 404 stays for Transformers.js to report as missing.
    if (!response.ok && response.status !== 404) {
      const message = `${String(url)} answered ${response.status}: ${(await response.text()).slice(0, 300)}`;
      onFailure(message);  // Transformers.js only logs a failed local file: make the load fail with it
      throw new Error(message);
    }
    return counted(response, String(url));
  };
  // The site's service worker caches the site's model files (checked against the build's hashes);
  // Hub files are cross-origin, so Transformers.js keeps them in its own cache (offline use later).
  env.useBrowserCache = hub;
  env.useCustomCache = false;
  return env;
}

// The tokens chosen after each row of `logits` ([1, rows, vocabulary], rows fed from ids[start]); see
// promptOps().choose. `random` draws from [0, 1).
export function chooseTokens(logits, ids, start, { penalty, eos, promptLength, minLength, minNewTokens, sample },
                             random = Math.random) {
  const [, rows, vocabulary] = logits.dims, data = logits.data;
  const seen = penalty !== 1 ? new Set(ids.slice(0, start)) : null, choices = [];
  for (let row = 0; row < rows; row++) {
    const scores = data.subarray(row * vocabulary, (row + 1) * vocabulary);
    if (seen) for (const token of seen.add(ids[start + row])) scores[token] = scores[token] < 0 ? scores[token] * penalty : scores[token] / penalty;
    const length = start + row + 1;
    if (length < minLength || length - promptLength < minNewTokens) for (const token of eos) scores[token] = -Infinity;
    if (!sample) {
      let best = 0;
      for (let token = 1; token < vocabulary; token++) if (scores[token] > scores[best]) best = token;
      choices.push(best);
      continue;
    }
    const { tokens, probabilities } = topKSoftmax(scores, sample.topK, sample.temperature);
    const draft = row + 1 < rows ? ids[start + row + 1] : null;
    const at = tokens.indexOf(draft);
    if (draft !== null && at !== -1 && random() < probabilities[at]) { choices.push(draft); continue; }
    if (at !== -1) probabilities[at] = 0;  // a rejected draft: draw from what is left
    choices.push(tokens[draw(probabilities, random)]);
    break;
  }
  return choices;
}

// The top k scores' tokens, best first, and the softmax of those scores / temperature.
function topKSoftmax(scores, k, temperature) {
  k = k > 0 ? Math.min(k, scores.length) : scores.length;
  const tokens = [], values = [];
  for (let token = 0; token < scores.length; token++) {
    const value = scores[token];
    if (tokens.length === k && !(value > values[k - 1])) continue;
    let at = tokens.length === k ? k - 1 : tokens.length;
    while (at > 0 && values[at - 1] < value) { values[at] = values[at - 1]; tokens[at] = tokens[at - 1]; at--; }
    values[at] = value;
    tokens[at] = token;
  }
  const top = values[0] / temperature, probabilities = values.map((v) => Math.exp(v / temperature - top));
  const sum = probabilities.reduce((a, b) => a + b, 0);
  return { tokens, probabilities: probabilities.map((p) => p / sum) };
}

function draw(weights, random) {
  const total = weights.reduce((a, b) => a + b, 0);
  let r = random() * total;
  for (let i = 0; i < weights.length; i++) {
    r -= weights[i];
    if (r < 0) return i;
  }
  return weights.findLastIndex((w) => w > 0);
}

// What a graph's first megabytes tell the engine, searched in the bytes (no text decoding: a string of
// every chunk cost ~0.2 s of a load): a node's op_type field (tag 0x22, length, name) GroupQueryAttention,
// slow on long prompts in WebAssembly; a node's name field (tag 0x1a) "rows/if", the branch in which a short
// run computes exactly what one token per step computes (models/rows.py), which speculative decoding needs.
const field = (tag, text) => new Uint8Array([tag, text.length, ...new TextEncoder().encode(text)]);
const MARKERS = [["GroupQueryAttention", field(0x22, "GroupQueryAttention")], ["ExactRows", field(0x1a, "rows/if")]];
const LONGEST_MARKER = Math.max(...MARKERS.map(([, needle]) => needle.length));

function contains(bytes, needle) {
  for (let at = bytes.indexOf(needle[0]); at !== -1 && at <= bytes.length - needle.length; at = bytes.indexOf(needle[0], at + 1)) {
    let i = 1;
    while (i < needle.length && bytes[at + i] === needle[i]) i++;
    if (i === needle.length) return true;
  }
  return false;
}

function concat(a, b) {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

// Transformers.js's generate() loop only awaits work that resolves as microtasks on WebAssembly, so a
// worker would not see the page's messages (stop) until the reply ends. Yielding one macrotask per
// decoding step (a MessageChannel round trip: no timer clamping) lets them in.
export function yieldEachStep(model) {
  const channel = new MessageChannel();
  const waiting = [];
  channel.port1.onmessage = () => waiting.shift()?.();
  const nextTask = () => new Promise((resolve) => { waiting.push(resolve); channel.port2.postMessage(0); });
  const forward = model.forward.bind(model);
  model.forward = async (inputs) => { const outputs = await forward(inputs); await nextTask(); return outputs; };
}

// The key/value cache between turns (a Transformers.js DynamicCache) and the chunked prompt. Feeding a
// graph that declares num_logits_to_keep 1 computes the vocabulary head for the last position only.
export function promptOps(T) {
  const int64 = (values, dims) => new T.Tensor("int64", BigInt64Array.from(values, BigInt), dims);
  const ones = (n) => new T.Tensor("int64", new BigInt64Array(n).fill(1n), [1, n]);
  const keepsLast = (model) => (model.sessions.model ?? model.sessions.decoder_model_merged)
    ?.inputNames.includes("num_logits_to_keep");
  // Feeds ids[start:end] after `cache` (updated in place) and returns the logits: of the last position
  // (keep 1, on a graph that takes num_logits_to_keep) or of every position (keep 0).
  const run = async (model, cache, ids, start, end, keep) => {
    const inputs = { input_ids: int64(ids.slice(start, end), [1, end - start]), attention_mask: ones(end),
      past_key_values: cache };
    if (keepsLast(model)) inputs.num_logits_to_keep = int64([keep], []);
    const outputs = await model.forward(inputs);
    const present = {};
    for (const name in outputs) {
      if (name.startsWith("present")) present[name.replace("present", "past_key_values")] = outputs[name];
    }
    cache.update(present);
    return outputs.logits;
  };
  return {
    empty: () => new T.DynamicCache(),
    onGpu: (cache) => Object.values(cache).some((tensor) => tensor.location === "gpu-buffer"),
    length: (cache) => cache.get_seq_length(),
    bytes: (cache) => Object.values(cache).reduce((sum, t) => sum + t.size * 4, 0),
    // The first `length` positions ([batch, heads, positions, head size] each), or null when they cannot
    // be cut here (tensors on the GPU). One block copy per head: Tensor.slice copies element by element.
    truncate(cache, length) {
      const kept = {};
      for (const name of Object.keys(cache)) {
        const tensor = cache[name];
        const [batch, heads, positions, size] = tensor.dims;
        if (positions === length) { kept[name] = tensor; continue; }
        if (tensor.location === "gpu-buffer" || tensor.dims.length !== 4) return null;
        const data = new tensor.data.constructor(batch * heads * length * size);
        for (let row = 0; row < batch * heads; row++) {
          data.set(tensor.data.subarray(row * positions * size, (row * positions + length) * size), row * length * size);
        }
        kept[name] = new T.Tensor(tensor.type, data, [batch, heads, length, size]);
      }
      return new T.DynamicCache(kept);
    },
    async feed(model, cache, ids, start, end) {
      const logits = await run(model, cache, ids, start, end, 1);
      if (logits?.location === "gpu-buffer") logits.dispose();
      return cache;
    },
    // One run over ids[start:end] that keeps every position's logits, and the token chosen after each
    // position as Transformers.js's generate() chooses: the repetition penalty over every token up to and
    // including that position, end-of-sequence ruled out before min_length / min_new_tokens, then either
    // the first index of the largest value (greedy) or a draw from the softmax of the top_k values divided
    // by the temperature (sampling). When sampling, the next fed token is a draft: it is kept with its
    // probability, and a rejected one is replaced by a draw from the distribution without it (speculative
    // sampling with a one-token draft: the reply's distribution is the one plain sampling gives); the
    // choices then end at the first rejection. Speculative decoding checks its drafts with it
    // (pagellm.local_speculation).
    async choose(model, cache, ids, start, end, rules) {
      const logits = await run(model, cache, ids, start, end, 0);
      return { cache, choices: chooseTokens(logits, ids, start, rules) };
    },
    inputs: (ids) => ({ input_ids: int64(ids, [1, ids.length]), attention_mask: ones(ids.length) }),
    sequence: (output) => Array.from(output.sequences.data, Number),
  };
}
