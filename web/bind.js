// The page's controls, wired to what they do.
import { $, root, settingFields, ui } from "./dom.js";
import { state } from "./state.js";
import { applyProvider, rememberKey, saveSettings, setBackend, showKeyForUrl } from "./settings-form.js";
import { clearError, setPageState } from "./status.js";
import { editLastMessage } from "./render.js";
import { deleteChat, newChat, runSearch } from "./chats.js";
import { branchIntent, loadFolder, loadModel, send, stop, summaryChat, testConnection } from "./intents.js";
import { exportAll, exportCurrent, importFrom } from "./transfer.js";
import { bindAttachments } from "./attachments.js";

export function bindEvents() {
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
  $("new-chat").addEventListener("click", () => { if (state.busy) stop(); newChat(); });
  $("error-close").addEventListener("click", clearError);
  bindModelChoice();
  bindRemote();
  bindAttachments();
  $("rename-chat").addEventListener("click", () => {
    const title = prompt("Name this chat", state.conversation.title || "");
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
  $("toggle-sidebar").addEventListener("click", () => {
    const open = $("sidebar").classList.toggle("open");
    $("toggle-sidebar").setAttribute("aria-expanded", String(open));
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
  ui.provider.addEventListener("change", () => { applyProvider(ui.provider.value); saveSettings(); });
  ui.baseUrl.addEventListener("input", () => { showKeyForUrl(); saveSettings(); });
  ui.apiKey.addEventListener("input", () => { rememberKey(); saveSettings(); });
  ui.rememberKey.addEventListener("change", saveSettings);
  ui.remoteModel.addEventListener("input", saveSettings);
  $("test-connection").addEventListener("click", testConnection);
}
