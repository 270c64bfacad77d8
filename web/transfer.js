// Chats in and out of the page as files: one chat as JSON or Markdown, or every chat in one backup;
// an import is merged with the saved chats by Python, never overwriting one.
import { ui } from "./dom.js";
import { state } from "./state.js";
import { readSettingsForm } from "./settings-form.js";
import { clearError, showError } from "./status.js";
import { renderChatList, switchChat } from "./chats.js";
import { showErrorEvent } from "./intents.js";
import { t } from "./i18n.js";

function pythonStarted() {
  if (!state.pythonReady) showError(t("error.python_starting"));
  return state.pythonReady;
}

async function exportChats(request) {
  for await (const event of state.client.send("export", request)) {
    if (event.kind === "error") showErrorEvent(event);
    if (event.kind !== "exported") continue;
    const type = event.format === "markdown" ? "text/markdown" : "application/json";
    const link = Object.assign(document.createElement("a"), {
      href: URL.createObjectURL(new Blob([event.text], { type })),
      download: `${event.name}.${event.format === "markdown" ? "md" : "json"}`,
    });
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  }
}

export function exportCurrent(format) {
  if (!pythonStarted()) return;
  const name = (state.conversation.title || "pagellm-chat").replace(/[^\w.-]+/g, "-").slice(0, 60);
  return exportChats({ format, conversations: [state.conversation], settings: readSettingsForm(), name });
}

export async function exportAll() {
  if (!pythonStarted()) return;
  const chats = await state.store.list();
  if (!chats.length) return showError(t("error.nothing_to_export"));
  const day = new Date().toISOString().slice(0, 10);
  return exportChats({ format: "json", conversations: chats, name: `pagellm-all-chats-${day}` });
}

// One chat or a backup of all: either way merged with the saved chats.
export async function importFrom(event) {
  const file = event.target.files[0];
  event.target.value = "";
  if (!file || !pythonStarted()) return;
  clearError();
  const request = { text: await file.text(), saved: await state.store.list() };
  for await (const answer of state.client.send("import", request)) {
    if (answer.kind === "error") showErrorEvent(answer);
    if (answer.kind !== "imported") continue;
    try {
      await state.store.putAll(answer.conversations);
    } catch (err) {
      return showError(t("error.import_not_saved", { reason: err?.name || err }));
    }
    ui.storeNote.textContent = answer.summary;
    if (answer.conversations.length) await switchChat(answer.conversations[0].id);
    else await renderChatList();
  }
}
