// Offline use: the service worker (sw.js) checks every file against the build's hashes and caches it;
// the storage panel shows what the cached models take and deletes them.
import { $, formatBytes, root, ui } from "./dom.js";
import { state } from "./state.js";
import { showError } from "./status.js";
import { DTYPE_FILES, ORT_BUILDS } from "./facts.js";
import { START_CHANNEL } from "./python-snapshot.mjs";
import { attachmentUsage } from "./attachments.js";
import { currentLocale, t } from "./i18n.js";

export const MODEL_CACHE = "pagellm-models";  // the service worker's cache of model files (sw.js)

const QUIET_MS = 2000;

// A page the service worker does not control yet (a first visit) registers it once the page has started
// and is quiet (ready or failed, no reply streaming for 2 s): its install downloads and hashes the whole
// app shell, which would otherwise compete with the model's download, its session and the first reply.
export async function startServiceWorkerWhenQuiet() {
  if (!navigator.serviceWorker?.controller) {
    for (let quietSince = performance.now(); performance.now() - quietSince < QUIET_MS;) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      if (!["ready", "error"].includes(root.dataset.state) || state.streaming) quietSince = performance.now();
    }
  }
  await startServiceWorker();
}

async function startServiceWorker() {
  const status = $("offline-status");
  root.dataset.isolated = String(self.crossOriginIsolated);
  const threads = self.crossOriginIsolated ? t("offline.threads") : t("offline.single_thread");
  if (!("serviceWorker" in navigator)) {
    status.textContent = t("offline.no_service_worker", { threads });
    return;
  }
  navigator.serviceWorker.addEventListener("message", (event) => {
    const msg = event.data || {};
    if (msg.type === "integrity" || msg.type === "quota") showError(workerText(msg));
    if (msg.type === "repaired") ui.storeNote.textContent = workerText(msg);
    if (msg.type === "kept") showStorage();
    if (msg.type === "copies") answerCopies(event.ports[0]);
  });
  try {
    await navigator.serviceWorker.register("./sw.js");
    const controlled = !!navigator.serviceWorker.controller;
    root.dataset.offline = controlled ? "ready" : "installing";
    status.textContent = t(controlled ? "offline.ready" : "offline.preparing", { threads });
    navigator.serviceWorker.addEventListener("controllerchange", () => {
      root.dataset.offline = "ready";
      status.textContent = t("offline.ready_now", { threads });
      keepLoadedModel();
    });
  } catch (err) {
    status.textContent = t("offline.unavailable", { reason: err.message, threads });
  }
  navigator.storage?.persist?.().catch(() => {});
  showStorage();
}

// The service worker writes in English (it has no catalogue): another locale gets a translated line first.
function workerText(msg) {
  const line = { integrity: t("offline.sw_integrity"), quota: t("offline.sw_quota"), repaired: t("offline.sw_repaired") }[msg.type];
  return currentLocale() === "en" || !line ? msg.message : `${line} ${msg.message}`;
}

// Files downloaded before the service worker controlled the page (site path -> Blob: the weights, and the
// worker's Python and ONNX Runtime files). The service worker's install asks for them ("copies") and
// "keep" brings the model's: it checks each against the build's hashes and keeps it instead of downloading
// it again, so a first visit downloads each file once.
const fetched = new Map();

export function keepFetched(path, blob) {
  if (navigator.serviceWorker && !navigator.serviceWorker.controller) fetched.set(path, blob);
}

// The install's question: all the copies; only the model's are kept for "keep" afterwards.
function answerCopies(port) {
  port?.postMessage({ blobs: Object.fromEntries(fetched) });
  for (const path of fetched.keys()) if (!path.startsWith("models/")) fetched.delete(path);
}

// Ask the service worker to keep the loaded model's files (its weights for the dtype in use) offline, and
// ONNX Runtime's WebGPU build when the model runs on WebGPU (the service worker does not precache it).
export function keepLoadedModel() {
  const loaded = state.loadedModel;
  const worker = navigator.serviceWorker?.controller;
  if (!loaded || !worker) return;
  const model = state.catalog.models.find((m) => m.id === loaded.model);
  const files = Object.keys(model?.files ?? {}).filter((rel) => !rel.startsWith("onnx/") || rel === `onnx/${DTYPE_FILES[loaded.dtype]}`);
  const runtime = ui.device.textContent === "webgpu" ? ["mjs", "wasm"].map((ext) => `vendor/ort/${ORT_BUILDS.webgpu}.${ext}`) : [];
  const paths = [...files.map((rel) => `models/${loaded.model}/${rel}`), ...runtime];
  const blobs = Object.fromEntries(paths.filter((path) => fetched.has(path)).map((path) => [path, fetched.get(path)]));
  for (const path of Object.keys(blobs)) fetched.delete(path);
  worker.postMessage({ type: "keep", paths, blobs });
}

// The model cache's entries by site path ("models/<id>/onnx/<file>"), for the current build's files.
export async function cachedModelFiles() {
  if (!self.caches) return new Map();
  const base = new URL("./", location.href).pathname;
  const requests = await (await caches.open(MODEL_CACHE)).keys();
  return new Map(requests.map((request) => [new URL(request.url).pathname.slice(base.length), request]));
}

export async function showStorage() {
  if (!self.caches || !state.catalog) return;
  const cache = await caches.open(MODEL_CACHE);
  const entries = await cachedModelFiles();
  const items = state.catalog.models.map((model) => {
    const files = Object.entries(model.files).filter(([rel]) => rel.startsWith("onnx/"));
    const cached = files.filter(([rel]) => entries.has(`models/${model.id}/${rel}`));
    if (!cached.length) return null;
    const item = document.createElement("li");
    item.dataset.model = model.id;
    const size = cached.reduce((sum, [, bytes]) => sum + bytes, 0);
    item.append(`${model.name}: ${formatBytes(size)}`);
    const remove = Object.assign(document.createElement("button"), { type: "button", textContent: t("chats.delete") });
    remove.addEventListener("click", async () => {
      for (const [path, request] of await cachedModelFiles()) {
        if (path.startsWith(`models/${model.id}/`)) await cache.delete(request);
      }
      showStorage();
    });
    item.append(remove);
    return item;
  }).filter(Boolean);
  $("cached-models").replaceChildren(...items);
  const estimate = await navigator.storage?.estimate?.().catch(() => null);
  const persisted = await navigator.storage?.persisted?.().catch(() => false);
  const files = attachmentUsage(state.chats);
  $("storage-usage").textContent = (estimate ? t(persisted ? "offline.usage_persistent" : "offline.usage",
    { used: formatBytes(estimate.usage), quota: formatBytes(estimate.quota) }) : "") +
    (files.count ? t("offline.attached", { count: files.count, size: formatBytes(files.bytes) }) : "");
}

// root.dataset.pythonStart: "snapshot" when this visit's Python started from the memory snapshot, else "fresh".
export function watchPythonStart() {
  const channel = new BroadcastChannel(START_CHANNEL);
  channel.onmessage = ({ data }) => {
    root.dataset.pythonStart = data.snapshot ? "snapshot" : "fresh";
    channel.close();
  };
}
