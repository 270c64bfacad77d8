// The page's view: binds the DOM to the Python worker that owns the conversation and the engines.
// It renders what Python sends, saves it, and forwards what the user does. No model logic lives here.
import { marked } from "./vendor/marked.esm.js";
import DOMPurify from "./vendor/purify.es.mjs";
import { openStore } from "./store.js";
import { addCodeRunners, toolCall, toolsFor } from "./sandbox.js";
import { searchChats } from "./search.js";

const $ = (id) => document.getElementById(id);
const root = document.documentElement;
const params = new URLSearchParams(location.search);
const store = window.localStorage;
const CURRENT_KEY = "pagellm:current";
const SETTINGS_KEY = "pagellm:settings";
const KEYS_KEY = "pagellm:keys";

const ui = {
  prompt: $("prompt"), send: $("send"), stop: $("stop"), messages: $("messages"), stats: $("stats"),
  error: $("error"), errorText: $("error-text"), progress: $("progress"), progressText: $("progress-text"),
  model: $("local-model"), device: $("device"), deviceChoice: $("device-choice"), deviceNote: $("device-note"),
  provider: $("provider"), baseUrl: $("remote-base-url"), apiKey: $("remote-api-key"), remoteModel: $("remote-model"),
  rememberKey: $("remember-key"), backend: $("backend"), title: $("chat-title"),
  context: $("context"), contextMeter: $("context-meter"), contextText: $("context-text"),
  contextNotice: $("context-notice"), summaryChat: $("summary-chat"),
  search: $("chat-search"), searchResults: $("search-results"),
};
const settingFields = {
  temperature: $("temperature"), max_new_tokens: $("max-tokens"), top_p: $("top-p"), top_k: $("top-k"),
  repetition_penalty: $("repetition-penalty"), seed: $("seed"),
};

const state = {
  worker: null, pythonReady: false, modelReady: false, busy: false,
  catalog: null, providers: [], conversation: null, streaming: null, context: null, lastSaved: 0, store: null, chats: [],
  afterReply: null,     // what to do once the reply in progress has stopped (an edit saved meanwhile)
  focus: null,          // the message to show once the chat is drawn (a search result)
  keys: new Map(),      // base URL -> API key, in memory; a key is only ever shown for its own URL
  prefetch: null,       // the bundled model's files, downloading while Python starts
};

// ---------------------------------------------------------------------------------------------
// Rendering: model text is markdown made safe by DOMPurify. Nothing the model writes can load a
// resource or run script: images, media, forms, frames and styles are removed before insertion.
const PURIFY = {
  FORBID_TAGS: ["img", "style", "form", "input", "button", "iframe", "video", "audio", "source", "picture",
    "svg", "math", "object", "embed", "link", "meta", "base", "textarea", "select"],
  FORBID_ATTR: ["style", "srcset", "src", "action", "formaction", "background", "poster"],
  ALLOW_DATA_ATTR: false,
};
marked.use({ gfm: true, breaks: true });

function renderMarkdown(text) {
  const html = DOMPurify.sanitize(marked.parse(text), PURIFY);
  const fragment = document.createElement("div");
  fragment.innerHTML = html;
  for (const link of fragment.querySelectorAll("a")) {
    link.target = "_blank";
    link.rel = "noopener noreferrer nofollow";
  }
  for (const pre of fragment.querySelectorAll("pre")) {
    const copy = document.createElement("button");
    copy.type = "button";
    copy.className = "copy-code";
    copy.textContent = "Copy";
    copy.addEventListener("click", () => copyText(pre.querySelector("code")?.textContent ?? pre.textContent, copy));
    pre.append(copy);
  }
  return fragment.childNodes;
}

function copyText(text, button) {
  navigator.clipboard?.writeText(text).then(
    () => { button.textContent = "Copied"; setTimeout(() => (button.textContent = "Copy"), 1200); },
    () => showError("The browser did not allow copying to the clipboard."),
  );
}

function messageElement(role, status = "complete") {
  const item = $("message-template").content.firstElementChild.cloneNode(true);
  item.dataset.role = role;
  item.dataset.status = status;
  item.querySelector(".role").textContent = { user: "You", assistant: "Assistant", system: "System", error: "Error" }[role];
  return item;
}

function fillContent(item, message) {
  const content = item.querySelector(".content");
  if (item.dataset.role === "assistant") {
    const parts = [];
    if (message.meta?.reasoning) {
      const details = document.createElement("details");
      details.className = "reasoning";
      details.innerHTML = "<summary>Reasoning</summary>";
      details.append(document.createTextNode(message.meta.reasoning));
      parts.push(details);
    }
    content.replaceChildren(...parts, ...renderMarkdown(message.content));
  } else {
    content.style.whiteSpace = "pre-wrap";
    content.textContent = message.content;
  }
  addCodeRunners(item, message);  // Run under Python blocks, a reply's tool calls (sandbox.js)
}

// The visible path, as Python's `view` lists it (ids, places among siblings); a chat in the version 1
// saved form has no view yet: its messages are the path, drawn without branch actions until Python
// has read it (the `open` intent).
function pathOf(conversation) {
  if (!conversation.view) return conversation.messages.map((message) => ({ message }));
  const byId = new Map(conversation.messages.map((m) => [m.id, m]));
  return conversation.view.map((entry) => ({ ...entry, message: byId.get(entry.id) })).filter((e) => e.message);
}

