// The service worker as built (dist/sw.js), run against fake caches and a fake network: every file is
// served only if its bytes match the build's manifest, with the headers that isolate the page.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import vm from "node:vm";

const SOURCE = readFileSync(new URL("../../dist/sw.js", import.meta.url), "utf8");
const BUILD = JSON.parse(SOURCE.match(/const BUILD = (\{.*?\});\n/s)[1]);
const SITE = "http://site.test/app/";
const FILE = Object.keys(BUILD.files).find((path) => path.endsWith("app.js"));
const REAL = readFileSync(new URL(`../../dist/${FILE}`, import.meta.url));

class FakeCache {
  entries = new Map();
  async match(key) { return this.entries.get(String(key?.url ?? key))?.clone(); }
  async put(key, response) { this.entries.set(String(key), response); }
  async delete(key) { return this.entries.delete(String(key?.url ?? key)); }
  async keys() { return [...this.entries.keys()].map((url) => ({ url })); }
}

// `copies`: what the page answers when the service worker asks for the files it downloaded (offline.js).
function startWorker(network, copies = {}) {
  const listeners = {}, told = [], caches = new Map();
  const context = {
    self: {
      registration: { scope: SITE },
      addEventListener: (type, listener) => (listeners[type] = listener),
      clients: {
        matchAll: async () => [{ postMessage: (m, ports) => (m.type === "copies" ? ports[0].postMessage({ blobs: copies }) : told.push(m)) }],
        claim: async () => {},
      },
      skipWaiting: async () => {},
    },
    caches: {
      open: async (name) => caches.get(name) ?? caches.set(name, new FakeCache()).get(name),
      keys: async () => [...caches.keys()], delete: async (name) => caches.delete(name),
    },
    fetch: async (url) => network(String(url)),
    Response, Request, URL, crypto, console, TextEncoder, Blob, MessageChannel, setTimeout,
  };
  vm.runInNewContext(SOURCE, context);
  const get = async (path) => {
    let answer = null;
    listeners.fetch({ request: new Request(new URL(path, SITE)), respondWith: (p) => (answer = p) });
    return answer && await answer;
  };
  // The page's "keep" message; resolves when the worker has answered "kept".
  const keep = (paths, blobs) => new Promise((resolve) => {
    let work;
    listeners.message({ data: { type: "keep", paths, blobs }, waitUntil: (p) => (work = p),
      source: { postMessage: (m) => work.then(() => resolve(m)) } });
  });
  const install = () => {
    let work;
    listeners.install({ waitUntil: (p) => (work = p) });
    return work;
  };
  return { get, keep, install, told, caches };
}

test("a file whose bytes match is served isolated, and kept with its verified size", async () => {
  const sw = startWorker(() => new Response(REAL));
  const response = await sw.get(FILE);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("Cross-Origin-Embedder-Policy"), "credentialless");
  assert.equal(response.headers.get("Content-Type"), "text/javascript");
  assert.deepEqual(Buffer.from(await response.arrayBuffer()), REAL);
  const kept = [...sw.caches.values()].flatMap((cache) => [...cache.entries.values()]);
  assert.equal(kept[0].headers.get("X-Pagellm-Verified-Size"), String(REAL.length));
});

test("tampered bytes are refused and the page is told", async () => {
  const sw = startWorker(() => new Response(Buffer.concat([REAL, Buffer.from("alert(1)")])));
  const response = await sw.get(FILE);
  assert.equal(response.status, 502);
  assert.equal(sw.told[0].type, "integrity");
  assert.match(sw.told[0].message, new RegExp(`Integrity check failed for ${FILE}`));
});

test("a damaged cached copy is dropped and fetched again", async () => {
  const sw = startWorker(() => new Response(REAL));
  await sw.get(FILE);  // cached now
  const [cache] = [...sw.caches.values()];
  const [key] = cache.entries.keys();
  cache.entries.set(key, new Response("damaged"));  // no verified-size record: hashed again
  const response = await sw.get(FILE);
  assert.equal(response.status, 200);
  assert.equal(sw.told.at(-1).type, "repaired");
});

test("requests to other origins (remote endpoints) are left to the network", async () => {
  const sw = startWorker(() => { throw new Error("the service worker must not fetch this"); });
  assert.equal(await sw.get("https://api.example.com/v1/models"), null);  // respondWith was not called
});

const kept = (sw) => [...sw.caches.values()].flatMap((cache) => [...cache.entries.values()]);

test("a copy the page downloaded is kept without downloading it again, once it matches", async () => {
  const fetched = [];
  const sw = startWorker((url) => { fetched.push(url); return new Response(REAL); });
  await sw.keep([FILE], { [FILE]: new Blob([REAL]) });
  assert.deepEqual(fetched, []);
  const [entry] = kept(sw);
  assert.equal(entry.headers.get("X-Pagellm-Verified-Size"), String(REAL.length));
  assert.deepEqual(Buffer.from(await entry.arrayBuffer()), REAL);
});

test("a copy from the page that does not match is not kept: the file is fetched and verified", async () => {
  const fetched = [];
  const sw = startWorker((url) => { fetched.push(url); return new Response(REAL); });
  await sw.keep([FILE], { [FILE]: new Blob([REAL, "alert(1)"]) });
  assert.deepEqual(fetched, [new URL(FILE, SITE).href]);
  const [entry] = kept(sw);
  assert.deepEqual(Buffer.from(await entry.arrayBuffer()), REAL);
});

test("the install asks the page for its copies and downloads only the files it has none of", async () => {
  const fetched = [];
  const sw = startWorker((url) => {
    fetched.push(url);
    return new Response(readFileSync(new URL(`../../dist/${new URL(url).pathname.slice(new URL(SITE).pathname.length)}`, import.meta.url)));
  }, { [FILE]: new Blob([REAL]) });
  await sw.install();
  assert.ok(fetched.length > 1);
  assert.ok(!fetched.includes(new URL(FILE, SITE).href), "the page's copy was downloaded again");
  assert.equal(kept(sw).length, fetched.length + 1);
});
