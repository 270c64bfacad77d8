// pagellm's service worker, generated per build (build.py fills BUILD from dist/manifest.json).
// - Every file of the site is served only if its bytes match the manifest's sha256: a tampered or damaged
//   file is refused (or dropped from the cache and fetched again), never silently used. Bytes are hashed
//   when they arrive from the network; a cached copy was hashed before it was stored (and only this
//   origin can write its caches), so a cache hit is checked by its recorded size and streamed as it is:
//   hashing 180 MB on every visit cost the return visit ~0.7 s of CPU and the wasm streaming compile.
// - The app shell and runtime are cached at install, per build, except ONNX Runtime's WebGPU build (27 MB
//   that a WebAssembly device never loads): cached when first used, or kept on the page's request. Model
//   files are cached when first used, keyed by their hash so an unchanged model survives a new build and
//   an old one is deleted.
// - A file the page downloaded before this worker controlled it (a first visit: the weights, Python's and
//   ONNX Runtime's files) is taken from the page's copy, checked like a download, instead of being
//   downloaded again: the install asks the page for its copies, "keep" brings them. The notebook lab
//   (lab/, ~25 MB) is not fetched at install: a chat visitor never pays for it; the lab page asks for it
//   to be kept ("keep" with a prefix), and its files are checked like every other.
// - Responses carry COOP/COEP, so the page is cross-origin isolated (threads) even on hosts such as
//   GitHub Pages that cannot send headers (the approach of coi-serviceworker / mini-coi).
const BUILD = __PAGELLM_BUILD__;
const SHELL_CACHE = `pagellm-shell-${BUILD.id}`;
const MODEL_CACHE = "pagellm-models";
const SCOPE = new URL(self.registration.scope);
const ISOLATION = BUILD.isolation;  // the headers and MIME types the build's server sends (pagellm.site_headers)
const TYPES = BUILD.types;

const isModelFile = (path) => /^models\/[^/]+\/onnx\//.test(path);
const isLabFile = (path) => path.startsWith("lab/");
const isWebGpuRuntime = (path) => /^vendor\/ort\/[^/]*\.asyncify\./.test(path);
const cacheKey = (path) => `${new URL(path, SCOPE).href}?sha256=${BUILD.files[path].sha256}`;

function pathOf(url) {
  if (url.origin !== SCOPE.origin || !url.pathname.startsWith(SCOPE.pathname)) return null;
  const path = decodeURIComponent(url.pathname.slice(SCOPE.pathname.length));
  return path === "" || path.endsWith("/") ? `${path}index.html` : path;
}

