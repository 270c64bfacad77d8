// Drawing a conversation: model text goes through markdown.js (markdown, math, highlighting, made safe by
// DOMPurify). Nothing the model writes can load a resource or run script: images, media, forms, frames
// and styles are removed before insertion.
import { $, button, ui } from "./dom.js";
import { state } from "./state.js";
import { showError } from "./status.js";
import { addCodeRunners } from "./sandbox.js";
import { branchIntent, generate, stop } from "./intents.js";
import { attachmentChips, citationsElement } from "./attachments.js";
import { PURIFY, markdownNodes, renderMarkdown } from "./markdown.js";
import { renderWelcome } from "./welcome.js";
import { t } from "./i18n.js";

export { PURIFY };

// Each new markdown block: links open elsewhere without the page's referrer, code blocks get Copy.
function decorate(fragment) {
  for (const link of fragment.querySelectorAll("a")) {
    link.target = "_blank";
    link.rel = "noopener noreferrer nofollow";
  }
  for (const pre of fragment.querySelectorAll("pre")) {
    const copy = Object.assign(document.createElement("button"), { type: "button", className: "copy-code", textContent: t("reply.copy") });
    copy.addEventListener("click", () => copyText(pre.querySelector("code")?.textContent ?? pre.textContent, copy));
    pre.append(copy);
  }
}

function copyText(text, target) {
  navigator.clipboard?.writeText(text).then(
    () => { target.textContent = t("reply.copied"); setTimeout(() => (target.textContent = t("reply.copy")), 1200); },
    () => showError(t("error.copy_refused")),
  );
}

function messageElement(role, status = "complete") {
  const item = $("message-template").content.firstElementChild.cloneNode(true);
  item.dataset.role = role;
  item.dataset.status = status;
  item.querySelector(".role").textContent = t(`role.${role}`);
  return item;
}

export function fillContent(item, message) {
  const content = item.querySelector(".content");
  if (item.dataset.role === "assistant") {
    // Redrawn every frame while streaming: the reasoning and the markdown blocks already drawn stay,
    // anything else (a "Reading…" line, old citations) goes.
    let details = content.querySelector(":scope > details.reasoning");
    const kept = markdownNodes(content);
    for (const node of [...content.childNodes]) if (node !== details && !kept.has(node)) node.remove();
    if (message.meta?.reasoning) {
      if (!details) {
        details = Object.assign(document.createElement("details"), { className: "reasoning", innerHTML: "<summary></summary>" });
        details.firstChild.textContent = t("reply.reasoning");
        details.append(document.createTextNode(""));
        content.prepend(details);
      }
      details.lastChild.data = message.meta.reasoning;
    } else details?.remove();
    renderMarkdown(content, message.content, { streaming: item.dataset.streaming === "true", decorate });
    if (message.meta?.citations) content.append(citationsElement(message.meta.citations, state.conversation));
  } else {
    content.style.whiteSpace = "pre-wrap";
    content.textContent = message.content;
    if (message.attachments?.length) content.append(attachmentChips(message.attachments));
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

export function renderConversation() {
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
  ui.title.textContent = conversation.title || t("chats.new");
  renderWelcome();
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

// ‹ 2/3 ›: this message's place among its versions (edits, other replies).
function branchNavigator(entry) {
  const nav = Object.assign(document.createElement("span"), { className: "branch" });
  const prev = button("‹", "branch-prev", () => branchIntent("switch", { message_id: entry.id, step: -1 }), t("reply.previous_version"));
  const next = button("›", "branch-next", () => branchIntent("switch", { message_id: entry.id, step: 1 }), t("reply.next_version"));
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
  actions.append(button(t("reply.copy"), "copy", (event) => copyText(message.content, event.currentTarget), t("reply.copy_markdown")));
  if (!entry.id) return;  // not read by Python yet: no branch actions
  if (message.role === "user") actions.append(button(t("reply.edit"), "edit", () => startEdit(item, message, entry.id)));
  if (message.role === "assistant") {
    actions.append(button(t("reply.regenerate"), "regenerate", () => generate("regenerate", { message_id: entry.id })));
    if (entry.continuable) actions.append(button(t("reply.continue"), "continue", () => generate("continue", { message_id: entry.id })));
  }
  actions.append(button(t("reply.delete"), "delete-message", () => deleteMessage(message, entry.id), t("reply.delete_title")));
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
    if (!text.trim()) return showError(t("error.edit_empty"));
    const submit = () => { state.editDraft = { id, text }; generate("edit", { message_id: id, text }); };
    if (state.busy) {
      state.afterReply = submit;
      stop();
      showError(t("error.stopped_for_edit"));
    } else submit();
  };
  editor.addEventListener("keydown", (event) => {
    if (event.key === "Escape") { event.preventDefault(); event.stopPropagation(); cancel(); }
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { event.preventDefault(); save(); }
  });
  const buttons = Object.assign(document.createElement("div"), { className: "edit-buttons" });
  buttons.append(button(t("reply.save_send"), "edit-save", save), button(t("reply.cancel"), "edit-cancel", cancel));
  content.replaceChildren(editor, buttons);
  editor.focus();
}

function deleteMessage(message, id) {
  if (state.busy) return showError(t("error.stop_before_delete_message"));
  if (!confirm(t(message.role === "user" ? "reply.confirm_delete_message" : "reply.confirm_delete_reply"))) return;
  branchIntent("delete", { message_id: id });
}

export function scrollToEnd() {
  const list = ui.messages;
  if (list.scrollHeight - list.scrollTop - list.clientHeight < 120 || !state.streaming) list.scrollTop = list.scrollHeight;
}

// Up arrow in an empty prompt: edit the last message you sent.
export function editLastMessage() {
  const items = ui.messages.querySelectorAll("[data-role=user][data-message-id]");
  const item = items[items.length - 1];
  item?.querySelector("[data-testid=edit]")?.click();
  return !!item;
}
