// What the user asks for, sent to Python as protocol requests, and the events that answer them: a
// reply streaming into its place, a changed conversation, a loaded model.
import { $, formatBytes, params, settingFields, ui } from "./dom.js";
import { state } from "./state.js";
import { backendConfig, readSettingsForm, saveSettings } from "./settings-form.js";
import { clearError, engineReady, setPageState, settledState, showContext, showDownload, showError, showProgress,
  showStats, showStatusDetail } from "./status.js";
import { fillContent, renderConversation, scrollToEnd } from "./render.js";
import { renderChatList, saveConversation, showConversation } from "./chats.js";
import { toolCall, toolsFor } from "./sandbox.js";
import { takePrefetched } from "./prefetch.js";
import { clearDraft, takeDraft } from "./attachments.js";
import { keepLoadedModel } from "./offline.js";
import { errorText, formatFixed, formatNumber, t } from "./i18n.js";

// Intents that end in a reply (send, edit, regenerate, continue): Python changes the conversation and
// streams the answer; the page only says what the user did.
export async function generate(kind, extra = {}) {
  if (state.busy || ui.send.disabled) return;
  clearError();
  state.busy = true;
  state.sending = kind;
  setPageState("generating");
  const backend = backendConfig();
  const request = { conversation: state.conversation, settings: readSettingsForm(), backend, tools: toolsFor(backend), ...extra };
  for await (const event of state.client.send(kind, request)) await onReplyEvent[event.kind]?.(event);
}

const onReplyEvent = {
  // Python took the request: the conversation holds the reply being written (empty, or the cut reply
  // being continued), which streams into its place.
  async accepted(event) {
    if (state.sending === "send") {
      ui.prompt.value = "";
      clearDraft();  // now part of the question
    }
    state.editDraft = null;
    await showConversation(event.conversation);
    const item = ui.messages.querySelector(`[data-message-id="${CSS.escape(event.reply)}"]`);
    const reply = state.conversation.messages.find((m) => m.id === event.reply);
    item.dataset.streaming = "true";
    item.dataset.status = "complete";
    item.querySelector(".message-actions").replaceChildren();
    state.streaming = { id: event.reply, item, text: reply.content, reasoning: "", frame: 0, updates: 0 };
    scrollToEnd();
  },
  // The reply so far, saved so that a reload mid-reply shows what came.
  checkpoint(event) { saveConversation(event.conversation); },
  context(event) { showContext(event); },
  reading(event) {
    const s = state.streaming;
    if (!s) return;
    s.item.querySelector(".content").replaceChildren(Object.assign(document.createElement("span"), {
      className: "reading", textContent: t("reply.reading", { done: formatNumber(event.done), total: formatNumber(event.total) }),
    }));
    s.item.dataset.reading = `${event.done}/${event.total}`;
  },
  delta(event) {
    const s = state.streaming;
    if (!s) return;
    if (!s.text && !s.reasoning) performance.mark("pagellm:first-token");
    if (event.part === "reasoning") s.reasoning += event.text; else s.text += event.text;
    if (!s.frame) {
      s.frame = requestAnimationFrame(() => {
        s.frame = 0;
        s.updates += 1;
        s.item.dataset.updates = s.updates;
        fillContent(s.item, { content: s.text, meta: { reasoning: s.reasoning } });
        scrollToEnd();
      });
    }
  },
  // The model called a page tool: approval and the sandbox run happen here, the output goes back to Python.
  async "run-tool"(event) {
    const result = await toolCall(event, { item: state.streaming?.item, conversationId: state.conversation.id });
    state.client.post("tool-output", { call: event.call, ok: result.ok, output: result.output });
  },
  async done(event) {
    performance.mark("pagellm:reply-done");
    await finishReply(event.conversation);
    showStats(event.final);
    if (state.context && event.final) {
      showContext({ ...state.context, used: state.context.used + event.final.completion_tokens });
    }
  },
  async error(event) {
    showErrorEvent(event);
    await finishReply(event.conversation ?? state.conversation);
  },
};

export function showErrorEvent(event) {
  showError(errorText(event));
  if (event.setting) settingFields[event.setting]?.setAttribute("aria-invalid", "true");
}

async function finishReply(conversation) {
  if (state.streaming?.frame) cancelAnimationFrame(state.streaming.frame);
  // How many times the streamed reply was redrawn: tests read it to see that text really streamed.
  if (state.streaming) ui.stats.dataset.updates = state.streaming.updates;
  state.streaming = null;
  state.busy = false;
  await showConversation(conversation);
  setPageState(settledState());
  const next = state.afterReply;
  state.afterReply = null;
  next?.();
}

export function send() {
  if (ui.send.disabled) return;
  if (!engineReady()) {
    if (!ui.prompt.value.trim()) return;
    state.sendWhenReady = true;
    showStatusDetail(t("status.send_when_ready"));
    return;
  }
  generate("send", { text: ui.prompt.value, attachments: takeDraft() });
}

// Send what was typed while the page started, now that the engine can take it.
export function sendIfWaiting() {
  if (!state.sendWhenReady) return;
  state.sendWhenReady = false;
  showStatusDetail("");
  send();
}

export function stop() {
  if (state.busy) state.client.post("stop");
}