async function sha256(buffer) {
  const digest = await crypto.subtle.digest("SHA-256", buffer);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function matches(buffer, path) {
  const expected = BUILD.files[path];
  return buffer.byteLength === expected.size && (await sha256(buffer)) === expected.sha256;
}

async function tell(message) {
  for (const client of await self.clients.matchAll({ includeUncontrolled: true })) client.postMessage(message);
}

const VERIFIED_SIZE = "X-Pagellm-Verified-Size";  // set on cache entries whose sha256 matched

function respond(body, path, extra = {}) {
  const type = TYPES[path.split(".").pop()] || "application/octet-stream";
  return new Response(body, { status: 200, headers: { "Content-Type": type, ...ISOLATION, ...extra } });
}

function refuse(path, why) {
  const message = `Integrity check failed for ${path}: ${why}. The file was not used.`;
  tell({ type: "integrity", path, message });
  return new Response(message, { status: 502, statusText: "Integrity check failed", headers: ISOLATION });
}

// The file's bytes checked against the manifest: the page's copy (a Blob) when it matches, else downloaded.
async function obtain(path, copy) {
  if (copy) {
    const buffer = await copy.arrayBuffer();
    if (await matches(buffer, path)) return { buffer };
  }
  const response = await fetch(new URL(path, SCOPE).href, { cache: "no-cache" });
  if (!response.ok) return { response };
  const buffer = await response.arrayBuffer();
  if (!(await matches(buffer, path))) return { refused: true, buffer };
  return { buffer };
}

async function store(cache, path, buffer) {
  try {
    await cache.put(cacheKey(path), respond(buffer.slice(0), path, { [VERIFIED_SIZE]: String(buffer.byteLength) }));
  } catch (err) {
    tell({ type: "quota", path, message: `Could not keep ${path} for offline use (${err.name}): the browser's storage for this site is full. Delete a cached model or old chats.` });
  }
}

async function serve(path, copy) {
  const cache = await caches.open(isModelFile(path) ? MODEL_CACHE : SHELL_CACHE);
  const cached = await cache.match(cacheKey(path));
  if (cached) {
    if (cached.headers.get(VERIFIED_SIZE) === String(BUILD.files[path].size)) {
      // WebAssembly: the entry itself (with the headers respond() gave it), so that the browser uses the
      // code it compiled on an earlier visit. Scripts are rewrapped: a module's URL must stay its own.
      return path.endsWith(".wasm") ? cached : respond(cached.body, path);
    }
    const buffer = await cached.arrayBuffer();  // an entry without the record (or replaced): hash it
    if (await matches(buffer, path)) {
      await store(cache, path, buffer);
      return respond(buffer, path);
    }
    await cache.delete(cacheKey(path));
    tell({ type: "repaired", path, message: `The cached copy of ${path} was damaged: it was dropped and fetched again.` });
  }
  const result = await obtain(path, copy);
  if (result.response) return result.response;
  if (result.refused) return refuse(path, "its bytes differ from this build's manifest");
  await store(cache, path, result.buffer);
  return respond(result.buffer, path);
}

self.addEventListener("install", (event) => {
  // The shell and runtime, verified, so the page reloads offline after one visit.
  event.waitUntil((async () => {
    const cache = await caches.open(SHELL_CACHE);
    const shell = Object.keys(BUILD.files).filter((path) => !isModelFile(path) && !isLabFile(path) && !isWebGpuRuntime(path));
    const copies = await pageCopies();
    for (const path of shell) {
      if (await cache.match(cacheKey(path))) continue;
      const result = await obtain(path, copies[path]);
      if (result.buffer && !result.refused) await store(cache, path, result.buffer);
    }
    await self.skipWaiting();
  })());
});

// The files the pages downloaded before this worker controlled them (site path -> Blob; offline.js), asked
// of every page of the site; {} from a page that does not answer within a second.
async function pageCopies() {
  const pages = await self.clients.matchAll({ includeUncontrolled: true, type: "window" });
  const answers = pages.map((page) => new Promise((resolve) => {
    const channel = new MessageChannel();
    const answer = (blobs) => { channel.port1.close(); resolve(blobs); };
    channel.port1.onmessage = (event) => answer(event.data?.blobs ?? {});
    page.postMessage({ type: "copies" }, [channel.port2]);
    setTimeout(() => answer({}), 1000);
  }));
  return Object.assign({}, ...(await Promise.all(answers)));
}

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    // A new build replaces the old shell cache; model entries no build file names any more go too.
    for (const name of await caches.keys()) {
      if (name.startsWith("pagellm-shell-") && name !== SHELL_CACHE) await caches.delete(name);
    }
    const models = await caches.open(MODEL_CACHE);
    const wanted = new Set(Object.keys(BUILD.files).filter(isModelFile).map(cacheKey));
    for (const request of await models.keys()) if (!wanted.has(request.url)) await models.delete(request);
    await self.clients.claim();
  })());
});

self.addEventListener("fetch", (event) => {
  if (event.request.method !== "GET") return;
  const path = pathOf(new URL(event.request.url));
  if (path === null) return;  // other origins (remote endpoints)
  if (!BUILD.files[path]) {
    // The lab asks for optional files the build does not have (a 404 online): offline, answer the same.
    if (isLabFile(path)) event.respondWith(fetch(event.request).catch(() => new Response("", { status: 404, headers: ISOLATION })));
    return;
  }
  event.respondWith(serve(path).catch((err) => new Response(`pagellm could not load ${path}: ${err.message}`,
    { status: 503, statusText: "Unavailable", headers: ISOLATION })));
});

self.addEventListener("message", (event) => {
  const msg = event.data || {};
  if (msg.type === "keep") {
    // `prefix` names a whole folder (the lab, for offline use); `blobs` the page's copies by path. Serving
    // a file caches it.
    const paths = msg.prefix ? Object.keys(BUILD.files).filter((path) => path.startsWith(msg.prefix)) : msg.paths || [];
    event.waitUntil((async () => {
      for (const path of paths) if (BUILD.files[path]) await serve(path, msg.blobs?.[path]).catch(() => null);
      event.source?.postMessage({ type: "kept", paths: msg.paths, prefix: msg.prefix });
    })());
  }
});
