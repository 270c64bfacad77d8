// What the page tells the user about itself: the error banner, progress, the page state, the last
// reply's figures and how much of the model's context the chat takes.
import { $, formatBytes, root, ui } from "./dom.js";
import { state } from "./state.js";
import { backendValue } from "./settings-form.js";
import { formatFixed, formatNumber, t, tn } from "./i18n.js";

export function showError(message) {
  ui.errorText.textContent = message;
  ui.error.hidden = false;
}

export function clearError() {
  ui.error.hidden = true;
  ui.errorText.textContent = "";
  for (const input of document.querySelectorAll("[aria-invalid=true]")) input.removeAttribute("aria-invalid");
}

export function setPageState(value) {
  root.dataset.state = value;
  ui.send.disabled = state.busy;  // before the model is ready, Send queues the message (intents.send)
  ui.stop.disabled = !state.busy;
}

// Whether a message can go to the engine now.
export function engineReady() {
  return state.pythonReady && (backendValue() === "remote" || state.modelReady);
}

// A line under the progress bar: what the wait costs, or what happens next.
export function showStatusDetail(text) {
  $("status-detail").textContent = text;
}

// Download progress with speed and time left, measured from the first bytes.
export function showDownload(stage, loaded, total) {
  const now = performance.now();
  const start = state.download?.stage === stage ? state.download : (state.download = { stage, at: now, loaded });
  const seconds = (now - start.at) / 1000;
  const speed = seconds > 0.5 ? (loaded - start.loaded) / seconds : 0;
  const parts = [t("progress.download", { stage, loaded: formatBytes(loaded), total: formatBytes(total) })];
  if (speed > 0) {
    parts.push(t("progress.speed", { speed: formatBytes(speed) }));
    if (total > loaded) parts.push(t("progress.left", { seconds: formatFixed(Math.ceil((total - loaded) / speed), 0) }));
  }
  showProgress(total ? loaded / total : null, parts.join(" · "));
  showStatusDetail(t("progress.once"));
}

// The state to return to after an error or a cancelled action.
export function settledState() {
  return state.pythonReady && (state.modelReady || backendValue() === "remote") ? "ready" : "error";
}

export function showProgress(fraction, text) {
  if (fraction == null) ui.progress.removeAttribute("value");
  else ui.progress.value = Math.max(0, Math.min(1, fraction));
  ui.progressText.textContent = text;
}

export function fail(message) {
  showError(message);
  showProgress(0, t("progress.stopped"));
  setPageState("error");
}

export function showStats(final) {
  if (!final) { ui.stats.textContent = ""; return; }
  const parts = [tn("stats.tokens", final.completion_tokens)];
  if (final.time_to_first_token != null) parts.push(t("stats.first_token", { seconds: formatFixed(final.time_to_first_token, 2) }));
  if (final.tokens_per_second != null) parts.push(t("stats.speed", { rate: formatFixed(final.tokens_per_second, 1) }));
  if (final.reused_tokens) parts.push(t("stats.reused", { reused: formatFixed(final.reused_tokens, 0), prompt: formatFixed(final.prompt_tokens ?? 0, 0) }));
  if (final.drafted_tokens) parts.push(t("stats.drafted", { accepted: formatFixed(final.accepted_tokens, 0),
    drafted: formatFixed(final.drafted_tokens, 0), rate: formatFixed(100 * final.accepted_tokens / final.drafted_tokens, 0) }));
  if (final.drafting_failed) parts.push(t("stats.drafting_failed", { reason: final.drafting_failed }));
  if (final.finish_reason === "cancelled") parts.push(t("stats.stopped"));
  else if (final.finish_reason === "length") parts.push(t("stats.length"));
  ui.stats.textContent = parts.join(" · ");
  ui.stats.dataset.reusedTokens = final.reused_tokens ?? "";
  ui.stats.dataset.draftedTokens = final.drafted_tokens ?? "";
  ui.stats.dataset.acceptedTokens = final.accepted_tokens ?? "";
  ui.stats.dataset.tokens = final.completion_tokens;
  ui.stats.dataset.tokensPerSecond = final.tokens_per_second ?? "";
  ui.stats.dataset.promptTokens = final.prompt_tokens ?? "";
  ui.stats.dataset.finishReason = final.finish_reason;
}

// How much of the model's context the chat takes: shown after each turn (local engine), with a warning
// as it fills and a notice naming how many old messages the model no longer reads.
export function showContext(context) {
  state.context = context;
  if (!context) { ui.context.hidden = true; return; }
  const { used, limit, left_out: leftOut } = context;
  const share = Math.min(1, used / limit);
  ui.context.hidden = false;
  ui.contextMeter.value = share;
  ui.contextMeter.dataset.used = used;
  ui.contextMeter.dataset.limit = limit;
  ui.context.dataset.level = leftOut > 0 ? "full" : share >= 0.75 ? "warn" : "ok";
  ui.contextText.textContent = t("context.used", { used: formatNumber(used), limit: formatNumber(limit) }) +
    (share >= 0.75 && !leftOut ? t("context.filling") : "");
  ui.contextNotice.hidden = !leftOut;
  ui.contextNotice.textContent = leftOut ? tn("context.left_out", leftOut) : "";
  ui.summaryChat.hidden = share < 0.75 && !leftOut;
}