function renderConversation() {
  const conversation = state.conversation;
  const items = [];
  for (const entry of pathOf(conversation)) {
    const { message } = entry;
    if (message.content || message.status !== "error") {
      const item = messageElement(message.role, message.status);
      if (entry.id) item.dataset.messageId = entry.id;
      fillContent(item, message);
      if (entry.count > 1) item.querySelector(".message-head").append(branchNavigator(entry));
      addActions(item, message, entry);
      items.push(item);
    }
    if (message.meta?.error) {
      const notice = messageElement("error");
      notice.querySelector(".content").textContent = message.meta.error;
      items.push(notice);
    }
  }
  ui.messages.replaceChildren(...items);
  ui.title.textContent = conversation.title || "New chat";
  // An edit that was refused (bad settings, no model yet) stays open with its text.
  const draft = !state.busy && state.editDraft;
  const draftItem = draft && ui.messages.querySelector(`[data-message-id="${CSS.escape(draft.id)}"]`);
  if (draftItem) {
    startEdit(draftItem, conversation.messages.find((m) => m.id === draft.id), draft.id);
    draftItem.querySelector("[data-testid=edit-text]").value = draft.text;
  }
  const focus = state.focus && ui.messages.querySelector(`[data-message-id="${CSS.escape(state.focus)}"]`);
  state.focus = null;
  if (focus) {
    focus.dataset.found = "true";
    focus.scrollIntoView({ block: "center" });
  } else scrollToEnd();
}

function button(label, testid, onClick, title = "") {
  const b = Object.assign(document.createElement("button"), { type: "button", textContent: label, title });
  b.dataset.testid = testid;
  b.addEventListener("click", onClick);
  return b;
}

// ‹ 2/3 ›: this message's place among its versions (edits, other replies).
function branchNavigator(entry) {
  const nav = Object.assign(document.createElement("span"), { className: "branch" });
  const prev = button("‹", "branch-prev", () => branchIntent("switch", { message_id: entry.id, step: -1 }), "Previous version");
  const next = button("›", "branch-next", () => branchIntent("switch", { message_id: entry.id, step: 1 }), "Next version");
  prev.disabled = entry.index <= 1;
  next.disabled = entry.index >= entry.count;
  const index = Object.assign(document.createElement("span"), { textContent: `${entry.index}/${entry.count}` });
  index.dataset.testid = "branch-index";
  nav.append(prev, index, next);
  return nav;
}

function addActions(item, message, entry) {
  const actions = item.querySelector(".message-actions");
  if (message.role === "system") return;
  actions.append(button("Copy", "copy", (event) => copyText(message.content, event.currentTarget), "Copy as markdown"));
  if (!entry.id) return;  // not read by Python yet: no branch actions
  if (message.role === "user") actions.append(button("Edit", "edit", () => startEdit(item, message, entry.id)));
  if (message.role === "assistant") {
    actions.append(button("Regenerate", "regenerate", () => generate("regenerate", { message_id: entry.id })));
    if (entry.continuable) actions.append(button("Continue", "continue", () => generate("continue", { message_id: entry.id })));
  }
  actions.append(button("Delete", "delete-message", () => deleteMessage(message, entry.id), "Delete this message and what follows"));
}

// Editing a message in place: saving sends the new version as a new branch (the old one stays).
function startEdit(item, message, id) {
  if (item.querySelector("[data-testid=edit-text]")) return;
  const content = item.querySelector(".content");
  const editor = Object.assign(document.createElement("textarea"), { value: message.content, rows: 3, className: "edit-text" });
  editor.dataset.testid = "edit-text";
  const cancel = () => { state.editDraft = null; renderConversation(); };
  const save = () => {
    const text = editor.value;
    if (!text.trim()) return showError("An edited message cannot be empty: type some text, or delete the message.");
    const submit = () => { state.editDraft = { id, text }; generate("edit", { message_id: id, text }); };
    if (state.busy) {
      state.afterReply = submit;
      stop();
      showError("The reply in progress was stopped to send your edit.");
    } else submit();
  };
  editor.addEventListener("keydown", (event) => {
    if (event.key === "Escape") { event.preventDefault(); event.stopPropagation(); cancel(); }
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { event.preventDefault(); save(); }
  });
  const buttons = Object.assign(document.createElement("div"), { className: "edit-buttons" });
  buttons.append(button("Save & send", "edit-save", save), button("Cancel", "edit-cancel", cancel));
  content.replaceChildren(editor, buttons);
  editor.focus();
}

function deleteMessage(message, id) {
  if (state.busy) return showError("Stop the reply in progress before deleting a message.");
  const what = message.role === "user" ? "this message and everything after it" : "this reply and everything after it";
  if (!confirm(`Delete ${what} (this version only)?`)) return;
  branchIntent("delete", { message_id: id });
}

function scrollToEnd() {
  const list = ui.messages;
  if (list.scrollHeight - list.scrollTop - list.clientHeight < 120 || !state.streaming) list.scrollTop = list.scrollHeight;
}

// ---------------------------------------------------------------------------------------------
// Saved state. Keys are never part of it unless the user ticked "remember on this device".
function newConversation() {
  return { version: 2, id: crypto.randomUUID?.() ?? String(Date.now()), title: "", system_prompt: systemPromptText(),
    messages: [], view: [] };
}
function systemPromptText() { return $("system-prompt").value; }

function loadJSON(key) {
  try { return JSON.parse(store.getItem(key)); } catch { return null; }
}
function saveJSON(key, value) {
  try { store.setItem(key, JSON.stringify(value)); } catch (err) {
    showError(`Could not save in this browser (${err.name}): the chat works but will not survive a reload.`);
  }
}

// Saving a chat counts as using it (`used`, seconds): the list shows the most recently used first.
async function saveConversation(conversation = state.conversation, { use = true } = {}) {
  store.setItem(CURRENT_KEY, conversation.id);
  if (!conversation.messages.length) return;  // an empty chat is not worth a list entry
  if (use) conversation.used = Date.now() / 1000;
  try {
    await state.store.put(conversation);
  } catch (err) {
    showError(`Could not save the chat (${err.name || err}): it stays on screen but may not survive a reload.` +
      (err.name === "QuotaExceededError" ? " The browser's storage for this site is full: delete old chats or cached " +
        "models, or keep a copy with Export all." : ""));
  }
  await renderChatList();
}

