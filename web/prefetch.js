// The bundled model's files download while Python starts, and go to the worker as Blobs with the
// load request instead of being fetched after it. Which files each device needs comes from the
// catalog (the engine's own choice, written at build time); a wrong guess only means the worker
// fetches what it is missing itself.
import { formatBytes, ui } from "./dom.js";
import { state } from "./state.js";
import { showDownload, showProgress } from "./status.js";
import { t } from "./i18n.js";
import { MODEL_CACHE, cachedModelFiles, keepFetched } from "./offline.js";

async function guessDevice(choice) {
  if (choice === "wasm" || !navigator.gpu) return "wasm";
  const adapter = await navigator.gpu.requestAdapter().catch(() => null);
  return adapter ? "webgpu" : "wasm";
}

export function startPrefetch(modelId, choice) {
  const model = state.catalog.models.find((m) => m.id === modelId);
  if (!model?.fetched_files) return null;
  const controller = new AbortController();
  const progress = { loaded: 0, total: 0 };
  const files = (async () => {
    const device = await guessDevice(choice);
    const wanted = model.fetched_files[device];
    progress.total = wanted.reduce((sum, rel) => sum + (model.files[rel] ?? 0), 0);
    const cached = navigator.serviceWorker?.controller ? await cachedModelFiles() : new Map();
    return Promise.all(wanted.map(async (rel) => {
      const path = `models/${model.id}/${rel}`;
      let blob = await cachedBlob(cached, path, model.files[rel]);
      if (!blob) {
        blob = await download(path, controller.signal, (n) => {
          progress.loaded += n;
          if (!state.pythonReady) showProgress(null, t("progress.starting_python_model", { loaded: formatBytes(progress.loaded), total: formatBytes(progress.total) }));
        });
        keepFetched(path, blob);
      }
      return { path, blob };
    }));
  })();
  files.catch(() => {});  // a failed prefetch is not an error: the worker fetches and reports instead
  return { modelId, choice, controller, files, progress };
}

export function cancelPrefetch() {
  state.prefetch?.controller.abort();
  state.prefetch = null;
}

// The file as a Blob the browser stores itself (no copy of it held in the page's heap), counted as it comes.
async function download(path, signal, onBytes) {
  const response = await fetch(`./${path}`, { signal });
  if (!response.ok) throw new Error(`${path} answered ${response.status}`);
  const counted = new TransformStream({ transform(chunk, out) { onBytes(chunk.byteLength); out.enqueue(chunk); } });
  return new Response(response.body.pipeThrough(counted)).blob();
}

// A return visit: the weights the service worker keeps, as a Blob straight from its cache (no copy
// through the service worker or the page), if the entry carries the service worker's record that its
// sha256 was checked (web/sw.js) for a file of this size. Otherwise null: download (via the SW) instead.
async function cachedBlob(cached, path, size) {
  const request = cached.get(path);
  if (!request) return null;
  const response = await (await caches.open(MODEL_CACHE)).match(request);
  if (response?.headers.get("X-Pagellm-Verified-Size") !== String(size)) return null;
  return response.blob();
}

// The prefetched files for this load request, or [] when they are for another model or failed.
export async function takePrefetched(modelId, choice) {
  const prefetch = state.prefetch;
  state.prefetch = null;
  if (!prefetch) return [];
  if (prefetch.modelId !== modelId || prefetch.choice !== choice) {
    prefetch.controller.abort();
    return [];
  }
  const timer = setInterval(() => showProgress(prefetch.progress.total ? prefetch.progress.loaded / prefetch.progress.total : null,
    t("progress.downloading_model", { loaded: formatBytes(prefetch.progress.loaded), total: formatBytes(prefetch.progress.total) })), 100);
  try {
    return await prefetch.files;
  } catch {
    return [];
  } finally {
    clearInterval(timer);
  }
}

// The worker (python-boot.mjs) tells on a broadcast channel how the bundled model's download goes while
// Python starts (shown until the model is ready) and, on a first visit, hands over each file it downloaded,
// for the service worker to keep (offline.js).
export function watchWorkerDownloads() {
  if (typeof BroadcastChannel === "undefined") return;
  const channel = new BroadcastChannel("pagellm-download");
  channel.onmessage = ({ data }) => {
    if (data.blob) {
      keepFetched(data.path, data.blob);
      return;
    }
    const model = state.catalog?.models.find((m) => m.id === ui.model.value)?.name ?? ui.model.value;
    const stage = state.pythonReady ? t("progress.loading", { name: model }) : t("progress.starting_python");
    if (!state.modelReady) showDownload(stage, data.loaded, data.total);
  };
}
