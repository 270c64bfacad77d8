// One disposable Python sandbox: a module Web Worker of its own (never the engine's worker, never the
// page) that boots Pyodide, runs one piece of code and is thrown away by the page (web/sandbox.js).
//
// A worker started from a script of this site shares the site's origin: its storage (IndexedDB, the
// service worker's caches, the origin private file system) and, since a worker served without headers
// has no content security policy, the whole network. So before any code of the user or the model runs,
// this worker takes those powers away from its own global scope: the network APIs go (fetch is kept
// for this site's own files, GET only), so do the storage APIs, nested workers, channels to other
// pages, and every way of turning a string into JavaScript (eval, the Function constructors, string
// timers) — without those, Python's `js` module reaches nothing but what is left here. The page never
// sends the sandbox anything but the code, so no key or chat can be read from it.
import { loadPyodide } from "./pyodide/pyodide.mjs";

const OUTPUT_LIMIT = 100_000;   // characters of stdout + stderr kept; the rest is counted, not kept
const VALUE_LIMIT = 10_000;     // characters of the last expression's repr
const FLUSH_BYTES = 8_192;
const FLUSH_MS = 100;

// Globals that reach the network, the origin's storage or other contexts, or compile source text.
const BLOCKED = [
  "XMLHttpRequest", "WebSocket", "WebSocketStream", "EventSource", "WebTransport", "RTCPeerConnection",
  "webkitRTCPeerConnection", "fetchLater", "importScripts", "indexedDB", "caches", "cookieStore", "Worker",
  "SharedWorker", "BroadcastChannel", "Notification", "FontFace", "fonts", "eval", "close",
];
const BLOCKED_NAVIGATOR = ["storage", "serviceWorker", "locks", "sendBeacon"];

const output = { kept: 0, dropped: 0, pending: [], last: 0 };

function write(stream, text) {
  const room = OUTPUT_LIMIT - output.kept;
  if (room <= 0) {
    output.dropped += text.length;
    return;
  }
  const part = text.length > room ? text.slice(0, room) : text;
  output.dropped += text.length - part.length;
  output.kept += part.length;
  const last = output.pending.at(-1);
  if (last?.stream === stream) last.text += part; else output.pending.push({ stream, text: part });
  // Python holds this thread while it runs: flush by size and time, not by timers.
  const size = output.pending.reduce((sum, chunk) => sum + chunk.text.length, 0);
  if (size >= FLUSH_BYTES || performance.now() - output.last >= FLUSH_MS) flush();
}

function flush() {
  output.last = performance.now();
  if (!output.pending.length) return;
  self.postMessage({ type: "output", chunks: output.pending });
  output.pending = [];
}

function writer(stream) {
  const decoder = new TextDecoder();
  return { write(bytes) { write(stream, decoder.decode(bytes, { stream: true })); return bytes.length; }, isatty: false };
}

function refuse(what) {
  return function () { throw new Error(`The Python sandbox has no ${what}.`); };
}

// Only this site's own files, read-only: enough for Pyodide to load the packages the site serves.
function siteFetch(realFetch) {
  return function fetch(resource, options = {}) {
    if (typeof resource !== "string" && !(resource instanceof URL)) {
      return Promise.reject(new TypeError("The Python sandbox fetches by URL only."));
    }
    const url = new URL(resource, self.location.href);
    const method = (options.method || "GET").toUpperCase();
    if (url.origin !== self.location.origin || !["GET", "HEAD"].includes(method)) {
      return Promise.reject(new TypeError(`The Python sandbox has no network beyond this site (refused ${method} ${url.origin}).`));
    }
    return realFetch(url.href, { method, integrity: options.integrity, redirect: "error", credentials: "omit" });
  };
}

function deleteEverywhere(object, names) {
  for (let o = object; o; o = Object.getPrototypeOf(o)) {
    for (const name of names) {
      if (Object.prototype.hasOwnProperty.call(o, name)) delete o[name];
    }
  }
}