async function renderChatList() {
  state.chats = await state.store.list();
  const items = state.chats.map((chat) => {
    const item = document.createElement("li");
    item.dataset.testid = "chat-item";
    item.dataset.pinned = String(!!chat.pinned);
    item.setAttribute("aria-current", String(chat.id === state.conversation.id));
    const open = document.createElement("button");
    open.type = "button";
    open.textContent = chat.title || "Untitled chat";
    open.title = open.textContent;
    open.addEventListener("click", () => switchChat(chat.id));
    // A checkbox, not a button: the chat's one button opens it.
    const pin = Object.assign(document.createElement("input"), { type: "checkbox", checked: !!chat.pinned, className: "pin" });
    pin.dataset.testid = "pin-chat";
    pin.setAttribute("aria-label", `Pin "${open.textContent}" to the top`);
    pin.addEventListener("change", () => setPinned(chat.id, pin.checked));
    item.append(open, pin);
    return item;
  });
  $("chat-list").replaceChildren(...items);
  if (ui.search.value.trim()) runSearch();
}

async function setPinned(id, pinned) {
  const chat = id === state.conversation.id ? state.conversation : await state.store.get(id);
  if (!chat) return;
  chat.pinned = pinned;
  await saveConversation(chat, { use: false });
  if (chat !== state.conversation) store.setItem(CURRENT_KEY, state.conversation.id);
}

// Open a saved chat; `at` is the index of a message in its saved messages (a search result), shown
// with its branch. Python reads the chat (and rewrites an older saved form) before it is changed.
async function switchChat(id, { at = null } = {}) {
  if (state.busy) return showError("Stop the reply in progress before switching chats.");
  const chat = await state.store.get(id);
  if (!chat) return;
  state.editDraft = null;
  state.conversation = chat;
  $("system-prompt").value = chat.system_prompt || "";
  state.context = null;
  showContext(null);
  renderConversation();
  await saveConversation(chat);
  openInPython(at);
}

function openInPython(at = null) {
  if (state.pythonReady && (at != null || state.conversation.version !== 2)) {
    post({ type: "open", conversation: state.conversation, at });
  }
}

// While a reply streams, keep a copy with the text so far (the reply is saved marked "interrupted"
// until it ends): a reload mid-reply then shows what came.
function savePartial() {
  const now = performance.now();
  if (now - state.lastSaved < 400) return;
  state.lastSaved = now;
  const s = state.streaming;
  saveConversation({ ...state.conversation, messages: state.conversation.messages.map((m) => m.id !== s.id ? m :
    { ...m, content: s.text, status: "interrupted", meta: { ...m.meta, ...(s.reasoning ? { reasoning: s.reasoning } : {}) } }) });
}

// ---------------------------------------------------------------------------------------------
// Search across every saved chat (titles and messages of every branch).
function runSearch() {
  const query = ui.search.value;
  const started = performance.now();
  const results = searchChats(state.chats, query);
  ui.searchResults.dataset.ms = (performance.now() - started).toFixed(1);
  ui.searchResults.hidden = !query.trim();
  const items = results.map((result) => {
    const item = document.createElement("li");
    item.dataset.testid = "search-result";
    const open = document.createElement("button");
    open.type = "button";
    const title = Object.assign(document.createElement("strong"), { textContent: result.title });
    const line = Object.assign(document.createElement("span"), { className: "line", textContent: result.line });
    open.append(title, line);
    open.addEventListener("click", () => switchChat(result.chatId, { at: result.at }));
    item.append(open);
    return item;
  });
  if (query.trim() && !items.length) {
    items.push(Object.assign(document.createElement("li"), { className: "hint", textContent: "No chat holds this text." }));
  }
  ui.searchResults.replaceChildren(...items);
}

function readSettingsForm() {
  const settings = {};
  for (const [name, input] of Object.entries(settingFields)) {
    if (input.value !== "") settings[name] = input.value;
  }
  return settings;
}

function saveSettings() {
  const saved = {
    backend: backendValue(), model: ui.model.value, device: ui.deviceChoice.value, provider: ui.provider.value,
    base_url: ui.baseUrl.value, remote_model: ui.remoteModel.value, system_prompt: systemPromptText(),
    remember_key: ui.rememberKey.checked, form: readSettingsForm(),
    hub_base_url: $("hub-base-url").value, hub_model_id: $("hub-model-id").value, use_hub: !!state.useHub,
  };
  saveJSON(SETTINGS_KEY, saved);
  if (ui.rememberKey.checked) saveJSON(KEYS_KEY, Object.fromEntries(state.keys));
  else store.removeItem(KEYS_KEY);
}

function restoreSettings() {
  const saved = loadJSON(SETTINGS_KEY) || {};
  if (saved.form) for (const [name, value] of Object.entries(saved.form)) if (settingFields[name]) settingFields[name].value = value;
  if (saved.system_prompt) $("system-prompt").value = saved.system_prompt;
  if (saved.device) ui.deviceChoice.value = saved.device;
  ui.rememberKey.checked = !!saved.remember_key;
  $("hub-base-url").value = saved.hub_base_url || "";
  $("hub-model-id").value = saved.hub_model_id || "";
  state.useHub = !!saved.use_hub && !params.get("model");
  for (const [url, key] of Object.entries(loadJSON(KEYS_KEY) || {})) state.keys.set(url, key);
  setBackend(params.get("backend") || saved.backend || "local");
  if (params.get("device")) ui.deviceChoice.value = params.get("device");
  return saved;
}

// ---------------------------------------------------------------------------------------------
// Backend switch and remote settings.
function backendValue() { return ui.backend.getAttribute("value"); }

function setBackend(value) {
  ui.backend.setAttribute("value", value);
  ui.backend.textContent = value;
  document.body.dataset.backend = value;
  for (const radio of document.querySelectorAll("input[name=backend-choice]")) radio.checked = radio.value === value;
}

