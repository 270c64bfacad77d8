// Files in the chat: attach by button, drop or paste; Python reads and indexes each (the `attach`
// request) and the page holds the result as a chip until the question is sent with it. Chips on sent
// messages and a reply's citations open the file in a viewer, at the cited place. File text is shown
// as text, never as markup.
import { $, button, formatBytes, ui } from "./dom.js";
import { state } from "./state.js";
import { clearError, showError, showProgress } from "./status.js";
import { showErrorEvent } from "./intents.js";
import { formatNumber, t, tn } from "./i18n.js";

const draftList = $("draft-attachments");
const viewer = $("viewer");

export async function addFiles(files) {
  if (!files.length) return;
  if (!state.pythonReady) return showError(t("error.python_starting_attach"));
  clearError();
  for (const file of files) {
    showProgress(null, t("attach.reading", { name: file.name }));
    for await (const event of state.client.send("attach", { name: file.name, data: file, media_type: file.type || null })) {
      if (event.kind === "progress" && event.total) showProgress(event.fraction, t("attach.progress", { stage: event.stage, loaded: event.loaded, total: event.total }));
      if (event.kind === "error") showErrorEvent(event);
      if (event.kind !== "attached") continue;
      state.draftAttachments.push(event.attachment);
      showProgress(1, event.notice || t("attach.done", { name: file.name }));
    }
  }
  renderDraft();
}

export function takeDraft() { return state.draftAttachments; }

export function clearDraft() {
  state.draftAttachments = [];
  renderDraft();
}

function renderDraft() {
  draftList.hidden = !state.draftAttachments.length;
  draftList.replaceChildren(...state.draftAttachments.map((attachment) => chip(attachment, () => {
    state.draftAttachments = state.draftAttachments.filter((a) => a.id !== attachment.id);
    renderDraft();
    ui.prompt.focus();
  })));
}

function describe(attachment) {
  const parts = [formatBytes(attachment.size)];
  if (attachment.pages?.length) parts.push(tn("attach.pages", attachment.pages.length));
  if (attachment.kind !== "image") parts.push(t("attach.tokens", { count: formatNumber(attachment.tokens ?? 0) }));
  return parts.join(", ");
}

// A chip: the file's name (opens it), what it holds, and a remove button on the next message's files.
function chip(attachment, onRemove = null) {
  const item = Object.assign(document.createElement("li"), { className: "attachment" });
  item.dataset.testid = "attachment";
  item.dataset.name = attachment.name;
  const open = button(attachment.name, "open-attachment", () => openViewer(attachment), t("attach.open", { name: attachment.name, about: describe(attachment) }));
  open.className = "open";
  item.append(open, Object.assign(document.createElement("span"), { className: "hint", textContent: describe(attachment) }));
  if (onRemove) {
    const remove = button("✕", "remove-attachment", onRemove);
    remove.setAttribute("aria-label", t("attach.remove", { name: attachment.name }));
    item.append(remove);
  }
  return item;
}

export function attachmentChips(attachments) {
  const list = Object.assign(document.createElement("ul"), { className: "attachments" });
  list.setAttribute("aria-label", t("attach.files"));
  list.append(...attachments.map((attachment) => chip(attachment)));
  return list;
}

// The file's text, with the cited place marked and scrolled to; an image as itself.
export function openViewer(attachment, place = null) {
  $("viewer-title").textContent = `${attachment.name} — ${describe(attachment)}`;
  const text = $("viewer-text");
  if (attachment.kind === "image") {
    text.replaceChildren(Object.assign(document.createElement("img"), { src: `data:${attachment.media_type};base64,${attachment.data}`, alt: attachment.name }));
  } else if (place) {
    const mark = Object.assign(document.createElement("mark"), { textContent: attachment.text.slice(place.start, place.end) });
    text.replaceChildren(attachment.text.slice(0, place.start), mark, attachment.text.slice(place.end));
  } else text.textContent = attachment.text;
  viewer.showModal();
  text.querySelector("mark")?.scrollIntoView({ block: "center" });
}

// "Sources": what the reply was given of the files, numbered as the model saw the passages.
export function citationsElement(citations, conversation) {
  const byId = new Map(conversation.messages.flatMap((m) => m.attachments ?? []).map((a) => [a.id, a]));
  const box = Object.assign(document.createElement("details"), { className: "citations" });
  box.dataset.testid = "citations";
  const summary = document.createElement("summary");
  const list = document.createElement("ol");
  if (citations.mode === "passages") {
    summary.textContent = tn("sources.passages", citations.passages.length);
    for (const passage of citations.passages) {
      const item = Object.assign(document.createElement("li"), { value: passage.n, className: "citation" });
      item.dataset.testid = "citation";
      const where = passage.page ? t("sources.page", { name: passage.name, page: passage.page }) : passage.name;
      const attachment = byId.get(passage.attachment);
      item.append(where, Object.assign(document.createElement("blockquote"), { textContent: passage.text }));
      if (attachment) item.append(button(t("sources.open_here"), "open-citation", () => openViewer(attachment, passage)));
      list.append(item);
    }
  } else {
    summary.textContent = tn("sources.files", citations.files.length);
    for (const file of citations.files) {
      const item = Object.assign(document.createElement("li"), { className: "citation" });
      item.dataset.testid = "citation";
      const attachment = byId.get(file.id);
      item.append(attachment ? button(file.name, "open-citation", () => openViewer(attachment)) : file.name);
      list.append(item);
    }
  }
  box.append(summary, list);
  return box;
}

export function bindAttachments() {
  $("attach").addEventListener("change", (event) => {
    const files = [...event.target.files];
    event.target.value = "";
    addFiles(files);
  });
  $("viewer-close").addEventListener("click", () => viewer.close());
  const composer = $("composer");
  composer.addEventListener("dragover", (event) => {
    if (![...event.dataTransfer.types].includes("Files")) return;
    event.preventDefault();
    composer.classList.add("dropping");
  });
  composer.addEventListener("dragleave", () => composer.classList.remove("dropping"));
  composer.addEventListener("drop", (event) => {
    composer.classList.remove("dropping");
    if (!event.dataTransfer.files.length) return;
    event.preventDefault();
    addFiles([...event.dataTransfer.files]);
  });
  ui.prompt.addEventListener("paste", (event) => {
    const files = [...(event.clipboardData?.files ?? [])];
    if (!files.length) return;
    event.preventDefault();
    addFiles(files);
  });
}

// What the saved chats' files take (the storage panel).
export function attachmentUsage(chats) {
  const files = chats.flatMap((chat) => (chat.messages ?? []).flatMap((m) => m.attachments ?? []));
  return { count: files.length, bytes: files.reduce((sum, a) => sum + (a.size ?? 0), 0) };
}
