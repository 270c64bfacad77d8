// Saved chats: the list (most recently used first, pinned on top), search across all of them, and
// opening one. Chats are saved as Python sends them back (store.js keeps them in IndexedDB).
import { $, ui } from "./dom.js";
import { state } from "./state.js";
import { searchChats } from "./search.js";
import { renderConversation } from "./render.js";
import { showContext, showError, showStats } from "./status.js";
import { errorText, formatDate, t } from "./i18n.js";

const CURRENT_KEY = "pagellm:current";

// A chat nobody has written in yet is only its system prompt: Python gives it an id and a saved form.
export function emptyChat() {
  return { system_prompt: ui.systemPrompt.value, messages: [] };
}

export function currentChatId() { return window.localStorage.getItem(CURRENT_KEY); }

// Saving a chat counts as using it (`used`, seconds): the list shows the most recently used first.
export async function saveConversation(conversation = state.conversation, { use = true } = {}) {
  if (!conversation.id) return;
  window.localStorage.setItem(CURRENT_KEY, conversation.id);
  if (!conversation.messages.length) return;  // an empty chat is not worth a list entry
  if (use) conversation.used = Date.now() / 1000;
  try {
    await state.store.put(conversation);
  } catch (err) {
    showError(t("error.chat_not_saved", { reason: err.name || err }) +
      (err.name === "QuotaExceededError" ? t("error.storage_full") : ""));
  }
  await renderChatList();
}

// Python answered with a changed conversation: keep it, save it, draw it.
export async function showConversation(conversation, { focus = null, use = true } = {}) {
  state.conversation = conversation;
  state.focus = focus;
  await saveConversation(conversation, { use });
  renderConversation();
}

export async function renderChatList() {
  state.chats = await state.store.list();
  const items = state.chats.map((chat) => {
    const item = document.createElement("li");
    item.dataset.testid = "chat-item";
    item.dataset.pinned = String(!!chat.pinned);
    item.setAttribute("aria-current", String(chat.id === state.conversation.id));
    const open = Object.assign(document.createElement("button"), { type: "button", textContent: chat.title || t("chats.untitled") });
    // The full title (the list cuts long ones) and when the chat was last used, in the locale's date format.
    open.title = chat.used ? `${open.textContent} — ${formatDate(new Date(chat.used * 1000))}` : open.textContent;
    open.addEventListener("click", () => switchChat(chat.id));
    // A checkbox, not a button: the chat's one button opens it.
    const pin = Object.assign(document.createElement("input"), { type: "checkbox", checked: !!chat.pinned, className: "pin" });
    pin.dataset.testid = "pin-chat";
    pin.setAttribute("aria-label", t("chats.pin", { title: open.textContent }));
    pin.addEventListener("change", () => setPinned(chat.id, pin.checked));
    item.append(open, pin);
    return item;
  });
  $("chat-list").replaceChildren(...items);
  if (ui.search.value.trim()) runSearch();
}

// Pinning is the list's own mark on a saved chat, not part of its conversation.
async function setPinned(id, pinned) {
  const chat = id === state.conversation.id ? state.conversation : await state.store.get(id);
  if (!chat) return;
  chat.pinned = pinned;
  await state.store.put(chat);
  await renderChatList();
}

// Open a saved chat; `at` is the index of a message in its saved messages (a search result), shown
// with its branch. Python reads the chat (and rewrites an older saved form) before it is changed.
export async function switchChat(id, { at = null } = {}) {
  if (state.busy) return showError(t("error.stop_before_switch"));
  const chat = await state.store.get(id);
  if (!chat) return;
  state.editDraft = null;
  state.conversation = chat;
  ui.systemPrompt.value = chat.system_prompt || "";
  showContext(null);
  renderConversation();
  await saveConversation(chat);
  await openInPython(at);
}

export async function openInPython(at = null) {
  if (!state.pythonReady || (at == null && (state.conversation.version === 2 || !state.conversation.messages.length))) return;
  for await (const event of state.client.send("open", { conversation: state.conversation, at })) {
    if (event.kind === "changed") await showConversation(event.conversation, { focus: event.focus, use: false });
    if (event.kind === "error") showError(errorText(event));
  }
}

export function newChat() {
  state.conversation = emptyChat();
  state.editDraft = null;
  renderConversation();
  renderChatList();
  showStats(null);
  showContext(null);
  ui.prompt.focus();
}

export async function deleteChat() {
  if (state.busy) return showError(t("error.stop_before_delete_chat"));
  if (!confirm(t("chats.confirm_delete", { title: state.conversation.title || t("chats.this_chat") }))) return;
  if (state.conversation.id) await state.store.delete(state.conversation.id);
  const next = (await state.store.list())[0];
  if (next) await switchChat(next.id); else newChat();
  await renderChatList();
}

// Search across every saved chat (titles and messages of every branch).
export function runSearch() {
  const query = ui.search.value;
  const started = performance.now();
  const results = searchChats(state.chats, query);
  ui.searchResults.dataset.ms = (performance.now() - started).toFixed(1);
  ui.searchResults.hidden = !query.trim();
  const items = results.map((result) => {
    const item = document.createElement("li");
    item.dataset.testid = "search-result";
    const open = Object.assign(document.createElement("button"), { type: "button" });
    const title = Object.assign(document.createElement("strong"), { textContent: result.title });
    const line = Object.assign(document.createElement("span"), { className: "line", textContent: result.line });
    open.append(title, line);
    open.addEventListener("click", () => switchChat(result.chatId, { at: result.at }));
    item.append(open);
    return item;
  });
  if (query.trim() && !items.length) {
    items.push(Object.assign(document.createElement("li"), { className: "hint", textContent: t("chats.no_results") }));
  }
  ui.searchResults.replaceChildren(...items);
}