function normalisedUrl(url) { return url.trim().replace(/\/+$/, ""); }

function showKeyForUrl() {
  ui.apiKey.value = state.keys.get(normalisedUrl(ui.baseUrl.value)) || "";
}

function applyProvider(id, { keepUrl = false } = {}) {
  const preset = state.providers.find((p) => p.id === id) || state.providers.at(-1);
  if (!preset) return;
  ui.provider.value = preset.id;
  if (!keepUrl || !ui.baseUrl.value) ui.baseUrl.value = preset.base_url || "";
  if (!keepUrl || !ui.remoteModel.value) ui.remoteModel.value = preset.example_model || "";
  const key = { required: "Needs an API key.", optional: "A key is optional.", none: "No key needed." }[preset.key] ?? "";
  $("provider-note").textContent = [key, preset.notes || ""].join(" ").trim();
  showKeyForUrl();
}

function backendConfig() {
  if (backendValue() === "local") {
    return { kind: "local", model: ui.model.value, device: ui.deviceChoice.value };
  }
  const base_url = ui.baseUrl.value.trim();
  return { kind: "remote", provider: ui.provider.value, base_url, model: ui.remoteModel.value.trim(),
    api_key: state.keys.get(normalisedUrl(base_url)) || "" };
}

// ---------------------------------------------------------------------------------------------
// Errors, progress, state.
function showError(message) {
  ui.errorText.textContent = message;
  ui.error.hidden = false;
}
function clearError() {
  ui.error.hidden = true;
  ui.errorText.textContent = "";
  for (const input of document.querySelectorAll("[aria-invalid=true]")) input.removeAttribute("aria-invalid");
}

function setPageState(value) {
  root.dataset.state = value;
  const canSend = state.pythonReady && !state.busy && (backendValue() === "remote" || state.modelReady);
  ui.send.disabled = !canSend;
  ui.stop.disabled = !state.busy;
}

function showProgress(fraction, text) {
  if (fraction == null) ui.progress.removeAttribute("value");
  else ui.progress.value = Math.max(0, Math.min(1, fraction));
  ui.progressText.textContent = text;
}

function formatBytes(n) {
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${Math.round(n / 1e3)} kB`;
}

function showStats(final) {
  if (!final) { ui.stats.textContent = ""; return; }
  const parts = [`${final.completion_tokens} tokens`];
  if (final.time_to_first_token != null) parts.push(`first token ${final.time_to_first_token.toFixed(2)} s`);
  if (final.tokens_per_second != null) parts.push(`${final.tokens_per_second.toFixed(1)} tok/s`);
  if (final.reused_tokens) parts.push(`${final.reused_tokens} of ${final.prompt_tokens} prompt tokens reused`);
  if (final.finish_reason === "cancelled") parts.push("stopped");
  else if (final.finish_reason === "length") parts.push("hit the token limit");
  ui.stats.textContent = parts.join(" · ");
  ui.stats.dataset.reusedTokens = final.reused_tokens ?? "";
  ui.stats.dataset.tokens = final.completion_tokens;
  ui.stats.dataset.promptTokens = final.prompt_tokens ?? "";
  ui.stats.dataset.finishReason = final.finish_reason;
}

// How much of the model's context the chat takes: shown after each turn (local engine), with a warning
// as it fills and a notice naming how many old messages the model no longer reads.
function showContext(context) {
  if (!context) { ui.context.hidden = true; return; }
  const { used, limit, left_out: leftOut } = context;
  const share = Math.min(1, used / limit);
  ui.context.hidden = false;
  ui.contextMeter.value = share;
  ui.contextMeter.dataset.used = used;
  ui.contextMeter.dataset.limit = limit;
  ui.context.dataset.level = leftOut > 0 ? "full" : share >= 0.75 ? "warn" : "ok";
  const numbers = new Intl.NumberFormat();
  ui.contextText.textContent = `${numbers.format(used)} / ${numbers.format(limit)} tokens` +
    (share >= 0.75 && !leftOut ? " — the context is filling up" : "");
  ui.contextNotice.hidden = !leftOut;
  ui.contextNotice.textContent = leftOut
    ? `The ${leftOut === 1 ? "oldest message no longer fits" : `${leftOut} oldest messages no longer fit`} in the model's context: it did not read ${leftOut === 1 ? "it" : "them"}.`
    : "";
  ui.summaryChat.hidden = share < 0.75 && !leftOut;
}

// ---------------------------------------------------------------------------------------------
// The bundled model's files download while Python starts: the two used to run one after the other.
// The worker gets them as Blobs with its load request and reads them instead of fetching. Which files
// each device needs comes from the catalog (the engine's own choice, written at build time); a wrong
// guess only means the worker fetches what it is missing itself.
async function guessDevice(choice) {
  if (choice === "wasm" || !navigator.gpu) return "wasm";
  const adapter = await navigator.gpu.requestAdapter().catch(() => null);
  return adapter ? "webgpu" : "wasm";
}

function startPrefetch(modelId, choice) {
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
      const blob = await cachedBlob(cached, path, model.files[rel]) ?? await download(path, controller.signal, (n) => {
        progress.loaded += n;
        if (!state.pythonReady) showProgress(null, `Starting Python… (model: ${formatBytes(progress.loaded)} of ${formatBytes(progress.total)})`);
      });
      return { path, blob };
    }));
  })();
  files.catch(() => {});  // a failed prefetch is not an error: the worker fetches and reports instead
  return { modelId, choice, controller, files, progress };
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
async function takePrefetched(modelId, choice) {
  const prefetch = state.prefetch;
  state.prefetch = null;
  if (!prefetch) return [];
  if (prefetch.modelId !== modelId || prefetch.choice !== choice) {
    prefetch.controller.abort();
    return [];
  }
  const timer = setInterval(() => showProgress(prefetch.progress.total ? prefetch.progress.loaded / prefetch.progress.total : null,
    `Downloading model — ${formatBytes(prefetch.progress.loaded)} of ${formatBytes(prefetch.progress.total)}`), 100);
  try {
    return await prefetch.files;
  } catch {
    return [];
  } finally {
    clearInterval(timer);
  }
}