function lockDown() {
  const realFetch = self.fetch.bind(self);
  deleteEverywhere(self, [...BLOCKED, "fetch"]);
  deleteEverywhere(self.navigator, BLOCKED_NAVIGATOR);
  Object.defineProperty(self, "fetch", { value: siteFetch(realFetch), writable: false, configurable: false });
  // Source text to code: every function's constructor, and the globals naming them. The replacements keep
  // the prototypes, so `instanceof Function` still holds for Pyodide's own checks.
  for (const sample of [function () {}, async function () {}, function* () {}, async function* () {}]) {
    const prototype = Object.getPrototypeOf(sample);
    const original = prototype.constructor;
    const blocked = refuse("way to compile JavaScript source");
    Object.defineProperties(blocked, { name: { value: original.name }, prototype: { value: prototype } });
    Object.defineProperty(prototype, "constructor", { value: blocked, writable: false, configurable: false });
    if (self[original.name] === original) {
      Object.defineProperty(self, original.name, { value: blocked, writable: false, configurable: false });
    }
  }
  for (const name of ["setTimeout", "setInterval"]) {
    const timer = self[name].bind(self);
    self[name] = (callback, ...rest) => {
      if (typeof callback !== "function") throw new TypeError("The Python sandbox runs no timer given as source text.");
      return timer(callback, ...rest);
    };
  }
  // Fail closed: code never runs in a sandbox that kept one of these.
  const kept = BLOCKED.filter((name) => name in self).concat(BLOCKED_NAVIGATOR.filter((name) => name in self.navigator));
  if (kept.length) throw new Error(`The sandbox could not remove ${kept.join(", ")}: the code was not run.`);
}

const DRIVER = `
import linecache, traceback
from pyodide.code import eval_code_async

def _only_cell(exc):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        exc.stack = traceback.StackSummary.from_list([f for f in exc.stack if f.filename == "<cell>"])
        exc = exc.__cause__ or exc.__context__

async def run(source, value_limit):
    linecache.cache["<cell>"] = (len(source), None, source.splitlines(True), "<cell>")
    try:
        value = await eval_code_async(source, {"__name__": "__main__"}, filename="<cell>")
    except BaseException as err:
        exc = traceback.TracebackException.from_exception(err)
        _only_cell(exc)
        return {"ok": False, "error": "".join(exc.format()), "value": None}
    if value is None:
        return {"ok": True, "error": None, "value": None}
    try:
        text = repr(value)
    except BaseException as err:
        text = f"<repr failed: {type(err).__name__}: {err}>"
    if len(text) > value_limit:
        text = text[:value_limit] + f" … ({len(text) - value_limit:,} more characters)"
    return {"ok": True, "error": None, "value": text}
`;

async function runOnce(code) {
  const started = performance.now();
  const pyodide = await loadPyodide({ indexURL: new URL("./pyodide/", import.meta.url).href });
  pyodide.setStdout(writer("stdout"));
  pyodide.setStderr(writer("stderr"));
  // Packages the site serves, named by the code's imports, are loaded before the network goes.
  await pyodide.loadPackagesFromImports(code, { messageCallback: () => {}, errorCallback: () => {} }).catch(() => {});
  pyodide.runPython(DRIVER);
  const run = pyodide.globals.get("run");
  lockDown();
  self.postMessage({ type: "started", boot_seconds: (performance.now() - started) / 1000 });
  const ran = performance.now();
  const result = (await run(code, VALUE_LIMIT)).toJs({ dict_converter: Object.fromEntries });
  flush();
  return { ...result, seconds: (performance.now() - ran) / 1000, dropped: output.dropped, limit: OUTPUT_LIMIT };
}

self.onmessage = async (event) => {
  self.onmessage = null;  // one run per worker
  const code = event.data?.code;
  if (typeof code !== "string") {
    self.postMessage({ type: "failed", message: "The sandbox was sent no code." });
    return;
  }
  try {
    self.postMessage({ type: "result", ...(await runOnce(code)) });
  } catch (err) {
    flush();
    // MemoryError and friends come back as Python results; this is Pyodide itself failing (out of
    // WebAssembly memory, a stack overflow inside the interpreter) or the lockdown refusing to go on.
    self.postMessage({ type: "failed", message: String(err?.message || err).slice(0, 2000) });
  }
};
