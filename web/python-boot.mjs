// The interpreter module PyScript loads in the page's worker (pyscript.json's "interpreter"): Pyodide's
// own loadPyodide, and, before it, the bundled model's load. Python needs seconds to start; Transformers.js,
// ONNX Runtime's module, the weights and the model's session need not wait for it. The page names what to
// load in this module's URL (?early=<JSON>: the model, the device asked for, per device its weights);
// pagellm.local takes the result when its own choice is the same, and loads as usual otherwise.
import * as pyodide from "./pyodide/pyodide.mjs";
import { PYTHON_SNAPSHOT } from "./facts.js";
import { START_CHANNEL, fetchSnapshot } from "./python-snapshot.mjs";

export const version = pyodide.version;

const DOWNLOAD_CHANNEL = "pagellm-download";  // read by the page (prefetch.js, watchWorkerDownloads)
const here = new URL(import.meta.url);
const siteBase = new URL("./", here).href;

// A first visit (?handover: no service worker controls the page yet): every file of the site this worker
// downloads goes to the page as a Blob too, and the page hands it to the service worker (offline.js), whose
// install would otherwise download Python's and ONNX Runtime's files a second time. The weights come
// through weightsBlob, which has them as a Blob already; the rest through fetch, whose responses are teed.
const handingOver = here.searchParams.has("handover");
const fetchOnce = globalThis.fetch;

function handOver(path, blob) {
  if (!handingOver) return;
  const channel = new BroadcastChannel(DOWNLOAD_CHANNEL);
  channel.postMessage({ path, blob });
  channel.close();
}