// ---------------------------------------------------------------------------------------------
// Talking to the worker.
function post(message) {
  state.worker.postMessage(JSON.stringify(message));
}

const handlers = {
  // The model called a page tool: approval and the sandbox run happen here, the result goes back to Python.
  async "tool-call"(msg) {
    const result = await toolCall(msg, { item: state.streaming?.item, conversationId: state.conversation.id });
    post({ type: "tool-result", id: msg.id, ...result });
  },
  ready(msg) {
    state.pythonReady = true;
    performance.mark("pagellm:python-ready");
    showProgress(1, `Python ready in ${(performance.now() / 1000).toFixed(1)} s`);
    root.dataset.webgpu = msg.webgpu ? "available" : "unavailable";
    if (!msg.webgpu) ui.deviceChoice.querySelector("option[value=webgpu]").textContent = "WebGPU (not available here)";
    openInPython();
    if (backendValue() === "local") loadModel();
    else {
      state.prefetch?.controller.abort();  // remote chat: the bundled model is not needed now
      state.prefetch = null;
      setPageState("ready");
    }
  },
  progress(msg) {
    const done = msg.total ? ` — ${formatBytes(msg.loaded)} of ${formatBytes(msg.total)}` : "";
    showProgress(msg.fraction, `${msg.stage}${done}`);
  },
  loaded(msg) {
    state.modelReady = true;
    performance.mark("pagellm:model-ready");
    state.loadedModel = { model: msg.model, dtype: msg.dtype };
    saveSettings();
    keepLoadedModel();
    ui.device.textContent = msg.device;
    ui.deviceNote.textContent = `(${msg.dtype})${msg.notice ? " — " + msg.notice : ""}`;
    showProgress(1, `${msg.name} ready (${msg.seconds.toFixed(1)} s)`);
    setPageState("ready");
  },
  // Python took the request: the conversation holds the reply being written (empty, or the cut reply
  // being continued), which streams into its place.
  accepted(msg) {
    state.conversation = msg.conversation;
    if (state.sending === "send") ui.prompt.value = "";
    state.editDraft = null;
    saveConversation();
    renderConversation();
    const item = ui.messages.querySelector(`[data-message-id="${CSS.escape(msg.reply)}"]`);
    const reply = state.conversation.messages.find((m) => m.id === msg.reply);
    item.dataset.streaming = "true";
    item.dataset.status = "complete";
    item.querySelector(".message-actions").replaceChildren();
    state.streaming = { id: msg.reply, item, text: reply.content, reasoning: "", frame: 0, updates: 0 };
    scrollToEnd();
  },
  // A change that needs no model (switch branch, delete, open): save it and draw it.
  changed(msg) {
    state.conversation = msg.conversation;
    state.focus = msg.focus;
    saveConversation(state.conversation, { use: false });
    renderConversation();
  },
  context(msg) {
    state.context = msg;
    showContext(msg);
  },
  reading(msg) {
    const s = state.streaming;
    if (!s) return;
    const numbers = new Intl.NumberFormat();
    const note = s.item.querySelector(".content");
    note.replaceChildren(Object.assign(document.createElement("span"), {
      className: "reading", textContent: `Reading ${numbers.format(msg.done)} / ${numbers.format(msg.total)} tokens…`,
    }));
    s.item.dataset.reading = `${msg.done}/${msg.total}`;
  },
  delta(msg) {
    const s = state.streaming;
    if (!s) return;
    if (!s.text && !s.reasoning) performance.mark("pagellm:first-token");
    if (msg.kind === "reasoning") s.reasoning += msg.text; else s.text += msg.text;
    if (!s.frame) {
      s.frame = requestAnimationFrame(() => {
        s.frame = 0;
        s.updates += 1;
        s.item.dataset.updates = s.updates;
        fillContent(s.item, { content: s.text, meta: { reasoning: s.reasoning } });
        scrollToEnd();
      });
    }
    savePartial();
  },
  done(msg) {
    performance.mark("pagellm:reply-done");
    finishReply(msg.conversation);
    showStats(msg.final);
    if (state.context && msg.final) {
      showContext({ ...state.context, used: state.context.used + msg.final.completion_tokens });
    }
  },
  summary(msg) {
    showProgress(1, "Summary written");
    const previous = state.conversation;
    state.conversation = {
      ...newConversation(), title: `Summary: ${previous.title || "chat"}`.slice(0, 60),
      system_prompt: `${previous.system_prompt ? previous.system_prompt + "\n\n" : ""}Summary of an earlier chat:\n${msg.text}`,
    };
    $("system-prompt").value = state.conversation.system_prompt;
    saveConversation();
    renderConversation();
    renderChatList();
    state.context = null;
    showContext(null);
    state.busy = false;
    setPageState("ready");
  },
  error(msg) {
    showError(msg.message);
    if (msg.field) {
      const input = msg.field === "max_new_tokens" ? $("max-tokens") : settingFields[msg.field] || $(msg.field);
      input?.setAttribute("aria-invalid", "true");
    }
    if (msg.stage === "load") {
      state.modelReady = false;
      showProgress(0, "Model not loaded");
      setPageState("error");
      return;
    }
    if (msg.conversation) finishReply(msg.conversation);
    else if (state.busy) finishReply(state.conversation);
    setPageState(state.pythonReady && (state.modelReady || backendValue() === "remote") ? "ready" : "error");
  },
  plan(msg) {
    const verdict = { ok: "fits", warn: "may not fit", refuse: "will not fit" }[msg.verdict];
    $("model-plan").textContent = `${msg.model}: ${msg.dtype} weights, ${formatBytes(msg.download_bytes)} to download; ${msg.reason} — ${verdict}.`;
  },
  confirm(msg) {
    const ok = confirm(`Download ${formatBytes(msg.plan.download_bytes)} for ${msg.model}? It ${msg.plan.reason}.`);
    if (ok) post({ ...msg.request, confirmed: true });
    else { showProgress(0, "Download cancelled"); setPageState(state.modelReady ? "ready" : "error"); }
  },
  folder(msg) {
    $("model-plan").textContent = `${msg.files} files received from the folder.`;
    post({ type: "load", folder: true, device: ui.deviceChoice.value });
  },
  async imported(msg) {
    try {
      await state.store.putAll(msg.conversations);
    } catch (err) {
      return showError(`Nothing was imported: the browser could not save the chats (${err?.name || err}).`);
    }
    $("store-note").textContent = msg.summary;
    if (msg.conversations.length) await switchChat(msg.conversations[0].id);
    else await renderChatList();
  },
  exported(msg) {
    const type = msg.format === "markdown" ? "text/markdown" : "application/json";
    const link = Object.assign(document.createElement("a"), {
      href: URL.createObjectURL(new Blob([msg.text], { type })),
      download: `${msg.name}.${msg.format === "markdown" ? "md" : "json"}`,
    });
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  },
  models(msg) {
    $("remote-model-list").replaceChildren(...msg.ids.map((id) => Object.assign(document.createElement("option"), { value: id })));
    $("connection-status").textContent = msg.ids.length ? `Connected: ${msg.ids.length} model(s) offered.` : "Connected.";
    if (!ui.remoteModel.value && msg.ids.length) ui.remoteModel.value = msg.ids[0];
  },
};

