// The page's controls, wired to what they do.
import { $, root, settingFields, ui } from "./dom.js";
import { state } from "./state.js";
import { applyProvider, rememberKey, saveSettings, setBackend, showKeyForUrl, showProviderNote } from "./settings-form.js";
import { providerFor } from "./endpoints.js";
import { copySettingsLink } from "./site.js";
import { clearError, setPageState } from "./status.js";
import { editLastMessage, renderConversation } from "./render.js";
import { deleteChat, newChat, renderChatList, runSearch } from "./chats.js";
import { branchIntent, loadFolder, loadModel, send, stop, summaryChat, testConnection } from "./intents.js";
import { exportAll, exportCurrent, importFrom } from "./transfer.js";
import { bindAttachments } from "./attachments.js";
import { localeFromBrowser, setLocale, t, translatePage } from "./i18n.js";

export function bindEvents() {
  $("composer").addEventListener("submit", (event) => { event.preventDefault(); send(); });
  ui.summaryChat.addEventListener("click", summaryChat);
  ui.prompt.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { event.preventDefault(); send(); }
    if (event.key === "ArrowUp" && !ui.prompt.value && !state.busy && editLastMessage()) event.preventDefault();
  });
  document.addEventListener("keydown", onShortcut);
  $("shortcuts-button").addEventListener("click", () => $("shortcuts").showModal());
  $("shortcuts-close").addEventListener("click", () => $("shortcuts").close());
  ui.search.addEventListener("input", () => {
    clearTimeout(state.searchTimer);
    state.searchTimer = setTimeout(runSearch, 60);
  });
  ui.search.addEventListener("keydown", (event) => {
    if (event.key === "Escape") { ui.search.value = ""; runSearch(); }
    if (event.key === "Enter") ui.searchResults.querySelector("button")?.click();
  });
  ui.stop.addEventListener("click", stop);
  $("new-chat").addEventListener("click", () => { if (state.busy) stop(); newChat(); });
  $("error-close").addEventListener("click", clearError);
  bindModelChoice();
  bindRemote();
  bindAttachments();
  $("rename-chat").addEventListener("click", () => {
    const title = prompt(t("chats.rename_prompt"), state.conversation.title || "");
    if (title !== null) branchIntent("rename", { title });
  });
  $("delete-chat").addEventListener("click", deleteChat);
  $("export-json").addEventListener("click", () => exportCurrent("json"));
  $("export-markdown").addEventListener("click", () => exportCurrent("markdown"));
  $("export-all").addEventListener("click", exportAll);
  $("import-file").addEventListener("change", importFrom);
  $("import-all").addEventListener("change", importFrom);
  ui.systemPrompt.addEventListener("change", () => {
    saveSettings();  // the prompt new chats start with
    if (state.pythonReady) branchIntent("set-system-prompt", { text: ui.systemPrompt.value });
  });
  for (const input of Object.values(settingFields)) input.addEventListener("change", saveSettings);
  bindSettingsPanel();
  $("copy-settings-link").addEventListener("click", (event) => copySettingsLink(event.currentTarget));
  $("locale").addEventListener("change", async () => {
    await useLocale($("locale").value || localeFromBrowser());
    saveSettings();
  });
  $("toggle-sidebar").addEventListener("click", () => {
    const open = $("sidebar").classList.toggle("open");
    $("toggle-sidebar").setAttribute("aria-expanded", String(open));
  });
}

// Switch the page's language: the marked elements, then what the modules draw (chats, welcome, notes).
export async function useLocale(code) {
  await setLocale(code);
  translatePage();
  if (!state.conversation) return;
  renderConversation();
  if (state.store) renderChatList();
  showProviderNote();
}

// The page's shortcuts (listed in the #shortcuts dialog, Ctrl+/).
function onShortcut(event) {
  const mod = event.ctrlKey || event.metaKey;
  const key = event.key.toLowerCase();
  const typing = event.target.closest?.("input, textarea, select, [contenteditable]");
  let done = true;
  if (event.key === "Escape" && state.busy) stop();
  else if (mod && key === "k") { ui.search.focus(); ui.search.select(); }
  else if (mod && event.shiftKey && key === "o") { if (state.busy) stop(); newChat(); }
  else if (mod && key === "/") $("shortcuts").open ? $("shortcuts").close() : $("shortcuts").showModal();
  else if (mod && key === ",") { setSettingsOpen(true); $("settings-panel").querySelector("input, select")?.focus(); }
  else if (key === "/" && !mod && !typing) ui.prompt.focus();
  else done = false;
  if (done) event.preventDefault();
}

// The settings panel beside the chat: the Settings button opens and closes it, Escape closes it.
export function setSettingsOpen(open) {
  $("settings-panel").hidden = !open;
  document.querySelector(".layout").dataset.settings = open ? "open" : "closed";
  $("settings").setAttribute("aria-expanded", String(open));
}

function bindSettingsPanel() {
  $("settings").addEventListener("click", () => {
    const open = $("settings-panel").hidden;
    setSettingsOpen(open);
    if (open) $("settings-panel").querySelector("input, select, button:not(.icon)")?.focus();
  });
  $("settings-close").addEventListener("click", () => { setSettingsOpen(false); $("settings").focus(); });
  $("settings-panel").addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !state.busy) { setSettingsOpen(false); $("settings").focus(); }
  });
}

function bindModelChoice() {
  $("load-model").addEventListener("click", () => {
    state.useHub = !!ui.hubModelId.value.trim();  // a Hub id typed in means: load that one
    loadModel();
  });
  ui.model.addEventListener("change", () => { state.useHub = false; saveSettings(); loadModel(); });
  $("local-folder").addEventListener("change", (event) => {
    const files = [...event.target.files].map((file) => ({ path: file.webkitRelativePath || file.name, file }));
    event.target.value = "";
    if (files.length && state.pythonReady) loadFolder(files);
  });
  ui.deviceChoice.addEventListener("change", () => { saveSettings(); loadModel(); });
}

function bindRemote() {
  for (const radio of document.querySelectorAll("input[name=backend-choice]")) {
    radio.addEventListener("change", () => {
      setBackend(radio.value);
      saveSettings();
      if (radio.value === "local" && !state.modelReady) loadModel();
      else setPageState(root.dataset.state === "generating" ? "generating" : "ready");
    });
  }
  // Choosing a preset fills in its URL; Custom, or a kind of local server (Ollama, llama.cpp, …) while the
  // URL typed is no preset's own, keeps the URL: that server runs on another port or host.
  ui.provider.addEventListener("change", () => {
    const chosen = state.providers.find((p) => p.id === ui.provider.value);
    const elsewhere = chosen?.local && providerFor(ui.baseUrl.value, state.providers) === "custom";
    applyProvider(ui.provider.value, { keepUrl: !chosen?.base_url || !!elsewhere });
    saveSettings();
  });
  // The provider follows the URL typed: a preset's own URL (or a local server's port) selects it, any
  // other selects Custom, so what the endpoint needs (a key or not) is never decided by a stale preset.
  ui.baseUrl.addEventListener("input", () => {
    const preset = providerFor(ui.baseUrl.value, state.providers);
    if (preset && preset !== ui.provider.value) applyProvider(preset, { keepUrl: true });
    showKeyForUrl();
    saveSettings();
  });
  ui.apiKey.addEventListener("input", () => { rememberKey(); saveSettings(); });
  ui.rememberKey.addEventListener("change", saveSettings);
  ui.remoteModel.addEventListener("input", saveSettings);
  $("test-connection").addEventListener("click", testConnection);
}