if (handingOver) {
  globalThis.fetch = async (input, init) => {
    const response = await fetchOnce(input, init);
    const method = init?.method ?? input?.method ?? "GET";
    if (response.ok && method === "GET" && response.url.startsWith(siteBase)) {
      const path = response.url.slice(siteBase.length).split(/[?#]/)[0];
      response.clone().blob().then((blob) => handOver(path, blob), () => {});
    }
    return response;
  };
}

// Asked for at once: the bytes arrive while PyScript sets up its worker.
const snapshot = fetchSnapshot(new URL(PYTHON_SNAPSHOT, import.meta.url).href).catch(() => null);

// PyScript passes indexURL as this module's folder: Pyodide's files are in pyodide/. Python starts from
// the build's memory snapshot (python-snapshot.mjs), and as usual when that fails.
export async function loadPyodide(options) {
  performance.mark("pagellm:pyodide-start");
  const settings = { ...options, indexURL: new URL("./pyodide/", import.meta.url).href };
  const bytes = await snapshot;
  let interpreter = null;
  if (bytes) {
    interpreter = await pyodide.loadPyodide({ ...settings, _loadSnapshot: bytes }).catch(() => null);
    // Pyodide only logs a standard library that failed to load here: the usual start then says so.
    if (interpreter && !hasStandardLibrary(interpreter)) interpreter = null;
    if (interpreter) performance.mark("pagellm:python-snapshot");
  }
  const fromSnapshot = !!interpreter;
  interpreter ??= await pyodide.loadPyodide(settings);
  performance.mark("pagellm:pyodide-loaded");
  const channel = new BroadcastChannel(START_CHANNEL);
  channel.postMessage({ snapshot: fromSnapshot });
  channel.close();
  return interpreter;
}

function hasStandardLibrary(interpreter) {
  return interpreter.runPython("import os, sys; all(os.path.exists(p) for p in sys.path if p.endswith('.zip'))");
}

const asked = JSON.parse(here.searchParams.get("early") || "null");
if (asked) {
  const plan = choosePlan(asked);
  const load = plan.then(loadEarly);
  load.catch(() => {});  // Python sees the failure when it takes the load, and then loads itself
  // discard(): Python wanted another load; the session made early is freed.
  globalThis.pagellmEarly = { plan, load, discard: () => load.then(({ model }) => model.dispose(), () => {}) };
}

// The device as pagellm.local.choose_device picks it (WebGPU when asked for or "auto" and an adapter is
// granted), with that device's dtype, weights and ONNX Runtime build from the page's request.
async function choosePlan({ choice, devices, ...rest }) {
  let device = "wasm";
  if (choice !== "wasm" && devices.webgpu && self.navigator?.gpu) {
    const adapter = await navigator.gpu.requestAdapter().catch(() => null);
    if (adapter) device = "webgpu";
  }
  return { ...rest, device, ...devices[device] };
}

// plan: {base, model, threads, device, dtype, weights (the ONNX file), size, ortBuild, sessionOptions}. The steps of
// LocalEngine.load; a file that fails makes it fail at once (Transformers.js would only log it).
async function loadEarly(plan) {
  performance.mark("pagellm:early-start");
  const weights = weightsBlob(plan);
  const [T, engine] = await Promise.all([import(`${plan.base}vendor/transformers.min.js`), import(`${plan.base}engine-env.js`)]);
  let fail;
  const failed = new Promise((_, reject) => { fail = reject; });
  failed.catch(() => {});
  const seen = { bytes: 0, operators: [] };
  const files = new Map([[`models/${plan.model}/${plan.weights}`, await Promise.race([weights, failed])]]);
  performance.mark("pagellm:early-weights");
  const env = engine.configureEnv({
    T, base: plan.base, source: { kind: "site" }, ortBuild: plan.ortBuild, files,
    onBytes: (url, count) => { seen.bytes += count; },
    onFailure: (message) => fail(new Error(message)),
    onOperator: (op) => { seen.operators.push(op); },
  });
  if (plan.threads != null) env.backends.onnx.wasm.numThreads = self.crossOriginIsolated ? plan.threads : 1;
  const tokenizer = await Promise.race([T.AutoTokenizer.from_pretrained(plan.model, { revision: "main" }), failed]);
  performance.mark("pagellm:early-tokenizer");
  const model = await Promise.race([T.AutoModelForCausalLM.from_pretrained(plan.model,
    { device: plan.device, dtype: plan.dtype, session_options: plan.sessionOptions }), failed]);
  performance.mark("pagellm:early-session");
  return { tokenizer, model, ...seen };
}

// The weights as a Blob, asked for at once: from the service worker's cache when it holds this build's
// verified copy (a Blob on disk, no bytes through this thread), else fetched (verified by the service
// worker when it controls the page). Either way they arrive while Python starts.
async function weightsBlob(plan) {
  const url = new URL(`models/${plan.model}/${plan.weights}`, plan.base).href;
  const cache = self.caches ? await caches.open("pagellm-models").catch(() => null) : null;
  for (const request of cache ? await cache.keys() : []) {
    if (request.url.split("?")[0] !== url) continue;
    const response = await cache.match(request);
    if (response?.headers.get("X-Pagellm-Verified-Size") === String(plan.size)) return response.blob();
  }
  const response = await fetchOnce(url);
  if (!response.ok) throw new Error(`${url} answered ${response.status}`);
  const blob = await new Response(response.body.pipeThrough(announced(plan.size))).blob();
  handOver(`models/${plan.model}/${plan.weights}`, blob);
  return blob;
}

// The bytes as they arrive, told to the page (prefetch.js, watchWorkerDownloads) about ten times a second:
// a first visit shows the download's progress, speed and time left while Python starts.
function announced(total) {
  const channel = new BroadcastChannel(DOWNLOAD_CHANNEL);
  let loaded = 0, told = 0;
  return new TransformStream({
    transform(chunk, out) {
      loaded += chunk.byteLength;
      if (performance.now() - told > 100) {
        told = performance.now();
        channel.postMessage({ loaded, total });
      }
      out.enqueue(chunk);
    },
    flush() {
      channel.postMessage({ loaded, total });
      channel.close();
    },
  });
}