function finishReply(conversation) {
  if (state.streaming?.frame) cancelAnimationFrame(state.streaming.frame);
  // How many times the streamed reply was redrawn: tests read it to see that text really streamed.
  if (state.streaming) ui.stats.dataset.updates = state.streaming.updates;
  state.streaming = null;
  state.busy = false;
  state.conversation = conversation;
  saveConversation();
  renderConversation();
  setPageState("ready");
  const next = state.afterReply;
  state.afterReply = null;
  next?.();
}

async function loadModel({ confirmed = false } = {}) {
  if (!state.pythonReady) return;
  clearError();
  state.modelReady = false;
  const hubId = $("hub-model-id").value.trim();
  if (hubId && state.useHub) {
    setPageState("loading-model");
    showProgress(null, `Checking ${hubId} on the Hub…`);
    post({ type: "load", hub: { id: hubId, host: $("hub-base-url").value.trim() },
      device: ui.deviceChoice.value, confirmed });
    return;
  }
  const model = state.catalog.models.find((m) => m.id === ui.model.value);
  setPageState("loading-model");
  showProgress(0, `Loading ${model?.name ?? ui.model.value}…`);
  const files = await takePrefetched(ui.model.value, ui.deviceChoice.value);
  if (files.length) state.worker.postMessage({ type: "prefetched", files });  // Blobs: structured clone
  post({ type: "load", model: ui.model.value, device: ui.deviceChoice.value,
    threads: params.has("threads") ? Number(params.get("threads")) : null });
}

// Intents that end in a reply (send, edit, regenerate, continue): Python changes the conversation and
// streams the answer; the page only says what the user did.
function generate(type, extra = {}) {
  if (state.busy || ui.send.disabled) return;
  clearError();
  state.busy = true;
  state.sending = type;
  setPageState("generating");
  state.conversation.system_prompt = systemPromptText();
  const backend = backendConfig();
  post({ type, conversation: state.conversation, settings: readSettingsForm(), backend, tools: toolsFor(backend), ...extra });
}

function send() {
  if (ui.send.disabled) return;
  generate("send", { text: ui.prompt.value });
}

// Intents without a model (switch a branch, delete): answered by `changed`.
function branchIntent(type, extra) {
  if (state.busy) return showError("Stop the reply in progress first.");
  if (!state.pythonReady) return showError("Python is still starting: try again in a moment.");
  clearError();
  post({ type, conversation: state.conversation, ...extra });
}

// Up arrow in an empty prompt: edit the last message you sent.
function editLastMessage() {
  const items = ui.messages.querySelectorAll("[data-role=user][data-message-id]");
  const item = items[items.length - 1];
  item?.querySelector("[data-testid=edit]")?.click();
  return !!item;
}

function stop() {
  if (state.busy) post({ type: "stop" });
}

function newChat() {
  if (state.busy) stop();
  state.conversation = newConversation();
  state.editDraft = null;
  saveConversation();
  renderConversation();
  renderChatList();
  showStats(null);
  state.context = null;
  showContext(null);
  ui.prompt.focus();
}

// A new chat that starts from a summary of this one, written by the model in use.
function summaryChat() {
  if (state.busy || ui.send.disabled) return;
  clearError();
  state.busy = true;
  setPageState("generating");
  showProgress(null, "Writing a summary of this chat…");
  post({ type: "summarize", conversation: state.conversation, settings: readSettingsForm(), backend: backendConfig() });
}