// Intents without a model (switch a branch, delete, rename, the system prompt): answered by `changed`.
export async function branchIntent(kind, extra) {
  if (state.busy) return showError(t("error.stop_first"));
  if (!state.pythonReady) return showError(t("error.python_starting"));
  clearError();
  for await (const event of state.client.send(kind, { conversation: state.conversation, ...extra })) {
    if (event.kind === "changed") await showConversation(event.conversation, { focus: event.focus, use: false });
    if (event.kind === "error") showErrorEvent(event);
  }
}

// A new chat that starts from a summary of this one, written by the model in use.
export async function summaryChat() {
  if (state.busy || ui.send.disabled) return;
  clearError();
  state.busy = true;
  setPageState("generating");
  showProgress(null, t("progress.summary"));
  const request = { conversation: state.conversation, settings: readSettingsForm(), backend: backendConfig() };
  for await (const event of state.client.send("summarize", request)) {
    if (event.kind === "error") showErrorEvent(event);
    if (event.kind !== "changed") continue;
    showProgress(1, t("progress.summary_done"));
    ui.systemPrompt.value = event.conversation.system_prompt;
    state.conversation = event.conversation;
    renderConversation();
    renderChatList();
    showContext(null);
  }
  state.busy = false;
  setPageState(settledState());
}

export async function loadModel({ confirmed = false } = {}) {
  if (!state.pythonReady) return;
  clearError();
  state.modelReady = false;
  setPageState("loading-model");
  const request = { device: ui.deviceChoice.value };
  const hubId = ui.hubModelId.value.trim();
  if (hubId && state.useHub) {
    showProgress(null, t("progress.checking_hub", { id: hubId }));
    Object.assign(request, { hub: { id: hubId, host: ui.hubBaseUrl.value.trim() }, confirmed });
  } else {
    const model = state.catalog.models.find((m) => m.id === ui.model.value);
    showProgress(0, t("progress.loading", { name: model?.name ?? ui.model.value }));
    Object.assign(request, { model: ui.model.value, files: await takePrefetched(ui.model.value, ui.deviceChoice.value),
      threads: params.has("threads") ? Number(params.get("threads")) : null });
  }
  await followLoad(state.client.send("load", request));
}

// Read the folder's files into the worker, then load the model they hold.
export async function loadFolder(files) {
  clearError();
  state.useHub = false;
  setPageState("loading-model");
  showProgress(null, t("progress.reading_folder"));
  for await (const event of state.client.send("folder", { files })) {
    if (event.kind === "folder-received") ui.modelPlan.textContent = t("plan.folder_received", { count: formatFixed(event.files, 0) });
  }
  await followLoad(state.client.send("load", { folder: true, device: ui.deviceChoice.value }));
}

async function followLoad(events) {
  for await (const event of events) {
    if (event.kind === "progress") {
      if (event.total && event.total > 1) showDownload(event.stage, event.loaded, event.total);
      else showProgress(event.fraction, event.stage);
    } else if (event.kind === "plan") {
      const plan = event.plan;
      const verdict = t(`plan.verdict_${plan.verdict}`);
      ui.modelPlan.textContent = t("plan.summary", { model: event.model, dtype: plan.dtype, size: formatBytes(plan.download_bytes),
        reason: plan.reason, verdict });
    } else if (event.kind === "confirm") {
      if (confirm(t("plan.confirm", { size: formatBytes(event.plan.download_bytes), model: event.model, reason: event.plan.reason }))) {
        return loadModel({ confirmed: true });
      }
      showProgress(0, t("progress.download_cancelled"));
      setPageState(settledState());
    } else if (event.kind === "loaded") {
      state.modelReady = true;
      performance.mark("pagellm:model-ready");
      state.loadedModel = { model: event.model, dtype: event.dtype };
      document.documentElement.dataset.modelStart = event.early ? "early" : "usual";
      saveSettings();
      keepLoadedModel();
      ui.device.textContent = event.device;
      ui.deviceNote.textContent = `(${event.dtype})${event.notice ? " — " + event.notice : ""}`;
      showProgress(1, t("progress.model_ready", { name: event.name, seconds: formatFixed(event.seconds, 1) }));
      showStatusDetail("");
      setPageState("ready");
      renderConversation();  // the welcome names the device now
      sendIfWaiting();
    } else if (event.kind === "error") {
      showErrorEvent(event);
      state.modelReady = false;
      showProgress(0, t("progress.model_not_loaded"));
      setPageState("error");
    }
  }
}

// The remote endpoint's models: the connection test.
export async function testConnection() {
  if (!state.pythonReady) return;
  clearError();
  $("connection-status").textContent = t("connection.testing");
  for await (const event of state.client.send("models", { backend: backendConfig() })) {
    if (event.kind === "error") {
      showErrorEvent(event);
      $("connection-status").textContent = "";
    }
    if (event.kind !== "models-listed") continue;
    $("remote-model-list").replaceChildren(...event.ids.map((id) => Object.assign(document.createElement("option"), { value: id })));
    $("connection-status").textContent = event.ids.length
      ? t("connection.models", { count: formatFixed(event.ids.length, 0) }) : t("connection.connected");
    if (!ui.remoteModel.value && event.ids.length) ui.remoteModel.value = event.ids[0];
  }
}

