// The page's boot: draw the saved chat at once, start Python in a PyScript worker, connect the
// protocol client (client.js) and load the model. What each part does lives in its own module:
// render.js draws, chats.js saves, intents.js talks to Python, settings-form.js keeps settings.
import { params, root, ui } from "./dom.js";
import { state } from "./state.js";
import { openStore } from "./store.js";
import { EngineClient } from "./client.js";
import { backendValue, chooseLocale, offerChoices, restoreSettings } from "./settings-form.js";
import { applySite, resolveSite } from "./site.js";
import { fail, setPageState, showError, showProgress } from "./status.js";
import { renderConversation } from "./render.js";
import { renderWelcome } from "./welcome.js";
import { currentChatId, emptyChat, openInPython, renderChatList } from "./chats.js";
import { branchIntent, loadModel, sendIfWaiting } from "./intents.js";
import { cancelPrefetch, startPrefetch, watchWorkerDownloads } from "./prefetch.js";
import { startServiceWorkerWhenQuiet, watchPythonStart } from "./offline.js";
import { bindEvents, useLocale } from "./bind.js";
import { DTYPE_FILES, ORT_BUILDS } from "./facts.js";
import { currentLocale, formatFixed, t } from "./i18n.js";

async function fetchJSON(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url} answered ${response.status}`);
  return response.json();
}

async function boot() {
  bindEvents();
  const saved = restoreSettings();
  await useLocale(chooseLocale(saved));
  showProgress(null, t("progress.starting_python"));  // index.html's first paint is English
  state.store = await openStore();
  if (!state.store.persistent) {
    ui.storeNote.textContent = t("chats.not_persistent", { reason: state.store.reason });
  }
  const current = currentChatId();
  state.conversation = (current && await state.store.get(current).catch(() => null)) || emptyChat();
  renderConversation();
  renderChatList();
  setPageState("booting");
  try {
    const [catalog, providers, config, site] = await Promise.all([fetchJSON("./models/catalog.json"),
      fetchJSON("./providers.json"), fetchJSON("./pyscript.json"), fetchJSON("./site.json")]);
    applySite(resolveSite(site));
    const locale = chooseLocale(saved, state.site);
    if (locale !== currentLocale()) await useLocale(locale);
    offerChoices(catalog, providers, saved);
    renderWelcome();
    startServiceWorkerWhenQuiet();
    watchPythonStart();
    showProgress(null, t("progress.starting_python"));
    // The bundled model: the worker loads it while Python starts (python-boot.mjs); for a model it cannot
    // plan, the page downloads the files meanwhile and hands them over with the load request.
    const siteModel = backendValue() === "local" && !state.useHub;
    const early = siteModel ? earlyLoad(ui.model.value, ui.deviceChoice.value) : null;
    watchWorkerDownloads();
    if (siteModel && !early) state.prefetch = startPrefetch(ui.model.value, ui.deviceChoice.value);
    state.client = await startWorker(config, early);
    await whenPythonReady(await nextEvent(state.client.send("init", { base: new URL("./", location.href).href, catalog })));
  } catch (err) {
    fail(t("error.could_not_start", { reason: err.message || err }));
  }
}

// A named worker script, as PyScript intends: Python runs off the main thread, and the page talks to
// it with plain messages (no SharedArrayBuffer needed, so any static host works).
async function startWorker(config, early) {
  // Absolute URLs: the worker runs from a blob: URL, so relative ones would not resolve.
  const here = (path) => new URL(path, location.href).href;
  // The interpreter module's query: what to load early, and whether to hand over what it downloads (a page
  // no service worker controls yet: python-boot.mjs).
  const query = new URLSearchParams();
  if (early) query.set("early", JSON.stringify(early));
  if (navigator.serviceWorker && !navigator.serviceWorker.controller) query.set("handover", "");
  config.interpreter = here(config.interpreter) + (query.size ? `?${query}` : "");
  config.files = Object.fromEntries(Object.entries(config.files ?? {}).map(([url, to]) => [here(url), to]));
  const script = Object.assign(document.createElement("script"), { type: "py", src: here("./worker.py") });
  script.setAttribute("worker", "");
  script.setAttribute("name", "pagellm-engine");
  script.setAttribute("config", JSON.stringify(config));
  document.body.append(script);
  await import("./pyscript/core.js");
  const worker = await waitFor(() => script.xworker);
  worker.onerror = (event) => fail(t("error.python_failed", { reason: event.message || event.error || event }));
  const client = new EngineClient(worker);
  await new Promise((resolve) => client.on("booted", resolve));
  return client;
}

// What the worker loads before Python starts (python-boot.mjs): the model, and per device the dtype,
// weights and ONNX Runtime build the engine (pagellm.local) would choose; null when there is none.
function earlyLoad(modelId, choice) {
  const model = state.catalog.models.find((m) => m.id === modelId);
  const devices = {};
  for (const [device, files] of Object.entries(model?.fetched_files ?? {})) {
    const weights = files.find((rel) => rel.startsWith("onnx/"));
    const dtype = Object.keys(DTYPE_FILES).find((d) => `onnx/${DTYPE_FILES[d]}` === weights);
    if (dtype && model.files?.[weights] && ORT_BUILDS[device]) {
      devices[device] = { dtype, weights, size: model.files[weights], ortBuild: ORT_BUILDS[device],
        sessionOptions: model.session_options?.[device] ?? {} };
    }
  }
  if (!devices.wasm) return null;
  return { base: new URL("./", location.href).href, model: modelId, choice, devices,
    threads: params.has("threads") ? Number(params.get("threads")) : null };
}

async function nextEvent(events) {
  for await (const event of events) return event;
  throw new Error("the worker ended the request without answering");
}

async function whenPythonReady(event) {
  if (event.kind === "error") throw new Error(event.message);
  state.pythonReady = true;
  performance.mark("pagellm:python-ready");
  showProgress(1, t("progress.python_ready", { seconds: formatFixed(performance.now() / 1000, 1) }));
  root.dataset.webgpu = event.webgpu ? "available" : "unavailable";
  if (!event.webgpu) {
    const option = ui.deviceChoice.querySelector("option[value=webgpu]");
    option.dataset.i18n = "device.webgpu_unavailable";  // kept when the language changes
    option.textContent = t(option.dataset.i18n);
  }
  await openInPython();
  if (!state.conversation.messages.length && ui.systemPrompt.value !== (state.conversation.system_prompt || "")) {
    await branchIntent("set-system-prompt", { text: ui.systemPrompt.value });  // typed while Python started
  }
  if (backendValue() === "local") loadModel();
  else {
    cancelPrefetch();  // remote chat: the bundled model is not needed now
    setPageState("ready");
    sendIfWaiting();
  }
}

async function waitFor(get, timeout = 10_000) {
  for (const started = performance.now(); performance.now() - started < timeout;) {
    const value = get();
    if (value) return value;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error("PyScript did not start the worker.");
}

// The content security policy blocked something (an injected script, a request to a host it does not
// allow): say so in the page, since a <meta> policy has no report endpoint.
document.addEventListener("securitypolicyviolation", (event) => {
  const what = event.blockedURI === "inline" ? t("csp.inline") : event.blockedURI || t("csp.resource");
  showError(t("csp.blocked", { what, directive: event.effectiveDirective }));
  root.dataset.cspViolations = String(Number(root.dataset.cspViolations || 0) + 1);
});

window.addEventListener("error", (event) => {
  if (root.dataset.state === "booting") fail(t("error.could_not_start", { reason: event.message }));
});
boot();