// ---------------------------------------------------------------------------------------------
// Wiring.
function bindEvents() {
  $("composer").addEventListener("submit", (event) => { event.preventDefault(); send(); });
  ui.summaryChat.addEventListener("click", summaryChat);
  ui.prompt.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { event.preventDefault(); send(); }
    if (event.key === "ArrowUp" && !ui.prompt.value && !state.busy && editLastMessage()) event.preventDefault();
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && state.busy) { event.preventDefault(); stop(); }
    if (event.key.toLowerCase() === "k" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      ui.search.focus();
      ui.search.select();
    }
  });
  ui.search.addEventListener("input", () => {
    clearTimeout(state.searchTimer);
    state.searchTimer = setTimeout(runSearch, 60);
  });
  ui.search.addEventListener("keydown", (event) => {
    if (event.key === "Escape") { ui.search.value = ""; runSearch(); }
    if (event.key === "Enter") ui.searchResults.querySelector("button")?.click();
  });
  ui.stop.addEventListener("click", stop);
  $("new-chat").addEventListener("click", newChat);
  $("error-close").addEventListener("click", clearError);
  $("load-model").addEventListener("click", () => {
    state.useHub = !!$("hub-model-id").value.trim();  // a Hub id typed in means: load that one
    loadModel();
  });
  ui.model.addEventListener("change", () => { state.useHub = false; saveSettings(); loadModel(); });
  $("local-folder").addEventListener("change", (event) => {
    const files = [...event.target.files].map((file) => ({ path: file.webkitRelativePath || file.name, file }));
    event.target.value = "";
    if (!files.length || !state.pythonReady) return;
    clearError();
    state.useHub = false;
    setPageState("loading-model");
    showProgress(null, "Reading the folder…");
    state.worker.postMessage({ type: "folder", files });  // File objects: structured clone, not JSON
  });
  ui.deviceChoice.addEventListener("change", () => { saveSettings(); loadModel(); });
  for (const radio of document.querySelectorAll("input[name=backend-choice]")) {
    radio.addEventListener("change", () => {
      setBackend(radio.value);
      saveSettings();
      if (radio.value === "local" && !state.modelReady) loadModel();
      else setPageState(root.dataset.state === "generating" ? "generating" : "ready");
    });
  }
  ui.provider.addEventListener("change", () => { applyProvider(ui.provider.value); saveSettings(); });
  ui.baseUrl.addEventListener("input", () => { showKeyForUrl(); saveSettings(); });
  ui.apiKey.addEventListener("input", () => {
    const url = normalisedUrl(ui.baseUrl.value);
    if (ui.apiKey.value) state.keys.set(url, ui.apiKey.value); else state.keys.delete(url);
    saveSettings();
  });
  ui.rememberKey.addEventListener("change", saveSettings);
  ui.remoteModel.addEventListener("input", saveSettings);
  $("rename-chat").addEventListener("click", async () => {
    const title = prompt("Name this chat", state.conversation.title || "");
    if (title === null || !title.trim()) return;
    state.conversation.title = title.trim();
    ui.title.textContent = state.conversation.title;
    await saveConversation();
  });
  $("delete-chat").addEventListener("click", async () => {
    if (state.busy) return showError("Stop the reply in progress before deleting the chat.");
    if (!confirm(`Delete "${state.conversation.title || "this chat"}"? This cannot be undone.`)) return;
    await state.store.delete(state.conversation.id);
    const next = (await state.store.list())[0];
    if (next) await switchChat(next.id); else newChat();
    await renderChatList();
  });
  const exportAs = (format) => {
    if (!state.pythonReady) return showError("Python is still starting: try again in a moment.");
    const name = (state.conversation.title || "pagellm-chat").replace(/[^\w.-]+/g, "-").slice(0, 60);
    post({ type: "export", format, conversations: [state.conversation], settings: readSettingsForm(), name });
  };
  $("export-json").addEventListener("click", () => exportAs("json"));
  $("export-markdown").addEventListener("click", () => exportAs("markdown"));
  $("export-all").addEventListener("click", async () => {
    if (!state.pythonReady) return showError("Python is still starting: try again in a moment.");
    const chats = await state.store.list();
    if (!chats.length) return showError("There are no saved chats to export yet.");
    const day = new Date().toISOString().slice(0, 10);
    post({ type: "export", format: "json", conversations: chats, name: `pagellm-all-chats-${day}` });
  });
  // One chat or a backup of all: either way merged with the saved chats, never overwriting one.
  const importFrom = async (event) => {
    const file = event.target.files[0];
    event.target.value = "";
    if (!file) return;
    if (!state.pythonReady) return showError("Python is still starting: try the import again in a moment.");
    clearError();
    post({ type: "import", text: await file.text(), saved: await state.store.list() });
  };
  $("import-file").addEventListener("change", importFrom);
  $("import-all").addEventListener("change", importFrom);
  $("test-connection").addEventListener("click", () => {
    if (!state.pythonReady) return;
    clearError();
    $("connection-status").textContent = "Testing…";
    post({ type: "models", backend: backendConfig() });
  });
  $("system-prompt").addEventListener("change", () => { state.conversation.system_prompt = systemPromptText(); saveConversation(); saveSettings(); });
  for (const input of Object.values(settingFields)) input.addEventListener("change", saveSettings);
  $("toggle-sidebar").addEventListener("click", () => {
    const open = $("sidebar").classList.toggle("open");
    $("toggle-sidebar").setAttribute("aria-expanded", String(open));
  });
}

// ---------------------------------------------------------------------------------------------
// Offline: the service worker checks every file against the build's hashes and caches it.
async function startServiceWorker() {
  const status = $("offline-status");
  root.dataset.isolated = String(self.crossOriginIsolated);
  const threads = self.crossOriginIsolated ? "multi-threaded WebAssembly available" :
    "not cross-origin isolated: WebAssembly runs single-threaded";
  if (!("serviceWorker" in navigator)) {
    status.textContent = `This browser offers no service worker (private mode?): no offline use; ${threads}.`;
    return;
  }
  navigator.serviceWorker.addEventListener("message", (event) => {
    const msg = event.data || {};
    if (msg.type === "integrity" || msg.type === "quota") showError(msg.message);
    if (msg.type === "repaired") $("store-note").textContent = msg.message;
    if (msg.type === "kept") showStorage();
  });
  try {
    await navigator.serviceWorker.register("./sw.js");
    const controlled = !!navigator.serviceWorker.controller;
    root.dataset.offline = controlled ? "ready" : "installing";
    status.textContent = controlled ? `Works offline after this visit; ${threads}.`
      : `Preparing offline use (ready on the next visit); ${threads}.`;
    navigator.serviceWorker.addEventListener("controllerchange", () => {
      root.dataset.offline = "ready";
      status.textContent = `Works offline from now on; ${threads}.`;
      keepLoadedModel();
    });
  } catch (err) {
    status.textContent = `Offline use is unavailable here (${err.message}); ${threads}.`;
  }
  navigator.storage?.persist?.().catch(() => {});
  showStorage();
}

