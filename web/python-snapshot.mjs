// A memory snapshot of Python just started (Pyodide's loadPyodide({_makeSnapshot}) / makeMemorySnapshot,
// loaded back with {_loadSnapshot}): most of Python's start is the interpreter initialising itself, which a
// snapshot skips. It is made once, after the first visit's model is ready, by a worker of its own
// (python-snapshot-worker.mjs: an interpreter that nothing else touches, so nothing of the page is in it),
// and kept in Cache Storage under this build's key with its SHA-256. python-boot.mjs loads Python from it
// when it is there and intact, and starts Python as usual otherwise (another build's key, a corrupted or
// cleared entry, a snapshot Pyodide refuses).
export const SNAPSHOT_CACHE = "pagellm-python";
// How Python started ({snapshot: true | false}), told by python-boot.mjs to the page (watchPythonStart).
export const START_CHANNEL = "pagellm-python-start";

const request = (key) => new Request(new URL(`./python-snapshot/${key}`, import.meta.url));

async function sha256(bytes) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

// The snapshot for `key`, checked against its SHA-256; null when there is none or it does not match
// (then it is deleted).
export async function savedSnapshot(key) {
  if (!self.caches) return null;
  const cache = await caches.open(SNAPSHOT_CACHE);
  const response = await cache.match(request(key));
  if (!response) return null;
  const bytes = new Uint8Array(await response.arrayBuffer());
  if (await sha256(bytes) === response.headers.get("X-Pagellm-Sha256")) return bytes;
  await dropSnapshot(key);
  return null;
}

export async function dropSnapshot(key) {
  if (self.caches) await (await caches.open(SNAPSHOT_CACHE)).delete(request(key));
}

export async function hasSnapshot(key) {
  return !!self.caches && !!await (await caches.open(SNAPSHOT_CACHE)).match(request(key));
}

// Start a fresh interpreter for the snapshot and keep it under `key`; older builds' snapshots go.
export async function makeSnapshot(pyodide, indexURL, key) {
  const interpreter = await pyodide.loadPyodide({ indexURL, _makeSnapshot: true });
  const bytes = interpreter.makeMemorySnapshot();
  const cache = await caches.open(SNAPSHOT_CACHE);
  for (const old of await cache.keys()) if (old.url !== request(key).url) await cache.delete(old);
  await cache.put(request(key), new Response(bytes, { headers: {
    "Content-Type": "application/octet-stream", "X-Pagellm-Sha256": await sha256(bytes) } }));
  return bytes.length;
}