const DTYPE_FILES = { fp32: "model.onnx", q8: "model_quantized.onnx", q4: "model_q4.onnx" };

// Ask the service worker to keep the loaded model's files for offline use.
function keepLoadedModel() {
  const loaded = state.loadedModel;
  const worker = navigator.serviceWorker?.controller;
  if (!loaded || !worker) return;
  const model = state.catalog.models.find((m) => m.id === loaded.model);
  const files = Object.keys(model?.files ?? {}).filter((rel) => !rel.startsWith("onnx/") || rel === `onnx/${DTYPE_FILES[loaded.dtype]}`);
  worker.postMessage({ type: "keep", paths: files.map((rel) => `models/${loaded.model}/${rel}`) });
}

const MODEL_CACHE = "pagellm-models";  // the service worker's cache of model files (web/sw.js)

// The model cache's entries by site path ("models/<id>/onnx/<file>"), for the current build's files.
async function cachedModelFiles() {
  if (!self.caches) return new Map();
  const base = new URL("./", location.href).pathname;
  const requests = await (await caches.open(MODEL_CACHE)).keys();
  return new Map(requests.map((request) => [new URL(request.url).pathname.slice(base.length), request]));
}

async function showStorage() {
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
    const remove = Object.assign(document.createElement("button"), { type: "button", textContent: "Delete" });
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
  $("storage-usage").textContent = estimate ? `Using ${formatBytes(estimate.usage)} of ${formatBytes(estimate.quota)} ` +
    `this browser allows${persisted ? " (kept: storage is persistent)" : ""}.` : "";
}

async function fetchJSON(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url} answered ${response.status}`);
  return response.json();
}

async function boot() {
  bindEvents();
  const saved = restoreSettings();
  state.store = await openStore();
  if (!state.store.persistent) {
    $("store-note").textContent = `This browser does not let the page save chats (${state.store.reason}): they last until the page is closed.`;
  }
  const current = store.getItem(CURRENT_KEY);
  state.conversation = (current && await state.store.get(current).catch(() => null)) || newConversation();
  renderConversation();
  renderChatList();
  setPageState("booting");
  try {
    const [catalog, providers, config] = await Promise.all([
      fetchJSON("./models/catalog.json"), fetchJSON("./providers.json"), fetchJSON("./pyscript.json")]);
    state.catalog = catalog;
    state.providers = providers;
    ui.model.replaceChildren(...catalog.models.map((m) => Object.assign(document.createElement("option"),
      { value: m.id, textContent: `${m.name} (${formatBytes(m.download_bytes ?? 0)})` })));
    const wanted = params.get("model") || saved.model;
    ui.model.value = catalog.models.some((m) => m.id === wanted) ? wanted : catalog.default;
    $("hub-suggestions").replaceChildren(...(catalog.suggested ?? []).map((m) =>
      Object.assign(document.createElement("option"), { value: m.id, textContent: m.note ?? "" })));
    ui.provider.replaceChildren(...providers.map((p) => Object.assign(document.createElement("option"), { value: p.id, textContent: p.name })));
    ui.baseUrl.value = saved.base_url || "";
    ui.remoteModel.value = saved.remote_model || "";
    applyProvider(params.get("provider") || saved.provider || "openai", { keepUrl: true });

    startServiceWorker();
    showProgress(null, "Starting Python…");
    if (backendValue() === "local" && !state.useHub) state.prefetch = startPrefetch(ui.model.value, ui.deviceChoice.value);
    // Absolute URLs: the worker runs from a blob: URL, so relative ones would not resolve.
    const here = (path) => new URL(path, location.href).href;
    config.interpreter = here(config.interpreter);
    config.files = Object.fromEntries(Object.entries(config.files ?? {}).map(([url, to]) => [here(url), to]));
    // A named worker script, as PyScript intends: Python runs off the main thread, and the page
    // talks to it with plain messages (no SharedArrayBuffer needed, so any static host works).
    const script = Object.assign(document.createElement("script"), { type: "py", src: here("./worker.py") });
    script.setAttribute("worker", "");
    script.setAttribute("name", "pagellm-engine");
    script.setAttribute("config", JSON.stringify(config));
    const booted = new Promise((resolve) => (handlers.booted = resolve));
    document.body.append(script);
    await import("./pyscript/core.js");
    state.worker = await waitFor(() => script.xworker);
    state.worker.onmessage = (event) => {
      const msg = JSON.parse(event.data);
      handlers[msg.type]?.(msg);
    };
    state.worker.onerror = (event) => fail(`Python failed to start: ${event.message || event.error || event}`);
    await booted;
    post({ type: "init", base: here("./"), catalog });
  } catch (err) {
    fail(`pagellm could not start: ${err.message || err}`);
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

function fail(message) {
  showError(message);
  showProgress(0, "Stopped");
  setPageState("error");
}

// The content security policy blocked something (an injected script, a request to a host it does not
// allow): say so in the page, since a <meta> policy has no report endpoint.
document.addEventListener("securitypolicyviolation", (event) => {
  const what = event.blockedURI === "inline" ? "an inline script" : event.blockedURI || "a resource";
  showError(`The page's security policy blocked ${what} (${event.effectiveDirective}).`);
  root.dataset.cspViolations = String(Number(root.dataset.cspViolations || 0) + 1);
});

window.addEventListener("error", (event) => {
  if (root.dataset.state === "booting") fail(`pagellm could not start: ${event.message}`);
});
boot();
